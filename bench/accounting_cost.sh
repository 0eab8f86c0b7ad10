#!/usr/bin/env bash
# accounting_cost.sh: what kernel connection accounting (ConnTracker: the tracepoint on TCP
# state changes and the flow maps of the steering program) costs `herdless serve`, on
# `herdless bench`'s steady scenario. Runs it ROUNDS times with --kernel-accounting=off and
# =on alternately (off on, on off, ...; each run in a fresh network namespace) and compares the
# reuseport least-loaded row: median rate and server CPU time per connection, and their ratios
# on/off. The machine's load drifts between runs, so two steadier figures are given beside the
# medians: the median of each round's own on/off ratio (the two runs of a round are back to
# back), and the same for the least-loaded rate divided by the hash row of the same run (hash
# runs no program and no tracker in either mode: a control measured seconds before).
#
# METHOD=serve (the default) measures the same server the same way in short runs instead: the
# steady scenario's server (herdless serve, CPUs workers, hello, reuseport least-loaded) and
# load (herdless load, 64 connections in flight, short connections), DURATION (3s) per run,
# ROUNDS (8) rounds in ABBA order, each run in a fresh network namespace. A whole bench run
# takes 26 s for five rows, so on a shared machine its two least-loaded rows land in different
# load conditions; short back-to-back runs are paired closely enough to resolve a few percent.
# It adds the CPU time of the load generator, so `total_cpu_us_per_connection` is what one
# connection costs the machine, both ends (the steering program and most tracepoint runs
# execute in the client's softirq on loopback, not in a worker).
# METHOD=bench runs `herdless bench --scenario steady` per side (ROUNDS 5).
# The ABBA runs and the summary are in bench/lib_abba.sh (own_port_cost.sh uses them too).
# Environment: BUILD (build dir), METHOD, ROUNDS, DURATION, OUT (bench/results/accounting_cost.json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
METHOD=${METHOD:-serve}
DURATION=${DURATION:-3s}
if [[ $METHOD == serve ]]; then ROUNDS=${ROUNDS:-8}; else ROUNDS=${ROUNDS:-5}; fi
OUT=${OUT:-bench/results/accounting_cost.json}
need_binaries "$BUILD/herdless"
bench_init kill
rows="$tmp/rows.jsonl"
: >"$rows"
source bench/lib_abba.sh # abba_serve_in_netns, abba_rounds, abba_summary
abba_key=accounting abba_flag=--kernel-accounting abba_host=127.0.0.1 abba_admin=""

# bench_run SIDE ROUND: `herdless bench --scenario steady` in a network namespace of its own;
# appends its reuseport least-loaded row (and the hash row's rate beside it) to $rows.
bench_run() {
  local side=$1 round=$2
  mkdir -p "$tmp/$side-$round"
  unshare --net sh -c "ip link set lo up && exec \"$BUILD/herdless\" bench --scenario steady --out \"$tmp/$side-$round\" --serve-arg=--kernel-accounting=$side" >/dev/null
  python3 - "$tmp/$side-$round/bench-steady.json" "$side" "$round" >>"$rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
row = next(r for r in d["rows"] if r["accept"] == "reuseport" and r["steer"] == "least-loaded")
hash_row = next(r for r in d["rows"] if r["accept"] == "reuseport" and r["steer"] == "hash")
print(json.dumps({"accounting": sys.argv[2], "round": int(sys.argv[3]), "rate": row["connections_per_second"],
                  "cpu_us_per_connection": row["cpu_us_per_connection"], "failed": row["failed"],
                  "hash_rate": hash_row["connections_per_second"],
                  "rate_over_hash": row["connections_per_second"] / hash_row["connections_per_second"]}))
PY
}

if [[ $METHOD == serve ]]; then abba_rounds abba_serve_in_netns; else abba_rounds bench_run; fi
if [[ $METHOD == bench ]]; then
  scenario="herdless bench steady, reuseport least-loaded row"
else
  scenario="steady's server and load in short runs: herdless serve, CPUs workers, hello, least-loaded; herdless load, 64 in flight"
fi
abba_summary "$OUT" "$METHOD" bench/accounting_cost.sh "$scenario"
echo "wrote $OUT"
