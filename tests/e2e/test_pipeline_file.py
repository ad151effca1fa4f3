"""The `file` exporter through the real binary: traces, metrics and logs sent over OTLP are read
back from the files as the Collector writes them (JSON lines; length-delimited protobuf; zstd
frames), rotation keeps `max_backups` files under `max_megabytes`, `group_by` writes one file
per resource attribute value, and bad options are refused by `spoor validate` with their path."""

import json
import os
import shutil
import struct
import subprocess

import pytest
import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import SPOOR_BIN, wait_for

PROTOBUF = {"content-type": "application/x-protobuf"}


def trace_request(i, service="file-e2e", payload=""):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (("service.name", service), ("fileexporter.path_segment", service)):
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = k, v
    span = rs.scope_spans.add().spans.add()
    span.trace_id = (0xF11E0000 + i).to_bytes(16, "big")
    span.span_id = (0x5000 + i).to_bytes(8, "big")
    span.name = f"op-{i}"
    span.start_time_unix_nano = 1_700_000_000_000_000_000
    span.end_time_unix_nano = 1_700_000_000_001_000_000
    if payload:
        kv = span.attributes.add()
        kv.key, kv.value.string_value = "payload", payload
    return req


def metrics_request():
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "file-e2e"
    m = rm.scope_metrics.add().metrics.add()
    m.name = "orders"
    p = m.sum.data_points.add()
    p.as_int = 7
    p.time_unix_nano = 1_700_000_000_000_000_000
    m.sum.is_monotonic = True
    m.sum.aggregation_temporality = 2
    return req


def logs_request():
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    kv = rl.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "file-e2e"
    rec = rl.scope_logs.add().log_records.add()
    rec.severity_text = "WARN"
    rec.body.string_value = "disk almost full"
    return req


def post(spoor, path, message):
    r = requests.post(spoor.url("otlp-http", path), data=message.SerializeToString(), headers=PROTOBUF, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)


def frames(data):
    """The messages of a length-delimited file (4-byte big-endian length, then the message)."""
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        out.append(data[at + 4:at + 4 + n])
        at += 4 + n
    assert at == len(data), "the file ends inside a frame"
    return out


def unzstd(frame):
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=frame, capture_output=True, check=True).stdout


CONFIG = """
receivers:
  otlp:
    protocols:
      http:
exporters:
  file/json:
    path: {d}/all.jsonl
    flush_interval: 100ms
  file/proto:
    path: {d}/all.pb
    format: proto
    flush_interval: 100ms
  file/zstd:
    path: {d}/all.json.zst
    compression: zstd
    flush_interval: 100ms
  file/rotated:
    path: {d}/rot/spans.pb
    format: proto
    flush_interval: 100ms
    rotation:
      max_megabytes: 1
      max_backups: 2
  file/grouped:
    path: {d}/by/*/spans.jsonl
    flush_interval: 100ms
    group_by:
      enabled: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/json, file/proto, file/zstd, file/grouped]
    traces/big:
      receivers: [otlp]
      exporters: [file/rotated]
    metrics:
      receivers: [otlp]
      exporters: [file/json, file/proto, file/zstd]
    logs:
      receivers: [otlp]
      exporters: [file/json, file/proto, file/zstd]
"""


def test_traces_metrics_and_logs_read_back_in_every_format(start_spoor, tmp_path):
    d = tmp_path / "out"
    cfg = tmp_path / "file.yaml"
    cfg.write_text(CONFIG.format(d=d))
    s = start_spoor("--config", str(cfg), "--storage", "memory")

    post(s, "/v1/traces", trace_request(1, "shop"))
    post(s, "/v1/traces", trace_request(2, "cart"))
    post(s, "/v1/metrics", metrics_request())
    post(s, "/v1/logs", logs_request())

    # Flushed within flush_interval, while Spoor runs.
    wait_for(lambda: len((d / "all.jsonl").read_text().splitlines()) == 4, what="4 JSON lines")
    lines = [json.loads(line) for line in (d / "all.jsonl").read_text().splitlines()]
    kinds = sorted(next(iter(line)) for line in lines)
    assert kinds == ["resourceLogs", "resourceMetrics", "resourceSpans", "resourceSpans"], kinds
    spans = [line for line in lines if "resourceSpans" in line]
    assert {sp["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] for sp in spans} == {
        f"{0xF11E0000 + 1:032x}", f"{0xF11E0000 + 2:032x}"}, "ids in hex, as OTLP JSON has them"

    wait_for(lambda: len(frames((d / "all.pb").read_bytes())) == 4, what="4 protobuf frames")
    pb = frames((d / "all.pb").read_bytes())
    traces = [ExportTraceServiceRequest.FromString(f) for f in pb[:2]]
    assert sorted(t.resource_spans[0].scope_spans[0].spans[0].name for t in traces) == ["op-1", "op-2"]
    # The order of signals in one file follows arrival: traces, metrics, logs here.
    assert ExportMetricsServiceRequest.FromString(pb[2]) == metrics_request()
    assert ExportLogsServiceRequest.FromString(pb[3]) == logs_request()

    for service, i in (("shop", 1), ("cart", 2)):
        grouped = d / "by" / service / "spans.jsonl"
        wait_for(lambda: grouped.exists() and grouped.read_text(), what=f"group_by file for {service}")
        (line,) = grouped.read_text().splitlines()
        assert json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == f"op-{i}"

    if shutil.which("zstd"):
        wait_for(lambda: len(frames((d / "all.json.zst").read_bytes())) == 4, what="4 zstd frames")
        z = [json.loads(unzstd(f)) for f in frames((d / "all.json.zst").read_bytes())]
        assert z == lines, "zstd frames hold the same OTLP JSON as the plain file"
    else:
        pytest.skip("the zstd command is not installed; JSON and protobuf were checked")


def test_rotation_keeps_max_backups_under_max_megabytes(start_spoor, tmp_path):
    d = tmp_path / "out"
    cfg = tmp_path / "file.yaml"
    cfg.write_text(CONFIG.format(d=d))
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    # 40 batches of ~100 KiB: about 4 MiB through a 1 MiB file with 2 backups.
    for i in range(40):
        post(s, "/v1/traces", trace_request(i, payload=os.urandom(50_000).hex()))
    rot = d / "rot"

    def settled():
        names = sorted(p.name for p in rot.iterdir())
        return len(names) == 3 and names
    names = wait_for(settled, what="the current file and two backups")
    assert "spans.pb" in names
    backups = [n for n in names if n != "spans.pb"]
    for b in backups:
        assert b.startswith("spans-") and b.endswith(".pb"), b
        size = (rot / b).stat().st_size
        assert 512 * 1024 < size <= 1024 * 1024, (b, size)
        # Each backup is whole frames of trace requests.
        for f in frames((rot / b).read_bytes()):
            assert ExportTraceServiceRequest.FromString(f).resource_spans[0].scope_spans[0].spans[0].name.startswith("op-")
    assert s.stop() == 0
    # After a clean stop, the newest spans are in the current file: the last batch sent is there.
    last = [ExportTraceServiceRequest.FromString(f) for f in frames((rot / "spans.pb").read_bytes())]
    assert last[-1].resource_spans[0].scope_spans[0].spans[0].name == "op-39"


def test_bad_file_options_are_refused_with_their_paths(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("""
receivers:
  otlp:
exporters:
  file:
    path: out.json
    format: xml
    compression: gzip
    flush_interval: 0s
    rotation:
      max_megabytes: 0
    group_by:
      enabled: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
""")
    r = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1, r
    out = r.stdout + r.stderr
    for path in ("exporters.file.format", "exporters.file.compression", "exporters.file.flush_interval",
                 "exporters.file.rotation.max_megabytes", "exporters.file.path"):
        assert path in out, (path, out)
