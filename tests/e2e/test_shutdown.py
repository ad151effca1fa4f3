"""SIGTERM and SIGINT stop accepting, drain and exit 0; port 0 and `off` work."""

import signal

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from conftest import get_trace
from otel_clients import hex_trace_id, send_checkout_trace


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_and_exits_zero(start_spoor, sig):
    spoor = start_spoor("--storage", "memory")
    sent = send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    get_trace(spoor, hex_trace_id(sent["root"]))
    assert spoor.stop(sig) == 0
    log = spoor.log_text()
    assert "shutting down" in log and "stopped" in log
    with pytest.raises(requests.ConnectionError):
        requests.get(spoor.url("query-http", "/api/services"), timeout=2)


def test_off_disables_listeners(start_spoor):
    spoor = start_spoor(
        "--storage", "memory", listeners={"otlp-http": "off", "health-http": "off", "query-grpc": "off"}
    )
    assert "otlp-http" not in spoor.addrs and "health-http" not in spoor.addrs
    assert "otlp-grpc" in spoor.addrs and "query-http" in spoor.addrs


def test_help_documents_every_listener():
    import subprocess

    from conftest import SPOOR_BIN

    out = subprocess.run([str(SPOOR_BIN), "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ["--otlp-grpc", "--otlp-http", "--query-http", "--query-grpc", "--admin-http", "--health-http", "--storage", "--data-dir"]:
        assert flag in out
    assert "SPOOR_OTLP_GRPC" in out
