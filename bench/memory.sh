#!/usr/bin/env bash
# Resident memory per tracked customer with 36-character UUID ids, all-in (customer map, state,
# inactivity index, dedup share, segment windows): peak RSS of `cxpulse replay` over inputs that
# differ only in the number of customers (three events each, segments on every event, streamed
# from examples/gen_uuid_segments.rs on standard input), and the slope between sizes. Nothing is
# asserted.
#
#   bench/memory.sh [SIZES...]     (default: 100000 1000000 10000000 customers)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000 10000000)
cargo build --profile dist --quiet --bin cxpulse --example gen_uuid_segments
bin=target/dist/cxpulse
gen=target/dist/examples/gen_uuid_segments
out=bench/out
mkdir -p "$out"

# The default limits.max_customers (5 M per partition) would refuse customers past it.
largest=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)
export CXPULSE_LIMITS__MAX_CUSTOMERS=$((largest > 5000000 ? largest : 5000000))

prev_n= prev_kib=
for n in "${sizes[@]}"; do
  "$gen" $((n * 3)) "$n" 30 5 grouped | /usr/bin/time -f 'peak_kib %M' "$bin" replay --input - > /dev/null 2> "$out/mem-$n.log"
  kib=$(awk '/^peak_kib/ {print $2}' "$out/mem-$n.log")
  tracked=$(grep -oE '[0-9]+ customers' "$out/mem-$n.log" | grep -oE '[0-9]+')
  line="$tracked customers: peak RSS $((kib / 1024)) MiB, $(awk -v k="$kib" -v c="$tracked" 'BEGIN {printf "%.0f", k * 1024 / c}') bytes per customer (whole process)"
  if [ -n "$prev_n" ]; then
    line="$line, slope from $prev_n: $(awk -v a="$prev_kib" -v b="$kib" -v x="$prev_n" -v y="$tracked" 'BEGIN {printf "%.0f", (b - a) * 1024 / (y - x)}') bytes per customer"
  fi
  echo "$line"
  prev_n=$tracked prev_kib=$kib
done
