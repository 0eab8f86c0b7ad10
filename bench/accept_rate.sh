#!/usr/bin/env bash
# accept_rate.sh: accepted connections per second of herdless against the minimal C server
# (bench/minimal_server.c), both with the same worker count on 127.0.0.1. Rounds alternate
# (minimal, herdless, minimal, herdless, ...) so that drift hits both sides alike; each
# round is one `herdless load` closed-loop run. Prints the medians and the ratio
# herdless/minimal and writes them with every round's numbers to $OUT.
#
# Environment: BUILD (build dir, default build), ROUNDS (5), DURATION (3s),
# CONCURRENCY (64), WORKERS (2), OUT (bench/results/accept_rate.json),
# BENCH_SELF_TEST=1 (minimal_server on both sides: checks the script without herdless serve).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-64}
WORKERS=${WORKERS:-2}
OUT=${OUT:-bench/results/accept_rate.json}
SELF_TEST=${BENCH_SELF_TEST:-0}

for binary in "$BUILD/herdless" "$BUILD/minimal_server"; do
  [[ -x $binary ]] || { echo "accept_rate: $binary not found (build first, or set BUILD)" >&2; exit 2; }
done

tmp=$(mktemp -d)
server_pid=""
load_pid=""

# True while the server process runs (a zombie waiting for our `wait` counts as gone).
server_running() {
  local stat
  stat=$(cat "/proc/$server_pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Stops the running server: SIGTERM to it, SIGKILL to its whole process group (its worker
# processes included) if it has not exited within 5 s, then SIGKILL to any leftover member.
stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    server_running || break
    sleep 0.1
  done
  kill -KILL -- "-$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap '[[ -z $load_pid ]] || kill "$load_pid" 2>/dev/null; stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# wait_for FILE REGEX: prints the first match of REGEX in FILE, waiting up to 10 s for it.
wait_for() {
  local file=$1 regex=$2 match
  for _ in $(seq 100); do
    match=$(grep -oE "$regex" "$file" | head -n 1 || true)
    if [[ -n $match ]]; then echo "$match"; return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "accept_rate: server did not report its port; its output:" >&2
  cat "$tmp/server.out" "$tmp/server.err" >&2
  return 1
}

# start_server minimal|herdless: starts it in its own process group and sets server_pid
# and port (not in a subshell: the EXIT trap must see server_pid).
start_server() {
  local match
  if [[ $1 == minimal || $SELF_TEST == 1 ]]; then
    setsid "$BUILD/minimal_server" 0 "$WORKERS" >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    match=$(wait_for "$tmp/server.out" '^port [0-9]+')
  else
    setsid "$BUILD/herdless" serve --listen tcp://127.0.0.1:0 --workers "$WORKERS" \
      --admin 127.0.0.1:0 >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    match=$(wait_for "$tmp/server.err" 'listening on tcp://127\.0\.0\.1:[0-9]+')
  fi
  port=${match##*[ :]}
}

# json_number FILE KEY: the number stored under "KEY" in a one-line JSON object.
json_number() {
  grep -oE "\"$2\":[-0-9.eE+]+" "$1" | head -n 1 | cut -d: -f2
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A rates failures
for round in $(seq "$ROUNDS"); do
  for side in minimal herdless; do
    start_server "$side"
    # In the background, so that a signal interrupts the `wait` and not only after the run.
    "$BUILD/herdless" load --target "tcp://127.0.0.1:$port" --concurrency "$CONCURRENCY" \
      --duration "$DURATION" --json >"$tmp/load.json" &
    load_pid=$!
    wait "$load_pid"
    load_pid=""
    stop_server
    rate=$(json_number "$tmp/load.json" connections_per_second)
    failed=$(json_number "$tmp/load.json" failed)
    rates[$side]+="$(printf '%.1f' "$rate") "
    failures[$side]+="$failed "
    printf 'round %d/%d  %-8s %10.0f conn/s  (failed %s)\n' "$round" "$ROUNDS" "$side" "$rate" "$failed"
  done
done

# shellcheck disable=SC2086 # word splitting of the per-round lists is intended
median_minimal=$(median ${rates[minimal]})
# shellcheck disable=SC2086
median_herdless=$(median ${rates[herdless]})
ratio=$(awk -v h="$median_herdless" -v m="$median_minimal" 'BEGIN { printf "%.3f", (m > 0 ? h / m : 0) }')
printf 'median   minimal %10.0f conn/s\nmedian   herdless %9.0f conn/s\nratio    herdless/minimal %.3f\n' \
  "$median_minimal" "$median_herdless" "$ratio"

list() { local items; items=$(echo "$1" | xargs); echo "[${items// /, }]"; }
mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<JSON
{
  "benchmark": "accept_rate",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "kernel": "$(uname -r)",
  "cpus": $(nproc),
  "rounds": $ROUNDS,
  "duration": "$DURATION",
  "concurrency": $CONCURRENCY,
  "workers": $WORKERS,
  "self_test": $([[ $SELF_TEST == 1 ]] && echo true || echo false),
  "minimal": {"rates": $(list "${rates[minimal]}"), "failed": $(list "${failures[minimal]}"), "median": $median_minimal},
  "herdless": {"rates": $(list "${rates[herdless]}"), "failed": $(list "${failures[herdless]}"), "median": $median_herdless},
  "ratio": $ratio
}
JSON
echo "wrote $OUT"
