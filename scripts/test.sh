#!/usr/bin/env bash
# The single test entry point (README quick start, `.ci/run`): installs what the test suite needs
# when it is missing, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
./scripts/install-prometheus.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Benchmarks (`benches/`) print figures and take minutes: they are compiled here, not run.
cargo check --benches --locked 2>&1
cargo test --lib --bins --tests --examples --locked 2>&1
