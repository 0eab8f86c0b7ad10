#!/usr/bin/env bash
# lifecycle.sh: the figures of issue 5 (lifecycle without loss), measured on this machine.
# Every scenario runs `herdless load` with 64 concurrent short-connection clients and a 2 s
# client timeout against a fresh `herdless serve` (4 workers unless said), and counts every
# failed, timed-out, reset or refused connection:
#  1. kill -9 of a random worker (pid from /stats) every 0.5 s for 10 s (load ~11 s);
#     restarts in /stats.
#  2. stall: 2 workers, worker 1 stopped with SIGSTOP for 5 s, then SIGCONT (load ~8 s);
#     its rescues, the migrated total, and how long after SIGCONT its accepted count grows
#     again at >= 25 % of the total rate (/stats polled every 100 ms).
#  3. SIGHUP every 0.5 s for 10 s (server from --config FILE); the port must stay the same.
#  4. resize by reload: workers 4 -> 2 -> 4 (the config file rewritten, SIGHUP, 2 s apart).
#  5. binary upgrade: SIGUSR2 to the pid in --pid-file 5 times, 1.5 s apart; at the end one
#     supervisor must be left in the process group, and the pid file must name it.
#  6. the stall of scenario 2 against nginx (stream module, 2 workers, `reuseport`, one
#     worker SIGSTOPped for 5 s), same load, failures side by side with scenario 2.
# Prints a table (scenario | attempted | completed | failed | timed out | reset | refused |
# notes) and writes $OUT. Failures are reported, not fatal: the exit status is non-zero
# only when the set-up fails (no binary, no nginx stream module, a server that won't start).
#
# Environment: BUILD (build dir, default build), OUT (bench/results/lifecycle.json),
# KEEP_LOGS (a directory to copy the server logs and raw results into, default none).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
OUT=${OUT:-bench/results/lifecycle.json}
KEEP_LOGS=${KEEP_LOGS:-}
CONCURRENCY=64
TIMEOUT=2s
NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

need_binaries "$BUILD/herdless"
command -v python3 >/dev/null || fail "python3 not found"
command -v nginx >/dev/null || fail "nginx not found (scripts/install-deps.sh)"
if nginx -V 2>&1 | grep -q -- '--with-stream=dynamic'; then
  [[ -f $NGINX_STREAM_MODULE ]] || fail "nginx's stream module is not installed (scripts/install-deps.sh: libnginx-mod-stream)"
  nginx_load_module="load_module $NGINX_STREAM_MODULE;"
elif nginx -V 2>&1 | grep -q -- '--with-stream'; then
  nginx_load_module=""
else
  fail "this nginx has no stream module"
fi

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
# server (the first supervisor of the running server, leader of its process group), load (a
# background `herdless load`) and stopped (a worker we stopped with SIGSTOP) are lib.sh's.
nginx=""   # pid of the nginx master (leader of its process group)
poller=""  # pid of a background /stats poller

# cleanup_extra: run by lib.sh's cleanup on exit, after the load, the stopped worker and the
# server's group (SIGKILL) are dealt with.
cleanup_extra() {
  [[ -z $poller ]] || kill "$poller" 2>/dev/null || true
  [[ -z $nginx ]] || kill -KILL -- "-$nginx" 2>/dev/null || true
  if [[ -n $KEEP_LOGS ]]; then
    { mkdir -p "$KEEP_LOGS" && cp -r "$tmp"/. "$KEEP_LOGS"/; } 2>/dev/null || true
  fi
}
bench_init kill

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sleep_until T0 OFFSET_MS: sleeps until T0 (from now_ms) + OFFSET_MS, so that the steps of a
# scenario keep their schedule whatever each step costs.
sleep_until() {
  local left=$(($1 + $2 - $(now_ms)))
  ((left <= 0)) || sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
}

# start_server NAME ARGS...: starts `herdless serve ARGS` in its own process group, log in
# $tmp/NAME.log; sets server, port and admin.
start_server() {
  local name=$1
  shift
  start_admin_server "$tmp/$name.log" "$@"
}
serve_flags() { echo --listen tcp://127.0.0.1:0 --workers "$1" --admin 127.0.0.1:0 --drain-timeout 2s; }
MESSAGE='worker={worker}\n'

# start_poller FILE: /stats every 100 ms into FILE, one line each: "<epoch ns> <json>".
start_poller() {
  python3 - "http://127.0.0.1:$admin/stats" "$1" <<'PY' &
import sys, time, urllib.request
url, out = sys.argv[1], open(sys.argv[2], "w", buffering=1)
next_t = time.monotonic()
while True:
    try:
        body = urllib.request.urlopen(url, timeout=1).read().decode().strip()
        out.write(f"{time.time_ns()} {body}\n")
    except Exception:
        pass
    next_t += 0.1
    time.sleep(max(0.0, next_t - time.monotonic()))
PY
  poller=$!
}
stop_poller() {
  [[ -n $poller ]] || return 0
  kill "$poller" 2>/dev/null || true
  wait "$poller" 2>/dev/null || true
  poller=""
}

# start_load NAME DURATION [PORT]: `herdless load` in the background, result in $tmp/NAME.json.
start_load() {
  spawn_load "$tmp/$1.json" --target "tcp://127.0.0.1:${3:-$port}" --concurrency "$CONCURRENCY" --duration "$2" \
    --timeout "$TIMEOUT" --json
}
# info SCENARIO KEY VALUE: a fact for the results (read by the report at the end).
info() { printf '%s %s\n' "$2" "$3" >>"$tmp/$1.info"; }

# ---------------------------------------------------------------- 1. kill -9
echo "== 1. kill -9 of a random worker every 0.5 s for 10 s, 4 workers"
# shellcheck disable=SC2046 # serve_flags is a list of words
start_server kill9 $(serve_flags 4) --message "$MESSAGE"
# One python per kill (fetch and pick): with 2 CPUs busy with the load, starting two per
# step would make the steps late.
random_worker_pid() {
  python3 -c 'import json,random,sys,urllib.request
p = [w["pid"] for w in json.load(urllib.request.urlopen(sys.argv[1], timeout=2))["workers"] if w["pid"] > 0]
print(random.choice(p) if p else "")' "http://127.0.0.1:$admin/stats"
}
start_load kill9 11s
t0=$(now_ms)
kills=0
for i in $(seq 1 20); do
  sleep_until "$t0" $((i * 500))
  victim=$(random_worker_pid)
  if [[ -n $victim ]] && kill -KILL "$victim" 2>/dev/null; then
    kills=$((kills + 1))
  fi
done
wait_load
stats >"$tmp/kill9_stats.json"
info kill9 kills "$kills"
stop_server
echo "   $kills workers killed"

# ---------------------------------------------------------------- 2. stall (herdless)
echo "== 2. stall: 2 workers, worker 1 stopped with SIGSTOP for 5 s"
# shellcheck disable=SC2046
start_server stall $(serve_flags 2) --message "$MESSAGE"
start_poller "$tmp/stall_poll.txt"
start_load stall 8s
t0=$(now_ms)
sleep_until "$t0" 1000
stopped=$(worker_pid 1)
kill -STOP "$stopped"
info stall stop_ns "$(date +%s%N)"
sleep_until "$t0" 6000
kill -CONT "$stopped"
info stall cont_ns "$(date +%s%N)"
info stall pid "$stopped"
stopped=""
wait_load
stop_poller
stats >"$tmp/stall_stats.json"
stop_server

# ---------------------------------------------------------------- 3. SIGHUP
echo "== 3. SIGHUP every 0.5 s for 10 s, 4 workers from a config file"
# write_config WORKERS: the config of scenarios 3 and 4.
write_config() {
  cat >"$tmp/herdless.toml" <<EOF
listen = "tcp://127.0.0.1:0"
workers = $1
message = '$MESSAGE'
admin = "127.0.0.1:0"
drain-timeout = "2s"
EOF
}
write_config 4
start_server sighup --config "$tmp/herdless.toml"
stats >"$tmp/sighup_stats_before.json"
start_load sighup 11s
t0=$(now_ms)
hups=0
for i in $(seq 1 20); do
  sleep_until "$t0" $((i * 500))
  kill -HUP "$server"
  hups=$((hups + 1))
done
wait_load
stats >"$tmp/sighup_stats.json"
info sighup hups "$hups"
info sighup port "$port"
stop_server

# ---------------------------------------------------------------- 4. resize
echo "== 4. resize by reload: workers 4 -> 2 -> 4, 2 s apart"
write_config 4
start_server resize --config "$tmp/herdless.toml"
start_poller "$tmp/resize_poll.txt"
start_load resize 6s
t0=$(now_ms)
sleep_until "$t0" 1000
write_config 2
kill -HUP "$server"
info resize to2_ns "$(date +%s%N)"
sleep_until "$t0" 3000
write_config 4
kill -HUP "$server"
info resize to4_ns "$(date +%s%N)"
wait_load
stop_poller
stats >"$tmp/resize_stats.json"
stop_server

# ---------------------------------------------------------------- 5. binary upgrade
echo "== 5. binary upgrade: SIGUSR2 5 times, 1.5 s apart, 4 workers"
pidfile="$tmp/herdless.pid"
# shellcheck disable=SC2046
start_server upgrade $(serve_flags 4) --message "$MESSAGE" --pid-file "$pidfile"
info upgrade first "$server"
start_load upgrade 9s
t0=$(now_ms)
for i in $(seq 1 5); do
  sleep_until "$t0" $((i * 1500))
  boss=$(cat "$pidfile" 2>/dev/null || true)
  info upgrade signalled "${boss:-none}"
  [[ -z $boss ]] || kill -USR2 "$boss" 2>/dev/null || true
done
wait_load
# supervisors: the live processes of the group whose parent is not a herdless process.
supervisors() {
  local pid ppid pgid stat
  while read -r pid ppid pgid stat; do
    [[ $pgid == "$server" && $stat != Z* ]] || continue
    [[ $(cat "/proc/$ppid/comm" 2>/dev/null) == herdless ]] || echo "$pid"
  done < <(ps -e -o pid=,ppid=,pgid=,stat=)
}
# The old supervisors drain for up to 2 s after the last takeover.
for _ in $(seq 50); do
  [[ $(supervisors | wc -l) -gt 1 ]] || break
  sleep 0.1
done
left=$(supervisors | tr '\n' ' ')
boss=$(cat "$pidfile" 2>/dev/null || true)
info upgrade supervisors "${left% }"
info upgrade pidfile "${boss:-none}"
stats >"$tmp/upgrade_stats.json"
ps -e -o pid=,ppid=,pgid=,stat=,args= | awk -v g="$server" '$3 == g' >"$tmp/upgrade_ps.txt" || true
# SIGTERM to the supervisor in charge, which drains for up to 2 s; SIGKILL to the group after 5 s.
stop_group "$server" "$boss"
server=""

# ---------------------------------------------------------------- 6. stall (nginx)
echo "== 6. stall against nginx: 2 workers, reuseport, worker stopped with SIGSTOP for 5 s"
ngx="$tmp/nginx"
mkdir -p "$ngx/logs"
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$ngx/nginx.conf" <<EOF
$nginx_load_module
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log;
events { worker_connections 1024; }
stream {
  server {
    listen 127.0.0.1:$nport reuseport;
    return "hello world.\n";
  }
}
EOF
setsid nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/logs/error.log" -g 'daemon off;' 2>"$tmp/nginx.stderr" &
nginx=$!
workers=()
for _ in $(seq 100); do
  mapfile -t workers < <(ps --ppid "$nginx" -o pid= | tr -d ' ' | sort -n)
  [[ ${#workers[@]} -ge 2 ]] && break
  kill -0 "$nginx" 2>/dev/null || break
  sleep 0.05
done
[[ ${#workers[@]} -ge 2 ]] || { cat "$tmp/nginx.stderr" "$ngx/logs/error.log" >&2 || true; fail "nginx did not start 2 workers"; }
sleep 0.3
info nginx version "$(nginx -v 2>&1 | sed 's|.*nginx/||')"
start_load nginx 8s "$nport"
t0=$(now_ms)
sleep_until "$t0" 1000
stopped=${workers[1]}
kill -STOP "$stopped"
sleep_until "$t0" 6000
kill -CONT "$stopped"
info nginx pid "$stopped"
stopped=""
wait_load
kill -QUIT "$nginx" 2>/dev/null || true
for _ in $(seq 30); do
  kill -0 "$nginx" 2>/dev/null || break
  sleep 0.1
done
kill -KILL -- "-$nginx" 2>/dev/null || true
wait "$nginx" 2>/dev/null || true
nginx=""

# ---------------------------------------------------------------- results
python3 - "$tmp" "$OUT" "$CONCURRENCY" "$TIMEOUT" "$loadavg_start" <<'PY'
import datetime, json, os, platform, sys
tmp, out, concurrency, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
loadavg = {"start": [float(x) for x in sys.argv[5].split()], "end": [float(x) for x in open("/proc/loadavg").read().split()[:3]]}

def load(name): return json.load(open(f"{tmp}/{name}.json"))
def info(name):
    d = {}
    try:
        for line in open(f"{tmp}/{name}.info"):
            k, _, v = line.rstrip("\n").partition(" ")
            d.setdefault(k, []).append(v)
    except FileNotFoundError:
        pass
    return {k: v[0] if len(v) == 1 else v for k, v in d.items()}
def poll(name):
    rows = []
    for line in open(f"{tmp}/{name}_poll.txt"):
        t, _, body = line.partition(" ")
        rows.append((int(t), json.loads(body)))
    return rows
def log_count(name, text):
    return sum(text in line for line in open(f"{tmp}/{name}.log", errors="replace"))
KEYS = ("attempted", "completed", "failed", "timed_out", "reset", "refused", "closed", "other")
def counts(r):
    c = {k: r[k] for k in KEYS}
    c["connections_per_second"] = round(r["connections_per_second"], 1)
    c["per_worker"] = r["per_worker"]
    if "first_error" in r: c["first_error"] = r["first_error"]
    return c

results, notes = {}, {}

# 1. kill -9
r, st, i = load("kill9"), load("kill9_stats"), info("kill9")
restarts = sum(w["restarts"] for w in st["workers"])
results["kill9"] = {**counts(r), "kills": int(i["kills"]), "restarts_total": restarts,
                    "restarts": [w["restarts"] for w in st["workers"]]}
notes["kill9"] = f"{i['kills']} kills, restarts total {restarts}"

# 2. stall (herdless)
r, st, i = load("stall"), load("stall_stats"), info("stall")
cont_ns, pid = int(i["cont_ns"]), int(i["pid"])
slot = next(w["id"] for w in st["workers"] if w["pid"] == pid)
rows = poll("stall")
back_ms = None
for (t0, a), (t1, b) in zip(rows, rows[1:]):
    if t1 <= cont_ns: continue
    acc = lambda s: {w["id"]: w["accepted"] for w in s["workers"]}
    pa, pb = acc(a), acc(b)
    total = sum(pb.values()) - sum(pa.values())
    mine = pb.get(slot, 0) - pa.get(slot, 0)
    if total > 0 and mine >= 0.25 * total:
        back_ms = round((t1 - cont_ns) / 1e6)
        break
w = next(w for w in st["workers"] if w["id"] == slot)
migrated = sum(x["steer"]["migrated"] for x in st["workers"])
results["stall"] = {**counts(r), "stopped_slot": slot, "stopped_pid": pid, "rescues": w["rescues"],
                    "migrated_total": migrated, "back_at_25_percent_ms": back_ms,
                    "rescue_log_lines": log_count("stall", "its queue migrated"),
                    "steer": [x["steer"] for x in st["workers"]]}
notes["stall"] = (f"worker {slot}: rescues {w['rescues']}, migrated {migrated}, "
                  f">=25% of rate {back_ms if back_ms is not None else 'never'} ms after SIGCONT")

# 3. SIGHUP
r, before, st, i = load("sighup"), load("sighup_stats_before"), load("sighup_stats"), info("sighup")
same = before["listeners"] == st["listeners"]
reloads = log_count("sighup", "reloaded:")
results["sighup"] = {**counts(r), "sighups": int(i["hups"]), "reloads_logged": reloads,
                     "listeners_before": before["listeners"], "listeners_after": st["listeners"],
                     "port_unchanged": same, "workers_after": len(st["workers"])}
notes["sighup"] = f"{i['hups']} SIGHUPs, {reloads} reloads logged, port {'unchanged' if same else 'CHANGED'}"

# 4. resize
r, st, i = load("resize"), load("resize_stats"), info("resize")
rows = poll("resize")
def workers_at(t_ns, settle_ns=1_500_000_000):  # the worker count ~1.5 s after t_ns
    later = [s for t, s in rows if t >= t_ns + settle_ns]
    return len(later[0]["workers"]) if later else None
to2, to4 = int(i["to2_ns"]), int(i["to4_ns"])
seen = [len(s["workers"]) for t, s in rows]
results["resize"] = {**counts(r), "reloads_logged": log_count("resize", "reloaded:"),
                     "workers_start": seen[0] if seen else None, "workers_after_to_2": workers_at(to2),
                     "workers_after_to_4": workers_at(to4), "workers_end": len(st["workers"])}
x = results["resize"]
notes["resize"] = (f"/stats workers {x['workers_start']} -> {x['workers_after_to_2']} -> {x['workers_after_to_4']}, "
                   f"{x['reloads_logged']} reloads logged")

# 5. binary upgrade
r, st, i = load("upgrade"), load("upgrade_stats"), info("upgrade")
left = i.get("supervisors", "").split()
signalled = i["signalled"] if isinstance(i["signalled"], list) else [i["signalled"]]
pidfile = i["pidfile"]
names_it = len(left) == 1 and pidfile == left[0]
results["upgrade"] = {**counts(r), "first_supervisor": int(i["first"]), "signalled": signalled,
                      "upgrades_logged": log_count("upgrade", "upgrade: took over"),
                      "supervisors_left": [int(p) for p in left], "pid_file": pidfile,
                      "pid_file_names_the_supervisor": names_it, "workers_end": len(st["workers"])}
notes["upgrade"] = (f"{len(signalled)} SIGUSR2, {len(left)} supervisor(s) left ({' '.join(left) or 'none'}), "
                    f"pid file {'names it' if names_it else 'says ' + pidfile}")

# 6. nginx stall
r, i = load("nginx"), info("nginx")
results["nginx_stall"] = {**counts(r), "nginx": i["version"], "stopped_pid": int(i["pid"])}
notes["nginx_stall"] = (f"nginx {i['version']}, 2 workers, 1 stopped 5 s; "
                        f"herdless (2.) failed {results['stall']['failed']} vs nginx {r['failed']}")

labels = {"kill9": "1. kill -9 every 0.5 s", "stall": "2. SIGSTOP 5 s (herdless)", "sighup": "3. SIGHUP every 0.5 s",
          "resize": "4. resize 4->2->4", "upgrade": "5. SIGUSR2 upgrade x5", "nginx_stall": "6. SIGSTOP 5 s (nginx)"}
cols = ("attempted", "completed", "failed", "timed_out", "reset", "refused")
head = ("scenario", "attempted", "completed", "failed", "timed out", "reset", "refused", "notes")
rows = [(labels[k], *(str(results[k][c]) for c in cols), notes[k]) for k in labels]
width = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(head)]
line = lambda cells: "| " + " | ".join(c.ljust(width[j]) if j in (0, 7) else c.rjust(width[j]) for j, c in enumerate(cells)) + " |"
print(f"\n== results: {concurrency} concurrent short-connection clients, {timeout} client timeout")
print(line(head))
print("|" + "|".join("-" * (w + 2) for w in width) + "|")
for row in rows: print(line(row))
for k in labels:
    if "first_error" in results[k]: print(f"   {labels[k]}: first error: {results[k]['first_error']}")

result = {"benchmark": "lifecycle", "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
          "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": loadavg,
          "concurrency": concurrency, "client_timeout": timeout, "scenarios": results}
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(f"load average (1, 5, 15 min) at start {loadavg['start']}, at the end {loadavg['end']} on {os.cpu_count()} CPUs")
print(f"wrote {out}")
PY
