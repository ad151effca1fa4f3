"""Real Zipkin clients (OTel Zipkin exporters for Python and Node, native zipkin-js) send a
3-span trace over v1/v2 JSON and v2 protobuf; the Jaeger query API reads it back."""

import pytest

from clients.ingest_trace import check_trace, python_of, run_client, tags
from conftest import assert_receiver_counted, get_trace


def assert_counted(spoor):
    assert_receiver_counted(spoor, "zipkin", "http", 3)


@pytest.mark.parametrize(
    "kind,venv,path",
    [
        ("json", "otel-zipkin-json", "/api/v2/spans"),
        ("json-v1", "otel-zipkin-json", "/api/v1/spans"),
        ("proto", "otel-zipkin-proto", "/api/v2/spans"),
    ],
)
def test_otel_python_zipkin_exporters(spoor, kind, venv, path):
    service = f"otel-py-zipkin-{kind}"
    sent = run_client([python_of(venv), "otel_zipkin.py", kind, spoor.url("zipkin", path), service])
    trace = get_trace(spoor, sent["trace_id"])
    # The v1 encoder sends no core annotations, so no kinds; events are `{"name": {attrs}}`.
    root, _, charge = _check(trace, sent, service, kinds=kind != "json-v1")
    assert tags(charge)["otel.status_description"] == "card declined"
    # Resource attributes flattened into tags by the exporter are resource attributes again.
    ptags = {t["key"]: t["value"] for t in trace["processes"][root["processID"]]["tags"]}
    assert ptags["deployment.environment"] == "e2e"
    assert ptags["telemetry.sdk.language"] == "python"
    assert "telemetry.sdk.language" not in tags(root)
    assert_counted(spoor)


def _check(trace, sent, service, kinds):
    # The Python Zipkin exporters encode an event as the annotation `{"query.start": {...}}`.
    for s in trace["spans"]:
        for log in s["logs"]:
            for f in log["fields"]:
                if f["key"] == "event" and f["value"].startswith('{"query.start"'):
                    f["value"] = "query.start"
    return check_trace(trace, sent, service, kinds=kinds)


def test_otel_node_zipkin_exporter(spoor):
    service = "otel-node-zipkin"
    sent = run_client(["node", "node_otel.js", "zipkin", spoor.url("zipkin", "/api/v2/spans"), service])
    trace = get_trace(spoor, sent["trace_id"])
    _, _, charge = check_trace(trace, sent, service)
    assert tags(charge)["otel.status_description"] == "card declined"
    assert_counted(spoor)


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_zipkin_js(spoor, version):
    service = f"zipkin-js-{version}"
    sent = run_client(["node", "node_zipkin.js", version, spoor.url("zipkin"), service])
    trace = get_trace(spoor, sent["trace_id"])
    _, _, charge = check_trace(trace, sent, service)
    # zipkin-js reports an error as the tag error=<message>.
    assert tags(charge)["otel.status_description"] == "card declined"
    assert_counted(spoor)
