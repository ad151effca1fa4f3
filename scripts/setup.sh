#!/usr/bin/env bash
# Installs everything Spoor's build and tests need on a fresh Debian machine with Rust, Python and
# Node: the web UI's npm packages, the Python test venvs, Chromium for UI tests, Prometheus tools.
# Idempotent and quiet when everything is already there.
#   scripts/setup.sh          everything
#   scripts/setup.sh build    only what building the binary needs (npm packages for the UI)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}

# The UI's npm packages (build needs them).
if [ ! -d "$root/ui/node_modules" ] || [ "$root/ui/package-lock.json" -nt "$root/ui/node_modules/.package-lock.json" ]; then
  echo "setup: npm ci in ui/"
  npm --prefix "$root/ui" ci --no-audit --no-fund --loglevel=error
fi
[ "$what" = build ] && exit 0

# Debian packages for the tests: Chromium (UI end-to-end tests), Prometheus (scrapes /metrics).
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Python venvs for the end-to-end tests, and moto (the local S3 server of the object-store tests).
"$root/scripts/setup-python.sh"
"$root/scripts/start-moto.sh" --install-only
if [ -x "$root/tests/e2e/setup_clients.sh" ]; then
  "$root/tests/e2e/setup_clients.sh"
fi
