#!/usr/bin/env bash
# serve_scenarios.sh: the foundation figures of `herdless serve`, measured on this machine:
#  1. distribution: 3 s of short connections from 64 concurrent clients to 4 workers;
#     failures and each worker's share (from the {worker} replies).
#  2. kill -9: the same load for 5 s with worker 1 killed after 1.5 s; failures and how long
#     until /stats shows a replacement worker for slot 1 whose loop is turning.
# Writes $OUT. Environment: BUILD (default build), OUT (bench/results/serve_scenarios.json).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/serve_scenarios.json}
bench_init kill

start_server() {
  start_admin_server "$tmp/log" --listen tcp://127.0.0.1:0 --workers 4 --admin 127.0.0.1:0 \
    --message 'hello world. worker={worker}\n'
}

echo "== distribution: 4 workers, 64 clients, 3 s"
start_server
# In the background, so that a signal interrupts the `wait` and the EXIT trap stops the load.
spawn_load "$tmp/dist.json" --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 3s --timeout 1s --json
wait "$load"
load=""
stop_server

echo "== kill -9 of worker 1 after 1.5 s, 64 clients, 5 s"
start_server
spawn_load "$tmp/kill.json" --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 5s --timeout 1s --json
sleep 1.5
victim=$(worker_pid 1)
kill -KILL "$victim"
t0=$(date +%s%N)
replaced_ms=-1
for _ in $(seq 2000); do
  if stats | python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"][1]; sys.exit(0 if w["pid"] not in (0, int(sys.argv[1])) and w["heartbeat_age_ms"] < 100 else 1)' "$victim"; then
    replaced_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    break
  fi
done
wait "$load"
load=""
stats >"$tmp/kill_stats.json"
stop_server

python3 - "$tmp" "$OUT" "$replaced_ms" <<'PY'
import json, sys, platform, datetime
tmp, out, replaced = sys.argv[1], sys.argv[2], int(sys.argv[3])
dist = json.load(open(f"{tmp}/dist.json"))
kill = json.load(open(f"{tmp}/kill.json"))
shares = {w: n / dist["completed"] for w, n in dist["per_worker"].items()}
result = {
    "kernel": platform.release(), "date": datetime.datetime.utcnow().isoformat() + "Z",
    "distribution": {"completed": dist["completed"], "failed": dist["failed"],
                     "connections_per_second": dist["connections_per_second"], "shares": shares},
    "kill9": {"completed": kill["completed"], "failed": kill["failed"], "timed_out": kill["timed_out"],
              "reset": kill["reset"], "refused": kill["refused"], "replacement_serving_ms": replaced,
              "restarts": [w["restarts"] for w in json.load(open(f"{tmp}/kill_stats.json"))["workers"]]},
}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result, indent=2))
PY
