#!/usr/bin/env bash
# Runs every test: formatting and lints, unit and integration tests of every crate, the storage
# conformance suite, end-to-end tests of the real binary with real clients (OpenTelemetry SDKs,
# Jaeger and Zipkin clients), the web UI's unit and browser tests, and bounded fuzzing.
# Installs what it needs first (scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
export SPOOR_BIN="$target/debug/spoor"
# One build per run: incremental caches only cost disk here (9 GB of a cold run's target).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
step() { printf '\n== %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "web UI: build and unit tests"
npm --prefix ui run build --silent >/dev/null
npm --prefix ui test --silent

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test (incl. storage conformance on memory, disk, object stores, S3 via moto)"
stop_moto() { if [ -f .cache/moto.pid ]; then kill "$(cat .cache/moto.pid)" 2>/dev/null || true; rm -f .cache/moto.pid; fi; }
trap stop_moto EXIT
cargo test --workspace --quiet 2>&1 | grep -v '^\s*$'

step "end-to-end tests (real binary, real clients)"
cargo build -p spoor --quiet
.cache/venvs/e2e/bin/pytest -q -p no:cacheprovider tests/e2e

step "deployment files (Dockerfile, compose, Kubernetes; the Helm chart's tests are in scripts/test-peers.sh, which builds helm)"
SPOOR_SKIP_HELM=1 scripts/test-deploy.sh

if [ -x tests/ui/run.sh ]; then
  step "web UI end-to-end tests (headless Chromium)"
  tests/ui/run.sh
fi

if [ -x scripts/fuzz-smoke.sh ]; then
  step "bounded fuzzing of wire decoders"
  scripts/fuzz-smoke.sh
fi
step "all tests passed"
