"""Every stored span records the probability it survived sampling (`sampling.probability`, shown
as a Jaeger tag): the head probability from the OTel SDK's `ot=th:` threshold (or Jaeger's sampler
tags) times the tail_sampling processor's probabilistic policies."""

import time

from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace._sampling_experimental import composable_traceid_ratio_based, composite_sampler
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from conftest import wait_for

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
processors:
  tail_sampling:
    decision_wait: 1s
    policies:
      - name: errors
        type: status_code
        status_code: {status_codes: [ERROR]}
      - name: half
        type: probabilistic
        probabilistic: {sampling_percentage: 50}
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [tail_sampling]
      exporters: [spoor]
"""


def send(endpoint, service, n, head, errors=False):
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=composite_sampler(composable_traceid_ratio_based(head)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=50))
    tracer = provider.get_tracer("e2e-survival")
    sampled = 0
    for _ in range(n):
        root = tracer.start_span("GET /item")
        sampled += root.get_span_context().trace_flags.sampled
        child = tracer.start_span("load", context=otel_trace.set_span_in_context(root))
        if errors:
            child.set_status(Status(StatusCode.ERROR, "boom"))
        child.end()
        root.end()
    provider.shutdown()
    return sampled


def probabilities(s, service):
    traces = s.query("/api/traces", service=service, limit=5000, lookback="1h").json()["data"]
    out = []
    for t in traces:
        for span in t["spans"]:
            tags = {tag["key"]: tag["value"] for tag in span["tags"]}
            out.append(tags.get("sampling.probability"))
    return traces, out


def test_a_10_percent_head_and_50_percent_tail_sampled_span_reads_0_05(start_spoor, tmp_path):
    cfg = tmp_path / "survival.yaml"
    cfg.write_text(CONFIG)
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    endpoint = s.url("otlp-http", "/v1/traces")
    head_sampled = send(endpoint, "normal", 2000, 0.1)
    error_sampled = send(endpoint, "failing", 300, 0.1, errors=True)
    assert 140 <= head_sampled <= 260, head_sampled
    wait_for(lambda: len(probabilities(s, "failing")[0]) == error_sampled, timeout=30, what="error traces stored")
    time.sleep(1.5)
    traces, ps = probabilities(s, "normal")
    # About half of the head-sampled traces survive the tail.
    assert 0.3 * head_sampled <= len(traces) <= 0.7 * head_sampled, (len(traces), head_sampled)
    assert ps and all(p is not None and abs(p - 0.05) < 1e-9 for p in ps), ps[:5]
    # Error traces are kept whatever their hash: only the head's 10 % remains.
    _, ps = probabilities(s, "failing")
    assert ps and all(p is not None and abs(p - 0.1) < 1e-9 for p in ps), ps[:5]
    print(f"\nsurvival: normal {len(traces)}/{head_sampled} head-sampled traces kept, sampling.probability 0.05; errors 0.1")


def test_spans_without_tail_sampling_record_the_head_probability(start_spoor):
    s = start_spoor("--storage", "memory")
    sampled = send(s.url("otlp-http", "/v1/traces"), "head-only", 300, 0.25)
    wait_for(lambda: len(probabilities(s, "head-only")[0]) == sampled, timeout=20, what="stored")
    _, ps = probabilities(s, "head-only")
    assert len(ps) == 2 * sampled and all(abs(p - 0.25) < 1e-9 for p in ps), ps[:5]
