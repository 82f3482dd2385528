#!/usr/bin/env bash
# Installs what the test suite needs and is missing, so `scripts/test.sh` works on a fresh machine:
#   - tansu, the Kafka-compatible broker the Kafka tests start on loopback (built with cargo,
#     several minutes the first time; tests look for it on PATH and in ~/.cargo/bin).
#   - Debian's chromium and chromium-driver, for the status page's real-browser test
#     (tests/status_browser.rs drives headless chromium over WebDriver). Installed with apt only
#     when missing.
#   - a second tansu built with SQLite storage (`libsql`), in ~/.cache/cxpulse/tansu-sql. Only
#     that storage keeps SCRAM users, which tests/kafka_sasl.rs needs. Both builds share one
#     target folder, ~/.cache/cxpulse/tansu-target, so the second recompiles only the tansu crates
#     and the few dependencies the storage features change (24 of some 420 crates, about 4 minutes
#     on 2 cores instead of 15 to 25).
# No Debian package is needed: librdkafka and OpenSSL are built from source by cargo.
set -euo pipefail

TANSU_VERSION=0.6.0
TANSU_TARGET="$HOME/.cache/cxpulse/tansu-target"

if command -v tansu >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
    echo "install-test-deps: tansu present"
else
    echo "install-test-deps: installing tansu ${TANSU_VERSION} (cargo install, takes several minutes)"
    CARGO_TARGET_DIR="$TANSU_TARGET" cargo install tansu --version "${TANSU_VERSION}" --features dynostore
fi

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "install-test-deps: chromium and chromedriver present"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "install-test-deps: installing Debian packages chromium and chromium-driver (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    # Output goes to a log shown only on failure.
    if ! { $SUDO apt-get update -qq && \
           $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-test-deps: apt-get failed" >&2
        exit 1
    fi
    command -v chromium >/dev/null 2>&1 || { echo "install-test-deps: chromium still missing" >&2; exit 1; }
    command -v chromedriver >/dev/null 2>&1 || { echo "install-test-deps: chromedriver still missing" >&2; exit 1; }
fi

TANSU_SQL_ROOT="$HOME/.cache/cxpulse/tansu-sql"
if [ -x "$TANSU_SQL_ROOT/bin/tansu" ]; then
    echo "install-test-deps: tansu with SQLite storage present"
else
    echo "install-test-deps: installing tansu ${TANSU_VERSION} with SQLite storage (cargo install, several minutes)"
    CARGO_TARGET_DIR="$TANSU_TARGET" \
        cargo install tansu --version "${TANSU_VERSION}" --features libsql --root "$TANSU_SQL_ROOT"
fi
