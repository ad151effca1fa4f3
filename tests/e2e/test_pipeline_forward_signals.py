"""`otlp` and `otlphttp` exporters forward metrics and logs: Spoor A (otlp receiver → otlp over
gRPC for metrics, otlphttp for logs) → Spoor B (metrics into its prometheus exporter, logs into
a file exporter). The OTel Python SDK sends to A; B serves the counter and writes the log record;
A's `/metrics` counts what each exporter sent, and what it gave up on while B was gone."""

import json
import logging
import signal

import requests
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from conftest import wait_for

B_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
  file:
    path: {logs}
    flush_interval: 100ms
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
    logs:
      receivers: [otlp]
      exporters: [file]
"""

A_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
      http:
processors:
  attributes:
    actions: [{{key: forwarded_by, value: spoor-a, action: insert}}]
exporters:
  otlp:
    endpoint: {b_grpc}
    tls:
      insecure: true
  otlphttp:
    endpoint: http://{b_http}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 200ms
      max_elapsed_time: 1s
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [attributes]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [attributes]
      exporters: [otlphttp, otlp]
"""


def send_counter(a, value):
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=a.url("otlp-http", "/v1/metrics")),
                                           export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "forward-e2e"}), metric_readers=[reader])
    provider.get_meter("e2e").create_counter("forwarded_orders").add(value, {"shop": "north"})
    provider.shutdown()


def send_log(exporter, message):
    provider = LoggerProvider(resource=Resource.create({"service.name": "forward-e2e"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"forward-e2e-{id(provider)}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))
    logger.warning(message)
    provider.shutdown()


def log_bodies(path):
    bodies = []
    for line in path.read_text().splitlines():
        for rl in json.loads(line)["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for rec in sl["logRecords"]:
                    attrs = {kv["key"]: kv["value"].get("stringValue") for kv in rec.get("attributes", [])}
                    bodies.append((rec["body"]["stringValue"], attrs.get("forwarded_by")))
    return bodies


def test_metrics_and_logs_are_forwarded_over_grpc_and_http(start_spoor, tmp_path):
    logs = tmp_path / "b-logs.jsonl"
    b_cfg = tmp_path / "b.yaml"
    b_cfg.write_text(B_CONFIG.format(logs=logs))
    b = start_spoor("--config", str(b_cfg), "--storage", "memory")
    a_cfg = tmp_path / "a.yaml"
    a_cfg.write_text(A_CONFIG.format(b_grpc=b.addr("otlp-grpc"), b_http=b.addr("otlp-http")))
    a = start_spoor("--config", str(a_cfg), "--storage", "memory")

    send_counter(a, 7)
    wait_for(lambda: 'forwarded_orders_total{' in requests.get(b.url("prometheus", "/metrics"), timeout=5).text,
             what="the forwarded counter on B's prometheus exporter")
    text = requests.get(b.url("prometheus", "/metrics"), timeout=5).text
    (line,) = [l for l in text.splitlines() if l.startswith("forwarded_orders_total{")]
    assert 'shop="north"' in line and 'forwarded_by="spoor-a"' in line, line
    assert line.rsplit(" ", 1)[1] == "7", line

    send_log(OTLPLogExporter(endpoint=a.url("otlp-http", "/v1/logs")), "disk almost full")
    send_log(GrpcLogExporter(endpoint=a.addr("otlp-grpc"), insecure=True), "queue backing up")
    # Each record reaches B twice: through otlphttp and through otlp.
    wait_for(lambda: len(log_bodies(logs)) == 4, what="4 forwarded log records in B's file")
    assert sorted(log_bodies(logs)) == sorted([("disk almost full", "spoor-a")] * 2
                                              + [("queue backing up", "spoor-a")] * 2)

    wait_for(lambda: a.metric("spoor_exporter_metric_points_sent_total", exporter="otlp") == 1,
             what="A counts the metric point sent")
    wait_for(lambda: a.metric("spoor_exporter_log_records_sent_total", exporter="otlphttp") == 2,
             what="A counts the log records sent over HTTP")
    assert a.metric("spoor_exporter_log_records_sent_total", exporter="otlp") == 2
    # B counts what its in-line exporters took.
    assert b.metric("spoor_exporter_metric_points_sent_total", exporter="prometheus") == 1
    assert b.metric("spoor_exporter_log_records_sent_total", exporter="file") == 4

    # B gone: otlphttp retries for 1 s, then gives up and counts the record as failed.
    b.stop(sig=signal.SIGKILL)
    send_log(OTLPLogExporter(endpoint=a.url("otlp-http", "/v1/logs")), "nobody listens")
    wait_for(lambda: a.metric("spoor_exporter_log_records_send_failed_total", exporter="otlphttp") == 1,
             what="the record given up on after retries")
    assert a.metric("spoor_exporter_retries_total", exporter="otlphttp") >= 1
    assert requests.get(a.url("admin-http", "/metrics"), timeout=5).status_code == 200, "A keeps serving"
