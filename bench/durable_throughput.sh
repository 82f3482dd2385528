#!/usr/bin/env bash
# Durable state on the Kafka path: throughput of `cxpulse run` with checkpoints off and on, on the
# same broker and topics in the same run (alternating, a fresh group and changelog topic per run),
# then a restart of the last durable run to time the restore from the changelog. Also the offline
# figures of examples/checkpoint_bench.rs (bytes per customer, restore time per million customers).
# Prints medians and ratios; asserts nothing.
#
#   bench/durable_throughput.sh [RUNS] [CUSTOMERS] [DAYS] [RESTORE_CUSTOMERS]
#   (defaults: 3 runs, 30000 customers over 40 days ≈ 2.2 M events; 1000000 customers offline)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3} customers=${2:-30000} days=${3:-40} offline=${4:-1000000} partitions=${PARTITIONS:-2}
. bench/lib.sh
kafka_bench_setup "$customers" "$days" "$partitions"

echo "== offline: full checkpoint of $offline customers (examples/checkpoint_bench.rs)"
target/dist/examples/checkpoint_bench "$offline" 3

config() { # group durable
    printf '[kafka]\nbrokers = "%s"\ngroup_id = "%s"\n[http]\nlisten = "127.0.0.1:%s"\n[clock]\nmax_lag = "36500d"\n' \
        "$broker" "$1" "$http"
    printf '[checkpoint]\nenabled = %s\ntopic = "cx.bench-changelog-%s"\nreplication_factor = 1\n' "$2" "$1"
}
log=$out/durable-bench.log
: > "$log"
run_once() { # group durable → prints events/s
    config "$1" "$2" > "$out/durable-bench.toml"
    timed_service_run "$out/durable-bench.toml" "$log"
}

off_rates=() on_rates=() last_group=
for i in $(seq "$runs"); do
    if [ $((i % 2)) -eq 1 ]; then
        off_rates+=("$(run_once "off-$$-$i" false)"); last_group="on-$$-$i"; on_rates+=("$(run_once "$last_group" true)")
    else
        last_group="on-$$-$i"; on_rates+=("$(run_once "$last_group" true)"); off_rates+=("$(run_once "off-$$-$i" false)")
    fi
done

# Restart the last durable run: time its restore from the changelog.
config "$last_group" true > "$out/durable-bench.toml"
mark=$(wc -l < "$log")
CXPULSE_LOG=info "$bin" run --config "$out/durable-bench.toml" 2>> "$log" &
svc=$!
for _ in $(seq 600); do [ "$(tail -n +"$((mark + 1))" "$log" | grep -c 'partition state restored')" -ge "$partitions" ] && break; sleep 0.1; done
kill -TERM "$svc" && wait "$svc" || true
svc=

off=$(printf '%s\n' "${off_rates[@]}" | median)
on=$(printf '%s\n' "${on_rates[@]}" | median)
echo "== Kafka path: $events events, $customers customers, $partitions partitions per input topic"
echo "checkpoints off (median of $runs): $off events/s   runs: ${off_rates[*]}"
echo "checkpoints on  (median of $runs): $on events/s   runs: ${on_rates[*]}"
awk -v a="$on" -v b="$off" 'BEGIN {printf "on / off:                        %.3f (%.1f%% slower)\n", a / b, 100 * (1 - a / b)}'
echo "== restore from the changelog after a restart (one line per partition):"
tail -n +"$((mark + 1))" "$log" | grep 'partition state restored' | sed 's/^.*partition state restored/partition state restored/'
