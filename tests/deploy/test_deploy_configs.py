"""deploy/config/*.yaml, the Collector-style configs the images, compose files and manifests use:
the real binary validates each, and refuses a broken one."""

import pytest

from conftest import DEPLOY, spoor_validate

CONFIGS = sorted((DEPLOY / "config").glob("*.yaml"))
ENV = {"SPOOR_INGEST_ENDPOINT": "ingest:4317"}


def test_the_three_configs_exist():
    assert {p.name for p in CONFIGS} == {"all-in-one.yaml", "ingest.yaml", "front-collector.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_spoor_validate_accepts(path, spoor_bin, tmp_path):
    result = spoor_validate(spoor_bin, path.read_text(), tmp_path, path.name, ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_spoor_validate_refuses_a_typo(spoor_bin, tmp_path):
    text = (DEPLOY / "config" / "ingest.yaml").read_text().replace("exporters: [spoor]", "exporters: [spor]")
    result = spoor_validate(spoor_bin, text, tmp_path, "typo.yaml", ENV)
    assert result.returncode != 0
    assert "spor" in result.stdout + result.stderr


def test_helm_chart_carries_the_same_configs():
    for path in CONFIGS:
        copy = DEPLOY / "helm" / "spoor" / "files" / path.name
        assert copy.read_text() == path.read_text(), f"{copy} differs from {path}: copy it over"
