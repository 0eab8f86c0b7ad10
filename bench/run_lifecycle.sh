#!/usr/bin/env bash
# run_lifecycle.sh: `herdless run` keeps third-party servers' connections through restarts,
# reloads, kills and stalls. Under 64 clients of `herdless load` (short HTTP/1.0
# connections), 4 slots each:
#   rolling   SIGHUP every second for 10 s (2 s client timeout): gunicorn, uvicorn and a
#             program that sleeps 3 s before it accepts; beside it gunicorn's own graceful
#             reload (SIGHUP to its master, --workers 4) under the same load
#   kill9     SIGKILL of a random program every 0.5 s for 10 s: failures against what the
#             killed programs had accepted and not answered (each is stopped with SIGSTOP
#             first and its ESTABLISHED/CLOSE_WAIT connections counted from its descriptors,
#             then killed)
#   stall     one of 4 programs stopped (SIGSTOP) for 5 s, 1 s timeout: the rate against the
#             unstalled rate, timeouts, and each slot's share within 1 s of SIGCONT;
#             least-loaded and hash
# Writes bench/results/run_lifecycle.json. Knobs: BUILD (build dir), OUT (result file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/run_lifecycle.json}
PY=/usr/bin/python3
APPS=tests/apps
REQUEST='GET / HTTP/1.0\r\n\r\n'
need_binaries "$BUILD/herdless"
bench_init stop
rows="$tmp/rows.jsonl"
: >"$rows"

# start_run ARGS... -- COMMAND...: herdless run on a free port with an admin port; waits until
# every slot's program is ready (up to 15 s).
start_run() {
  local log="$tmp/run.log"
  : >"$log"
  setsid "$BUILD/herdless" run --listen tcp://127.0.0.1:0 --admin 127.0.0.1:0 --workers 4 "$@" 2>"$log" >/dev/null &
  server=$!
  for _ in $(seq 150); do
    grep -aq 'admin on' "$log" && break
    sleep 0.1
  done
  port=$(grep -aoE 'listening on tcp://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$')
  admin=$(grep -aoE 'admin on http://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$')
  for _ in $(seq 150); do
    [[ $(grep -ac 'is ready' "$log") -ge 4 ]] && break
    sleep 0.1
  done
}

# record SCENARIO VARIANT LOADJSON [EXTRA-JSON]: one row of results.
record() {
  $PY - "$1" "$2" "$3" "${4:-{\}}" >>"$rows" <<'EOF'
import json, sys
scenario, variant, path, extra = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
d = json.load(open(path))
row = {"scenario": scenario, "variant": variant}
for k in ("attempted", "completed", "failed", "refused", "reset", "timed_out", "closed", "other", "connections_per_second"):
    row[k] = d.get(k)
row["p99_us"] = d["latency_us"]["p99"]
row["per_worker"] = d.get("per_worker", {})
row.update(extra)
print(json.dumps(row))
EOF
  tail -n 1 "$rows" | $PY -c '
import json, sys
r = json.loads(sys.stdin.read())
extra = {k: v for k, v in r.items() if k in ("held_at_kill", "rate_ratio", "after_sigcont", "timeouts_percent", "generations")}
print("%-8s %-38s completed %7d failed %5d (timed out %d, reset %d, refused %d) p99 %.1f ms %s" % (r["scenario"], r["variant"],
      r["completed"], r["failed"], r["timed_out"], r["reset"], r["refused"], r["p99_us"] / 1000.0, extra))'
}

# held_by_group PGID: the TCP connections of the server's port in ESTABLISHED or CLOSE_WAIT
# (accepted, not finished by the server) whose socket is an open descriptor of a process of
# the group PGID.
held_by_group() {
  # shellcheck disable=SC2046 # one word per pid
  $PY bench/held_sockets.py "$port" $(pgrep -g "$1")
}

rolling() {  # NAME SIGNAL-TARGET(herdless|own) ARGS...
  local name=$1 target=$2
  shift 2
  spawn_load "$tmp/load.json" --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 11s --timeout 2s --send "$REQUEST" --json
  for _ in $(seq 10); do sleep 1; kill -HUP "$server"; done
  wait_load
  local generations=0
  [[ $target == herdless ]] && generations=$(stats | $PY -c 'import json,sys; print(max(w["program"]["generation"] for w in json.load(sys.stdin)["workers"]))')
  record rolling "$name" "$tmp/load.json" "{\"generations\": $generations}"
  stop_server
}

echo "== rolling restart: SIGHUP every 1 s for 10 s, 64 clients, 2 s timeout"
start_run --fd-env systemd -- gunicorn --workers 1 --chdir "$APPS" wsgi_app:app
rolling "herdless run gunicorn" herdless
start_run -- $PY -m uvicorn --fd 3 --no-access-log --app-dir "$APPS" asgi_app:app
rolling "herdless run uvicorn" herdless
start_run -- $PY "$APPS/stdlib_server.py" --sleep-before-accept 3
rolling "herdless run sleep-3s-before-accept" herdless
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid gunicorn --workers 4 --bind "127.0.0.1:$port" --chdir "$APPS" wsgi_app:app >"$tmp/own.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  $PY -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
sleep 1
rolling "gunicorn --workers 4, its own HUP" own

echo "== kill -9 of a random program every 0.5 s for 10 s, 64 clients, 2 s timeout"
for app in stdlib uvicorn; do
  if [[ $app == stdlib ]]; then start_run -- $PY "$APPS/stdlib_server.py"; else start_run -- $PY -m uvicorn --fd 3 --no-access-log --app-dir "$APPS" asgi_app:app; fi
  spawn_load "$tmp/load.json" --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 10s --timeout 2s --send "$REQUEST" --json
  held=0
  for _ in $(seq 20); do
    sleep 0.5
    slot=$((RANDOM % 4))
    pid=$(stats | $PY -c 'import json,sys; print(json.load(sys.stdin)["workers"][int(sys.argv[1])]["pid"])' "$slot")
    # Frozen first, so what it holds cannot change before the SIGKILL: the connections its
    # processes had accepted and not finished, counted from their descriptors.
    kill -STOP -- "-$pid" 2>/dev/null || true
    open=$(held_by_group "$pid")
    kill -KILL -- "-$pid" 2>/dev/null || true
    held=$((held + open))
  done
  wait_load
  record kill9 "herdless run $app" "$tmp/load.json" "{\"held_at_kill\": $held, \"kills\": 20}"
  stop_server
done

echo "== one of 4 programs stopped for 5 s, 64 clients, 1 s timeout"
for steer in least-loaded hash; do
  start_run --steer "$steer" -- $PY "$APPS/stdlib_server.py"
  "$BUILD/herdless" load --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 3s --timeout 1s --send "$REQUEST" --json >"$tmp/base.json"
  spawn_load "$tmp/load.json" --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 5s --timeout 1s --send "$REQUEST" --json
  sleep 0.2
  stopped=$(stats | $PY -c 'import json,sys; print(json.load(sys.stdin)["workers"][0]["pid"])')
  kill -STOP "$stopped"
  sleep 4.8
  wait_load
  kill -CONT "$stopped"
  stopped=""
  sleep 1
  "$BUILD/herdless" load --target "tcp://127.0.0.1:$port" --concurrency 64 --duration 1s --timeout 1s --send "$REQUEST" --json >"$tmp/after.json"
  extra=$($PY - "$tmp/base.json" "$tmp/load.json" "$tmp/after.json" <<'EOF'
import json, sys
b, d, a = (json.load(open(p)) for p in sys.argv[1:4])
print(json.dumps({"unstalled_rate": b["connections_per_second"],
                  "rate_ratio": round(d["connections_per_second"] / b["connections_per_second"], 3),
                  "timeouts_percent": round(100.0 * d["timed_out"] / max(1, d["attempted"]), 3),
                  "after_sigcont": a.get("per_worker", {}), "after_sigcont_failed": a["failed"]}))
EOF
)
  record stall "herdless run --steer $steer" "$tmp/load.json" "$extra"
  stop_server
done

$PY - "$rows" "$OUT" <<'EOF'
import json, os, platform, sys, time
rows = [json.loads(l) for l in open(sys.argv[1])]
out = {"benchmark": "bench/run_lifecycle.sh", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "rows": rows}
json.dump(out, open(sys.argv[2], "w"), indent=1)
EOF
echo "wrote $OUT"
