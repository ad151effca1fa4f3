"""The `servicegraph` connector in a Collector config: a traces pipeline feeds it, a metrics
pipeline takes its output to the `prometheus` exporter, and a scrape shows the Collector's
`traces_service_graph_*` series for spans sent by the OpenTelemetry Python SDK."""

import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from conftest import wait_for
from otel_clients import send_checkout_trace

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
connectors:
  servicegraph:
    latency_histogram_buckets: [10ms, 100ms, 1s]
    dimensions: [deployment.environment]
    store:
      ttl: 1s
      max_items: 100
    virtual_node_peer_attributes: [db.system]
    metrics_flush_interval: 200ms
    store_expiration_loop: 200ms
exporters:
  spoor:
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor, servicegraph]
    metrics:
      receivers: [servicegraph]
      exporters: [prometheus]
"""


def samples(text):
    """{(name, frozenset of (label, value))}: value, whatever order the labels come in."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p) if labels else frozenset()
        out[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return out


def key(name, **labels):
    return (name, frozenset(labels.items()))


def test_servicegraph_connector_feeds_the_prometheus_exporter(start_spoor, tmp_path):
    cfg = tmp_path / "servicegraph.yaml"
    cfg.write_text(CONFIG)
    spoor = start_spoor("--config", str(cfg), "--storage", "memory")
    send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    total = "traces_service_graph_request_total"
    env = {"client_deployment_environment": "e2e"}
    pg = dict(client="checkout", server="postgresql", connection_type="database", **env)

    def scrape():
        text = requests.get(spoor.url("prometheus", "/metrics"), timeout=5).text
        found = samples(text)
        return found if key(total, **pg) in found else None

    series = wait_for(scrape, timeout=15, what="servicegraph flushed to the prometheus exporter")
    edge = dict(client="checkout", server="payments", **env)
    assert series[key(total, **edge)] == 1, series
    assert series[key("traces_service_graph_request_failed_total", **edge)] == 1
    assert series[key(total, **pg)] == 1
    # Buckets from latency_histogram_buckets; both sides of the paired edge are timed.
    server = "traces_service_graph_request_server_seconds"
    assert series[key(f"{server}_bucket", **edge, le="0.1")] == 1
    assert series[key(f"{server}_bucket", **edge, le="+Inf")] == 1
    assert key(f"{server}_bucket", **edge, le="0.5") not in series
    assert series[key("traces_service_graph_request_client_seconds_count", **edge)] == 1
    # The database has no server side: no server histogram for that edge.
    assert key(f"{server}_count", **pg) not in series
    # The root server span alone: an edge from the virtual node `user`.
    user = dict(client="user", server="checkout", connection_type="virtual_node", server_deployment_environment="e2e")
    assert series[key(total, **user)] == 1, sorted(k for k in series if k[0] == total)
