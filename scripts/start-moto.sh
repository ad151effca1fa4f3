#!/usr/bin/env bash
# Starts a local S3-compatible server (moto) for the storage engine's object-store tests.
#
# Usage: scripts/start-moto.sh [PORT]   (default 5055)
#        scripts/start-moto.sh --install-only   (what scripts/setup.sh runs)
# Installs moto[server] from PyPI into .cache/moto-venv on first use, starts it in the
# background, waits until it answers, and prints the endpoint. The engine's S3 test reads
# SPOOR_TEST_S3_ENDPOINT (set it to the printed URL); without it the test skips.
# Stop it with: kill "$(cat .cache/moto.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-5055}"
venv=.cache/moto-venv
if [ ! -x "$venv/bin/moto_server" ]; then
  mkdir -p .cache
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
[ "$port" = "--install-only" ] && exit 0
if [ -f .cache/moto.pid ] && kill -0 "$(cat .cache/moto.pid)" 2>/dev/null; then
  echo "http://127.0.0.1:$port"
  exit 0
fi
nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > .cache/moto.log 2>&1 &
echo $! > .cache/moto.pid
for _ in $(seq 1 50); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.2
done
echo "moto did not start; see .cache/moto.log" >&2
exit 1
