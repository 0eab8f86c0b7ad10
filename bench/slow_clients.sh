#!/usr/bin/env bash
# slow_clients.sh: 10,000 slow clients (each trickles an HTTP request head a byte a second and
# never finishes it: bench/trickle_clients.c) held open against `herdless serve --service http`
# while normal clients (`herdless load`, HTTP/1.0 on short connections) run: their failed count
# and rate, beside the same load without the slow clients. Both runs in this network
# namespace; run it in a fresh one (the root namespace's TIME_WAIT sockets slow connects):
#   unshare --net sh -c 'ip link set lo up && bench/slow_clients.sh'
# The slow clients stay within --http-header-timeout (the default 60 s) for the whole run: the
# bench measures what holding them costs the others; the closing of those past the timeout is
# tested in tests/unit/slow_clients_test.cc. One load process holds the 10,000 (the open-files
# hard limit here is 20,000 per process).
# Environment: BUILD (build dir), SLOW (10000), WORKERS (2), SECONDS_LOAD (10), CONCURRENCY (32),
# OUT (bench/results/slow_clients.json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SLOW=${SLOW:-10000}
WORKERS=${WORKERS:-2}
SECONDS_LOAD=${SECONDS_LOAD:-10}
CONCURRENCY=${CONCURRENCY:-32}
OUT=${OUT:-bench/results/slow_clients.json}
need_binaries "$BUILD/herdless" "$BUILD/trickle_clients"
bench_init stop
trickler=""
cleanup_extra() { [[ -z $trickler ]] || kill -KILL "$trickler" 2>/dev/null || true; }

# Each worker holds up to SLOW / WORKERS slow clients plus the normal ones.
start_admin_server "$tmp/server.log" --listen tcp://127.0.0.1:0 --admin 127.0.0.1:0 --workers "$WORKERS" \
  --service http --max-conns $((SLOW + 4000)) --http-header-timeout 60s
request='GET / HTTP/1.0\r\nHost: bench\r\n\r\n'
normal_load() {  # normal_load OUTFILE
  "$BUILD/herdless" load --target "tcp://127.0.0.1:$port" --mode connect --concurrency "$CONCURRENCY" \
    --duration "${SECONDS_LOAD}s" --timeout 2s --send "$request" --json >"$1"
}
active() { stats | python3 -c 'import json,sys; print(sum(w["active"] for w in json.load(sys.stdin)["workers"]))'; }

echo "baseline: ${SECONDS_LOAD}s of normal clients alone"
normal_load "$tmp/baseline.json"

echo "holding $SLOW slow clients"
trickle_seconds=$((SECONDS_LOAD + 40))  # ended by SIGTERM after the load, well within
"$BUILD/trickle_clients" 127.0.0.1 "$port" "$SLOW" 1000 "$trickle_seconds" >"$tmp/trickle.json" 2>"$tmp/trickle.err" &
trickler=$!
held=0
for _ in $(seq 300); do  # up to 30 s for every slow client to be accepted
  held=$(active)
  (( held >= SLOW )) && break
  sleep 0.1
done
echo "server holds $held connections; ${SECONDS_LOAD}s of normal clients beside them"
normal_load "$tmp/with_slow.json"
held_after=$(active)
kill -TERM "$trickler" 2>/dev/null || true  # it reports and exits
wait "$trickler" 2>/dev/null || true
trickler=""
stats >"$tmp/stats.json"
server_rss_kb=$(ps -e -o pgid=,rss= | awk -v g="$server" '$1 == g { s += $2 } END { print s + 0 }')

python3 - "$tmp" "$OUT" "$SLOW" "$held" "$held_after" "$WORKERS" "$CONCURRENCY" "$SECONDS_LOAD" "$server_rss_kb" <<'PY'
import json, os, platform, sys, time
tmp, out_path, slow, held, held_after, workers, concurrency, seconds, rss = sys.argv[1:]
load = lambda name: json.load(open(f"{tmp}/{name}.json"))
base, with_slow = load("baseline"), load("with_slow")
err = open(f"{tmp}/trickle.err").read().strip()
out = {
    "benchmark": "bench/slow_clients.sh",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
    "server": f"herdless serve --service http --workers {workers} --http-header-timeout 60s",
    "normal_clients": f"herdless load --mode connect --concurrency {concurrency} --duration {seconds}s --timeout 2s, HTTP/1.0",
    "slow_clients": {"asked": int(slow), "held_by_server_before_load": int(held),
                     "held_by_server_after_load": int(held_after), "trickler": json.loads(open(f"{tmp}/trickle.json").read() or "{}")
                     if os.path.getsize(f"{tmp}/trickle.json") else err},
    "server_rss_kb_with_slow_clients": int(rss or 0),
    "baseline": base, "with_slow_clients": with_slow,
}
rate = lambda r: r.get("rate") or r.get("connections_per_second") or r.get("requests_per_second")
if rate(base) and rate(with_slow):
    out["rate_ratio_with_slow_over_baseline"] = round(rate(with_slow) / rate(base), 3)
json.dump(out, open(out_path, "w"), indent=1)
print(json.dumps({"failed_baseline": base.get("failed"), "failed_with_slow": with_slow.get("failed"),
                  "rate_baseline": rate(base), "rate_with_slow": rate(with_slow),
                  "slow_held": int(held), "slow_held_after": int(held_after)}))
PY
echo "wrote $OUT"
