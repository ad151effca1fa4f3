"""A real Prometheus scrapes Spoor's /metrics; promtool accepts the exposition."""

import shutil
import socket
import subprocess
import time

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from conftest import get_trace, wait_for
from otel_clients import hex_trace_id, send_checkout_trace

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus(spoor, tmp_path):
    if not PROMETHEUS:
        pytest.fail("prometheus is not installed: run scripts/setup.sh")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: spoor\n"
        f"    static_configs:\n      - targets: ['{spoor.addr('admin-http')}']\n"
    )
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/-/ready", timeout=2).status_code == 200, what="prometheus ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def query(base, promql):
    r = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def test_prometheus_scrapes_receiver_and_store_metrics(spoor, prometheus):
    sent = send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    get_trace(spoor, hex_trace_id(sent["root"]))
    target_up = wait_for(lambda: query(prometheus, 'up{job="spoor"} == 1'), timeout=30, what="target up")
    assert target_up
    accepted = wait_for(
        lambda: query(prometheus, 'spoor_receiver_spans_accepted_total{receiver="otlp",transport="grpc"} == 4'),
        timeout=30,
        what="accepted spans scraped",
    )
    assert accepted[0]["metric"]["job"] == "spoor"
    assert wait_for(lambda: query(prometheus, "spoor_store_spans == 4"), timeout=30, what="store gauge")


def test_promtool_accepts_the_exposition(spoor):
    if not PROMTOOL:
        pytest.fail("promtool is not installed: run scripts/setup.sh")
    send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    time.sleep(0.2)
    text = requests.get(spoor.url("admin-http", "/metrics"), timeout=5).text
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert "error" not in (result.stdout + result.stderr).lower(), result.stderr
    # promtool 2.42 lints the classic text format, where a counter's HELP names `x_total`; in
    # OpenMetrics (what /metrics serves) the HELP names the family `x`. Accept exactly that
    # finding, checked against the exposition; anything else fails.
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    for finding in filter(None, (result.stdout + result.stderr).splitlines()):
        name, _, problem = finding.partition(" ")
        assert problem == "no help text", finding
        assert name.endswith("_total") and name[: -len("_total")] in helps, finding
