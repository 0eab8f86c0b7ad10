# shellcheck shell=bash
# lib.sh: the shell helpers the bench scripts share (starting and stopping servers in their
# own process groups, the cleanup on exit, reading results, medians and JSON lists).
# Sourced, not run: `source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"` near the top of a
# script, before it changes directory. It sets no shell options; the scripts keep
# `set -euo pipefail`, which every function here is clean under.
#
# The functions work on these globals, which the script sets or reads (pids are empty when
# there is no such process):
#   bench_name  prefix of error messages (default: the script's name without .sh)
#   BUILD       build directory (the script's knob)
#   tmp         scratch directory, made by bench_init, removed on exit
#   server      pid of the running server, leader of its own process group (setsid)
#   port, admin the server's listening port and admin (/stats) port
#   load        pid of a background `herdless load` (or of the group leading it)
#   stopped     pid of a worker stopped with SIGSTOP (resumed on exit)
# A script that starts other processes defines cleanup_extra to stop them on exit.

bench_name=$(basename "$0" .sh)
tmp=""
server=""
port=""
admin=""
load=""
stopped=""
bench_exit_stop="kill"

# fail MESSAGE...: prints "NAME: MESSAGE" on stderr and exits with status 2 (set-up failed).
fail() { echo "$bench_name: $*" >&2; exit 2; }

# need_binaries PATH...: fails unless every PATH is an executable (a build product).
need_binaries() {
  local binary
  for binary in "$@"; do
    [[ -x $binary ]] || fail "$binary not found (build first, or set BUILD)"
  done
}

# bench_init kill|stop: makes $tmp and installs the traps (INT and TERM exit with 130, and
# every exit runs cleanup). The word says how cleanup ends a server still running: kill
# (SIGKILL to its process group at once) or stop (stop_server: SIGTERM first, 5 s grace).
bench_init() {
  bench_exit_stop=$1
  tmp=$(mktemp -d)
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

# cleanup: the EXIT trap. Stops the load, resumes a stopped worker, ends the server (its
# whole process group), runs the script's cleanup_extra if it has one, removes $tmp.
cleanup() {
  stop_load
  [[ -z $stopped ]] || kill -CONT "$stopped" 2>/dev/null || true
  if [[ $bench_exit_stop == stop ]]; then
    stop_server
  else
    [[ -z $server ]] || kill -KILL -- "-$server" 2>/dev/null || true
  fi
  if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
  [[ -z $tmp ]] || rm -rf "$tmp"
}

# process_running PID: true while PID runs (a zombie waiting for our `wait` counts as gone).
process_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# stop_group PGID [PID]: SIGTERM to PID (default PGID, the group's leader; after a binary
# upgrade the supervisor in charge is another member), up to 5 s for it to exit, then
# SIGKILL to the whole process group (workers included) and reaps PGID.
stop_group() {
  [[ -n $1 ]] || return 0
  local boss=${2:-$1}
  kill -TERM "$boss" 2>/dev/null || true
  for _ in $(seq 50); do
    process_running "$boss" || break
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# stop_server: stop_group on the server's group; clears server.
stop_server() {
  [[ -n $server ]] || return 0
  stop_group "$server"
  server=""
}

# spawn_server REGEX COMMAND...: starts COMMAND in its own process group (stdout and stderr
# in $tmp/server.out and $tmp/server.err) and sets server, then port: the number that ends
# the first match of REGEX in its output, waited for up to 10 s. Not in a subshell: the
# EXIT trap must see server.
spawn_server() {
  local regex=$1 match
  shift
  # Emptied here, not only by the background redirection, which may run after the first
  # look: the previous server's port must never be read.
  : >"$tmp/server.out"
  : >"$tmp/server.err"
  setsid "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
  server=$!
  match=$(wait_for "$regex")
  port=${match##*[ :]}
}

# wait_for REGEX: prints the first match of REGEX in the server's output (stdout or stderr),
# waiting up to 10 s; returns 1, with the output on stderr, if it does not come.
wait_for() {
  local regex=$1 match
  for _ in $(seq 100); do
    match=$(cat "$tmp/server.out" "$tmp/server.err" | grep -oE "$regex" | head -n 1 || true)
    if [[ -n $match ]]; then echo "$match"; return 0; fi
    process_running "$server" || break
    sleep 0.1
  done
  echo "$bench_name: server did not report its port; its output:" >&2
  cat "$tmp/server.out" "$tmp/server.err" >&2
  return 1
}

# start_admin_server LOG ARGS...: starts `herdless serve ARGS` (with an --admin port) in its own
# process group, stderr in LOG, and sets server, port and admin once it reports its admin
# port (up to 10 s); then gives every worker's loop 0.3 s to turn.
start_admin_server() {
  local log=$1
  shift
  : >"$log" # exists before the first grep below
  setsid "$BUILD/herdless" serve "$@" 2>"$log" &
  server=$!
  for _ in $(seq 200); do
    grep -aq 'admin on' "$log" && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
  done
  port=$(grep -aoE 'listening on tcp://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$' || true)
  admin=$(grep -aoE 'admin on http://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$' || true)
  if [[ -z $port || -z $admin ]]; then
    cat -v "$log" >&2
    fail "server did not report its ports within 10 s (pid $server $(kill -0 "$server" 2>/dev/null && echo running || echo gone))"
  fi
  sleep 0.3
}

# stats: the server's /stats (JSON) from its admin port.
stats() {
  python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' \
    "http://127.0.0.1:$admin/stats"
}

# worker_pid SLOT: the pid of the server's worker in SLOT, from /stats.
worker_pid() { stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"][int(sys.argv[1])]["pid"])' "$1"; }

# spawn_load OUTFILE ARGS...: `herdless load ARGS` in the background (so that a signal
# interrupts the `wait`), stdout in OUTFILE; sets load.
spawn_load() {
  local out=$1
  shift
  "$BUILD/herdless" load "$@" >"$out" &
  load=$!
}

# wait_load: waits for the load started by spawn_load; fails if it failed.
wait_load() {
  wait "$load" || fail "herdless load failed"
  load=""
}

# stop_load: SIGTERM to the load (to its whole group if it leads one, as under setsid) and
# reaps it.
stop_load() {
  [[ -n $load ]] || return 0
  kill -TERM -- "-$load" 2>/dev/null || kill -TERM "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true
  load=""
}

# pids_cpu_ticks PID...: utime + stime of these processes (all their threads included), in
# clock ticks; a process gone meanwhile counts 0.
pids_cpu_ticks() {
  local total=0 pid stat
  local -a fields
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a fields <<<"${stat##*) }"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# group_cpu_ticks PGID: pids_cpu_ticks of every process in the process group.
group_cpu_ticks() {
  # shellcheck disable=SC2046 # one word per pid
  pids_cpu_ticks $(ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }')
}

# json_number FILE KEY: the number stored under "KEY" in a one-line JSON object.
json_number() {
  grep -oE "\"$2\":[-0-9.eE+]+" "$1" | head -n 1 | cut -d: -f2
}

# median [-d DECIMALS] VALUE...: the median of the values, printed with DECIMALS (default 3)
# decimals and no newline.
median() {
  local decimals=3
  if [[ ${1:-} == -d ]]; then decimals=$2; shift 2; fi
  printf '%s\n' "$@" | sort -g | awk -v f="%.${decimals}f" '{v[NR] = $1} END {
    if (NR % 2) printf f, v[(NR + 1) / 2]; else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# list "A B C ": the space-separated words as a JSON list, [A, B, C].
list() { local items; items=$(echo "$1" | xargs); echo "[${items// /, }]"; }
