#!/usr/bin/env bash
# Kafka → gauges A/B: a bare rdkafka consumer, then `cxpulse run` of another build (OLD, a release
# binary) and of this tree, back to back on one broker and data, their order alternating from run
# to run (a later run on the same in-memory broker tends to be slower). Prints every run; asserts
# nothing. For a change whose effect is smaller than this machine's noise between separate runs.
#
#   bench/kafka_ab.sh OLD_BINARY [RUNS]   (default 4 runs; 30000 customers over 40 days, 2 partitions)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 runs=${2:-4}
. bench/lib.sh
kafka_bench_setup 30000 40 2
new=$bin
for i in $(seq "$runs"); do
    bare=$("$client" count "$broker" "bare-$$-$i" "$events" | awk '{print $2}')
    if [ $((i % 2)) = 1 ]; then order="old new"; else order="new old"; fi
    for which in $order; do
        if [ "$which" = old ]; then bin=$old; else bin=$new; fi
        config=$out/kafka-ab.toml
        printf '[kafka]\nbrokers = "%s"\ngroup_id = "cxpulse-%s-%s-%s"\n[http]\nlisten = "127.0.0.1:%s"\n[clock]\nmax_lag = "36500d"\n' \
            "$broker" "$$" "$i" "$which" "$http" > "$config"
        rate=$(timed_service_run "$config" "$out/kafka-ab.log")
        awk -v i="$i" -v w="$which" -v r="$rate" -v b="$bare" \
            'BEGIN {printf "run %s  bare %s  %s %s  ratio %.3f\n", i, b, w, r, r / b}'
    done
done
