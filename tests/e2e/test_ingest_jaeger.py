"""Real Jaeger clients (legacy jaeger-client, OTel Jaeger exporters for Python and Node) send a
3-span trace over each Jaeger protocol; the Jaeger query API reads it back."""

import pytest

from clients.ingest_trace import check_trace, python_of, run_client, tags
from conftest import assert_receiver_counted, get_trace


def assert_counted(spoor, transport):
    assert_receiver_counted(spoor, "jaeger", transport, 3)


def test_legacy_jaeger_client_compact_udp(spoor):
    port = spoor.port("jaeger-thrift-compact")
    sent = run_client([python_of("jaeger-client"), "jaeger_legacy.py", "127.0.0.1", str(port), "legacy-py"])
    trace = get_trace(spoor, sent["trace_id"])
    root, _, charge = check_trace(trace, sent, "legacy-py")
    # Jaeger's sampler tags stay span tags; the client's process tags become resource attributes.
    assert tags(root)["sampler.type"] == "const"
    process = trace["processes"][root["processID"]]
    ptags = {t["key"]: t["value"] for t in process["tags"]}
    assert ptags["deployment.environment"] == "e2e"
    assert "host.name" in ptags and "ip" in ptags
    assert any(f["value"] == "card declined" for log in charge["logs"] for f in log["fields"])
    assert_counted(spoor, "udp-compact")


@pytest.mark.parametrize("transport", ["udp", "http"])
def test_otel_python_jaeger_exporter(spoor, transport):
    if transport == "udp":
        args = ["udp", "127.0.0.1", str(spoor.port("jaeger-thrift-compact"))]
    else:
        args = ["http", spoor.url("jaeger-thrift-http", "/api/traces")]
    service = f"otel-py-jaeger-{transport}"
    sent = run_client([python_of("otel-jaeger"), "otel_jaeger.py", *args, service])
    trace = get_trace(spoor, sent["trace_id"])
    # This exporter writes an event's name as the log field `message`.
    _, _, charge = check_trace(trace, sent, service, event_key="message")
    charge_tags = tags(charge)
    assert charge_tags["otel.status_code"] == "ERROR"
    assert charge_tags["otel.status_description"] == "card declined"
    assert_counted(spoor, "udp-compact" if transport == "udp" else "http")


@pytest.mark.parametrize("transport", ["udp", "http"])
def test_otel_node_jaeger_exporter(spoor, transport):
    if transport == "udp":
        args = ["jaeger-udp", "127.0.0.1", str(spoor.port("jaeger-thrift-binary"))]
    else:
        args = ["jaeger-http", spoor.url("jaeger-thrift-http", "/api/traces")]
    service = f"otel-node-jaeger-{transport}"
    sent = run_client(["node", "node_otel.js", *args, service])
    trace = get_trace(spoor, sent["trace_id"])
    _, _, charge = check_trace(trace, sent, service)
    assert tags(charge)["otel.status_description"] == "card declined"
    assert_counted(spoor, "udp-binary" if transport == "udp" else "http")
