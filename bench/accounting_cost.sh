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

# serve_run SIDE ROUND: one short run in this network namespace; appends its row to $rows.
serve_run() {
  local side=$1 round=$2 port=18181 sup kids w0 w1 l0 l1 out
  setsid "$BUILD/herdless" serve --listen "tcp://127.0.0.1:$port" --workers "$(nproc)" --service hello \
    --message 'worker={worker}\n' --drain-timeout 1s --steer least-loaded --kernel-accounting "$side" \
    >"$tmp/serve.log" 2>&1 &
  sup=$!
  for _ in $(seq 100); do ss -ltn | grep -q ":$port " && break; sleep 0.05; done
  sleep 0.4
  kids=$(cat /proc/"$sup"/task/*/children)
  # shellcheck disable=SC2086
  w0=$(pids_cpu_ticks $sup $kids)
  out=$(/usr/bin/time -f '%U %S' -o "$tmp/load.time" "$BUILD/herdless" load --target "tcp://127.0.0.1:$port" \
    --duration "$DURATION" --concurrency 64 --json 2>/dev/null)
  # shellcheck disable=SC2086
  w1=$(pids_cpu_ticks $sup $kids)
  kill -TERM "$sup"; wait "$sup" 2>/dev/null || true
  python3 - "$out" "$side" "$round" "$w0" "$w1" "$(getconf CLK_TCK)" "$(cat "$tmp/load.time")" >>"$rows" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); n = max(d["completed"], 1); hz = float(sys.argv[6])
server = (float(sys.argv[5]) - float(sys.argv[4])) / hz
client = sum(float(x) for x in sys.argv[7].split())
print(json.dumps({"accounting": sys.argv[2], "round": int(sys.argv[3]), "rate": d["connections_per_second"],
                  "cpu_us_per_connection": server * 1e6 / n, "total_cpu_us_per_connection": (server + client) * 1e6 / n,
                  "failed": d["failed"]}))
PY
}

for round in $(seq "$ROUNDS"); do
  # ABBA order, and every run in a network namespace of its own: a run's 100,000s of
  # TIME_WAIT sockets would otherwise slow the runs after it.
  order="off on"
  (( round % 2 == 0 )) && order="on off"
  for side in $order; do
    if [[ $METHOD == serve ]]; then
      export -f serve_run pids_cpu_ticks
      export BUILD DURATION tmp rows
      unshare --net bash -c "ip link set lo up && serve_run $side $round"
      tail -n 1 "$rows"
      continue
    fi
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
python3 - "$rows" "$OUT" "$METHOD" <<'PY'
import json, os, statistics, sys, time, platform
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda side, key: statistics.median(r[key] for r in rows if r["accounting"] == side)
method = sys.argv[3]
out = {"benchmark": "bench/accounting_cost.sh", "method": method, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
       "scenario": ("herdless bench steady, reuseport least-loaded row" if method == "bench" else
                    "steady's server and load in short runs: herdless serve, CPUs workers, hello, least-loaded; "
                    "herdless load, 64 in flight"), "rows": rows,
       "median_rate": {"off": med("off", "rate"), "on": med("on", "rate")},
       "median_cpu_us_per_connection": {"off": med("off", "cpu_us_per_connection"), "on": med("on", "cpu_us_per_connection")}}
out["rate_ratio_on_off"] = round(out["median_rate"]["on"] / out["median_rate"]["off"], 4)
out["cpu_ratio_on_off"] = round(out["median_cpu_us_per_connection"]["on"] / out["median_cpu_us_per_connection"]["off"], 4)
pair = {(r["round"], r["accounting"]): r for r in rows}
rounds = sorted({r["round"] for r in rows})
paired = lambda key: round(statistics.median(pair[(n, "on")][key] / pair[(n, "off")][key] for n in rounds), 4)
out["paired_rate_ratio_on_off"] = paired("rate")
out["paired_cpu_ratio_on_off"] = paired("cpu_us_per_connection")
if method == "bench":
    out["paired_rate_over_hash_ratio_on_off"] = paired("rate_over_hash")
else:
    out["median_total_cpu_us_per_connection"] = {"off": med("off", "total_cpu_us_per_connection"),
                                                 "on": med("on", "total_cpu_us_per_connection")}
    out["paired_total_cpu_ratio_on_off"] = paired("total_cpu_us_per_connection")
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("rate on/off", out["rate_ratio_on_off"], "cpu/conn on/off", out["cpu_ratio_on_off"], out["median_rate"], out["median_cpu_us_per_connection"])
print("paired per round: rate", out["paired_rate_ratio_on_off"], "cpu/conn", out["paired_cpu_ratio_on_off"],
      "rate/hash" if method == "bench" else "total cpu/conn",
      out.get("paired_rate_over_hash_ratio_on_off", out.get("paired_total_cpu_ratio_on_off")))
PY
echo "wrote $OUT"
