#!/usr/bin/env bash
# End-to-end tests of the web UI: real binary, OTel JS SDK, Debian's Chromium.
#   bash tests/ui/run.sh            # everything (flow + performance), ~1–2 min once built
#   SPOOR_BIN=target/release/spoor bash tests/ui/run.sh
#   UI_E2E_ONLY=ui-flow bash tests/ui/run.sh   # one file
# Screenshots and perf.json land in tests/artifacts/ui/.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
  echo "ui e2e: installing Debian's chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Unless a binary was given, build one; cargo builds ui/dist first when it is missing or stale
# (crates/spoor-ui/build.rs), and SPOOR_UI_BUILD=require makes a UI that cannot be built an error.
if [ -z "${SPOOR_BIN:-}" ]; then
  SPOOR_UI_BUILD=require cargo build -p spoor
fi

npm --prefix tests/ui ci --no-audit --no-fund --silent

# Dex, the OpenID Connect provider of login-oidc.test.mjs: built by scripts/test-peers.sh (a cold
# build takes many minutes), or here with SPOOR_BUILD_DEX=1; the test skips while it is not built.
if [ "${SPOOR_BUILD_DEX:-0}" = 1 ]; then
  bash scripts/peers/build-dex.sh
fi

files=(tests/ui/*.test.mjs)
if [ -n "${UI_E2E_ONLY:-}" ]; then files=(tests/ui/"${UI_E2E_ONLY}".test.mjs); fi
node --test --test-concurrency=1 --test-timeout=240000 "${files[@]}"
