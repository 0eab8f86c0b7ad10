#!/usr/bin/env bash
# serve_scenarios.sh: the foundation figures of `herdless serve`, measured on this machine:
#  1. distribution: 3 s of short connections from 64 concurrent clients to 4 workers;
#     failures and each worker's share (from the {worker} replies).
#  2. kill -9: the same load for 5 s with worker 1 killed after 1.5 s; failures and how long
#     until /stats shows a replacement worker for slot 1 whose loop is turning.
# Writes bench/results/serve_scenarios.json. Environment: BUILD (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/serve_scenarios.json}
tmp=$(mktemp -d)
server=""
trap '[[ -z $server ]] || kill -KILL -- -"$server" 2>/dev/null; rm -rf "$tmp"' EXIT

start_server() {
  setsid "$BUILD/herdless" serve --listen tcp://127.0.0.1:0 --workers 4 --admin 127.0.0.1:0 \
    --message 'hello world. worker={worker}\n' 2>"$tmp/log" &
  server=$!
  for _ in $(seq 100); do
    grep -q 'admin on' "$tmp/log" && break
    sleep 0.05
  done
  port=$(grep -oE 'listening on tcp://127.0.0.1:[0-9]+' "$tmp/log" | grep -oE '[0-9]+$')
  admin=$(grep -oE 'admin on http://127.0.0.1:[0-9]+' "$tmp/log" | grep -oE '[0-9]+$')
  sleep 0.3
}
stop_server() { kill -TERM "$server"; wait "$server" || true; server=""; }
stats() { python3 -c 'import json,sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "http://127.0.0.1:$admin/stats"; }

echo "== distribution: 4 workers, 64 clients, 3 s"
start_server
"$BUILD/herdless" load --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 3s --timeout 1s --json >"$tmp/dist.json"
stop_server

echo "== kill -9 of worker 1 after 1.5 s, 64 clients, 5 s"
start_server
"$BUILD/herdless" load --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 5s --timeout 1s --json >"$tmp/kill.json" &
load=$!
sleep 1.5
victim=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"][1]["pid"])')
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
