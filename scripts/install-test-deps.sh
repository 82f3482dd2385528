#!/usr/bin/env bash
# Installs what the test suite needs and is missing, so `scripts/test.sh` works on a fresh machine:
#   - tansu, the Kafka-compatible broker the Kafka tests start on loopback (built with cargo,
#     several minutes the first time; tests look for it on PATH and in ~/.cargo/bin).
# No Debian package is needed: librdkafka and OpenSSL are built from source by cargo.
set -euo pipefail

TANSU_VERSION=0.6.0

if command -v tansu >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
    echo "install-test-deps: tansu present"
else
    echo "install-test-deps: installing tansu ${TANSU_VERSION} (cargo install, takes several minutes)"
    cargo install tansu --version "${TANSU_VERSION}" --features dynostore
fi
