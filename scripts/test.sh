#!/usr/bin/env bash
# Installs what the test suite needs when it is missing, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets --locked 2>&1
