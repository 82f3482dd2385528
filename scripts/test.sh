#!/usr/bin/env bash
# The single test entry point (README quick start, `.ci/run`): installs what the test suite needs
# when it is missing, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
./scripts/install-prometheus.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo test --all-targets --locked 2>&1
