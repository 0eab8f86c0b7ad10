#!/usr/bin/env bash
# steering.sh: what the eBPF steering of `herdless serve` buys and costs, measured on this
# machine with `herdless load` (and a small python3 client for the affinity part):
#  1. stalled worker: 2 workers, hello, 64 concurrent short-connection clients, 1 s client
#     timeout, 5 s runs; for least-loaded and hash, a baseline run and a run with worker 1
#     stopped (SIGSTOP) for the whole run. Rate, failures, timeouts, per-worker counts, and
#     stalled_rate / baseline_rate. Targets: least-loaded keeps >= 80 % of its baseline rate
#     with <= 0.5 % timeouts.
#  2. long-lived balance: 8 workers, echo, 2000 connections held for 3 s; each worker's
#     `active` from /stats ~1.5 s into the hold; max/mean and Jain's fairness index.
#     Target: least-loaded busiest <= 1.05 x mean.
#  3. cost of steering: 2 workers, hello, least-loaded and hash measured alternately
#     (fresh server per 3 s round), medians and least-loaded/hash. Target: >= 0.97.
#  4. affinity: 4 workers, --steer affinity. 1000 connections from 127.0.0.2 (one worker
#     expected), 20 connections from each of 127.0.0.3..22; then that worker is stopped
#     and the same clients come back: 127.0.0.2 should land on one other worker, and only
#     the addresses of the stopped worker should move.
# Missed targets are reported, not fatal: the exit status is non-zero only when the set-up
# fails. Writes $OUT and prints a table.
#
# Environment: BUILD (build dir, default build), OUT (bench/results/steering.json),
# STALL_DURATION (5s), ROUNDS (5), ROUND_DURATION (3s), CONCURRENCY (64).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/steering.json}
STALL_DURATION=${STALL_DURATION:-5s}
ROUNDS=${ROUNDS:-5}
ROUND_DURATION=${ROUND_DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-64}
HOLD_CONNECTIONS=2000

need_binaries "$BUILD/herdless"
command -v python3 >/dev/null || fail "python3 not found"

# Other processes on the machine make every rate noisy: the load average goes in the results.
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
# server (the supervisor), load (a background `herdless load`) and stopped (a worker we
# stopped with SIGSTOP) are lib.sh's; on exit the server's group gets SIGKILL.
bench_init kill

# start_server WORKERS STEER SERVICE: starts `herdless serve` in its own process group and
# sets server, port and admin.
servers=0
start_server() {
  # A log file per server: nothing of an earlier server can write into this one.
  local log="$tmp/server$((++servers)).log"
  start_admin_server "$log" --listen tcp://127.0.0.1:0 --workers "$1" --admin 127.0.0.1:0 \
    --steer "$2" --service "$3" --message 'worker={worker}\n' --drain-timeout 1s
  # The steering must be the one asked for (no silent fallback to the kernel's hash).
  grep -aqE "steer $2[,)]" "$log" || { cat -v "$log" >&2; fail "server is not steering with $2"; }
}

json_get() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); [v:=v[k] for k in sys.argv[2:]]; print(v)' "$@"; }

# run_load OUTFILE ARGS...: `herdless load` in the background (so that a signal interrupts
# the wait), result in OUTFILE.
run_load() {
  local out=$1
  shift
  spawn_load "$out" --target "tcp://127.0.0.1:$port" --json "$@"
  wait_load
}

# ---------------------------------------------------------------- 1. stalled worker
echo "== 1. stalled worker: 2 workers, hello, $CONCURRENCY clients, 1 s timeout, $STALL_DURATION runs"
for steer in least-loaded hash; do
  for run in baseline stalled; do
    start_server 2 "$steer" hello
    if [[ $run == stalled ]]; then
      stopped=$(worker_pid 1)
      kill -STOP "$stopped"
      sleep 0.3 # its heartbeat is now older than the 100 ms stall threshold
    fi
    run_load "$tmp/stall_${steer}_$run.json" --concurrency "$CONCURRENCY" --duration "$STALL_DURATION" --timeout 1s
    stats >"$tmp/stall_${steer}_${run}_stats.json"
    if [[ -n $stopped ]]; then
      kill -CONT "$stopped"
      stopped=""
    fi
    stop_server
    printf '  %-12s %-8s %9.0f conn/s  failed %s  timed_out %s\n' "$steer" "$run" \
      "$(json_get "$tmp/stall_${steer}_$run.json" connections_per_second)" \
      "$(json_get "$tmp/stall_${steer}_$run.json" failed)" "$(json_get "$tmp/stall_${steer}_$run.json" timed_out)"
  done
done


# ---------------------------------------------------------------- 2. long-lived balance
echo "== 2. long-lived balance: 8 workers, echo, $HOLD_CONNECTIONS connections held 3 s"
# wait_accepted N: waits (up to 5 s) until the workers hold N connections in all, or until
# their sum has not moved for 0.5 s (some connections failed); prints the sum.
wait_accepted() {
  python3 - "http://127.0.0.1:$admin/stats" "$1" <<'PY'
import json, sys, time, urllib.request
url, want = sys.argv[1], int(sys.argv[2])
last, since, deadline = -1, time.monotonic(), time.monotonic() + 5
while time.monotonic() < deadline:
    total = sum(w["active"] for w in json.load(urllib.request.urlopen(url, timeout=2))["workers"])
    if total >= want: break
    if total != last: last, since = total, time.monotonic()
    elif total > 0 and time.monotonic() - since > 0.5: break
    time.sleep(0.05)
print(total)
PY
}
for steer in least-loaded hash; do
  start_server 8 "$steer" echo
  spawn_load "$tmp/hold_$steer.json" --target "tcp://127.0.0.1:$port" --json --mode hold \
    --connections "$HOLD_CONNECTIONS" --concurrency "$CONCURRENCY" --duration 3s --timeout 1s
  held=$(wait_accepted "$HOLD_CONNECTIONS")
  sleep 1.5 # ~1.5 s into the 3 s hold
  stats >"$tmp/hold_${steer}_stats.json"
  wait_load
  stop_server
  echo "  $steer: $held connections accepted, active per worker: $(python3 -c \
    'import json,sys; print(" ".join(str(w["active"]) for w in json.load(open(sys.argv[1]))["workers"]))' \
    "$tmp/hold_${steer}_stats.json")"
done

# ---------------------------------------------------------------- 3. cost of steering
echo "== 3. cost of steering: 2 workers, hello, $ROUNDS rounds of $ROUND_DURATION, alternating"
for round in $(seq "$ROUNDS"); do
  for steer in least-loaded hash; do
    start_server 2 "$steer" hello
    run_load "$tmp/cost_${steer}_$round.json" --concurrency "$CONCURRENCY" --duration "$ROUND_DURATION" --timeout 1s
    stop_server
    printf '  round %d/%d  %-12s %9.0f conn/s  failed %s\n' "$round" "$ROUNDS" "$steer" \
      "$(json_get "$tmp/cost_${steer}_$round.json" connections_per_second)" "$(json_get "$tmp/cost_${steer}_$round.json" failed)"
  done
done

# ---------------------------------------------------------------- 4. affinity
echo "== 4. affinity: 4 workers, connections from fixed source addresses"
# probe.py PORT COUNT TIMEOUT ADDR...: COUNT short connections from each source address
# (a new source port each), each reading the hello reply `worker=N`; prints per address
# {"workers": {N: count}, "timed_out": n, "failed": n} as JSON.
cat >"$tmp/probe.py" <<'PY'
import json, socket, sys
port, count, timeout, addrs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
result = {}
for addr in addrs:
    r = result[addr] = {"workers": {}, "timed_out": 0, "failed": 0}
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.bind((addr, 0))
            s.connect(("127.0.0.1", port))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(64)
                if not chunk: break
                data += chunk
            worker = data.decode().strip().removeprefix("worker=")
            r["workers"][worker] = r["workers"].get(worker, 0) + 1
        except socket.timeout:
            r["timed_out"] += 1
        except OSError:
            r["failed"] += 1
        finally:
            s.close()
print(json.dumps(result))
PY
probe() { python3 "$tmp/probe.py" "$port" "$@"; }
mapfile -t others < <(seq 3 22 | sed 's/^/127.0.0./')
start_server 4 affinity hello
probe 1000 1 127.0.0.2 >"$tmp/aff_main_before.json"
probe 20 1 "${others[@]}" >"$tmp/aff_others_before.json"
# The worker that served 127.0.0.2 most (all of it, if affinity holds).
victim=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["127.0.0.2"]["workers"]; print(max(w, key=w.get) if w else "")' \
  "$tmp/aff_main_before.json")
[[ $victim =~ ^[0-9]+$ ]] || fail "no reply from the affinity server"
stopped=$(worker_pid "$victim")
kill -STOP "$stopped"
# One connection that lands in the stopped worker's queue: pending work and an old heartbeat
# make the slot stalled, so the program skips it from now on.
probe 1 0.3 127.0.0.2 >"$tmp/aff_signal.json"
sleep 0.3
probe 200 1 127.0.0.2 >"$tmp/aff_main_after.json"
probe 20 1 "${others[@]}" >"$tmp/aff_others_after.json"
stats >"$tmp/aff_stats.json"
kill -CONT "$stopped"
stopped=""
stop_server
echo "  worker $victim served 127.0.0.2 and was stopped"

# ---------------------------------------------------------------- results
python3 - "$tmp" "$OUT" "$victim" "$STALL_DURATION" "$ROUND_DURATION" "$ROUNDS" "$CONCURRENCY" "$loadavg_start" <<'PY'
import datetime, json, os, platform, statistics, sys
tmp, out, victim = sys.argv[1], sys.argv[2], sys.argv[3]
stall_duration, round_duration, rounds, concurrency = sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
loadavg = {"start": [float(x) for x in sys.argv[8].split()], "end": [float(x) for x in open("/proc/loadavg").read().split()[:3]]}
load = lambda name: json.load(open(f"{tmp}/{name}.json"))
targets = {}
def target(name, value, goal, met):
    targets[name] = {"value": value, "target": goal, "met": met}
    return "ok" if met else "MISSED"

print("\n== results")
# 1. stalled worker
stalled = {}
print(f"1. stalled worker (worker 1 SIGSTOPped), 2 workers, {concurrency} clients, {stall_duration} runs")
print(f"   {'steer':<13}{'run':<10}{'conn/s':>10}{'failed':>8}{'timed_out':>10}{'fail %':>8}  per worker")
for steer in ("least-loaded", "hash"):
    entry = stalled[steer] = {}
    for run in ("baseline", "stalled"):
        r = load(f"stall_{steer}_{run}")
        counters = {str(w["id"]): w.get("steer") for w in load(f"stall_{steer}_{run}_stats")["workers"]}
        attempted = max(r["attempted"], 1)
        entry[run] = {"connections_per_second": round(r["connections_per_second"], 1), "attempted": r["attempted"],
                      "completed": r["completed"], "failed": r["failed"], "timed_out": r["timed_out"],
                      "failure_percent": round(100 * r["failed"] / attempted, 3),
                      "timed_out_percent": round(100 * r["timed_out"] / attempted, 3),
                      "per_worker": r["per_worker"], "latency_us": r["latency_us"], "steer_counters": counters}
        e = entry[run]
        print(f"   {steer:<13}{run:<10}{e['connections_per_second']:>10.0f}{e['failed']:>8}{e['timed_out']:>10}"
              f"{e['failure_percent']:>8.2f}  {json.dumps(e['per_worker'])}")
    base = entry["baseline"]["connections_per_second"]
    entry["ratio_stalled_to_baseline"] = round(entry["stalled"]["connections_per_second"] / base, 3) if base else 0
    print(f"   {steer:<13}stalled/baseline rate {entry['ratio_stalled_to_baseline']:.3f}")
ll = stalled["least-loaded"]
print(f"   target least-loaded stalled/baseline >= 0.80: {ll['ratio_stalled_to_baseline']:.3f} "
      + target("stalled_rate_ratio", ll["ratio_stalled_to_baseline"], ">= 0.80", ll["ratio_stalled_to_baseline"] >= 0.80))
print(f"   target least-loaded stalled timeouts <= 0.5 %: {ll['stalled']['timed_out_percent']:.3f} % "
      + target("stalled_timeouts_percent", ll["stalled"]["timed_out_percent"], "<= 0.5", ll["stalled"]["timed_out_percent"] <= 0.5))

# 2. long-lived balance
balance = {}
print("2. long-lived balance: 8 workers, echo, 2000 held connections, active per worker ~1.5 s into the hold")
print(f"   {'steer':<13}{'held':>6}{'max':>6}{'mean':>8}{'max/mean':>10}{'jain':>8}  active")
for steer in ("least-loaded", "hash"):
    r = load(f"hold_{steer}")
    active = [w["active"] for w in load(f"hold_{steer}_stats")["workers"]]
    total, n = sum(active), len(active)
    mean = total / n
    jain = total * total / (n * sum(a * a for a in active)) if total else 0
    balance[steer] = {"active": active, "total": total, "max": max(active), "mean": mean,
                      "max_over_mean": round(max(active) / mean, 3) if mean else 0, "jain": round(jain, 4),
                      "load": {k: r[k] for k in ("attempted", "connected", "failed", "timed_out", "refused", "reset")}}
    b = balance[steer]
    print(f"   {steer:<13}{total:>6}{b['max']:>6}{mean:>8.1f}{b['max_over_mean']:>10.3f}{b['jain']:>8.4f}  {active}")
v = balance["least-loaded"]["max_over_mean"]
print(f"   target least-loaded max/mean <= 1.05: {v:.3f} " + target("balance_max_over_mean", v, "<= 1.05", v <= 1.05))

# 3. cost of steering
cost = {}
for steer in ("least-loaded", "hash"):
    rates = [round(load(f"cost_{steer}_{i}")["connections_per_second"], 1) for i in range(1, rounds + 1)]
    failed = [load(f"cost_{steer}_{i}")["failed"] for i in range(1, rounds + 1)]
    cost[steer] = {"rates": rates, "failed": failed, "median": round(statistics.median(rates), 1)}
ratio = round(cost["least-loaded"]["median"] / cost["hash"]["median"], 3) if cost["hash"]["median"] else 0
cost["ratio_least_loaded_to_hash"] = ratio
print(f"3. cost of steering: 2 workers, hello, {rounds} alternating rounds of {round_duration}")
for steer in ("least-loaded", "hash"):
    print(f"   {steer:<13}median {cost[steer]['median']:>9.0f} conn/s  rounds {cost[steer]['rates']}")
print(f"   target least-loaded/hash >= 0.97: {ratio:.3f} " + target("cost_ratio", ratio, ">= 0.97", ratio >= 0.97))

# 4. affinity
def worker_of(entry):  # the single worker an address went to, or None
    return next(iter(entry["workers"])) if len(entry["workers"]) == 1 else None
main_before, main_after = load("aff_main_before")["127.0.0.2"], load("aff_main_after")["127.0.0.2"]
others_before, others_after = load("aff_others_before"), load("aff_others_after")
signal = load("aff_signal")["127.0.0.2"]
on_victim = sorted(a for a, e in others_before.items() if victim in e["workers"])
changed = sorted(a for a in others_before if others_before[a]["workers"] != others_after[a]["workers"])
affinity = {
    "stopped_worker": int(victim),
    "main_before": main_before, "stall_signal": signal, "main_after": main_after,
    "others_before": {a: worker_of(e) if worker_of(e) is not None else e["workers"] for a, e in others_before.items()},
    "others_after": {a: worker_of(e) if worker_of(e) is not None else e["workers"] for a, e in others_after.items()},
    "others_split": sorted(a for a in others_before if len(others_before[a]["workers"]) != 1),
    "others_failed_after": sum(e["failed"] + e["timed_out"] for e in others_after.values()),
    "previously_on_stopped": on_victim, "changed": changed,
    "changed_only_those_on_stopped": set(changed) <= set(on_victim),
    "all_on_stopped_moved": set(on_victim) <= set(changed),
    "steer_counters": [w.get("steer") for w in load("aff_stats")["workers"]],
}
print("4. affinity: 4 workers")
print(f"   127.0.0.2 x1000 before: workers {main_before['workers']} (timed_out {main_before['timed_out']}, failed {main_before['failed']})")
print(f"   other addresses before: {json.dumps(affinity['others_before'])}")
print(f"   worker {victim} stopped; stall-signal connection: {signal}")
print(f"   127.0.0.2 x200 after:   workers {main_after['workers']} (timed_out {main_after['timed_out']}, failed {main_after['failed']})")
print(f"   other addresses: {len(on_victim)} were on worker {victim}, {len(changed)} changed worker, "
      f"only those on the stopped worker: {affinity['changed_only_those_on_stopped']}, "
      f"all of those moved: {affinity['all_on_stopped_moved']}, failed/timed out after: {affinity['others_failed_after']}")
one_before = len(main_before["workers"]) == 1
one_after = len(main_after["workers"]) == 1 and victim not in main_after["workers"]
print("   target 127.0.0.2 on exactly one worker: " + target("affinity_single_worker", list(main_before["workers"]), "1 worker", one_before))
print("   target 127.0.0.2 on one other worker after the stop: "
      + target("affinity_moved_to_one_other", list(main_after["workers"]), f"1 worker != {victim}", one_after))
print("   target only the stopped worker's addresses move: "
      + target("affinity_minimal_moves", changed, f"subset of {on_victim}, all moved",
               affinity["changed_only_those_on_stopped"] and affinity["all_on_stopped_moved"]))

result = {"benchmark": "steering", "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
          "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": loadavg, "concurrency": concurrency,
          "stalled_worker": stalled, "long_lived_balance": balance, "cost": cost, "affinity": affinity,
          "targets": targets}
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(f"load average (1, 5, 15 min) at start {loadavg['start']}, at the end {loadavg['end']} on {os.cpu_count()} CPUs"
      " (the benchmark itself adds about 2): other work makes the rates noisy")
print(f"wrote {out}")
PY
