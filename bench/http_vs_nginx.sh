#!/usr/bin/env bash
# http_vs_nginx.sh: requests per second and p99 latency of `herdless serve --service http` with
# 2 workers against nginx (Debian's package) with `worker_processes 2`, `listen ... reuseport`,
# `access_log off` and `return 200 "hello world.\n"`, both on 127.0.0.1, measured with
# `wrk -t1 -c64 -d5s --latency` in alternating rounds (nginx, herdless, nginx, herdless, ...)
# so that drift and other load hit both sides alike. Prints the medians, the ratio
# herdless/nginx and whether p99 is no worse, and writes every round to $OUT, with the CPU
# seconds wrk itself used (one wrk thread saturates a core near 200k requests/s on a small
# machine, and then it, not the server, sets the rate) and each server's own CPU time per
# request (all its processes), which does not depend on that ceiling, how often per request
# the server's processes went to sleep (voluntary context switches: each one is a wake-up that
# the sender, usually wrk, pays for) and the TCP segments per request on loopback (nstat).
#
# Environment: BUILD (build dir, default build), ROUNDS (9), DURATION (5s), CONNECTIONS (64),
# THREADS (1), WORKERS (2), HERDLESS_ARGS (extra `herdless serve` flags), OUT
# (bench/results/http_vs_nginx.json).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-9}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-2}
HERDLESS_ARGS=${HERDLESS_ARGS:-}
OUT=${OUT:-bench/results/http_vs_nginx.json}
BODY='hello world.\n'

for tool in wrk nginx ss curl; do
  command -v "$tool" >/dev/null || { echo "http_vs_nginx: $tool not found (make deps)" >&2; exit 2; }
done
[[ -x $BUILD/herdless ]] || { echo "http_vs_nginx: $BUILD/herdless not found (build first, or set BUILD)" >&2; exit 2; }

tmp=$(mktemp -d)
nginx_pid=""
herdless_pid=""
wrk_pid=""

# stop PID: SIGTERM, up to 5 s to exit, then SIGKILL to its whole process group.
stop() {
  [[ -n $1 ]] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
trap '[[ -z $wrk_pid ]] || kill "$wrk_pid" 2>/dev/null; stop "$herdless_pid"; stop "$nginx_pid"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# A TCP port nobody listens on (nginx needs a fixed one; herdless reports the one it got).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

start_nginx() {
  local port=$1
  mkdir -p "$tmp/nginx/logs"
  cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 2;
error_log $tmp/nginx/logs/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  server {
    listen 127.0.0.1:$port reuseport;
    location / { return 200 "$BODY"; }
  }
}
CONF
  local global='daemon off;'
  [[ $(id -u) -ne 0 ]] || global+=' user root;'
  setsid nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g "$global" >"$tmp/nginx.out" 2>&1 &
  nginx_pid=$!
}

start_herdless() {
  # shellcheck disable=SC2086 # HERDLESS_ARGS is a list of flags
  setsid "$BUILD/herdless" serve --service http --http-body "$BODY" --listen tcp://127.0.0.1:0 \
    --workers "$WORKERS" --admin off $HERDLESS_ARGS >"$tmp/herdless.out" 2>&1 &
  herdless_pid=$!
  for _ in $(seq 100); do
    herdless_port=$(grep -oE 'listening on tcp://127\.0\.0\.1:[0-9]+' "$tmp/herdless.out" | head -n 1 | sed 's/.*://' || true)
    [[ -z $herdless_port ]] || return 0
    sleep 0.1
  done
  echo "http_vs_nginx: herdless did not report its port:" >&2
  cat "$tmp/herdless.out" >&2
  exit 1
}

# check NAME PORT: the server answers GET / with 200 and exactly the body (newline included).
check() {
  printf '%b' "$BODY" >"$tmp/expected"
  for _ in $(seq 50); do
    curl -sf -o "$tmp/body" "http://127.0.0.1:$2/" 2>/dev/null && break
    sleep 0.1
  done
  if ! cmp -s "$tmp/expected" "$tmp/body"; then
    echo "http_vs_nginx: $1 on port $2 does not answer '$BODY' (got '$(cat "$tmp/body" 2>/dev/null)')" >&2
    cat "$tmp/$1.out" >&2 || true
    exit 1
  fi
}

# group_sleeps PGID: voluntary context switches of every thread in the group.
group_sleeps() {
  local pid
  for pid in $(ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }'); do
    cat /proc/"$pid"/task/*/status 2>/dev/null
  done | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# tcp_out_segs: segments sent on this host so far (0 without nstat).
tcp_out_segs() {
  command -v nstat >/dev/null || { echo 0; return; }
  nstat -az TcpOutSegs 2>/dev/null | awk '$1 == "TcpOutSegs" { print $2 }'
}

# run PORT: one wrk run; prints "RPS P99_MS ERRORS WRK_CPU_SECONDS REQUESTS".
run() {
  (
    TIMEFORMAT='wrk_cpu %U %S'
    time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$1/"
  ) >"$tmp/wrk.out" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid"
  wrk_pid=""
  awk '
    /^wrk_cpu/ { cpu = $2 + $3 }
    / requests in / { requests = $1 }
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" { v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
                  p99 = unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : v }
    /Non-2xx/ { errors += $NF }
    /Socket errors/ { gsub(/[^0-9 ]/, " "); for (i = 1; i <= NF; ++i) errors += $i }
    END { printf "%.1f %.3f %d %.2f %d\n", rps, p99, errors, cpu, requests }' "$tmp/wrk.out"
}

nginx_port=$(free_port)
start_nginx "$nginx_port"
start_herdless
check nginx "$nginx_port"
check herdless "$herdless_port"
declare -A port=([nginx]=$nginx_port [herdless]=$herdless_port)
declare -A group=([nginx]=$nginx_pid [herdless]=$herdless_pid)  # setsid: each leads its group
ticks_per_second=$(getconf CLK_TCK)
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///') on :$nginx_port, herdless on :$herdless_port;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds"

# Warm-up (page cache, connection tables, CPU frequency) not counted.
for side in nginx herdless; do
  DURATION=1s run "${port[$side]}" >/dev/null
done

declare -A rps p99 errors wrk_cpu wrk_us server_us sleeps segs
for round in $(seq "$ROUNDS"); do
  for side in nginx herdless; do
    before=$(group_cpu_ticks "${group[$side]}")
    sleeps_before=$(group_sleeps "${group[$side]}")
    segs_before=$(tcp_out_segs)
    read -r r p e c n < <(run "${port[$side]}")
    after=$(group_cpu_ticks "${group[$side]}")
    sleeps_after=$(group_sleeps "${group[$side]}")
    segs_after=$(tcp_out_segs)
    us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$n" 'BEGIN { printf "%.3f", (n > 0 ? t / hz * 1e6 / n : 0) }')
    sl=$(awk -v d=$((sleeps_after - sleeps_before)) -v n="$n" 'BEGIN { printf "%.4f", (n > 0 ? d / n : 0) }')
    sg=$(awk -v d=$((segs_after - segs_before)) -v n="$n" 'BEGIN { printf "%.3f", (n > 0 ? d / n : 0) }')
    wrk_us[$side]+="$(awk -v c="$c" -v n="$n" 'BEGIN { printf "%.3f", (n > 0 ? c * 1e6 / n : 0) }') "
    sleeps[$side]+="$sl "
    segs[$side]+="$sg "
    rps[$side]+="$r "
    p99[$side]+="$p "
    errors[$side]+="$e "
    wrk_cpu[$side]+="$c "
    server_us[$side]+="$us "
    printf 'round %d/%d  %-8s %10.0f req/s  p99 %8.3f ms  errors %s  wrk cpu %5.2f s  server %.2f us/req  sleeps %.3f/req  segs %.2f/req\n' \
      "$round" "$ROUNDS" "$side" "$r" "$p" "$e" "$c" "$us" "$sl" "$sg"
  done
done

# shellcheck disable=SC2086 # word splitting of the per-round lists is intended
{
  median_rps_nginx=$(median ${rps[nginx]})
  median_rps_herdless=$(median ${rps[herdless]})
  median_p99_nginx=$(median ${p99[nginx]})
  median_p99_herdless=$(median ${p99[herdless]})
  median_us_nginx=$(median ${server_us[nginx]})
  median_us_herdless=$(median ${server_us[herdless]})
  median_wrk_us_nginx=$(median ${wrk_us[nginx]})
  median_wrk_us_herdless=$(median ${wrk_us[herdless]})
}
ratio=$(awk -v h="$median_rps_herdless" -v n="$median_rps_nginx" 'BEGIN { printf "%.3f", (n > 0 ? h / n : 0) }')
p99_ok=$(awk -v h="$median_p99_herdless" -v n="$median_p99_nginx" 'BEGIN { print (h <= n ? "true" : "false") }')
printf 'median   nginx    %10.0f req/s  p99 %8.3f ms  server %.2f us/req\n' \
  "$median_rps_nginx" "$median_p99_nginx" "$median_us_nginx"
printf 'median   herdless %10.0f req/s  p99 %8.3f ms  server %.2f us/req\n' \
  "$median_rps_herdless" "$median_p99_herdless" "$median_us_herdless"
printf 'wrk cpu  per request: nginx %.3f us, herdless %.3f us (medians)\n' \
  "$median_wrk_us_nginx" "$median_wrk_us_herdless"
printf 'ratio    herdless/nginx %.3f (goal >= 1.2), p99 no worse: %s\n' "$ratio" "$p99_ok"

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<JSON
{
  "benchmark": "http_vs_nginx",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "kernel": "$(uname -r)",
  "cpus": $(nproc),
  "nginx": "$(nginx -v 2>&1 | sed 's/.*\///')",
  "wrk": "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency",
  "rounds": $ROUNDS,
  "workers": $WORKERS,
  "herdless": "herdless serve --service http --http-body 'hello world.\\\\n' --listen tcp://127.0.0.1:0 --workers $WORKERS --admin off $HERDLESS_ARGS",
  "nginx_config": "worker_processes 2; access_log off; default_type text/plain; listen 127.0.0.1:PORT reuseport; return 200 \\"hello world.\\\\n\\";",
  "nginx_rps": {"rounds": $(list "${rps[nginx]}"), "median": $median_rps_nginx},
  "herdless_rps": {"rounds": $(list "${rps[herdless]}"), "median": $median_rps_herdless},
  "nginx_p99_ms": {"rounds": $(list "${p99[nginx]}"), "median": $median_p99_nginx},
  "herdless_p99_ms": {"rounds": $(list "${p99[herdless]}"), "median": $median_p99_herdless},
  "errors": {"nginx": $(list "${errors[nginx]}"), "herdless": $(list "${errors[herdless]}")},
  "wrk_cpu_seconds": {"nginx": $(list "${wrk_cpu[nginx]}"), "herdless": $(list "${wrk_cpu[herdless]}")},
  "server_cpu_us_per_request": {"nginx": {"rounds": $(list "${server_us[nginx]}"), "median": $median_us_nginx},
                                "herdless": {"rounds": $(list "${server_us[herdless]}"), "median": $median_us_herdless}},
  "wrk_cpu_us_per_request_median": {"nginx": $median_wrk_us_nginx, "herdless": $median_wrk_us_herdless},
  "server_sleeps_per_request": {"nginx": $(list "${sleeps[nginx]}"), "herdless": $(list "${sleeps[herdless]}")},
  "tcp_segments_per_request": {"nginx": $(list "${segs[nginx]}"), "herdless": $(list "${segs[herdless]}")},
  "ratio": $ratio,
  "p99_no_worse": $p99_ok
}
JSON
echo "wrote $OUT"
