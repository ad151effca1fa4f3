"""The `loadbalancing` exporter end to end: a front spoor routes OTLP to three backend spoors over a
consistent-hash ring. By trace id, every trace is whole on exactly one backend even when its spans
arrive in different requests; by service, every service is on exactly one backend. Per-backend
counters add up; the DNS resolver works; a bad config is refused with its path."""

import random
import subprocess
import time

import requests

from conftest import SPOOR_BIN, wait_for

TRACES = 60
SPANS_PER_TRACE = 4
SERVICES = [f"svc-{i}" for i in range(12)]


def lb_config(resolver, routing_key="traceID"):
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  loadbalancing:
    routing_key: {routing_key}
    protocol:
      otlp:
        tls:
          insecure: true
        timeout: 2s
        retry_on_failure:
          initial_interval: 100ms
          max_interval: 500ms
    resolver:
{resolver}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
"""


def static_resolver(backends):
    hosts = "".join(f"\n          - {b.addr('otlp-grpc')}" for b in backends)
    return f"      static:\n        hostnames:{hosts}"


def span_json(trace_hex, n):
    start = time.time_ns() - 60_000_000_000
    return {
        "traceId": trace_hex,
        "spanId": f"{n:016x}",
        "name": f"op-{n % 5}",
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 100_000_000),
    }


def post(front, service, spans):
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "lb-test"}, "spans": spans}],
            }
        ]
    }
    r = requests.post(front.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text


def backends_and_front(start_spoor, tmp_path, routing_key="traceID"):
    backends = [start_spoor("--storage", "memory") for _ in range(3)]
    cfg = tmp_path / "front.yaml"
    cfg.write_text(lb_config(static_resolver(backends), routing_key))
    front = start_spoor("--config", str(cfg), "--storage", "memory")
    return backends, front


def sent(front, backend):
    return front.metric("spoor_exporter_spans_sent_total", exporter=f"loadbalancing/{backend.addr('otlp-grpc')}")


def test_every_trace_is_whole_on_exactly_one_backend(start_spoor, tmp_path):
    backends, front = backends_and_front(start_spoor, tmp_path)
    rng = random.Random(7)
    traces = [f"{rng.getrandbits(128):032x}" for _ in range(TRACES)]
    # Each request carries one span of every trace: the spans of a trace arrive in 4 requests,
    # from 2 services, interleaved with other traces.
    for round_ in range(SPANS_PER_TRACE):
        spans = [span_json(t, i * 100 + round_ + 1) for i, t in enumerate(traces)]
        post(front, SERVICES[round_ % 2], spans)

    total = TRACES * SPANS_PER_TRACE
    wait_for(lambda: sum(sent(front, b) for b in backends) == total, what="every span sent")
    per_backend = [sent(front, b) for b in backends]
    assert all(n > 0 for n in per_backend), per_backend

    owners = {}
    for t in traces:
        found = []
        for i, b in enumerate(backends):
            r = b.query(f"/api/traces/{t}")
            if r.status_code == 200:
                found.append((i, len(r.json()["data"][0]["spans"])))
            else:
                assert r.status_code == 404, r.text
        assert len(found) == 1, f"trace {t} on backends {found}"
        assert found[0][1] == SPANS_PER_TRACE, f"trace {t} has {found[0][1]} spans"
        owners[t] = found[0][0]
    assert len(set(owners.values())) == 3, "60 traces use all three backends"
    # The per-backend counters agree with where the traces are.
    for i, b in enumerate(backends):
        assert per_backend[i] == SPANS_PER_TRACE * sum(1 for o in owners.values() if o == i)


def test_routing_by_service_keeps_each_service_on_one_backend(start_spoor, tmp_path):
    backends, front = backends_and_front(start_spoor, tmp_path, routing_key="service")
    rng = random.Random(11)
    for round_ in range(3):
        for s in SERVICES:
            post(front, s, [span_json(f"{rng.getrandbits(128):032x}", round_ + 1)])
    total = 3 * len(SERVICES)
    wait_for(lambda: sum(sent(front, b) for b in backends) == total, what="every span sent")
    where = {}
    for i, b in enumerate(backends):
        for s in b.query("/api/services").json()["data"] or []:
            assert s not in where, f"{s} on backends {where[s]} and {i}"
            where[s] = i
            traces = b.query("/api/traces", service=s, limit=100).json()["data"]
            assert len(traces) == 3, f"{s} has {len(traces)} traces on backend {i}"
    assert set(where) == set(SERVICES)
    assert len(set(where.values())) >= 2


def test_dns_resolver_finds_the_backend(start_spoor, tmp_path):
    backend = start_spoor("--storage", "memory")
    host, port = backend.addr("otlp-grpc").rsplit(":", 1)
    cfg = tmp_path / "front.yaml"
    resolver = f"      dns:\n        hostname: {host}\n        port: {port}\n        interval: 1s"
    cfg.write_text(lb_config(resolver))
    front = start_spoor("--config", str(cfg), "--storage", "memory")
    trace = f"{random.Random(3).getrandbits(128):032x}"

    def accepted():
        body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "dns"}}]},
                                   "scopeSpans": [{"spans": [span_json(trace, 1)]}]}]}
        return requests.post(front.url("otlp-http", "/v1/traces"), json=body, timeout=10).status_code == 200

    wait_for(accepted, what="the DNS resolver's first answer")
    wait_for(lambda: backend.query(f"/api/traces/{trace}").status_code == 200, what="the trace on the backend")
    assert front.metric("spoor_exporter_spans_sent_total", exporter=f"loadbalancing/{host}:{port}") >= 1


def test_bad_loadbalancing_config_is_refused_with_its_path(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(lb_config("      static:\n        hostnames: []", routing_key="resource"))
    out = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "exporters.loadbalancing" in out.stdout + out.stderr, out
    cfg.write_text(lb_config("      static:\n        hostnames: []"))
    out = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "resolver.static.hostnames" in out.stdout + out.stderr, out
