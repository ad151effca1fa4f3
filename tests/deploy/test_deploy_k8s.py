"""The Kubernetes manifests in deploy/k8s: schema-valid for Kubernetes (kubernetes-validate, strict),
consistent with themselves (k8s_checks), and every ConfigMap's config accepted by `spoor validate`."""

import pytest

from conftest import DEPLOY, kubernetes_validate, load_all, spoor_validate
import k8s_checks

MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
# What the front collector's config reads from its environment (set by the Deployment).
CONFIG_ENV = {"SPOOR_INGEST_ENDPOINT": "spoor-ingest:4317"}


def test_manifests_exist():
    names = {p.name for p in MANIFESTS}
    assert {"all-in-one.yaml", "scale-out.yaml"} <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_kubernetes_schema(path):
    result = kubernetes_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_refuses_a_broken_manifest(tmp_path):
    """The validator can fail: an unknown field and a port of the wrong type are errors."""
    bad = tmp_path / "bad.yaml"
    text = (DEPLOY / "k8s" / "all-in-one.yaml").read_text()
    bad.write_text(text.replace("containerPort: 4317", 'containerPort: "otlp"').replace(
        "serviceName: spoor-headless", "serviceName: spoor-headless\n  replica: 1"
    ))
    result = kubernetes_validate(bad)
    assert result.returncode != 0
    assert "containerPort" in result.stdout + result.stderr


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_cross_references(path):
    objs = load_all(path)
    assert k8s_checks.check(objs) == []
    kinds = {o["kind"] for o in objs}
    assert {"ConfigMap", "StatefulSet", "Service", "ServiceMonitor", "Ingress"} <= kinds


def test_cross_reference_check_finds_a_wrong_port():
    objs = load_all(DEPLOY / "k8s" / "scale-out.yaml")
    svc = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "spoor-query")
    svc["spec"]["ports"][0]["targetPort"] = "query-htp"
    assert any("query-htp" in e for e in k8s_checks.check(objs))


def test_scale_out_has_the_three_tiers():
    objs = {(o["kind"], o["metadata"]["name"]): o for o in load_all(DEPLOY / "k8s" / "scale-out.yaml")}
    ingest = objs[("StatefulSet", "spoor-ingest")]
    query = objs[("Deployment", "spoor-query")]
    front = objs[("Deployment", "spoor-front-collector")]
    assert ingest["spec"]["volumeClaimTemplates"]
    assert "--read-only" in query["spec"]["template"]["spec"]["containers"][0]["args"]
    env = {e["name"] for e in query["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"SPOOR_STORAGE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env
    front_env = {e["name"]: e.get("value") for e in front["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert front_env["SPOOR_INGEST_ENDPOINT"].startswith("spoor-ingest.")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_configmaps_are_the_config_files_and_spoor_accepts_them(path, spoor_bin, tmp_path):
    """Each ConfigMap holds one of deploy/config/*.yaml verbatim, and the real binary validates it."""
    configs = {p.read_text() for p in (DEPLOY / "config").glob("*.yaml")}
    cms = [o for o in load_all(path) if o["kind"] == "ConfigMap"]
    assert cms
    for cm in cms:
        for key, text in cm["data"].items():
            assert text in configs, f"{cm['metadata']['name']}/{key} differs from deploy/config"
            result = spoor_validate(spoor_bin, text, tmp_path, key, CONFIG_ENV)
            assert result.returncode == 0, f"{cm['metadata']['name']}: {result.stdout}{result.stderr}"
