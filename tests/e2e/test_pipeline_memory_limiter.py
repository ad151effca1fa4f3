"""memory_limiter: above its limit (measured RSS) the pipeline refuses data as overloaded, so OTLP
HTTP answers 429 and OTLP gRPC RESOURCE_EXHAUSTED; the refusals are counted and spoor keeps
serving. Without --memory-limit the receivers' gate follows the memory_limiter and refuses first,
before reading the request."""

import grpc
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
      http:
processors:
  memory_limiter:
    # Far below what any process uses: every batch is refused.
    limit_mib: 2
    spike_limit_mib: 1
    check_interval: 100ms
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [spoor]
"""


def request():
    span = trace_pb2.Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s", start_time_unix_nano=1, end_time_unix_nano=2)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )


def test_over_the_limit_clients_are_told_to_retry(start_spoor, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    # --memory-limit off: only the processor refuses (the receivers' gate would refuse first).
    s = start_spoor("--config", str(cfg), "--storage", "memory", "--memory-limit", "off")
    r = requests.post(
        s.url("otlp-http", "/v1/traces"),
        data=request().SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=10,
    )
    assert r.status_code == 429, r.text
    with grpc.insecure_channel(s.addr("otlp-grpc")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        try:
            stub.Export(request(), timeout=10)
            raise AssertionError("expected RESOURCE_EXHAUSTED")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert "memory_limiter" in e.details()
    assert s.metric("spoor_processor_spans_refused_total", pipeline="traces", processor="memory_limiter") == 2
    assert s.metric("spoor_receiver_spans_refused_total", receiver="otlp", transport="http") == 1
    assert requests.get(s.url("health-http", "/"), timeout=5).status_code == 200


def test_without_the_flag_the_receivers_refuse_before_reading(start_spoor, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    assert "memory limit from the config's memory_limiter" in s.log_text()
    r = requests.post(
        s.url("otlp-http", "/v1/traces"),
        data=request().SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=10,
    )
    assert r.status_code == 429, r.text
    with grpc.insecure_channel(s.addr("otlp-grpc")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        try:
            stub.Export(request(), timeout=10)
            raise AssertionError("expected RESOURCE_EXHAUSTED")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert "memory limit" in e.details()
    # Refused by the gate: nothing reached the processor.
    assert s.metric("spoor_processor_spans_refused_total", pipeline="traces", processor="memory_limiter") == 0
    assert requests.get(s.url("health-http", "/"), timeout=5).status_code == 200
