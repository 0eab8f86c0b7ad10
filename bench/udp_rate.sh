#!/usr/bin/env bash
# udp_rate.sh: datagram request/response throughput of `herdless serve --listen udp://...`
# against the minimal C recvmmsg server (bench/minimal_udp_server.c), both echoing with the
# same worker count on 127.0.0.1. Rounds alternate (minimal, herdless, minimal, herdless,
# ...) so that drift hits both sides alike; each round is one closed-loop run of
# `herdless load --mode udp` (CONCURRENCY requests in flight; every request is a datagram
# from a fresh socket, so a fresh source address and port, and waits for its reply).
# Prints the medians and the ratio herdless/minimal (goal >= 0.90) and writes them with
# every round's numbers to $OUT, with each server's CPU time per datagram (utime + stime
# of all its processes and threads) and the CPU time of the load generator itself: with
# one generator thread against few workers it can be the limit, and then the rates say
# little and the CPU per datagram says more.
#
# Environment: BUILD (build dir, default build), ROUNDS (5), DURATION (3s),
# CONCURRENCY (64), WORKERS (2), SERVICE (echo; or hello), HERDLESS_ARGS (extra
# `herdless serve` flags, e.g. "--udp-session-key 16:8": the load's 5-byte datagrams are too
# short for that key, so every datagram runs the eBPF program and takes its 4-tuple path), OUT
# (bench/results/udp_rate.json), BENCH_SELF_TEST=1 (minimal_udp_server on both sides:
# checks the script without herdless serve).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-64}
WORKERS=${WORKERS:-2}
SERVICE=${SERVICE:-echo}
HERDLESS_ARGS=${HERDLESS_ARGS:-}
OUT=${OUT:-bench/results/udp_rate.json}
SELF_TEST=${BENCH_SELF_TEST:-0}

for binary in "$BUILD/herdless" "$BUILD/minimal_udp_server"; do
  [[ -x $binary ]] || { echo "udp_rate: $binary not found (build first, or set BUILD)" >&2; exit 2; }
done
[[ $SERVICE == echo || $SERVICE == hello ]] || { echo "udp_rate: SERVICE must be echo or hello" >&2; exit 2; }

MINIMAL_COMMAND="$BUILD/minimal_udp_server 127.0.0.1 0 $WORKERS $SERVICE"
HERDLESS_COMMAND="$BUILD/herdless serve --listen udp://127.0.0.1:0 --workers $WORKERS --service $SERVICE --admin off${HERDLESS_ARGS:+ $HERDLESS_ARGS}"
LOAD_COMMAND="$BUILD/herdless load --mode udp --target udp://127.0.0.1:PORT --concurrency $CONCURRENCY --duration $DURATION --json"

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
# The load generator runs in its own process group too (setsid): one kill reaches it and
# the `time` subshell around it.
stop_load() {
  [[ -n $load_pid ]] || return 0
  kill -TERM -- "-$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  load_pid=""
}
trap 'stop_load; stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# wait_for REGEX: prints the first match of REGEX in the server's output (stdout or
# stderr: herdless logs on stderr, the minimal server prints on stdout), waiting up to 10 s.
wait_for() {
  local regex=$1 match
  for _ in $(seq 100); do
    match=$(cat "$tmp/server.out" "$tmp/server.err" | grep -oE "$regex" | head -n 1 || true)
    if [[ -n $match ]]; then echo "$match"; return 0; fi
    server_running || break
    sleep 0.1
  done
  echo "udp_rate: server did not report its port; its output:" >&2
  cat "$tmp/server.out" "$tmp/server.err" >&2
  return 1
}

# start_server minimal|herdless: starts it in its own process group and sets server_pid
# and port (not in a subshell: the EXIT trap must see server_pid).
start_server() {
  local match
  # Emptied here, not only by the background redirection, which may run after the first
  # look: the previous server's port must never be read.
  : >"$tmp/server.out"
  : >"$tmp/server.err"
  if [[ $1 == minimal || $SELF_TEST == 1 ]]; then
    # shellcheck disable=SC2086 # the command is a list of words
    setsid $MINIMAL_COMMAND >"$tmp/server.out" 2>"$tmp/server.err" &
  else
    # shellcheck disable=SC2086
    setsid $HERDLESS_COMMAND >"$tmp/server.out" 2>"$tmp/server.err" &
  fi
  server_pid=$!
  match=$(wait_for 'listening on udp://127\.0\.0\.1:[0-9]+')
  port=${match##*:}
}

# group_cpu_ticks PGID: utime + stime of every process in the group (all their threads
# included), in clock ticks.
group_cpu_ticks() {
  local total=0 pid stat
  for pid in $(ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }'); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a fields <<<"${stat##*) }"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# check_reply: one datagram through the server comes back as it should (echo: the same
# bytes; hello: a non-empty reply), so a server that answers nothing or garbage fails fast.
check_reply() {
  "$BUILD/herdless" load --mode udp --target "udp://127.0.0.1:$port" --concurrency 1 --duration 200ms \
    --send 'udp_rate check' --json >"$tmp/check.json" || true
  local completed
  completed=$(json_number "$tmp/check.json" completed)
  if [[ -z $completed || $completed == 0 ]]; then
    echo "udp_rate: the server on udp://127.0.0.1:$port answered no datagram; load said:" >&2
    cat "$tmp/check.json" "$tmp/server.out" "$tmp/server.err" >&2
    exit 1
  fi
}

# json_number FILE KEY: the number stored under "KEY" in a one-line JSON object.
json_number() {
  grep -oE "\"$2\":[-0-9.eE+]+" "$1" | head -n 1 | cut -d: -f2
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ticks_per_second=$(getconf CLK_TCK)
self_note=""
[[ $SELF_TEST != 1 ]] || self_note=" (self-test: minimal on both sides)"
echo "udp_rate: $WORKERS workers, service $SERVICE, concurrency $CONCURRENCY, $DURATION per round," \
  "$ROUNDS rounds$self_note"

declare -A rates failures timeouts p99 server_us load_us load_busy
for round in $(seq "$ROUNDS"); do
  for side in minimal herdless; do
    start_server "$side"
    check_reply
    before=$(group_cpu_ticks "$server_pid")
    # In the background and in its own group, so that a signal interrupts the `wait` and
    # the EXIT trap can stop it. `time` reports the generator's own CPU seconds.
    setsid bash -c 'TIMEFORMAT="load_cpu %U %S"; time "$@" >"'"$tmp"'/load.json"' _ \
      "$BUILD/herdless" load --mode udp --target "udp://127.0.0.1:$port" --concurrency "$CONCURRENCY" \
      --duration "$DURATION" --json 2>"$tmp/load.err" &
    load_pid=$!
    wait "$load_pid"
    load_pid=""
    after=$(group_cpu_ticks "$server_pid")
    stop_server
    rate=$(json_number "$tmp/load.json" connections_per_second)
    completed=$(json_number "$tmp/load.json" completed)
    failed=$(json_number "$tmp/load.json" failed)
    timed_out=$(json_number "$tmp/load.json" timed_out)
    latency_p99=$(json_number "$tmp/load.json" p99)
    load_seconds=$(awk '/^load_cpu/ { print $2 + $3 }' "$tmp/load.err")
    us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$completed" \
      'BEGIN { printf "%.3f", (n > 0 ? t / hz * 1e6 / n : 0) }')
    lus=$(awk -v s="${load_seconds:-0}" -v n="$completed" 'BEGIN { printf "%.3f", (n > 0 ? s * 1e6 / n : 0) }')
    # The share of one CPU the generator used: near 1, the generator and not the server sets the rate.
    busy=$(awk -v s="${load_seconds:-0}" -v w="$(json_number "$tmp/load.json" seconds)" \
      'BEGIN { printf "%.2f", (w > 0 ? s / w : 0) }')
    rates[$side]+="$(printf '%.1f' "$rate") "
    failures[$side]+="$failed "
    timeouts[$side]+="$timed_out "
    p99[$side]+="$latency_p99 "
    server_us[$side]+="$us "
    load_us[$side]+="$lus "
    load_busy[$side]+="$busy "
    printf 'round %d/%d  %-8s %8.0f datagrams/s  failed %s (timed out %s)  p99 %s us  server %.2f us/dgram  load %.2f us/dgram (%.0f%% of a CPU)\n' \
      "$round" "$ROUNDS" "$side" "$rate" "$failed" "$timed_out" "$latency_p99" "$us" "$lus" "$(awk -v b="$busy" 'BEGIN { print b * 100 }')"
  done
done

# shellcheck disable=SC2086 # word splitting of the per-round lists is intended
{
  median_minimal=$(median ${rates[minimal]})
  median_herdless=$(median ${rates[herdless]})
  median_p99_minimal=$(median ${p99[minimal]})
  median_p99_herdless=$(median ${p99[herdless]})
  median_us_minimal=$(median ${server_us[minimal]})
  median_us_herdless=$(median ${server_us[herdless]})
  median_load_minimal=$(median ${load_us[minimal]})
  median_load_herdless=$(median ${load_us[herdless]})
  median_busy=$(median ${load_busy[minimal]} ${load_busy[herdless]})
}
ratio=$(awk -v h="$median_herdless" -v m="$median_minimal" 'BEGIN { printf "%.3f", (m > 0 ? h / m : 0) }')
goal_met=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.90 ? "true" : "false") }')
printf 'median   minimal  %10.0f datagrams/s  p99 %s us  server %.2f us/dgram  load %.2f us/dgram\n' \
  "$median_minimal" "$median_p99_minimal" "$median_us_minimal" "$median_load_minimal"
printf 'median   herdless %10.0f datagrams/s  p99 %s us  server %.2f us/dgram  load %.2f us/dgram\n' \
  "$median_herdless" "$median_p99_herdless" "$median_us_herdless" "$median_load_herdless"
printf 'ratio    herdless/minimal %.3f (goal >= 0.90: %s)\n' "$ratio" "$goal_met"
if awk -v b="$median_busy" 'BEGIN { exit !(b >= 0.9) }'; then
  echo "note     the load generator used $median_busy of a CPU (median): it, not the servers, may set the rates;" \
    "compare the server CPU per datagram"
fi

list() { local items; items=$(echo "$1" | xargs); echo "[${items// /, }]"; }
side_json() {
  echo "{\"rates\": $(list "${rates[$1]}"), \"failed\": $(list "${failures[$1]}"), \"timed_out\": $(list "${timeouts[$1]}"), \"median\": $2,
               \"p99_us\": {\"rounds\": $(list "${p99[$1]}"), \"median\": $3},
               \"server_cpu_us_per_datagram\": {\"rounds\": $(list "${server_us[$1]}"), \"median\": $4},
               \"load_cpu_us_per_datagram\": {\"rounds\": $(list "${load_us[$1]}"), \"median\": $5},
               \"load_cpu_share\": $(list "${load_busy[$1]}")}"
}
mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<JSON
{
  "benchmark": "udp_rate",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "kernel": "$(uname -r)",
  "cpus": $(nproc),
  "rounds": $ROUNDS,
  "duration": "$DURATION",
  "concurrency": $CONCURRENCY,
  "workers": $WORKERS,
  "service": "$SERVICE",
  "self_test": $([[ $SELF_TEST == 1 ]] && echo true || echo false),
  "commands": {"minimal": "$MINIMAL_COMMAND", "herdless": "$HERDLESS_COMMAND", "load": "$LOAD_COMMAND"},
  "minimal": $(side_json minimal "$median_minimal" "$median_p99_minimal" "$median_us_minimal" "$median_load_minimal"),
  "herdless": $(side_json herdless "$median_herdless" "$median_p99_herdless" "$median_us_herdless" "$median_load_herdless"),
  "ratio": $ratio,
  "goal": 0.90,
  "goal_met": $goal_met
}
JSON
echo "wrote $OUT"
