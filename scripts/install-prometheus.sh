#!/usr/bin/env bash
# Installs Prometheus (Debian package `prometheus`, which ships both `prometheus` and `promtool`)
# when `promtool` is missing. Used by the deploy tests (tests/deploy_*.rs). Idempotent and quiet:
# prints one line when it installs, nothing when everything is already there.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "install-prometheus: installing Debian package prometheus (for prometheus and promtool)" >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Output goes to a log that is shown only on failure. --no-install-recommends keeps it to the
# server and promtool. Where there is no systemd the package's own service does not start; the
# tests start their own prometheus on a loopback port.
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-prometheus: apt-get failed" >&2
    exit 1
fi

command -v promtool >/dev/null 2>&1 || { echo "install-prometheus: promtool still missing" >&2; exit 1; }
command -v prometheus >/dev/null 2>&1 || { echo "install-prometheus: prometheus still missing" >&2; exit 1; }
