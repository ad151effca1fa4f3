"""The default disk store keeps traces across restarts, clean or after kill -9."""

import signal

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from conftest import get_trace
from otel_clients import hex_trace_id, send_checkout_trace


def send(spoor):
    sent = send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    return hex_trace_id(sent["root"])


def test_traces_survive_a_clean_restart(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    first = start_spoor("--data-dir", data)
    trace_id = send(first)
    before = get_trace(first, trace_id)
    assert first.stop(signal.SIGTERM) == 0
    second = start_spoor("--data-dir", data)
    after = get_trace(second, trace_id, timeout=5)
    assert sorted(s["spanID"] for s in after["spans"]) == sorted(s["spanID"] for s in before["spans"])
    assert second.query("/api/services").json()["data"] == ["checkout", "payments"]
    found = second.query("/api/traces", service="payments", tag="error:true").json()["data"]
    assert [t["traceID"] for t in found] == [trace_id]


def test_acknowledged_spans_survive_kill_9(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    first = start_spoor("--data-dir", data)
    ids = [send(first) for _ in range(5)]
    first.stop(signal.SIGKILL)
    second = start_spoor("--data-dir", data)
    for trace_id in ids:
        assert len(get_trace(second, trace_id, timeout=5)["spans"]) == 4
