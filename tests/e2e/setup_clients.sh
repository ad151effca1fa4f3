#!/usr/bin/env bash
# Installs the real client libraries the ingest end-to-end tests drive.
# Idempotent: each venv is rebuilt only when its requirement line changes; node_modules only when the
# lock file changes. Python venvs live in .cache/venvs/<name> (git-ignored).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venvs="$root/.cache/venvs"
python="${PYTHON:-python3}"
mkdir -p "$venvs"

venv() { # name, requirements...
  local name="$1"; shift
  local dir="$venvs/$name" want="$*"
  if [[ -x "$dir/bin/python" && "$(cat "$dir/.spoor-reqs" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  echo "setting up venv $name: $want" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$want" >"$dir/.spoor-reqs"
}

# Legacy Jaeger client (thrift compact over UDP 6831).
venv jaeger-client "jaeger-client==4.8.0" "six"
# OTel Jaeger thrift exporter: last release 1.21.0, paired with the SDK of the same release.
venv otel-jaeger "opentelemetry-sdk==1.21.0" "opentelemetry-api==1.21.0" \
  "opentelemetry-exporter-jaeger-thrift==1.21.0" "Deprecated"
venv otel-zipkin-json "opentelemetry-sdk" "opentelemetry-exporter-zipkin-json"
# The proto exporter pins an old protobuf: its own venv.
venv otel-zipkin-proto "opentelemetry-sdk" "opentelemetry-exporter-zipkin-proto-http"

node_dir="$root/tests/e2e/node"
stamp="$node_dir/node_modules/.spoor-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$node_dir/package-lock.json" "$stamp"; then
  echo "installing node clients" >&2
  if [[ -f "$node_dir/package-lock.json" ]]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
  cp "$node_dir/package-lock.json" "$stamp"
fi
