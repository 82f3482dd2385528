#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets under fuzz/ on the nightly toolchain.
#
#   scripts/fuzz.sh                 # every target, 10,000,000 executions each
#   scripts/fuzz.sh decode 1000000  # one target, a given number of executions
#   SANITIZER=none scripts/fuzz.sh checkpoint  # without AddressSanitizer: several times the
#                                   # executions per second; the RSS limit still holds, but
#                                   # libFuzzer's per-allocation limit needs a sanitizer's hooks
#
# New inputs the fuzzer finds go to fuzz/corpus-run/TARGET (not committed); the committed seeds
# in fuzz/corpus/TARGET and the crash regressions in fuzz/regressions/TARGET are read only. A crash
# is written to fuzz/artifacts/TARGET/; copy it to fuzz/regressions/TARGET/ so that
# `cargo test --test fuzz_corpora` keeps checking it. Each run ends with libFuzzer's final stats
# (stat::number_of_executed_units is the execution count).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${2:-10000000}"
sanitizer="${SANITIZER:-address}"
if [ -n "${1:-}" ]; then targets=("$1"); else targets=(decode config checkpoint); fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "cargo-fuzz needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }

for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-run/$target" "fuzz/regressions/$target"
    # -rss_limit_mb (and the malloc limit, which follows it) turn an unbounded allocation into a
    # reported crash. One process, niced: the machine is shared.
    nice -n 10 cargo +nightly fuzz run --sanitizer "$sanitizer" --fuzz-dir fuzz "$target" \
        "fuzz/corpus-run/$target" "fuzz/corpus/$target" "fuzz/regressions/$target" -- \
        -runs="$runs" -rss_limit_mb=1024 -max_len=8192 -timeout=10 -print_final_stats=1
done
