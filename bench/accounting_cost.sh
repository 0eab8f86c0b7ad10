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
# Environment: BUILD (build dir), ROUNDS (5), OUT (bench/results/accounting_cost.json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-bench/results/accounting_cost.json}
need_binaries "$BUILD/herdless"
bench_init kill
rows="$tmp/rows.jsonl"
: >"$rows"
for round in $(seq "$ROUNDS"); do
  # ABBA order, and every run in a network namespace of its own: a run's 100,000s of
  # TIME_WAIT sockets would otherwise slow the runs after it.
  order="off on"
  (( round % 2 == 0 )) && order="on off"
  for side in $order; do
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
    tail -n 1 "$rows"
  done
done
python3 - "$rows" "$OUT" <<'PY'
import json, os, statistics, sys, time, platform
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda side, key: statistics.median(r[key] for r in rows if r["accounting"] == side)
out = {"benchmark": "bench/accounting_cost.sh", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
       "scenario": "herdless bench steady, reuseport least-loaded row", "rows": rows,
       "median_rate": {"off": med("off", "rate"), "on": med("on", "rate")},
       "median_cpu_us_per_connection": {"off": med("off", "cpu_us_per_connection"), "on": med("on", "cpu_us_per_connection")}}
out["rate_ratio_on_off"] = round(out["median_rate"]["on"] / out["median_rate"]["off"], 4)
out["cpu_ratio_on_off"] = round(out["median_cpu_us_per_connection"]["on"] / out["median_cpu_us_per_connection"]["off"], 4)
pair = {(r["round"], r["accounting"]): r for r in rows}
rounds = sorted({r["round"] for r in rows})
paired = lambda key: round(statistics.median(pair[(n, "on")][key] / pair[(n, "off")][key] for n in rounds), 4)
out["paired_rate_ratio_on_off"] = paired("rate")
out["paired_cpu_ratio_on_off"] = paired("cpu_us_per_connection")
out["paired_rate_over_hash_ratio_on_off"] = paired("rate_over_hash")
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("rate on/off", out["rate_ratio_on_off"], "cpu/conn on/off", out["cpu_ratio_on_off"], out["median_rate"], out["median_cpu_us_per_connection"])
print("paired per round: rate", out["paired_rate_ratio_on_off"], "cpu/conn", out["paired_cpu_ratio_on_off"],
      "rate/hash", out["paired_rate_over_hash_ratio_on_off"])
PY
echo "wrote $OUT"
