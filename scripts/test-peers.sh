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
# Garage (S3-compatible, distributed) for the scale-out cluster test; about an hour cold on a loaded 2-core machine.
scripts/peers/build-garage.sh
# Dex (OpenID Connect provider) for the UI's OIDC login test; many minutes cold.
scripts/peers/build-dex.sh
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
# The scale-out cluster on a 3-node Garage (issue 15): not in scripts/test.sh (needs Garage).
SPOOR_CLUSTER_TEST=1 .cache/venvs/e2e/bin/pytest -q -p no:cacheprovider -rs tests/e2e/test_cluster_garage.py
# The UI's OIDC authorization-code login against Dex, in headless Chromium.
UI_E2E_ONLY=login-oidc tests/ui/run.sh
exec .cache/venvs/e2e/bin/pytest -q -p no:cacheprovider -rs tests/peers "$@"
