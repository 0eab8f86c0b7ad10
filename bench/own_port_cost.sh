#!/usr/bin/env bash
# own_port_cost.sh: what owning the port (--own-port: the SK_LOOKUP program that keeps every
# connection for our addresses on our sockets) costs `herdless serve`, measured the way
# accounting_cost.sh's METHOD=serve measures kernel accounting (bench/lib_abba.sh): the steady
# scenario's server (herdless serve, CPUs workers, hello, reuseport least-loaded) and load
# (herdless load, 64 connections in flight, short connections), DURATION (3s) per run, ROUNDS
# (8) rounds in ABBA order (off on, on off, ...), each run in a fresh network namespace.
# Reports the median rate, server CPU time per connection and total (server + load generator)
# CPU time per connection per side, their ratios on/off, and the median of each round's own
# on/off ratio (the two runs of a round are back to back).
#
# The program captures only wildcard binds, so the server listens on tcp://0.0.0.0:PORT (in
# both modes) and the load targets 127.0.0.1:PORT. Each run reads /stats from the admin port
# before the load and records "owns_port" in its row: true in every on-run shows the program
# was attached, false in every off-run that it was not.
# Environment: BUILD (build dir), ROUNDS, DURATION, OUT (bench/results/own_port_cost.json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-8}
OUT=${OUT:-bench/results/own_port_cost.json}
need_binaries "$BUILD/herdless"
bench_init kill
rows="$tmp/rows.jsonl"
: >"$rows"
source bench/lib_abba.sh # abba_serve_in_netns, abba_rounds, abba_summary
abba_key=own_port abba_flag=--own-port abba_host=0.0.0.0 abba_admin=18182

abba_rounds abba_serve_in_netns
abba_summary "$OUT" serve bench/own_port_cost.sh \
  "steady's server and load in short runs: herdless serve --listen tcp://0.0.0.0:PORT, CPUs workers, hello, least-loaded; herdless load to 127.0.0.1:PORT, 64 in flight"
if grep -q '"own_port": "on"' "$rows" && grep '"own_port": "on"' "$rows" | grep -vq '"owns_port": true'; then
  echo "own_port_cost: an on-run did not report owns_port true in /stats" >&2
  exit 1
fi
echo "wrote $OUT"
