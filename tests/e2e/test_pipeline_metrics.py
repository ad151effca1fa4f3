"""OTLP metrics and logs through the pipeline: the real OTel Python SDK exports a counter and a
histogram (HTTP and gRPC) and a log record; the `prometheus` exporter serves them and a real
Prometheus scrapes it (`promtool query instant` reads the values back); bad bodies get 400 and
a counter; without a metrics pipeline metrics are acknowledged, counted and dropped."""

import json
import logging
import shutil
import socket
import subprocess

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from conftest import wait_for
from test_pipeline_config import FIXTURES

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

METRICS_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
      http:
processors:
  memory_limiter:
    limit_mib: 100000
  resource:
    attributes:
      - {key: environment, value: e2e, action: upsert}
  batch:
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
    const_labels: {cluster: test}
  debug:
    verbosity: normal
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, resource, batch]
      exporters: [prometheus, debug]
    logs:
      receivers: [otlp]
      processors: [resource]
      exporters: [debug]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def metrics_spoor(start_spoor, tmp_path):
    cfg = tmp_path / "metrics.yaml"
    cfg.write_text(METRICS_CONFIG)
    return start_spoor("--config", str(cfg), "--storage", "memory")


def start_prometheus(tmp_path, target):
    if not PROMETHEUS or not PROMTOOL:
        pytest.fail("prometheus/promtool are not installed: run scripts/setup.sh")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: spoor-exporter\n    honor_labels: true\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(f"{base}/-/ready", timeout=2).status_code == 200, what="prometheus ready")
    return proc, base


def promtool(base, expr):
    """`promtool query instant` as JSON: [(labels, value)]."""
    r = subprocess.run([PROMTOOL, "query", "instant", "-o", "json", base, expr],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [(s["metric"], float(s["value"][1])) for s in json.loads(r.stdout)]


def export_with_sdk(exporter, service, record):
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": service, "service.instance.id": "i-1"}),
                             metric_readers=[reader])
    meter = provider.get_meter("e2e-meter", "0.1")
    record(meter, provider)
    provider.shutdown()


def scrape(spoor):
    return requests.get(spoor.url("prometheus", "/metrics"), timeout=5).text


def test_sdk_counter_and_histogram_reach_a_real_prometheus(metrics_spoor, tmp_path):
    s = metrics_spoor

    def http_metrics(meter, provider):
        orders = meter.create_counter("orders", unit="{order}", description="Orders placed")
        latency = meter.create_histogram("http.server.duration", unit="ms")
        orders.add(3, {"region": "eu"})
        orders.add(4, {"region": "eu"})
        for v in (5, 50, 500):
            latency.record(v, {"http.route": "/checkout"})

    export_with_sdk(HttpMetricExporter(endpoint=s.url("otlp-http", "/v1/metrics")), "checkout", http_metrics)

    # gRPC, with delta temporality: two exports of 2 and 3 accumulate to 5, as the Collector does.
    def grpc_metrics(meter, provider):
        jobs = meter.create_counter("jobs")
        jobs.add(2)
        provider.force_flush()
        jobs.add(3)

    delta = GrpcMetricExporter(endpoint=s.addr("otlp-grpc"), insecure=True,
                               preferred_temporality={Counter: AggregationTemporality.DELTA,
                                                      Histogram: AggregationTemporality.DELTA})
    export_with_sdk(delta, "worker", grpc_metrics)

    text = scrape(s)
    assert '# TYPE orders_total counter' in text, text
    assert s.metric("spoor_receiver_metric_points_accepted_total", receiver="otlp", transport="http") >= 2
    assert s.metric("spoor_receiver_metric_points_accepted_total", receiver="otlp", transport="grpc") >= 2
    assert "orders (sum" in s.log_text(), "the debug exporter printed the metric"

    proc, base = start_prometheus(tmp_path, s.addr("prometheus"))
    try:
        got = wait_for(lambda: promtool(base, 'orders_total{job="checkout"}'), timeout=30, what="orders scraped")
        (labels, value), = got
        assert value == 7
        assert labels["region"] == "eu" and labels["instance"] == "i-1" and labels["cluster"] == "test"
        assert labels["otel_scope_name"] == "e2e-meter"
        buckets = promtool(base, 'http_server_duration_milliseconds_bucket{job="checkout"}')
        by_le = {float(lbl["le"]): v for lbl, v in buckets}
        assert by_le[5.0] == 1 and by_le[50.0] == 2 and by_le[500.0] == 3 and by_le[float("inf")] == 3, by_le
        (_, total), = promtool(base, 'http_server_duration_milliseconds_sum{job="checkout"}')
        assert total == 555
        (_, jobs), = promtool(base, 'jobs_total{job="worker"}')
        assert jobs == 5
        (info, _), = promtool(base, 'target_info{job="checkout"}')
        assert info["environment"] == "e2e", "the resource processor ran in the metrics pipeline"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_sdk_log_record_reaches_the_debug_exporter(metrics_spoor):
    s = metrics_spoor
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=s.url("otlp-http", "/v1/logs"))))
    logger = logging.getLogger("e2e-logs")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning("disk almost full")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    wait_for(lambda: "WARN disk almost full" in s.log_text() or "WARNING disk almost full" in s.log_text(),
             what="debug exporter printed the log record")
    assert s.metric("spoor_receiver_log_records_accepted_total", receiver="otlp", transport="http") == 1


def metrics_request(points):
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    m = rm.scope_metrics.add().metrics.add()
    m.name = "g"
    for i in range(points):
        p = m.gauge.data_points.add()
        p.as_int = i
    return req.SerializeToString()


def test_without_a_metrics_pipeline_metrics_are_acknowledged_counted_and_dropped(spoor):
    r = requests.post(spoor.url("otlp-http", "/v1/metrics"), data=metrics_request(3),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert r.status_code == 200, r.text
    r = requests.post(spoor.url("otlp-http", "/v1/logs"), data=b'{"resourceLogs": []}',
                      headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 200, r.text
    assert spoor.metric("spoor_receiver_metric_points_dropped_total", receiver="otlp", transport="http") == 3
    log = spoor.log_text()
    assert log.count("no metrics pipeline takes them") == 1, log
    assert "service.pipelines.metrics" in log
    r = requests.post(spoor.url("otlp-http", "/v1/metrics"), data=metrics_request(1),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert r.status_code == 200
    assert spoor.log_text().count("no metrics pipeline takes them") == 1, "warned once"


def test_malformed_metrics_and_logs_bodies_are_refused_and_counted(start_spoor):
    s = start_spoor("--storage", "memory", "--max-in-flight-spans", "100")
    url = s.url("otlp-http", "/v1/metrics")
    bad = requests.post(url, data=b"\x0a\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert bad.status_code == 400, bad.text
    bad_json = requests.post(url, data=b'{"resourceMetrics": 5}', headers={"Content-Type": "application/json"}, timeout=5)
    assert bad_json.status_code == 400, bad_json.text
    assert "invalid OTLP/JSON" in bad_json.json()["message"]
    bad_logs = requests.post(s.url("otlp-http", "/v1/logs"), data=b"\x0a\x05\x12", headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert bad_logs.status_code == 400
    too_many = requests.post(url, data=metrics_request(101), headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert too_many.status_code == 413, too_many.text
    wrong_type = requests.post(url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=5)
    assert wrong_type.status_code == 415
    assert s.metric("spoor_receiver_request_errors_total", receiver="otlp", transport="http", reason="decode") == 3
    assert s.metric("spoor_receiver_request_errors_total", receiver="otlp", transport="http", reason="too_many_spans") == 1

    channel = grpc.insecure_channel(s.addr("otlp-grpc"))
    export = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as e:
        export(b"\x0a\xff\xff\xff", timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        export(metrics_request(101), timeout=5)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert export(metrics_request(2), timeout=5) == b"", "a good request still passes"
    channel.close()
    assert s.metric("spoor_receiver_request_errors_total", receiver="otlp", transport="grpc", reason="decode") == 1
    ok = requests.post(url, data=metrics_request(2), headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert ok.status_code == 200, "the listener keeps serving"


def test_kubernetes_seed_serves_its_metrics_pipeline(start_spoor, tmp_path):
    # Unchanged but for the fixed ports of pprof and the prometheus exporter (the machine is
    # shared; the receivers' ports are overridden by flags).
    cfg = tmp_path / "kubernetes.yaml"
    text = (FIXTURES / "kubernetes.yaml").read_text()
    cfg.write_text(text.replace("0.0.0.0:1777", "127.0.0.1:0").replace('"0.0.0.0:8889"', '"127.0.0.1:0"'))
    s = start_spoor("--config", str(cfg), "--storage", "memory")

    def record(meter, provider):
        meter.create_counter("cart.adds").add(2, {"sku": "x1"})

    export_with_sdk(HttpMetricExporter(endpoint=s.url("otlp-http", "/v1/metrics")), "cart", record)
    text = scrape(s)
    assert 'cart_adds_total{instance="i-1",job="cart",otel_scope_name="e2e-meter",otel_scope_version="0.1",sku="x1"} 2' in text, text
    assert 'environment="production"' in text, "the seed's resource processor upserted environment"
