#!/usr/bin/env bash
# Replay throughput beside a parse-only pass over the same file, and peak memory per tracked
# customer. Prints medians of several runs; nothing is asserted (the machine is shared and noisy).
#
#   bench/replay_throughput.sh [RUNS]        (default 5 runs; needs GNU time at /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
out=bench/out
mkdir -p "$out"
cargo build --release --quiet --bin cxpulse --example parse_only
bin=target/release/cxpulse
parse=target/release/examples/parse_only

year=$out/year.jsonl
[ -s "$year" ] || "$bin" simulate --customers 10000 --days 365 --seed 42 --out "$year"
events=$(wc -l < "$year")

. bench/lib.sh
rate() { grep -oE '\(([0-9]+) lines/s\)' | grep -oE '[0-9]+'; }

parse_rates=() replay_rates=()
for i in $(seq "$runs"); do
  parse_rates+=("$("$parse" "$year" | rate)")
  replay_rates+=("$("$bin" replay --input "$year" --metrics-out "$out/m.prom" --alerts-out "$out/a.jsonl" \
      --messages-out "$out/msg.jsonl" --dead-letter-out "$out/dl.jsonl" 2>&1 | rate)")
done
p=$(printf '%s\n' "${parse_rates[@]}" | median)
r=$(printf '%s\n' "${replay_rates[@]}" | median)
echo "events in file:           $events"
echo "parse-only (median of $runs): $p lines/s   runs: ${parse_rates[*]}"
echo "replay     (median of $runs): $r lines/s   runs: ${replay_rates[*]}"
awk -v r="$r" -v p="$p" 'BEGIN {printf "replay / parse-only:      %.2f\n", r / p}'

# Memory: peak RSS of two replays that differ only in the number of customers; the slope is the
# cost of one more tracked customer (segment windows and fixed costs cancel out).
rss() { /usr/bin/time -f '%M' "$bin" replay --input "$1" 2>&1 >/dev/null | tail -1; }
small=$out/small.jsonl big=$out/big.jsonl
[ -s "$small" ] || "$bin" simulate --customers 20000 --days 14 --seed 7 --out "$small"
[ -s "$big" ] || "$bin" simulate --customers 200000 --days 14 --seed 7 --out "$big"
tracked() { "$bin" replay --input "$1" 2>&1 | grep -oE '[0-9]+ customers' | grep -oE '[0-9]+'; }
rs=$(rss "$small") rb=$(rss "$big") cs=$(tracked "$small") cb=$(tracked "$big")
echo "peak RSS: ${rs} KiB with $cs customers, ${rb} KiB with $cb customers"
awk -v a="$rs" -v b="$rb" -v x="$cs" -v y="$cb" \
  'BEGIN {printf "memory per tracked customer: %.0f bytes (slope), %.0f bytes (whole RSS / customers at the larger size)\n", (b - a) * 1024 / (y - x), b * 1024 / y}'
