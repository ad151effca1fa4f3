"""/api/dependencies and GetDependencies answer from the service graph: client/server pairs sent in
different requests and cut into different blocks, virtual database nodes, time buckets, and a
restart."""

import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind

from conftest import wait_for
from clients.ingest_trace import run_client
from otel_clients import provider_for


def send_split_trace(spoor, between=lambda: time.sleep(0.5)):
    """frontend's client span in one request; after `between()` (within the graph's 2 s ttl) the
    orders service's server span under it and its postgresql client span, in another request."""
    exporter = lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True)
    frontend = provider_for("frontend", exporter())
    orders = provider_for("orders", exporter())
    with frontend.get_tracer("e2e").start_as_current_span("GET /orders", kind=SpanKind.CLIENT) as client:
        pass
    frontend.shutdown()
    between()
    ctx = trace.set_span_in_context(client)
    tracer = orders.get_tracer("e2e")
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER, context=ctx):
        with tracer.start_as_current_span(
            "SELECT orders", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}
        ):
            pass
    orders.shutdown()


def links(spoor, end_ms=None, lookback_ms=3_600_000):
    end_ms = end_ms or int(time.time() * 1000) + 1000
    r = spoor.query("/api/dependencies", endTs=end_ms, lookback=lookback_ms)
    assert r.status_code == 200, r.text
    return sorted((d["parent"], d["child"], d["callCount"]) for d in r.json()["data"])


EXPECTED = [("frontend", "orders", 1), ("orders", "postgresql", 1)]


def test_dependencies_pair_across_blocks_name_databases_and_survive_a_restart(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    flags = ("--data-dir", data, "--block-cut-interval", "500ms")
    first = start_spoor(*flags)
    sent_at = int(time.time() * 1000)
    written = "spoor_engine_blocks_written_total"
    assert first.metric(written) == 0
    # The client span is cut into a block of its own before the server side is sent.
    send_split_trace(first, lambda: wait_for(lambda: first.metric(written) == 1, timeout=1.8, interval=0.05))
    # The postgresql edge appears once its client span waited the graph's ttl (2 s) alone.
    wait_for(lambda: links(first) == EXPECTED, timeout=20, what=f"{EXPECTED}, got {links(first)}")
    wait_for(lambda: first.metric(written) >= 2, timeout=10, what="the second block")
    # Per-minute buckets: a window that ends two minutes before the spans has no edge.
    assert links(first, end_ms=sent_at - 120_000, lookback_ms=60_000) == []
    assert first.stop() == 0
    assert (tmp_path / "data" / "dependencies.v1.jsonl").exists()

    second = start_spoor(*flags)
    assert links(second) == EXPECTED
    assert links(second, end_ms=sent_at - 120_000, lookback_ms=60_000) == []


def test_memory_store_dependencies_include_the_virtual_database_node(start_spoor):
    spoor = start_spoor("--storage", "memory")
    send_split_trace(spoor)
    wait_for(lambda: links(spoor) == EXPECTED, timeout=20, what=f"{EXPECTED}, got {links(spoor)}")


def test_node_sdk_services_and_their_redis_appear_in_dependencies(start_spoor):
    """The OpenTelemetry JS SDK (Zipkin exporter) in two services: the client/server pair and the
    uninstrumented Redis it calls are edges of /api/dependencies."""
    spoor = start_spoor("--storage", "memory")
    run_client(["node", "node_servicegraph.js", spoor.url("zipkin", "/api/v2/spans")])
    want = [("api-node", "redis", 1), ("web-node", "api-node", 1)]
    got = wait_for(lambda: links(spoor) if links(spoor) == want else None, timeout=20, what="node edges")
    assert got == want
