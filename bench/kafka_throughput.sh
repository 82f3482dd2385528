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
out=bench/out
mkdir -p "$out"
cargo build --release --quiet --bin cxpulse --example kafka_bench_client
bin=target/release/cxpulse
client=target/release/examples/kafka_bench_client
tansu=$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")
[ -x "$tansu" ] || { echo "tansu missing: run scripts/install-test-deps.sh" >&2; exit 1; }

file=$out/kafka-$customers-$days.jsonl
[ -s "$file" ] || "$bin" simulate --customers "$customers" --days "$days" --seed 3 --out "$file"
events=$(wc -l < "$file")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port) http=$(free_port)
broker=127.0.0.1:$port
"$tansu" broker --listener-url "tcp://$broker" --advertised-listener-url "tcp://$broker" \
    --storage-engine memory://tansu/ > "$out/tansu.log" 2>&1 &
tansu_pid=$! svc=
trap 'kill $tansu_pid 2>/dev/null; [ -z "$svc" ] || kill $svc 2>/dev/null; true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
for t in cx.interactions cx.surveys; do "$tansu" topic create --broker "tcp://$broker" --partitions "$partitions" "$t" >/dev/null; done
for t in cx.alerts cx.reengagement cx.dead-letter; do "$tansu" topic create --broker "tcp://$broker" --partitions 1 "$t" >/dev/null; done
"$client" produce "$broker" "$file"

seen() { curl -s "http://127.0.0.1:$http/metrics" | awk '/^cxpulse_events_total/ {s += $2} END {printf "%d", s}'; }
now() { date +%s.%N; }

bare_rates=() cx_rates=()
for i in $(seq "$runs"); do
    bare_rates+=("$("$client" count "$broker" "bare-$$-$i" "$events" | awk '{print $2}')")
    config=$out/kafka-bench.toml
    printf '[kafka]\nbrokers = "%s"\ngroup_id = "cxpulse-%s-%s"\n[http]\nlisten = "127.0.0.1:%s"\n[clock]\nmax_lag = "36500d"\n' \
        "$broker" "$$" "$i" "$http" > "$config"
    CXPULSE_LOG=warn "$bin" run --config "$config" 2>> "$out/kafka-bench.log" &
    svc=$!
    t0= t1=
    while [ -z "$t1" ]; do
        n=$(seen || echo 0)
        [ -z "$t0" ] && [ "${n:-0}" -gt 0 ] && t0=$(now)
        [ "${n:-0}" -ge "$events" ] && t1=$(now)
        sleep 0.1
    done
    kill -TERM "$svc" && wait "$svc" || true
    svc=
    cx_rates+=("$(awk -v n="$events" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')")
done

. bench/lib.sh
b=$(printf '%s\n' "${bare_rates[@]}" | median)
c=$(printf '%s\n' "${cx_rates[@]}" | median)
echo "events on the topics:          $events ($partitions partitions per input topic)"
echo "bare consumer (median of $runs):  $b events/s   runs: ${bare_rates[*]}"
echo "cxpulse run   (median of $runs):  $c events/s   runs: ${cx_rates[*]}"
awk -v c="$c" -v b="$b" 'BEGIN {printf "cxpulse / bare consumer:       %.2f\n", c / b}'
