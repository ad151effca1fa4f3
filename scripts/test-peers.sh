#!/usr/bin/env bash
# Differential tests against real peers (tests/peers): builds the OpenTelemetry Collector peer and
# Jaeger v2 with the Go toolchain into .cache/peers (scripts/peers/build-*.sh; skipped when built and
# unchanged, and when Go is absent the tests skip with a message), then runs tests/peers with the e2e
# venv's pytest against SPOOR_BIN (default: target/debug/spoor, built with cargo when absent).
# Extra arguments go to pytest (e.g. -k redaction).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/peers/build-otelcol.sh
scripts/peers/build-jaeger.sh
scripts/setup-python.sh

target=${CARGO_TARGET_DIR:-$root/target}
export SPOOR_BIN=${SPOOR_BIN:-$target/debug/spoor}
if [ ! -x "$SPOOR_BIN" ]; then
  cargo build -p spoor --quiet
fi
echo "test-peers: spoor under test: $SPOOR_BIN"
# The Helm chart: helm is built with `go install` into .cache/bin (minutes cold), then lint,
# template and schema-validate both modes.
scripts/test-deploy.sh tests/deploy/test_deploy_helm.py
exec .cache/venvs/e2e/bin/pytest -q -p no:cacheprovider -rs tests/peers "$@"
