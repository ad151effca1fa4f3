#!/usr/bin/env bash
# Installs what `spoor bench` compares against, idempotently:
#   - rotel (PyPI wheel `rotel`, a receive-and-drop capable Rust collector) into .cache/venvs/rotel.
# Prints the path of the rotel-agent binary on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SPOOR_ROTEL_VENV:-$root/.cache/venvs/rotel}"
python="${PYTHON:-python3}"

find_agent() {
  { find "$venv" -path '*/rotel/rotel-agent' -type f 2>/dev/null || true; } | head -n 1
}

agent="$(find_agent)"
if [[ -z "$agent" ]]; then
  if [[ ! -x "$venv/bin/pip" ]]; then
    "$python" -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check rotel
  agent="$(find_agent)"
fi
if [[ -z "$agent" ]]; then
  echo "bench-setup: rotel installed but rotel/rotel-agent not found under $venv" >&2
  exit 1
fi
chmod +x "$agent"
"$agent" --version >/dev/null 2>&1 || "$agent" --help >/dev/null
echo "$agent"
