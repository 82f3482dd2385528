#!/usr/bin/env bash
# Kafka → gauges throughput of `cxpulse run` on a local tansu broker, beside a bare rdkafka consumer
# that only counts the same messages (examples/kafka_bench_client.rs). Several runs, each with a
# fresh consumer group over the same topics; prints medians and their ratio, asserts nothing.
# Rates are timed from the first event seen to the last (group join and start-up excluded).
#
#   bench/kafka_throughput.sh [RUNS] [CUSTOMERS] [DAYS]
#   (defaults: 3 runs, 30000 customers over 40 days ≈ 2.2 M events; PARTITIONS=2 input partitions)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3} customers=${2:-30000} days=${3:-40} partitions=${PARTITIONS:-2}
. bench/lib.sh
kafka_bench_setup "$customers" "$days" "$partitions"

bare_rates=() cx_rates=()
for i in $(seq "$runs"); do
    bare_rates+=("$("$client" count "$broker" "bare-$$-$i" "$events" | awk '{print $2}')")
    config=$out/kafka-bench.toml
    printf '[kafka]\nbrokers = "%s"\ngroup_id = "cxpulse-%s-%s"\n[http]\nlisten = "127.0.0.1:%s"\n[clock]\nmax_lag = "36500d"\n' \
        "$broker" "$$" "$i" "$http" > "$config"
    cx_rates+=("$(timed_service_run "$config" "$out/kafka-bench.log")")
done

b=$(printf '%s\n' "${bare_rates[@]}" | median)
c=$(printf '%s\n' "${cx_rates[@]}" | median)
echo "events on the topics:          $events ($partitions partitions per input topic)"
echo "bare consumer (median of $runs):  $b events/s   runs: ${bare_rates[*]}"
echo "cxpulse run   (median of $runs):  $c events/s   runs: ${cx_rates[*]}"
awk -v c="$c" -v b="$b" 'BEGIN {printf "cxpulse / bare consumer:       %.2f\n", c / b}'
