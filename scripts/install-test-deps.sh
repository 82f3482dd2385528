#!/usr/bin/env bash
# Installs what the test suite needs and is missing, so `scripts/test.sh` works on a fresh machine:
#   - tansu, the Kafka-compatible broker the Kafka tests start on loopback (built with cargo,
#     several minutes the first time; tests look for it on PATH and in ~/.cargo/bin).
#   - Debian's chromium and chromium-driver, for the status page's real-browser test
#     (tests/status_browser.rs drives headless chromium over WebDriver). Installed with apt only
#     when missing.
#   - with CXPULSE_INSTALL_TANSU_SQL=1: a second tansu built with SQLite storage (`libsql`), in
#     ~/.cache/cxpulse/tansu-sql. Only that storage keeps SCRAM users, which the (still ignored)
#     tests/kafka_sasl.rs needs. Opt-in while that test is not part of the suite: the build is long.
# No Debian package is needed: librdkafka and OpenSSL are built from source by cargo.
set -euo pipefail

TANSU_VERSION=0.6.0

if command -v tansu >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
    echo "install-test-deps: tansu present"
else
    echo "install-test-deps: installing tansu ${TANSU_VERSION} (cargo install, takes several minutes)"
    cargo install tansu --version "${TANSU_VERSION}" --features dynostore
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
if [ "${CXPULSE_INSTALL_TANSU_SQL:-0}" != 1 ]; then
    :
elif [ -x "$TANSU_SQL_ROOT/bin/tansu" ]; then
    echo "install-test-deps: tansu with SQLite storage present"
else
    echo "install-test-deps: installing tansu ${TANSU_VERSION} with SQLite storage (cargo install, several minutes)"
    CARGO_TARGET_DIR="$HOME/.cache/cxpulse/tansu-sql-target" \
        cargo install tansu --version "${TANSU_VERSION}" --features libsql --root "$TANSU_SQL_ROOT"
fi
