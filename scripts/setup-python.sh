#!/usr/bin/env bash
# Creates (or reuses) the end-to-end test venv at .cache/venvs/e2e with tests/e2e/requirements.txt.
# Idempotent: reinstalls only when the requirements file changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.cache/venvs/e2e"
req="$root/tests/e2e/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup-python: creating $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
