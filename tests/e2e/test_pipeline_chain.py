"""A chain over real sockets: spoor A (otlp receiver → batch → otlp exporter, debug, file) forwards
to spoor B (the store). A trace from the OTel Python SDK arrives in B; while B is down, A queues and
retries, and nothing is lost."""

import json
import signal
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

from conftest import get_trace, wait_for
from otel_clients import hex_trace_id, provider_for, send_checkout_trace


def config_a(b_addr, out_file):
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
processors:
  batch:
    timeout: 100ms
    send_batch_size: 512
exporters:
  otlp:
    endpoint: {b_addr}
    tls:
      insecure: true
    timeout: 2s
    sending_queue:
      queue_size: 100
      num_consumers: 2
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 1s
      max_elapsed_time: 60s
  debug:
    verbosity: detailed
  file:
    path: {out_file}
extensions:
  health_check:
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp, debug, file]
"""


def full_trace(spoor, trace_id, spans=4):
    """The trace once all its spans arrived (batches from A may land a moment apart)."""

    def fetch():
        trace = get_trace(spoor, trace_id, timeout=30)
        return trace if len(trace["spans"]) == spans else None

    return wait_for(fetch, timeout=30, what=f"{spans} spans of {trace_id}")


def send(a):
    return send_checkout_trace(lambda: GrpcExporter(endpoint=a.addr("otlp-grpc"), insecure=True))


def test_chain_forwards_queues_and_retries(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    b_addr = b.addr("otlp-grpc")
    out = tmp_path / "a-spans.jsonl"
    cfg = tmp_path / "a.yaml"
    cfg.write_text(config_a(b_addr, out))
    a = start_spoor("--config", str(cfg), "--storage", "memory")

    first = send(a)
    full_trace(b, hex_trace_id(first["root"]))

    # debug exporter (detailed) printed the spans with their attributes.
    log = wait_for(lambda: "Name           : SELECT orders" in a.log_text() and a.log_text(), what="debug output")
    assert "-> db.system: postgresql" in log
    # file exporter wrote OTLP JSON lines (buffered: they reach the file within flush_interval, 1 s).
    def file_trace_ids():
        lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        return {s["traceId"] for req in lines for rs in req["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}

    wait_for(lambda: hex_trace_id(first["root"]) in file_trace_ids(), timeout=10, what="the trace in the file exporter's file")

    # B goes away: A still acknowledges (the queue holds the batch) and retries.
    b.stop(sig=signal.SIGKILL)
    second = send(a)
    wait_for(lambda: a.metric("spoor_exporter_retries_total", exporter="otlp") >= 2, what="retries")
    assert a.metric("spoor_exporter_queue_capacity", exporter="otlp") == 100
    assert a.metric("spoor_exporter_queue_size", exporter="otlp") >= 0
    time.sleep(2)
    # B is back on the same address: the queued trace arrives, nothing lost.
    b2 = start_spoor("--storage", "memory", listeners={"otlp-grpc": b_addr})
    full_trace(b2, hex_trace_id(second["root"]))
    wait_for(lambda: a.metric("spoor_exporter_spans_sent_total", exporter="otlp") == 8, what="8 spans sent")
    assert a.metric("spoor_exporter_spans_send_failed_total", exporter="otlp") == 0
    assert a.metric("spoor_exporter_queue_size", exporter="otlp") == 0
    assert a.metric("spoor_processor_spans_accepted_total", pipeline="traces", processor="batch") == 8
    # Shutdown drains the (empty) queue and exits cleanly.
    started = time.time()
    assert a.stop() == 0
    assert time.time() - started < 10


def test_otlphttp_exporter_forwards_with_headers_and_env_substitution(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    cfg = tmp_path / "a.yaml"
    cfg.write_text(
        """
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  otlphttp:
    endpoint: http://${env:B_HTTP}
    headers:
      x-tenant: e2e
    retry_on_failure:
      initial_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
"""
    )
    a = start_spoor("--config", str(cfg), "--storage", "memory", env={"B_HTTP": b.addr("otlp-http")})
    sent = send(a)
    full_trace(b, hex_trace_id(sent["root"]))
    assert b.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="http") == 4
    assert a.metric("spoor_exporter_spans_sent_total", exporter="otlphttp") == 4


def processing_config(b_addr, processors, names):
    """A: otlp → `names` (defined in the `processors` YAML block) → otlp exporter to B."""
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
processors:
{processors}
exporters:
  otlp:
    endpoint: {b_addr}
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{", ".join(names)}]
      exporters: [otlp]
"""


def start_a(start_spoor, tmp_path, b, processors, names, file="a.yaml"):
    cfg = tmp_path / file
    cfg.write_text(processing_config(b.addr("otlp-grpc"), processors, names))
    return start_spoor("--config", str(cfg), "--storage", "memory")


def send_spans(a, service, spans):
    """Sends one root span per (name, attributes) through the OTel SDK; returns their trace ids."""
    provider = provider_for(service, GrpcExporter(endpoint=a.addr("otlp-grpc"), insecure=True))
    tracer = provider.get_tracer("e2e-chain")
    ids = []
    for name, attributes in spans:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            ids.append(hex_trace_id(span))
    provider.shutdown()
    return ids


def tags_of(span):
    return {t["key"]: t["value"] for t in span["tags"]}


def test_chain_inserts_redacts_and_extracts(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    a = start_a(
        start_spoor,
        tmp_path,
        b,
        r"""
  attributes:
    actions:
      - { key: deployment.region, value: eu-west-1, action: insert }
  redaction:
    allow_all_keys: true
    builtin_patterns: [card_number, email]
  span:
    name:
      to_attributes:
        rules: ['^/api/v1/users/(?P<user_id>\d+)$']
  batch:
    timeout: 100ms
""",
        ["attributes", "redaction", "span", "batch"],
    )
    (trace_id,) = send_spans(
        a,
        "users",
        [
            (
                "/api/v1/users/123",
                {"payment.card": "4111 1111 1111 1111", "user.email": "jane.doe@example.com", "http.method": "GET"},
            )
        ],
    )
    (got,) = get_trace(b, trace_id, timeout=30)["spans"]
    tags = tags_of(got)
    assert tags["deployment.region"] == "eu-west-1"
    assert tags["user_id"] == "123"
    assert got["operationName"] == "/api/v1/users/{user_id}"
    assert "4111" not in tags["payment.card"] and "****" in tags["payment.card"], tags
    assert "@" not in tags["user.email"] and "****" in tags["user.email"], tags
    assert tags["http.method"] == "GET"
    for p in ["attributes", "redaction", "span", "batch"]:
        assert a.metric("spoor_processor_spans_accepted_total", pipeline="traces", processor=p) == 1, p


def test_filter_drops_health_spans_and_transform_renames(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    a = start_a(
        start_spoor,
        tmp_path,
        b,
        """
  filter/health:
    traces:
      span:
        - attributes["http.route"] == "/health"
        - IsMatch(name, "^/ready")
  transform:
    trace_statements:
      - context: span
        statements:
          - set(name, "renamed by transform") where name == "old name"
""",
        ["filter/health", "transform"],
    )
    health, ready, kept, renamed = send_spans(
        a,
        "web",
        [
            ("GET /health", {"http.route": "/health"}),
            ("/ready", {}),
            ("GET /api", {"http.route": "/api"}),
            ("old name", {}),
        ],
    )
    assert tags_of(get_trace(b, kept, timeout=30)["spans"][0])["http.route"] == "/api"
    assert get_trace(b, renamed, timeout=30)["spans"][0]["operationName"] == "renamed by transform"
    # Both kept spans arrived, sent after the dropped ones in the same order: the dropped ones
    # were dropped, not delayed.
    assert a.metric("spoor_processor_spans_dropped_total", pipeline="traces", processor="filter/health") == 2
    for t in (health, ready):
        assert b.query(f"/api/traces/{t}").status_code == 404
    assert b.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="grpc") == 2


def test_probabilistic_sampler_at_0_and_100_percent(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    none = start_a(
        start_spoor, tmp_path, b, "  probabilistic_sampler:\n    sampling_percentage: 0\n", ["probabilistic_sampler"], "none.yaml"
    )
    every = start_a(
        start_spoor, tmp_path, b, "  probabilistic_sampler:\n    sampling_percentage: 100\n", ["probabilistic_sampler"], "all.yaml"
    )
    spans = [(f"op {i}", {"i": i}) for i in range(20)]
    dropped = send_spans(none, "sampled-none", spans)
    kept = send_spans(every, "sampled-all", spans)
    for t in kept:
        get_trace(b, t, timeout=30)
    wait_for(
        lambda: none.metric("spoor_processor_spans_dropped_total", pipeline="traces", processor="probabilistic_sampler") == 20,
        what="20 spans dropped at 0 %",
    )
    assert every.metric("spoor_processor_spans_dropped_total", pipeline="traces", processor="probabilistic_sampler") == 0
    assert none.metric("spoor_exporter_spans_sent_total", exporter="otlp") == 0
    for t in dropped:
        assert b.query(f"/api/traces/{t}").status_code == 404
    assert b.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="grpc") == 20
