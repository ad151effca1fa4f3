#!/usr/bin/env bash
# Validates the deployment files in deploy/ (Dockerfile, compose files, Kubernetes manifests, Helm chart)
# with the validators scripts/setup-deploy-tools.sh installs into .cache/, and runs every config they
# carry through `spoor validate`. Builds the spoor binary first (without the UI).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
export SPOOR_BIN=${SPOOR_BIN:-$target/debug/spoor}
scripts/setup-deploy-tools.sh
SPOOR_UI_BUILD=${SPOOR_UI_BUILD:-off} cargo build -p spoor --quiet
if [ $# -eq 0 ]; then set -- tests/deploy; fi
exec .cache/venvs/deploy/bin/pytest -q -p no:cacheprovider -rs "$@"
