"""A chain over real sockets: spoor A (otlp receiver → batch → otlp exporter, debug, file) forwards
to spoor B (the store). A trace from the OTel Python SDK arrives in B; while B is down, A queues and
retries, and nothing is lost."""

import json
import signal
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

from conftest import get_trace, wait_for
from otel_clients import hex_trace_id, send_checkout_trace


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
    # file exporter wrote OTLP JSON lines.
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    ids = {s["traceId"] for req in lines for rs in req["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert hex_trace_id(first["root"]) in ids

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
