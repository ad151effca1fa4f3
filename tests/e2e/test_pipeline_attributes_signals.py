"""`attributes` include/exclude in metrics and logs pipelines through the real binary: OTLP
metrics and logs posted to Spoor come out of its file exporter with the attribute inserted only
where `metric_names`, `log_bodies`, `log_severity_texts`, `resources` and `attributes` select;
a block of another signal's properties is refused by `spoor validate` with its path."""

import json
import subprocess

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import SPOOR_BIN, wait_for

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
processors:
  attributes/orders:
    actions: [{{key: team, value: sales, action: insert}}]
    include:
      match_type: regexp
      metric_names: ['^orders']
      resources: [{{key: env, value: '^prod'}}]
    exclude:
      match_type: strict
      attributes: [{{key: shop, value: test}}]
  attributes/disk:
    actions: [{{key: page, value: oncall, action: insert}}]
    include:
      match_type: strict
      log_bodies: [disk almost full]
      log_severity_texts: [WARN]
exporters:
  file:
    path: {out}
    flush_interval: 100ms
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [attributes/orders]
      exporters: [file]
    logs:
      receivers: [otlp]
      processors: [attributes/disk]
      exporters: [file]
"""


def kv(target, key, value):
    a = target.add()
    a.key, a.value.string_value = key, value


def metrics(env):
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    kv(rm.resource.attributes, "env", env)
    sm = rm.scope_metrics.add()
    for name, shops in (("orders_total", ["north", "test"]), ("latency", ["north"])):
        m = sm.metrics.add()
        m.name = name
        for shop in shops:
            p = m.gauge.data_points.add()
            p.as_int = 1
            kv(p.attributes, "shop", shop)
    return req


def logs():
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for body, severity in (("disk almost full", "WARN"), ("disk almost full", "INFO"), ("cpu hot", "WARN")):
        rec = sl.log_records.add()
        rec.body.string_value, rec.severity_text = body, severity
    return req


def post(spoor, path, message):
    r = requests.post(spoor.url("otlp-http", path), data=message.SerializeToString(),
                      headers={"content-type": "application/x-protobuf"}, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)


def attrs(items):
    return {a["key"]: a["value"]["stringValue"] for a in items}


def test_include_exclude_select_data_points_and_log_records(start_spoor, tmp_path):
    out = tmp_path / "out.jsonl"
    cfg = tmp_path / "attrs.yaml"
    cfg.write_text(CONFIG.format(out=out))
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    post(s, "/v1/metrics", metrics("production"))
    post(s, "/v1/metrics", metrics("staging"))
    post(s, "/v1/logs", logs())
    wait_for(lambda: len(out.read_text().splitlines()) == 3, what="3 lines in the file")
    lines = [json.loads(line) for line in out.read_text().splitlines()]

    def points(line):
        sm = line["resourceMetrics"][0]["scopeMetrics"][0]
        return [(m["name"], attrs(p["attributes"])) for m in sm["metrics"] for p in m["gauge"]["dataPoints"]]

    assert points(lines[0]) == [
        ("orders_total", {"shop": "north", "team": "sales"}),
        ("orders_total", {"shop": "test"}),
        ("latency", {"shop": "north"}),
    ], "only orders_* points of a prod resource, not the excluded shop"
    assert all("team" not in a for _, a in points(lines[1])), "staging does not match resources"
    records = lines[2]["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert [attrs(r.get("attributes", [])) for r in records] == [{"page": "oncall"}, {}, {}]


def test_a_block_of_another_signal_is_refused_with_its_path(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("""
receivers:
  otlp:
processors:
  attributes:
    actions: [{key: a, value: b, action: insert}]
    include: {match_type: strict, span_names: [checkout]}
exporters:
  debug:
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [attributes]
      exporters: [debug]
""")
    r = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1, r
    assert "service.pipelines.metrics.processors: the processor attributes cannot take metrics: it takes traces" \
        in r.stdout + r.stderr, r
