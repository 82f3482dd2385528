# Shared by the bench scripts (sourced, not run). Expects the repository root as working directory.

# Median of the numbers on standard input, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# kafka_bench_setup CUSTOMERS DAYS PARTITIONS: a simulated file ($file, $events lines), a tansu
# broker ($broker, stopped on exit with any service in $svc) holding it on the input topics, and
# the binaries of the dist profile ($bin, $client). $out is the output folder, $http a free port
# for the service.
kafka_bench_setup() {
    local customers=$1 days=$2 partitions=$3 tansu port
    out=bench/out
    mkdir -p "$out"
    cargo build --profile dist --quiet --bin cxpulse --example kafka_bench_client --example checkpoint_bench
    bin=target/dist/cxpulse
    client=target/dist/examples/kafka_bench_client
    tansu=$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")
    [ -x "$tansu" ] || { echo "tansu missing: run scripts/install-test-deps.sh" >&2; exit 1; }
    file=$out/kafka-$customers-$days.jsonl
    [ -s "$file" ] || "$bin" simulate --customers "$customers" --days "$days" --seed 3 --out "$file"
    events=$(wc -l < "$file")
    port=$(free_port) http=$(free_port)
    broker=127.0.0.1:$port
    "$tansu" broker --listener-url "tcp://$broker" --advertised-listener-url "tcp://$broker" \
        --storage-engine memory://tansu/ > "$out/tansu.log" 2>&1 &
    tansu_pid=$! svc=
    trap 'kill $tansu_pid 2>/dev/null; [ -z "$svc" ] || kill $svc 2>/dev/null; true' EXIT
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    for t in cx.interactions cx.surveys; do
        "$tansu" topic create --broker "tcp://$broker" --partitions "$partitions" "$t" >/dev/null
    done
    for t in cx.alerts cx.reengagement cx.dead-letter; do
        "$tansu" topic create --broker "tcp://$broker" --partitions 1 "$t" >/dev/null
    done
    "$client" produce "$broker" "$file"
}

# timed_service_run CONFIG LOG: runs `cxpulse run` until it has counted every event of $file, stops
# it, and prints its rate in events/s, timed from the first event seen to the last (group join and
# start-up excluded).
timed_service_run() {
    local t0= t1= n
    CXPULSE_LOG=info "$bin" run --config "$1" 2>> "$2" &
    svc=$!
    while [ -z "$t1" ]; do
        n=$(curl -s "http://127.0.0.1:$http/metrics" | awk '/^cxpulse_events_total/ {s += $2} END {printf "%d", s}' || echo 0)
        [ -z "$t0" ] && [ "${n:-0}" -gt 0 ] && t0=$(date +%s.%N)
        [ "${n:-0}" -ge "$events" ] && t1=$(date +%s.%N)
        sleep 0.1
    done
    kill -TERM "$svc" && wait "$svc" || true
    svc=
    awk -v n="$events" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'
}
