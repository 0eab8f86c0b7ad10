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
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-64}
WORKERS=${WORKERS:-2}
OUT=${OUT:-bench/results/accept_rate.json}
SELF_TEST=${BENCH_SELF_TEST:-0}

need_binaries "$BUILD/herdless" "$BUILD/minimal_server"
bench_init stop

# start_server minimal|herdless: starts it in its own process group and sets server and port.
start_server() {
  if [[ $1 == minimal || $SELF_TEST == 1 ]]; then
    spawn_server '^port [0-9]+' "$BUILD/minimal_server" 0 "$WORKERS"
  else
    spawn_server 'listening on tcp://127\.0\.0\.1:[0-9]+' "$BUILD/herdless" serve --listen tcp://127.0.0.1:0 \
      --workers "$WORKERS" --admin 127.0.0.1:0
  fi
}

declare -A rates failures
for round in $(seq "$ROUNDS"); do
  for side in minimal herdless; do
    start_server "$side"
    # In the background, so that a signal interrupts the `wait` and not only after the run.
    spawn_load "$tmp/load.json" --target "tcp://127.0.0.1:$port" --concurrency "$CONCURRENCY" \
      --duration "$DURATION" --json
    wait "$load"
    load=""
    stop_server
    rate=$(json_number "$tmp/load.json" connections_per_second)
    failed=$(json_number "$tmp/load.json" failed)
    rates[$side]+="$(printf '%.1f' "$rate") "
    failures[$side]+="$failed "
    printf 'round %d/%d  %-8s %10.0f conn/s  (failed %s)\n' "$round" "$ROUNDS" "$side" "$rate" "$failed"
  done
done

# shellcheck disable=SC2086 # word splitting of the per-round lists is intended
median_minimal=$(median -d 1 ${rates[minimal]})
# shellcheck disable=SC2086
median_herdless=$(median -d 1 ${rates[herdless]})
ratio=$(awk -v h="$median_herdless" -v m="$median_minimal" 'BEGIN { printf "%.3f", (m > 0 ? h / m : 0) }')
printf 'median   minimal %10.0f conn/s\nmedian   herdless %9.0f conn/s\nratio    herdless/minimal %.3f\n' \
  "$median_minimal" "$median_herdless" "$ratio"

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
