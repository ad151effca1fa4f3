"""deploy/helm/spoor: `helm lint`, and `helm template` in both modes validated like the plain manifests
(kubernetes-validate strict, cross references, each ConfigMap's config through `spoor validate`).
helm is built from source by scripts/setup-deploy-tools.sh; without it these tests skip."""

import subprocess

import pytest
import yaml

from conftest import DEPLOY, kubernetes_validate, spoor_validate
import k8s_checks

CHART = DEPLOY / "helm" / "spoor"
MODES = {
    "allInOne": [],
    "scaleOut": ["--set", "mode=scaleOut", "--set", "storage.endpoint=http://garage:3900"],
}


def helm_run(helm, *args):
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)


def render(helm, mode, tmp_path):
    result = helm_run(helm, "template", "spoor", str(CHART), "--namespace", "observability", *MODES[mode])
    assert result.returncode == 0, result.stderr
    out = tmp_path / f"{mode}.yaml"
    out.write_text(result.stdout)
    return out, [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("mode", MODES)
def test_helm_lint(helm, mode):
    result = helm_run(helm, "lint", "--strict", str(CHART), *MODES[mode])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_rendered_chart_passes_kubernetes_schema(helm, mode, tmp_path):
    out, _ = render(helm, mode, tmp_path)
    result = kubernetes_validate(out)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_rendered_chart_cross_references(helm, mode, tmp_path):
    _, objs = render(helm, mode, tmp_path)
    assert k8s_checks.check(objs) == []


def test_modes_render_their_topology(helm, tmp_path):
    _, aio = render(helm, "allInOne", tmp_path)
    _, out = render(helm, "scaleOut", tmp_path)
    kinds = lambda objs: sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    assert ("StatefulSet", "spoor") in kinds(aio)
    assert not any(k == "Deployment" for k, _ in kinds(aio))
    names = dict((n, o) for o in out for n in [(o["kind"], o["metadata"]["name"])])
    assert ("StatefulSet", "spoor-ingest") in names
    assert ("Deployment", "spoor-front-collector") in names
    query = names[("Deployment", "spoor-query")]
    assert query["spec"]["replicas"] == 2
    c = query["spec"]["template"]["spec"]["containers"][0]
    assert "--read-only" in c["args"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["AWS_ENDPOINT"] == "http://garage:3900" and env["SPOOR_STORAGE_URL"] == "s3://spoor/traces"
    ing = names[("Ingress", "spoor")]
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "spoor-query"


def test_values_change_the_rendering(helm, tmp_path):
    result = helm_run(
        helm, "template", "t", str(CHART), "--set", "mode=scaleOut", "--set", "query.replicas=5",
        "--set", "serviceMonitor.enabled=false", "--set", "ingress.enabled=false",
    )
    assert result.returncode == 0, result.stderr
    objs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = {o["kind"] for o in objs}
    assert "ServiceMonitor" not in kinds and "Ingress" not in kinds
    query = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "t-spoor-query")
    assert query["spec"]["replicas"] == 5


def test_unknown_mode_is_refused(helm):
    result = helm_run(helm, "template", "spoor", str(CHART), "--set", "mode=cluster")
    assert result.returncode != 0
    assert "mode must be allInOne or scaleOut" in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_rendered_configmaps_pass_spoor_validate(helm, mode, spoor_bin, tmp_path):
    _, objs = render(helm, mode, tmp_path)
    cms = [o for o in objs if o["kind"] == "ConfigMap"]
    assert cms
    for cm in cms:
        for key, text in cm["data"].items():
            result = spoor_validate(spoor_bin, text, tmp_path, key, {"SPOOR_INGEST_ENDPOINT": "spoor-ingest:4317"})
            assert result.returncode == 0, f"{cm['metadata']['name']}: {result.stdout}{result.stderr}"
