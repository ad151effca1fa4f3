"""Exponential histograms through the `prometheus` exporter, as the Collector's exporter serves
them: the real OTel Python SDK records an exponential histogram (its
ExponentialBucketHistogramAggregation view), Spoor exposes it as a Prometheus native histogram in
the protobuf format that a real Prometheus (with native histograms enabled) negotiates and
scrapes; `histogram_count`, `histogram_sum` and `histogram_quantile` read it back. A text scrape
shows what client_golang writes for a histogram without classic buckets."""

import subprocess

import requests
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from conftest import wait_for
from test_pipeline_metrics import PROMETHEUS, PROMTOOL, free_port, promtool

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
"""

PROTOBUF = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"


def start_native_prometheus(tmp_path, target):
    assert PROMETHEUS and PROMTOOL, "prometheus/promtool are not installed: run scripts/setup.sh"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: spoor-exporter\n    honor_labels: true\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=native-histograms"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(f"{base}/-/ready", timeout=2).status_code == 200, what="prometheus ready")
    return proc, base


def test_sdk_exponential_histogram_is_a_native_histogram_in_prometheus(start_spoor, tmp_path):
    cfg = tmp_path / "native.yaml"
    cfg.write_text(CONFIG)
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    exporter = OTLPMetricExporter(endpoint=s.url("otlp-http", "/v1/metrics"))
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "uploader", "service.instance.id": "u-1"}),
        metric_readers=[reader],
        views=[View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation())],
    )
    size = provider.get_meter("e2e-native").create_histogram("payload.size", unit="By")
    for v in range(1, 101):
        size.record(v, {"route": "/upload"})
    provider.shutdown()
    wait_for(lambda: "payload_size_bytes" in requests.get(s.url("prometheus", "/metrics"), timeout=5).text,
             what="the histogram exported")

    # Text: no classic buckets, only +Inf, _sum and _count.
    text = requests.get(s.url("prometheus", "/metrics"), timeout=5)
    assert text.headers["content-type"].startswith("text/plain"), text.headers
    lines = [l for l in text.text.splitlines() if l.startswith("payload_size_bytes")]
    assert any('le="+Inf"' in l and l.endswith(" 100") for l in lines), lines
    assert not any("le=" in l and 'le="+Inf"' not in l for l in lines), lines
    assert any(l.startswith("payload_size_bytes_sum") and l.endswith(" 5050") for l in lines), lines
    # Protobuf when asked for it.
    pb = requests.get(s.url("prometheus", "/metrics"), headers={"Accept": PROTOBUF}, timeout=5)
    assert pb.headers["content-type"].startswith("application/vnd.google.protobuf"), pb.headers
    assert b"payload_size_bytes" in pb.content

    proc, base = start_native_prometheus(tmp_path, s.addr("prometheus"))
    try:
        sel = 'payload_size_bytes{job="uploader",route="/upload"}'
        got = wait_for(lambda: promtool(base, f"histogram_count({sel})"), timeout=30, what="native histogram scraped")
        (labels, count), = got
        assert count == 100 and labels["instance"] == "u-1", got
        (_, total), = promtool(base, f"histogram_sum({sel})")
        assert total == 5050
        (_, median), = promtool(base, f"histogram_quantile(0.5, {sel})")
        assert 45 <= median <= 55, median
        (_, p90), = promtool(base, f"histogram_quantile(0.9, {sel})")
        assert 81 <= p90 <= 99, p90
        # A native histogram is one series: no classic _bucket series were ingested.
        assert promtool(base, 'payload_size_bytes_bucket{job="uploader"}') == []
    finally:
        proc.terminate()
        proc.wait(timeout=20)
