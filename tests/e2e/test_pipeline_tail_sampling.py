"""tail_sampling through the real binary with the repo's example config
(examples/tail-sampling.yaml: always errors, always slower than 1 s, 50 % of premium users, 10 %
of the rest), fed by the OpenTelemetry Python SDK over OTLP HTTP: every error and slow trace is
kept whole, the rest at the configured rates, and the counters say so."""

import time

from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from conftest import ROOT, wait_for

EXAMPLE = ROOT / "examples" / "tail-sampling.yaml"
COUNTS = {"errors": 100, "slow": 50, "normal": 850, "premium": 400}


def send(endpoint, service, n, kind, plan="free"):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        # The queue holds every span of the run: the SDK drops what does not fit (silently but for a
        # log line), and 850 traces x 3 spans is more than its default of 2,048.
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint),
            max_queue_size=max(n * 3, 256) + 64,
            max_export_batch_size=256,
            schedule_delay_millis=50,
        )
    )
    tracer = provider.get_tracer("e2e-tail-sampling")
    ids = []
    for i in range(n):
        now = time.time_ns()
        start = now - (1_500_000_000 if kind == "slow" else 20_000_000)
        root = tracer.start_span("GET /orders", start_time=start, attributes={"user.plan": plan})
        ids.append(format(root.get_span_context().trace_id, "032x"))
        ctx = otel_trace.set_span_in_context(root)
        for j in range(2):
            child = tracer.start_span(f"step {j}", context=ctx, start_time=start + 1_000_000)
            if kind == "errors" and j == 1:
                # The error is on a child span: the decision is on the whole trace.
                child.set_status(Status(StatusCode.ERROR, "boom"))
            child.end(end_time=start + 5_000_000)
        root.end(end_time=now)
    provider.shutdown()
    return ids


def stored_traces(s, service):
    r = s.query("/api/traces", service=service, limit=5000, lookback="1h")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_errors_and_slow_traces_are_kept_and_the_rest_sampled(start_spoor):
    s = start_spoor("--config", str(EXAMPLE), "--storage", "memory", env={"SPOOR_DECISION_WAIT": "1s"})
    endpoint = s.url("otlp-http", "/v1/traces")
    sent = {
        "errors": send(endpoint, "errors", COUNTS["errors"], "errors"),
        "slow": send(endpoint, "slow", COUNTS["slow"], "slow"),
        "normal": send(endpoint, "normal", COUNTS["normal"], "normal"),
        "premium": send(endpoint, "premium", COUNTS["premium"], "normal", plan="premium"),
    }
    total = sum(COUNTS.values())

    def decided():
        return s.metric("spoor_tail_sampling_decisions_total", pipeline="traces", processor="tail_sampling", decision="sampled") + s.metric(
            "spoor_tail_sampling_decisions_total", pipeline="traces", processor="tail_sampling", decision="not_sampled"
        )

    wait_for(lambda: decided() >= total, timeout=30, what="every trace decided")
    # The batch processor after the sampler hands the kept traces on within its timeout.
    time.sleep(1.0)
    kept = {svc: stored_traces(s, svc) for svc in COUNTS}
    for svc in ("errors", "slow"):
        assert len(kept[svc]) == COUNTS[svc], (svc, len(kept[svc]))
        assert {t["traceID"] for t in kept[svc]} == set(sent[svc])
        assert all(len(t["spans"]) == 3 for t in kept[svc]), "kept traces are whole"
    normal, premium = len(kept["normal"]), len(kept["premium"])
    # 10 % of 850: mean 85, sd 8.7; 50 % of 400: mean 200, sd 10; within 4 sd.
    assert 50 <= normal <= 120, normal
    assert 160 <= premium <= 240, premium
    print(
        f"\nkept: errors {len(kept['errors'])}/{COUNTS['errors']}, slow {len(kept['slow'])}/{COUNTS['slow']},"
        f" normal {normal}/{COUNTS['normal']} ({normal / COUNTS['normal']:.1%}),"
        f" premium {premium}/{COUNTS['premium']} ({premium / COUNTS['premium']:.1%})"
    )
    labels = {"pipeline": "traces", "processor": "tail_sampling"}
    assert s.metric("spoor_tail_sampling_traces_sampled_total", **labels, policy="errors") == COUNTS["errors"]
    assert s.metric("spoor_tail_sampling_traces_sampled_total", **labels, policy="slow") == COUNTS["slow"]
    dropped_spans = s.metric("spoor_processor_spans_dropped_total", **labels)
    assert dropped_spans == 3 * (total - sum(len(v) for v in kept.values()))
