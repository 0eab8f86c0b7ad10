# shellcheck shell=bash
# lib_abba.sh: paired A/B cost measurement of one `herdless serve` option (off vs on) on the
# steady scenario's server and load, in short runs, ABBA order, each run in a fresh network
# namespace. Shared by accounting_cost.sh (--kernel-accounting) and own_port_cost.sh
# (--own-port). Sourced after lib.sh and bench_init, from the repository root.
#
# The caller sets:
#   BUILD, DURATION, ROUNDS   build dir, length of a run (3s), rounds (each: off on, or on off)
#   abba_key                  the row field naming the side ("accounting", "own_port")
#   abba_flag                 the serve option set to the side ("--kernel-accounting")
#   abba_host                 the address served (127.0.0.1; 0.0.0.0 for a wildcard bind);
#                             the load always targets 127.0.0.1
#   abba_admin                "" (serve's default admin) or a port: then --admin 127.0.0.1:PORT
#                             and the row records /stats' "owns_port" (read before the load)
# abba_serve_run is the run; abba_rounds RUN_FUNCTION calls RUN_FUNCTION SIDE ROUND in ABBA
# order (it must append one row to $rows); abba_summary writes the JSON.
abba_key=${abba_key:-accounting}
abba_flag=${abba_flag:---kernel-accounting}
abba_host=${abba_host:-127.0.0.1}
abba_admin=${abba_admin:-}

# abba_serve_run SIDE ROUND: one short run in this network namespace; appends its row to $rows.
# Server: CPUs workers, hello, least-loaded, $abba_flag SIDE. Load: herdless load, 64 in
# flight, DURATION. Server CPU (supervisor and workers) and the load's CPU over the load.
abba_serve_run() {
  local side=$1 round=$2 port=18181 sup kids w0 w1 out owns=null
  local -a admin_args=()
  [[ -z $abba_admin ]] || admin_args=(--admin "127.0.0.1:$abba_admin")
  setsid "$BUILD/herdless" serve --listen "tcp://$abba_host:$port" --workers "$(nproc)" --service hello \
    --message 'worker={worker}\n' --drain-timeout 1s --steer least-loaded "$abba_flag" "$side" \
    "${admin_args[@]}" >"$tmp/serve.log" 2>&1 &
  sup=$!
  for _ in $(seq 100); do ss -ltn | grep -q ":$port " && break; sleep 0.05; done
  sleep 0.4
  if [[ -n $abba_admin ]]; then
    owns=$(python3 -c 'import json,sys,urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1], timeout=2)).get("owns_port")))' \
      "http://127.0.0.1:$abba_admin/stats" 2>/dev/null || echo null)
  fi
  kids=$(cat /proc/"$sup"/task/*/children)
  # shellcheck disable=SC2086
  w0=$(pids_cpu_ticks $sup $kids)
  out=$(/usr/bin/time -f '%U %S' -o "$tmp/load.time" "$BUILD/herdless" load --target "tcp://127.0.0.1:$port" \
    --duration "$DURATION" --concurrency 64 --json 2>/dev/null)
  # shellcheck disable=SC2086
  w1=$(pids_cpu_ticks $sup $kids)
  kill -TERM "$sup"; wait "$sup" 2>/dev/null || true
  python3 - "$out" "$side" "$round" "$w0" "$w1" "$(getconf CLK_TCK)" "$(cat "$tmp/load.time")" "$abba_key" "$owns" \
    >>"$rows" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); n = max(d["completed"], 1); hz = float(sys.argv[6])
server = (float(sys.argv[5]) - float(sys.argv[4])) / hz
client = sum(float(x) for x in sys.argv[7].split())
row = {sys.argv[8]: sys.argv[2], "round": int(sys.argv[3]), "rate": d["connections_per_second"],
       "cpu_us_per_connection": server * 1e6 / n, "total_cpu_us_per_connection": (server + client) * 1e6 / n,
       "failed": d["failed"]}
if sys.argv[9] != "null":
    row["owns_port"] = json.loads(sys.argv[9])
print(json.dumps(row))
PY
}

# abba_serve_in_netns SIDE ROUND: abba_serve_run in a network namespace of its own.
abba_serve_in_netns() {
  export -f abba_serve_run pids_cpu_ticks
  export BUILD DURATION tmp rows abba_key abba_flag abba_host abba_admin
  unshare --net bash -c "ip link set lo up && abba_serve_run $1 $2"
}

# abba_rounds RUN_FUNCTION: ROUNDS rounds, ABBA order (off on, on off, ...); prints each row.
# Every run in a network namespace of its own: a run's 100,000s of TIME_WAIT sockets would
# otherwise slow the runs after it.
abba_rounds() {
  local run=$1 round order side
  for round in $(seq "$ROUNDS"); do
    order="off on"
    (( round % 2 == 0 )) && order="on off"
    for side in $order; do
      "$run" "$side" "$round"
      tail -n 1 "$rows"
    done
  done
}

# abba_summary OUT METHOD BENCHMARK SCENARIO: medians per side, their ratios on/off, and the
# median of each round's own on/off ratio (rate, CPU per connection; total CPU per connection
# or rate over the hash row when the rows have them), written to OUT.
abba_summary() {
  python3 - "$rows" "$1" "$2" "$abba_key" "$3" "$4" <<'PY'
import json, os, statistics, sys, time, platform
rows = [json.loads(l) for l in open(sys.argv[1])]
out_path, method, key, benchmark, scenario = sys.argv[2:7]
med = lambda side, k: statistics.median(r[k] for r in rows if r[key] == side)
out = {"benchmark": benchmark, "method": method, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
       "scenario": scenario, "rows": rows,
       "median_rate": {"off": med("off", "rate"), "on": med("on", "rate")},
       "median_cpu_us_per_connection": {"off": med("off", "cpu_us_per_connection"), "on": med("on", "cpu_us_per_connection")}}
out["rate_ratio_on_off"] = round(out["median_rate"]["on"] / out["median_rate"]["off"], 4)
out["cpu_ratio_on_off"] = round(out["median_cpu_us_per_connection"]["on"] / out["median_cpu_us_per_connection"]["off"], 4)
pair = {(r["round"], r[key]): r for r in rows}
rounds = sorted({r["round"] for r in rows})
paired = lambda k: round(statistics.median(pair[(n, "on")][k] / pair[(n, "off")][k] for n in rounds), 4)
out["paired_rate_ratio_on_off"] = paired("rate")
out["paired_cpu_ratio_on_off"] = paired("cpu_us_per_connection")
if "rate_over_hash" in rows[0]:
    out["paired_rate_over_hash_ratio_on_off"] = paired("rate_over_hash")
else:
    out["median_total_cpu_us_per_connection"] = {"off": med("off", "total_cpu_us_per_connection"),
                                                 "on": med("on", "total_cpu_us_per_connection")}
    out["paired_total_cpu_ratio_on_off"] = paired("total_cpu_us_per_connection")
if any("owns_port" in r for r in rows):
    out["owns_port"] = {side: sorted({str(r.get("owns_port")) for r in rows if r[key] == side}) for side in ("off", "on")}
json.dump(out, open(out_path, "w"), indent=1)
print("rate on/off", out["rate_ratio_on_off"], "cpu/conn on/off", out["cpu_ratio_on_off"], out["median_rate"], out["median_cpu_us_per_connection"])
print("paired per round: rate", out["paired_rate_ratio_on_off"], "cpu/conn", out["paired_cpu_ratio_on_off"],
      "rate/hash" if "rate_over_hash" in rows[0] else "total cpu/conn",
      out.get("paired_rate_over_hash_ratio_on_off", out.get("paired_total_cpu_ratio_on_off")))
if "owns_port" in out:
    print("owns_port seen:", out["owns_port"])
PY
}
