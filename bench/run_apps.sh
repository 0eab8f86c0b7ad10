#!/usr/bin/env bash
# run_apps.sh: `herdless run` in front of a real app server (uvicorn 0.17.6, Debian's
# python3-uvicorn: asyncio + h11), against the app server's own multi-worker mode, measured
# on this machine. Three variants, 4 workers each, a fresh server per round, the variants
# alternating within every round (the order rotates from round to round), medians reported:
#   own           /usr/bin/python3 -m uvicorn --workers 4 --host 127.0.0.1 --port P ...
#                 (one listening socket bound by uvicorn's parent, shared by 4 forked workers)
#   hash          herdless run --workers 4 --steer hash -- /usr/bin/python3 -m uvicorn --fd 3 ...
#                 (one SO_REUSEPORT socket per worker, the kernel's reuseport hash, no program)
#   least-loaded  herdless run --workers 4 -- ... (the default steering)
#
#  1. event loop blocked: tests/apps/asgi_app.py; every 50th request is GET /slow, which
#     burns 50 ms of CPU on the worker's event loop (blocking every other connection of that
#     process), the others (GET /, the "primary" requests) answer at once. Short HTTP/1.0
#     connections (`herdless load --mode connect`) at a fixed arrival rate (open loop,
#     latency from the intended start) of half the capacity. The capacity is measured first:
#     closed loop, the same request mix, CAPACITY_CONCURRENCY clients, against herdless run
#     --steer hash, the median of CAPACITY_RUNS runs of CAPACITY_DURATION on one server.
#     Per variant: p50/p99/p99.9 of the fast requests, of the slow ones, failures, and the
#     server's CPU time per request (utime + stime of the server's whole process tree, from
#     /proc, over the measured run, divided by the completed requests).
#     Targets: least-loaded's fast p99 <= 0.5 x hash's and <= own's.
#  2. long-lived: HOLD_CONNECTIONS connections held (`--mode hold`, nothing sent: uvicorn
#     keeps a connection that has sent no request open, its keep-alive timeout starts only
#     after a response) on 4 uvicorn workers. Per worker, the connections it holds, counted
#     on the server side: the ESTABLISHED sockets of /proc/net/tcp with the server's local
#     port whose inode is among the worker process's open fds (and /stats program.open next
#     to it when herdless reports it); busiest / mean and Jain's index.
#     Target: least-loaded busiest/mean <= 1.05.
# Missed targets are reported, not fatal: the exit status is non-zero only when the set-up
# fails. Writes $OUT, the chart $SVG, and prints a table.
#
# Environment: BUILD (build dir, default build), OUT (bench/results/run_apps.json),
# SVG (bench/results/run_apps.svg), ROUNDS (3), DURATION (4s, one measured run of
# scenario 1), RATE (arrivals/s of scenario 1; default half the measured capacity),
# CAPACITY_CONCURRENCY (32), CAPACITY_RUNS (3), CAPACITY_DURATION (2s),
# HOLD_CONNECTIONS (2000), HOLD_SECONDS (5), SCENARIOS ("1 2": which to run),
# LEAST_LOADED_ARGS (extra `herdless run` flags of the least-loaded variant, e.g.
# "--stall-threshold 20ms"; default none).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/run_apps.json}
SVG=${SVG:-bench/results/run_apps.svg}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}
RATE=${RATE:-}
CAPACITY_CONCURRENCY=${CAPACITY_CONCURRENCY:-32}
CAPACITY_RUNS=${CAPACITY_RUNS:-3}
CAPACITY_DURATION=${CAPACITY_DURATION:-2s}
HOLD_CONNECTIONS=${HOLD_CONNECTIONS:-2000}
HOLD_SECONDS=${HOLD_SECONDS:-5}
SCENARIOS=${SCENARIOS:-1 2}
LEAST_LOADED_ARGS=${LEAST_LOADED_ARGS:-}
WORKERS=4
ALT_EVERY=50
TIMEOUT=2s
SEND='GET / HTTP/1.0\r\n\r\n'
SEND_ALT='GET /slow HTTP/1.0\r\n\r\n'
# The Debian interpreter: it sees python3-uvicorn (a pyenv python3 does not), and it starts
# without a shim's shell scripts.
PY=/usr/bin/python3
UVICORN=("$PY" -m uvicorn --no-access-log --app-dir tests/apps)
VARIANTS=(own hash least-loaded)

need_binaries "$BUILD/herdless" "$PY"
"$PY" -c 'import uvicorn' 2>/dev/null || fail "$PY cannot import uvicorn (scripts/install-deps.sh: python3-uvicorn)"

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
bench_init stop
# Others rebuild the tree while this runs: every server and load of the run uses one copy of
# the binary (spawn_load runs $BUILD/herdless).
install -m 755 "$BUILD/herdless" "$tmp/herdless"
BUILD=$tmp
herdless=$tmp/herdless

# free_port: a port of 127.0.0.1 nobody listens on now (for uvicorn's own --port).
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_variant VARIANT NAME: starts the variant's server in its own process group (log
# $tmp/NAME.log) and waits until all 4 uvicorn workers are serving; sets server, port and
# admin (empty for own).
start_variant() {
  local variant=$1 log=$tmp/$2.log ready_regex
  : >"$log"
  admin=""
  if [[ $variant == own ]]; then
    port=$(free_port)
    setsid "${UVICORN[@]}" --workers "$WORKERS" --host 127.0.0.1 --port "$port" asgi_app:app >"$log" 2>&1 &
    server=$!
    ready_regex='Application startup complete'
  else
    local -a extra=()
    [[ $variant != least-loaded ]] || read -r -a extra <<<"$LEAST_LOADED_ARGS"
    setsid "$herdless" run "${extra[@]}" --listen tcp://127.0.0.1:0 --workers "$WORKERS" --admin 127.0.0.1:0 --steer "$variant" \
      --drain-timeout 2s -- "${UVICORN[@]}" --fd 3 asgi_app:app >"$log" 2>&1 &
    server=$!
    ready_regex='is ready'
  fi
  for _ in $(seq 200); do
    (($(grep -ac "$ready_regex" "$log") >= WORKERS)) && break
    process_running "$server" || break
    sleep 0.05
  done
  if [[ $variant != own ]]; then
    port=$(grep -aoE 'listening on tcp://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$' || true)
    admin=$(grep -aoE 'admin on http://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$' || true)
    # The steering must be the one asked for (no silent fallback to the kernel's hash).
    grep -aqE "steer ${variant}[,)]" "$log" || { cat -v "$log" >&2; fail "herdless run is not steering with $variant"; }
  fi
  if (($(grep -ac "$ready_regex" "$log") < WORKERS)) || [[ -z $port ]]; then
    cat -v "$log" >&2
    fail "$variant: $WORKERS workers not serving within 10 s"
  fi
  sleep 0.3
}

# tree_pids ROOT: ROOT and all its descendants (herdless run's programs lead their own
# process groups, so the process group is not enough).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{ parent[$1] = $2 } END {
    n = 0; for (p in parent) { q = p; while (q != "" && q != root && q in parent && q != parent[q]) q = parent[q]
      if (q == root) print p } }'
}
# tree_cpu_ticks ROOT: utime + stime of ROOT and its descendants (all threads), clock ticks.
tree_cpu_ticks() {
  # shellcheck disable=SC2046 # one word per pid
  pids_cpu_ticks $(tree_pids "$1")
}
# worker_pids: the 4 uvicorn worker processes, in slot order under herdless run (from
# /stats), by pid under own (the children of uvicorn's parent that serve: every child but
# multiprocessing's helpers, i.e. the ones running uvicorn).
worker_pids() {
  if [[ -n $admin ]]; then
    "$PY" -c 'import json,sys,urllib.request
print(" ".join(str(w["pid"]) for w in json.load(urllib.request.urlopen(sys.argv[1], timeout=2))["workers"]))' \
      "http://127.0.0.1:$admin/stats"
  else
    ps -o pid=,args= --ppid "$server" | awk '/multiprocessing.spawn|uvicorn/ && !/resource_tracker/ { print $1 }' | sort -n | xargs
  fi
}

run_load() {
  local out=$1
  shift
  spawn_load "$out" --target "tcp://127.0.0.1:$port" --json "$@"
  wait_load
}
MIX=(--mode connect --send "$SEND" --send-alt "$SEND_ALT" --alt-every "$ALT_EVERY" --timeout "$TIMEOUT")

# rotated ROUND: the variants in the order of ROUND (1-based): A B C, B C A, C A B, ...
rotated() { local i n=${#VARIANTS[@]}; for ((i = 0; i < n; i++)); do echo "${VARIANTS[$(((i + $1 - 1) % n))]}"; done; }

capacity=""
capacities=()
# ---------------------------------------------------------------- 1. event loop blocked
scenario_1() {
  echo "== 1. event loop blocked: $WORKERS uvicorn workers, every ${ALT_EVERY}th request burns 50 ms of CPU on the loop"
  start_variant hash capacity
  run_load "$tmp/warmup.json" "${MIX[@]}" --concurrency "$CAPACITY_CONCURRENCY" --duration 1s
  capacities=()
  for i in $(seq "$CAPACITY_RUNS"); do
    run_load "$tmp/capacity_$i.json" "${MIX[@]}" --concurrency "$CAPACITY_CONCURRENCY" --duration "$CAPACITY_DURATION"
    capacities+=("$(json_number "$tmp/capacity_$i.json" connections_per_second)")
  done
  stop_server
  capacity=$(median -d 1 "${capacities[@]}")
  [[ -n $RATE ]] || RATE=$(awk -v c="$capacity" 'BEGIN { printf "%d", c / 2 }')
  echo "   capacity (closed loop, $CAPACITY_CONCURRENCY clients, herdless run --steer hash): $(list "${capacities[*]}") req/s," \
    "median $capacity; open-loop rate $RATE req/s"
  ((RATE > 0)) || fail "no capacity measured"

  for round in $(seq "$ROUNDS"); do
    for variant in $(rotated "$round"); do
      name=blocked_${variant}_$round
      start_variant "$variant" "$name"
      # Warm-up (uvicorn imports h11's code paths at the first requests), not measured.
      run_load "$tmp/${name}_warmup.json" "${MIX[@]}" --rate "$RATE" --duration 0.5s
      ticks0=$(tree_cpu_ticks "$server")
      run_load "$tmp/$name.json" "${MIX[@]}" --rate "$RATE" --duration "$DURATION"
      ticks1=$(tree_cpu_ticks "$server")
      echo "$((ticks1 - ticks0))" >"$tmp/$name.ticks"
      stop_server
      "$PY" - "$tmp/$name.json" "$((ticks1 - ticks0))" "$(getconf CLK_TCK)" "$round" "$variant" <<'PY'
import json, sys
r, ticks, hz = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
p, a = r["primary"], r["alternative"]
cpu = ticks * 1e6 / hz / max(r["completed"], 1)
print(f"   round {sys.argv[4]} {sys.argv[5]:<13} fast p50 {p['latency_us']['p50']/1000:7.2f} p99 {p['latency_us']['p99']/1000:7.2f}"
      f" p999 {p['latency_us']['p999']/1000:7.2f} ms  slow p99 {a['latency_us']['p99']/1000:7.2f} ms"
      f"  failed {r['failed']}  cpu {cpu:6.0f} us/req  per worker {json.dumps(r['per_worker'])}")
PY
    done
  done
}
[[ " $SCENARIOS " != *" 1 "* ]] || scenario_1

# ---------------------------------------------------------------- 2. long-lived
scenario_2() {
  echo "== 2. long-lived: $HOLD_CONNECTIONS connections held on $WORKERS uvicorn workers"
  # count_held PORT WANT PIDS...: waits (up to 5 s) until the processes PIDS hold WANT
  # established connections of local port PORT in all, or until the sum has not moved for
  # 0.5 s; then 1 s more, and prints {"per_worker": [...], "pids": [...]} (server side, /proc).
  cat >"$tmp/count_held.py" <<'PY'
import json, sys, time
sys.path.insert(0, "bench")
from held_sockets import held_by, port_inodes
port, want, pids = int(sys.argv[1]), int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
def per_worker():
    inodes = port_inodes(port)
    return [held_by(pid, inodes) for pid in pids]
last, since, deadline = -1, time.monotonic(), time.monotonic() + 5
while time.monotonic() < deadline:
    total = sum(per_worker())
    if total >= want: break
    if total != last: last, since = total, time.monotonic()
    elif total > 0 and time.monotonic() - since > 0.5: break
    time.sleep(0.1)
time.sleep(1)
print(json.dumps({"per_worker": per_worker(), "pids": pids}))
PY
  for round in $(seq "$ROUNDS"); do
    for variant in $(rotated "$round"); do
      name=hold_${variant}_$round
      start_variant "$variant" "$name"
      read -r -a pids <<<"$(worker_pids)"
      ((${#pids[@]} == WORKERS)) || fail "$variant: found ${#pids[@]} worker processes, not $WORKERS: ${pids[*]}"
      spawn_load "$tmp/$name.json" --target "tcp://127.0.0.1:$port" --json --mode hold \
        --connections "$HOLD_CONNECTIONS" --concurrency 64 --duration "${HOLD_SECONDS}s" --timeout 2s
      "$PY" "$tmp/count_held.py" "$port" "$HOLD_CONNECTIONS" "${pids[@]}" >"$tmp/${name}_held.json"
      if [[ -n $admin ]]; then stats >"$tmp/${name}_stats.json"; else echo '{}' >"$tmp/${name}_stats.json"; fi
      wait_load
      stop_server
      "$PY" - "$tmp/${name}_held.json" "$tmp/${name}_stats.json" "$round" "$variant" <<'PY'
import json, sys
held = json.load(open(sys.argv[1]))["per_worker"]
opened = [w.get("program", {}).get("open") for w in json.load(open(sys.argv[2])).get("workers", [])]
mean = sum(held) / len(held)
print(f"   round {sys.argv[3]} {sys.argv[4]:<13} held per worker {held}  busiest/mean {max(held) / mean if mean else 0:.3f}"
      + (f"  /stats program.open {opened}" if any(o is not None for o in opened) else ""))
PY
    done
  done
}
[[ " $SCENARIOS " != *" 2 "* ]] || scenario_2

# ---------------------------------------------------------------- results
"$PY" - "$tmp" "$OUT" "$SVG" "$ROUNDS" "$DURATION" "${RATE:-0}" "$capacity" "${capacities[*]}" "$CAPACITY_CONCURRENCY" \
  "$CAPACITY_DURATION" "$HOLD_CONNECTIONS" "$HOLD_SECONDS" "$(getconf CLK_TCK)" "$loadavg_start" "$LEAST_LOADED_ARGS" <<'PY'
import datetime, json, os, platform, statistics, subprocess, sys
(tmp, out, svg, rounds, duration, rate, capacity, capacities, cap_conc, cap_duration, hold_n, hold_s, hz,
 loadavg_start, ll_args) = sys.argv[1:]
rounds, rate, hz, hold_n = int(rounds), int(rate), int(hz), int(hold_n)
variants = ("own", "hash", "least-loaded")
labels = {"own": "uvicorn --workers 4", "hash": "herdless run --steer hash", "least-loaded": "herdless run (least-loaded)"}
load = lambda name: json.load(open(f"{tmp}/{name}.json"))
med = lambda values: statistics.median(values)
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
loadavg = {"start": [float(x) for x in loadavg_start.split()], "end": [float(x) for x in open("/proc/loadavg").read().split()[:3]]}
cmd = "/usr/bin/python3 -m uvicorn --fd 3 --no-access-log --app-dir tests/apps asgi_app:app"
commands = {
    "own": "/usr/bin/python3 -m uvicorn --workers 4 --host 127.0.0.1 --port P --no-access-log --app-dir tests/apps asgi_app:app",
    "hash": f"herdless run --listen tcp://127.0.0.1:0 --workers 4 --steer hash -- {cmd}",
    "least-loaded": f"herdless run {ll_args + ' ' if ll_args else ''}--listen tcp://127.0.0.1:0 --workers 4 -- {cmd}"}
# A scenario not run this time (SCENARIOS) keeps its section of the previous $OUT.
try:
    previous = json.load(open(out))
except (OSError, ValueError):
    previous = {}
def target(section, name, value, goal, met):
    section["targets"][name] = {"value": value, "target": goal, "met": met}
    return "ok" if met else "MISSED"
print("\n== results (medians of the rounds)")

# 1. event loop blocked
if os.path.exists(f"{tmp}/blocked_own_1.json"):
    variants_1 = {}
    for v in variants:
        runs = []
        for i in range(1, rounds + 1):
            r = load(f"blocked_{v}_{i}")
            ticks = int(open(f"{tmp}/blocked_{v}_{i}.ticks").read())
            p, a = r["primary"], r["alternative"]
            runs.append({"fast_p50_ms": p["latency_us"]["p50"] / 1000, "fast_p99_ms": p["latency_us"]["p99"] / 1000,
                         "fast_p999_ms": p["latency_us"]["p999"] / 1000, "slow_p50_ms": a["latency_us"]["p50"] / 1000,
                         "slow_p99_ms": a["latency_us"]["p99"] / 1000, "attempted": r["attempted"],
                         "completed": r["completed"], "failed": r["failed"], "timed_out": r["timed_out"],
                         "fast_failed": p["failed"], "slow_failed": a["failed"],
                         "requests_per_second": round(r["connections_per_second"], 1), "server_cpu_ticks": ticks,
                         "server_cpu_us_per_request": round(ticks * 1e6 / hz / max(r["completed"], 1), 1),
                         "per_worker": r["per_worker"]})
        keys = [k for k in runs[0] if k != "per_worker"]
        variants_1[v] = {"median": {k: round(med([x[k] for x in runs]), 3) for k in keys}, "rounds": runs}
    blocked = {
        "date": now, "loadavg": loadavg, "commands": commands,
        "load": "herdless load --mode connect --send 'GET / HTTP/1.0\\r\\n\\r\\n' --send-alt 'GET /slow HTTP/1.0\\r\\n\\r\\n' "
                f"--alt-every 50 --rate {rate} --duration {duration} --timeout 2s (after 0.5 s of the same, not measured)",
        "capacity": {"how": f"closed loop, same request mix, {cap_conc} clients, herdless run --steer hash, "
                            f"median of {len(capacities.split())} runs of {cap_duration} after a 1 s warm-up",
                     "runs": [float(x) for x in capacities.split()], "median_requests_per_second": float(capacity)},
        "rate": rate, "rounds": rounds, "duration": duration,
        "server_cpu": "utime + stime of the server's process tree (/proc/PID/stat) over the measured run / completed requests",
        "variants": variants_1, "targets": {}}
    print(f"1. event loop blocked: {rate} req/s open loop (half of the closed-loop capacity {capacity} req/s), "
          f"1 in 50 burns 50 ms; {rounds} rounds of {duration}")
    print(f"   {'variant':<29}{'fast p50':>9}{'p99':>9}{'p99.9':>9}{'slow p99':>10}{'failed':>8}{'cpu us/req':>11}")
    for v in variants:
        m = variants_1[v]["median"]
        print(f"   {labels[v]:<29}{m['fast_p50_ms']:>9.2f}{m['fast_p99_ms']:>9.2f}{m['fast_p999_ms']:>9.2f}"
              f"{m['slow_p99_ms']:>10.2f}{m['failed']:>8.0f}{m['server_cpu_us_per_request']:>11.0f}  (ms, us)")
    ll, h, own = (variants_1[v]["median"]["fast_p99_ms"] for v in ("least-loaded", "hash", "own"))
    ratio_hash = round(ll / h, 3) if h else None
    ratio_own = round(ll / own, 3) if own else None
    print(f"   target least-loaded fast p99 <= 0.5 x hash: {ratio_hash} "
          + target(blocked, "fast_p99_vs_hash", ratio_hash, "<= 0.5", ratio_hash is not None and ratio_hash <= 0.5))
    print(f"   target least-loaded fast p99 <= own: {ratio_own} "
          + target(blocked, "fast_p99_vs_own", ratio_own, "<= 1.0", ratio_own is not None and ratio_own <= 1.0))
else:
    blocked = previous.get("event_loop_blocked")
    print("1. event loop blocked: not run" + (f", kept from {blocked['date']}" if blocked else ""))

# 2. long-lived
if os.path.exists(f"{tmp}/hold_own_1_held.json"):
    variants_2 = {}
    for v in variants:
        runs = []
        for i in range(1, rounds + 1):
            held = json.load(open(f"{tmp}/hold_{v}_{i}_held.json"))
            per, total = held["per_worker"], sum(held["per_worker"])
            mean = total / len(per)
            opened = [w.get("program", {}).get("open") for w in load(f"hold_{v}_{i}_stats").get("workers", [])]
            r = load(f"hold_{v}_{i}")
            runs.append({"held_per_worker": per, "total": total,
                         "busiest_over_mean": round(max(per) / mean, 3) if mean else 0,
                         "jain": round(total * total / (len(per) * sum(x * x for x in per)), 4) if total else 0,
                         "stats_program_open": opened if any(o is not None for o in opened) else None,
                         "load": {k: r.get(k) for k in ("attempted", "connected", "failed", "timed_out", "refused", "reset")}})
        variants_2[v] = {"median": {k: round(med([x[k] for x in runs]), 4) for k in ("busiest_over_mean", "jain", "total")},
                         "rounds": runs}
    tracked = any(x["stats_program_open"] is not None for x in variants_2["least-loaded"]["rounds"])
    hold = {
        "date": now, "loadavg": loadavg, "commands": commands,
        "load": f"herdless load --mode hold --connections {hold_n} --concurrency 64 --duration {hold_s}s (nothing sent)",
        "count": "per worker process: ESTABLISHED sockets of /proc/net/tcp with the server's port among its /proc/PID/fd, "
                 "after all connections arrived (or 0.5 s without change) + 1 s",
        "kernel_open_counts": tracked, "connections": hold_n, "rounds": rounds, "variants": variants_2, "targets": {}}
    print(f"2. long-lived: {hold_n} connections held on 4 workers, per worker counted from /proc (server side); {rounds} rounds")
    print(f"   {'variant':<29}{'busiest/mean':>13}{'jain':>8}{'held':>7}  per worker, each round")
    for v in variants:
        m = variants_2[v]["median"]
        print(f"   {labels[v]:<29}{m['busiest_over_mean']:>13.3f}{m['jain']:>8.4f}{m['total']:>7.0f}  "
              + " ".join(str(x["held_per_worker"]) for x in variants_2[v]["rounds"]))
    b = variants_2["least-loaded"]["median"]["busiest_over_mean"]
    print(f"   target least-loaded busiest/mean <= 1.05: {b:.3f} " + target(hold, "busiest_over_mean", b, "<= 1.05", b <= 1.05)
          + ("" if tracked else "  (/stats has no program.open: herdless had no per-slot open-connection counts)"))
else:
    hold = previous.get("long_lived")
    print("2. long-lived: not run" + (f", kept from {hold['date']}" if hold else ""))

def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
result = {
    "benchmark": "run_apps", "date": now, "kernel": platform.release(), "cpus": os.cpu_count(),
    "uvicorn": version(["/usr/bin/python3", "-c", "import uvicorn; print(uvicorn.__version__)"]),
    "python": version(["/usr/bin/python3", "-c", "import platform; print(platform.python_version())"]),
    "workers": 4, "variants": labels, "event_loop_blocked": blocked, "long_lived": hold,
    "targets": {**{f"event_loop_blocked.{k}": t for k, t in (blocked or {}).get("targets", {}).items()},
                **{f"long_lived.{k}": t for k, t in (hold or {}).get("targets", {}).items()}}}
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

# The chart: one panel per figure, one bar per variant (the style of herdless bench's SVGs).
colors = {"own": "#e15759", "hash": "#4e79a7", "least-loaded": "#1f4e79"}
panels = []
if blocked:
    m1 = {v: blocked["variants"][v]["median"] for v in variants}
    panels += [("fast p99, ms (event loop blocked)", "%.1f", [m1[v]["fast_p99_ms"] for v in variants]),
               ("fast p99.9, ms", "%.1f", [m1[v]["fast_p999_ms"] for v in variants]),
               ("server CPU per request, us", "%.0f", [m1[v]["server_cpu_us_per_request"] for v in variants])]
if hold:
    panels.append((f"busiest/mean, {hold['connections']} held (1 = even)", "%.2f",
                   [hold["variants"][v]["median"]["busiest_over_mean"] for v in variants]))
label_w, panel_w, bar_max, top = 215, 255, 170, 56
width = label_w + panel_w * len(panels) + 10
height = top + 17 + 26 * len(variants) + 34
esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
title = "herdless run vs uvicorn --workers 4: " + ", and ".join(
    ([f"event loop blocked 50 ms in 1 of 50 requests ({blocked['rate']} req/s)"] if blocked else [])
    + ([f"{hold['connections']} held connections"] if hold else []))
lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
         'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
         '<rect width="100%" height="100%" fill="white"/>',
         f'<text x="10" y="22" font-size="15" font-weight="bold">{esc(title)}</text>']
for p, (ptitle, fmt, values) in enumerate(panels):
    x = label_w + p * panel_w
    lines.append(f'<text x="{x}" y="{top}" font-weight="bold">{esc(ptitle)}</text>')
    scale = max(values) or 1
    for i, (v, value) in enumerate(zip(variants, values)):
        y = top + 17 + 26 * i
        w = max(bar_max * value / scale, 0.5)
        lines.append(f'<rect x="{x}" y="{y}" width="{w:.1f}" height="18" fill="{colors[v]}"/>')
        lines.append(f'<text x="{x + w + 4:.1f}" y="{y + 12}">{fmt % value}</text>')
for i, v in enumerate(variants):
    lines.append(f'<text x="10" y="{top + 29 + 26 * i}">{esc(labels[v])}</text>')
lines.append(f'<text x="10" y="{height - 10}" fill="#666" font-size="11">4 uvicorn {result["uvicorn"]} workers '
             f'(asyncio + h11) on {os.cpu_count()} CPUs, medians of alternating rounds; short HTTP/1.0 connections, '
             'open loop at half the capacity; held connections counted per worker process from /proc</text>')
lines.append("</svg>")
with open(svg, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"load average (1, 5, 15 min) at start {loadavg['start']}, at the end {loadavg['end']} on {os.cpu_count()} CPUs")
print(f"wrote {out} and {svg}")
PY
