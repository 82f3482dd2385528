#!/usr/bin/env bash
# Replay throughput on two data shapes, each beside a parse-only pass over the same file (read +
# decode every line on one thread, examples/parse_only.rs):
#   - a simulated year, `cxpulse simulate` (about 10 M events by default);
#   - the same number of events that all carry segments and a 36-character UUID customer id,
#     with mixed timestamp forms (examples/gen_uuid_segments.rs).
# Replay runs both ways: on two threads (the default) and with --single-thread. Prints medians of
# several runs, the ratios, and the CPU used (user + system seconds per wall second) of the last
# run; nothing is asserted (the machine is shared and noisy).
#
#   bench/replay_throughput.sh [RUNS] [SIM_CUSTOMERS] [EVENTS]
#   (defaults: 3 runs, 20000 simulated customers over 365 days ≈ 10 M events; 10 M UUID events of
#   100 k customers over 90 days)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3} sim_customers=${2:-20000} events=${3:-10000000}
out=bench/out
mkdir -p "$out"
cargo build --profile dist --quiet --bin cxpulse --example parse_only --example gen_uuid_segments
bin=target/dist/cxpulse
parse=target/dist/examples/parse_only
gen=target/dist/examples/gen_uuid_segments
. bench/lib.sh

sim=$out/sim-$sim_customers-365.jsonl
uuid=$out/uuid-segments-$events.jsonl
[ -s "$sim" ] || "$bin" simulate --customers "$sim_customers" --days 365 --seed 42 --out "$sim"
[ -s "$uuid" ] || "$gen" "$events" $((events / 100)) 90 9 > "$uuid"

# One run: prints "LINES_PER_WALL_SECOND LINES_PER_CPU_SECOND CPU_PER_WALL".
measure() {
  local lines=$1; shift
  /usr/bin/time -f 'cpu %U %S %e' "$@" 2>&1 >/dev/null | awk -v n="$lines" \
    '/^cpu / {c = $2 + $3; printf "%.0f %.0f %.2f\n", n / $4, n / c, c / $4}'
}
outputs=(--metrics-out "$out/m.prom" --alerts-out "$out/a.jsonl" --messages-out "$out/msg.jsonl" --dead-letter-out "$out/dl.jsonl")
col() { awk -v c="$1" '{print $c}' | median; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# SHAPES=sim or SHAPES=uuid measures one shape only.
files=()
[[ "${SHAPES:-sim uuid}" == *sim* ]] && files+=("$sim")
[[ "${SHAPES:-sim uuid}" == *uuid* ]] && files+=("$uuid")
for file in "${files[@]}"; do
  lines=$(wc -l < "$file")
  : > "$out/parse.runs"; : > "$out/one.runs"; : > "$out/two.runs"
  for _ in $(seq "$runs"); do
    measure "$lines" "$parse" "$file" >> "$out/parse.runs"
    measure "$lines" "$bin" replay --input "$file" "${outputs[@]}" --single-thread >> "$out/one.runs"
    measure "$lines" "$bin" replay --input "$file" "${outputs[@]}" >> "$out/two.runs"
  done
  echo "== $(basename "$file"): $lines lines; medians of $runs runs: lines per wall second, lines per CPU second, CPU seconds per wall second"
  for mode in parse one two; do
    printf '%-22s %10s /s wall %10s /s cpu %6s cores   runs (wall): %s\n' "$mode" \
      "$(col 1 < "$out/$mode.runs")" "$(col 2 < "$out/$mode.runs")" "$(col 3 < "$out/$mode.runs")" "$(awk '{printf "%s ", $1}' "$out/$mode.runs")"
  done | sed 's/^parse /parse-only /; s/^one /replay 1 thread /; s/^two /replay 2 threads /'
  p=$(col 1 < "$out/parse.runs") r1=$(col 1 < "$out/one.runs") r2=$(col 1 < "$out/two.runs")
  pc=$(col 2 < "$out/parse.runs") r1c=$(col 2 < "$out/one.runs")
  awk -v a="$r1" -v b="$r2" -v p="$p" -v pc="$pc" -v r1c="$r1c" 'BEGIN {
    printf "ratios (wall): 1 thread / parse-only %.2f, 2 threads / parse-only %.2f, 2 / 1 threads %.2f\n", a / p, b / p, b / a
    printf "ratio per CPU second: replay 1 thread / parse-only %.2f\n", r1c / pc }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
