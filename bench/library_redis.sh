#!/usr/bin/env bash
# library_redis.sh: examples/redis (herdless as a library: a RESP server, 2 worker threads,
# mode thread) against Debian's redis-server, both driven by Debian's redis-benchmark:
# -t ping_inline, ping_mbulk, set, get (= -t ping,set,get, one test per invocation so that each
# gets its own CPU reading), -n N (200000) requests, -c 64 clients, with -P 1 and with -P 16.
# ROUNDS (4) rounds in ABBA order (herdless redis, redis herdless, ...); each server run in a
# fresh network namespace (unshare --net, lo up) with both pipelines and all tests.
# Server CPU time per request: utime + stime of the server process (all its threads) from
# /proc/PID/stat before and after each redis-benchmark run, over the requests it completed.
# The load generator's own CPU is recorded too (GNU time).
# Reports per command and -P: the median rate and CPU per request of each server, the ratio
# herdless/redis of the medians, and the median of each round's own ratio.
# Only one benchmark at a time on the machine: waits for /tmp/bench.lock, holds it while running.
# Environment: BUILD (build dir: $BUILD/herdless-redis, the in-tree herdless_redis_example),
# REDIS_EXAMPLE (its path instead), ROUNDS, N, OUT (bench/results/library_redis.json).
set -euo pipefail
self=$(realpath "$0")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REDIS_EXAMPLE=${REDIS_EXAMPLE:-$BUILD/herdless-redis}
ROUNDS=${ROUNDS:-4}
N=${N:-200000}
OUT=${OUT:-bench/results/library_redis.json}
TESTS=(ping_inline ping_mbulk set get)
PIPELINES=(1 16)
PORT=16379

# One server run, inside its own network namespace: `library_redis.sh __run SIDE ROUND ROWS`.
if [[ ${1:-} == __run ]]; then
  side=$2 round=$3 rows=$4
  ip link set lo up
  scratch=$(mktemp -d)
  if [[ $side == herdless ]]; then
    setsid "$REDIS_EXAMPLE" --listen "tcp://127.0.0.1:$PORT" --workers 2 --admin off >"$scratch/server.log" 2>&1 &
  else
    setsid redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --protected-mode no \
      --dir "$scratch" --logfile "$scratch/server.log" &
  fi
  server=$!
  trap 'kill -KILL -- "-$server" 2>/dev/null || true; rm -rf "$scratch"' EXIT
  for _ in $(seq 100); do
    [[ $(redis-cli -p "$PORT" PING 2>/dev/null) == PONG ]] && break
    sleep 0.05
  done
  [[ $(redis-cli -p "$PORT" PING 2>/dev/null) == PONG ]] || { cat "$scratch/server.log" >&2; exit 2; }
  sleep 0.3
  for p in "${PIPELINES[@]}"; do
    for t in "${TESTS[@]}"; do
      c0=$(pids_cpu_ticks "$server")
      /usr/bin/time -f '%U %S' -o "$scratch/client.time" \
        redis-benchmark -h 127.0.0.1 -p "$PORT" -t "$t" -n "$N" -c 64 -P "$p" --csv >"$scratch/out.csv" 2>/dev/null
      c1=$(pids_cpu_ticks "$server")
      python3 - "$scratch/out.csv" "$side" "$round" "$p" "$t" "$c0" "$c1" "$(getconf CLK_TCK)" "$N" \
        "$(cat "$scratch/client.time")" >>"$rows" <<'PY'
import csv, json, sys
out, side, rnd, p, t, c0, c1, hz, n, client = sys.argv[1:11]
rows = [r for r in csv.reader(open(out)) if r and r[0] != "test"]
rate = float(rows[0][1])
server_s = (int(c1) - int(c0)) / float(hz)
client_s = sum(float(x) for x in client.split())
print(json.dumps({"server": side, "round": int(rnd), "pipeline": int(p), "test": rows[0][0], "rate": rate,
                  "cpu_us_per_request": round(server_s * 1e6 / int(n), 4),
                  "client_cpu_us_per_request": round(client_s * 1e6 / int(n), 4)}))
PY
      tail -n 1 "$rows"
    done
  done
  kill -TERM "$server"
  wait "$server" 2>/dev/null || true
  exit 0
fi

need_binaries "$REDIS_EXAMPLE"
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
  fail "redis-server and redis-benchmark needed (scripts/install-deps.sh: redis-server, redis-tools)"
[[ $(id -u) -eq 0 ]] || fail "needs root (unshare --net)"
bench_init kill
rows="$tmp/rows.jsonl"
: >"$rows"
locked=""
cleanup_extra() { [[ -z $locked ]] || rm -f /tmp/bench.lock; }
while ! (set -o noclobber; echo "$$ library_redis.sh" >/tmp/bench.lock) 2>/dev/null; do
  echo "library_redis: waiting for /tmp/bench.lock ($(cat /tmp/bench.lock 2>/dev/null))" >&2
  sleep 10
done
locked=1

for round in $(seq "$ROUNDS"); do
  order="herdless redis"
  (( round % 2 == 0 )) && order="redis herdless"
  for side in $order; do
    REDIS_EXAMPLE=$REDIS_EXAMPLE N=$N unshare --net "$self" __run "$side" "$round" "$rows"
  done
done

python3 - "$rows" "$OUT" "$N" "$(redis-server --version)" <<'PY'
import json, os, platform, statistics, sys, time
rows = [json.loads(l) for l in open(sys.argv[1])]
out_path, n, redis_version = sys.argv[2], int(sys.argv[3]), sys.argv[4]
out = {"benchmark": "bench/library_redis.sh",
       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kernel": platform.release(),
       "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
       "scenario": f"redis-benchmark -n {n} -c 64 -P 1|16, one test per run; herdless: examples/redis, "
                   "--workers 2 (mode thread); redis: Debian redis-server --save '' --appendonly no; "
                   "fresh netns per server run, ABBA rounds",
       "redis_server": redis_version, "goals": {"P1": "rate >= 1.0x redis, cpu/request <= redis",
                                                  "P16": "rate >= 1.2x redis"},
       "results": [], "rows": rows}
rounds = sorted({r["round"] for r in rows})
for p in sorted({r["pipeline"] for r in rows}):
    for test in dict.fromkeys(r["test"] for r in rows):
        sel = lambda side: [r for r in rows if r["server"] == side and r["pipeline"] == p and r["test"] == test]
        med = lambda side, k: statistics.median(r[k] for r in sel(side))
        by = {(r["round"], r["server"]): r for r in rows if r["pipeline"] == p and r["test"] == test}
        paired = lambda k: statistics.median(by[(x, "herdless")][k] / by[(x, "redis")][k] for x in rounds)
        res = {"pipeline": p, "test": test,
               "rate": {"herdless": med("herdless", "rate"), "redis": med("redis", "rate")},
               "cpu_us_per_request": {"herdless": med("herdless", "cpu_us_per_request"),
                                      "redis": med("redis", "cpu_us_per_request")},
               "client_cpu_us_per_request": {"herdless": med("herdless", "client_cpu_us_per_request"),
                                             "redis": med("redis", "client_cpu_us_per_request")}}
        res["rate_ratio"] = round(res["rate"]["herdless"] / res["rate"]["redis"], 3)
        res["cpu_ratio"] = round(res["cpu_us_per_request"]["herdless"] / res["cpu_us_per_request"]["redis"], 3)
        res["paired_rate_ratio"] = round(paired("rate"), 3)
        res["paired_cpu_ratio"] = round(paired("cpu_us_per_request"), 3)
        res["goal_met"] = (res["rate_ratio"] >= 1.0 and res["cpu_ratio"] <= 1.0) if p == 1 else res["rate_ratio"] >= 1.2
        out["results"].append(res)
json.dump(out, open(out_path, "w"), indent=1)
print(f"{'P':>2} {'test':12} {'herdless/s':>11} {'redis/s':>10} {'ratio':>6} {'us/req h':>9} {'us/req r':>9} {'ratio':>6} goal")
for r in out["results"]:
    print(f"{r['pipeline']:>2} {r['test']:12} {r['rate']['herdless']:>11.0f} {r['rate']['redis']:>10.0f} {r['rate_ratio']:>6.3f} "
          f"{r['cpu_us_per_request']['herdless']:>9.3f} {r['cpu_us_per_request']['redis']:>9.3f} {r['cpu_ratio']:>6.3f} "
          f"{'met' if r['goal_met'] else 'MISSED'}")
PY
echo "wrote $OUT"
