#!/usr/bin/env bash
# Instructions and simulated cache misses of a one-thread replay, per build: a deterministic
# yardstick for changes smaller than this machine's wall-clock noise (valgrind's cachegrind; the
# guest has no hardware counters). Prints one line per binary; asserts nothing.
#
#   bench/instructions.sh FILE LINES BINARY [BINARY...]
#   e.g. bench/instructions.sh bench/out/sim-20000-365.jsonl 300000 /tmp/cxpulse-before target/dist/cxpulse
set -euo pipefail
cd "$(dirname "$0")/.."
file=$1 lines=$2; shift 2
command -v valgrind >/dev/null || { echo "valgrind missing (Debian: apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -n "$lines" "$file" > "$work/input.jsonl"
for bin in "$@"; do
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$work/cg.out" \
        "$bin" replay --input "$work/input.jsonl" --metrics-out "$work/m.prom" --single-thread \
        > /dev/null 2> "$work/cg.log"
    awk -v bin="$bin" '
        /I +refs:/ {gsub(",", "", $4); ir = $4}
        /D1 +misses:/ {gsub(",", "", $4); d1 = $4}
        /LL misses:/ {gsub(",", "", $4); ll = $4}
        END {printf "%-40s %14s instructions %12s D1 misses %10s LL misses\n", bin, ir, d1, ll}' "$work/cg.log"
done
