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
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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

need_binaries "$BUILD/herdless" "$BUILD/minimal_udp_server"
[[ $SERVICE == echo || $SERVICE == hello ]] || fail "SERVICE must be echo or hello"

MINIMAL_COMMAND="$BUILD/minimal_udp_server 127.0.0.1 0 $WORKERS $SERVICE"
HERDLESS_COMMAND="$BUILD/herdless serve --listen udp://127.0.0.1:0 --workers $WORKERS --service $SERVICE --admin off${HERDLESS_ARGS:+ $HERDLESS_ARGS}"
LOAD_COMMAND="$BUILD/herdless load --mode udp --target udp://127.0.0.1:PORT --concurrency $CONCURRENCY --duration $DURATION --json"

bench_init stop

# start_server minimal|herdless: starts it in its own process group and sets server and port.
start_server() {
  local command=$HERDLESS_COMMAND
  [[ $1 != minimal && $SELF_TEST != 1 ]] || command=$MINIMAL_COMMAND
  # shellcheck disable=SC2086 # the command is a list of words
  spawn_server 'listening on udp://127\.0\.0\.1:[0-9]+' $command
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
    before=$(group_cpu_ticks "$server")
    # In the background and in its own group, so that a signal interrupts the `wait` and
    # the EXIT trap can stop it. `time` reports the generator's own CPU seconds.
    setsid bash -c 'TIMEFORMAT="load_cpu %U %S"; time "$@" >"'"$tmp"'/load.json"' _ \
      "$BUILD/herdless" load --mode udp --target "udp://127.0.0.1:$port" --concurrency "$CONCURRENCY" \
      --duration "$DURATION" --json 2>"$tmp/load.err" &
    load=$!
    wait "$load"
    load=""
    after=$(group_cpu_ticks "$server")
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
