"""Tenants across a forwarding tier: a front spoor with `--tenancy-enabled` forwards through its
`otlp`, `otlphttp` or `loadbalancing` exporter to a back spoor with tenancy on. The front turns
each span's tenant back into the tenant header (and does not forward the reserved
`spoor.tenant` attribute), so tenant a's trace is in a on the back, not in b."""

import time

import pytest
import requests

from conftest import wait_for

A = {"x-scope-orgid": "a"}
B = {"x-scope-orgid": "b"}

RECEIVERS = """
receivers:
  otlp:
    protocols:
      grpc:
      http:
"""
PIPELINE = """
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [{name}]
"""


def exporter_config(kind, back):
    if kind == "otlp":
        block = f"""
  otlp:
    endpoint: {back.addr("otlp-grpc")}
    tls:
      insecure: true
    timeout: 2s
"""
    elif kind == "otlphttp":
        block = f"""
  otlphttp:
    endpoint: {back.url("otlp-http")}
    timeout: 2s
"""
    else:
        block = f"""
  loadbalancing:
    protocol:
      otlp:
        tls:
          insecure: true
        timeout: 2s
    resolver:
      static:
        hostnames:
          - {back.addr("otlp-grpc")}
"""
    return RECEIVERS + "exporters:" + block + PIPELINE.format(name=kind)


def post(front, headers, service, trace_hex):
    now = time.time_ns()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_hex,
                                "spanId": f"{n + 1:016x}",
                                "parentSpanId": "" if n == 0 else f"{1:016x}",
                                "name": f"op-{n}",
                                "kind": 2,
                                "startTimeUnixNano": str(now),
                                "endTimeUnixNano": str(now + 1_000_000),
                            }
                            for n in range(2)
                        ]
                    }
                ],
            }
        ]
    }
    r = requests.post(front.url("otlp-http", "/v1/traces"), json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text


def trace(back, trace_hex, headers):
    return requests.get(back.url("query-http", f"/api/traces/{trace_hex}"), headers=headers, timeout=10)


@pytest.mark.parametrize("kind", ["otlp", "otlphttp", "loadbalancing"])
def test_the_front_tier_keeps_tenants_apart_on_the_back(start_spoor, tmp_path, kind):
    back = start_spoor("--storage", "memory", "--tenancy-enabled", "--tenants", "a,b")
    cfg = tmp_path / "front.yaml"
    cfg.write_text(exporter_config(kind, back))
    front = start_spoor("--config", str(cfg), "--storage", "memory", "--tenancy-enabled", "--tenants", "a,b")
    ta, tb = "a1" * 16, "b2" * 16
    post(front, A, "shop", ta)
    post(front, B, "billing", tb)
    wait_for(lambda: trace(back, ta, A).status_code == 200, what="a's trace on the back, in a")
    wait_for(lambda: trace(back, tb, B).status_code == 200, what="b's trace on the back, in b")
    assert trace(back, ta, B).status_code == 404
    assert trace(back, tb, A).status_code == 404
    services = lambda h: requests.get(back.url("query-http", "/api/services"), headers=h, timeout=10).json()["data"]  # noqa: E731
    assert services(A) == ["shop"] and services(B) == ["billing"]
    # The reserved attribute was turned into the header, not forwarded as a tag.
    spans = trace(back, ta, A).json()["data"][0]
    tags = {t["key"] for p in spans["processes"].values() for t in p.get("tags", [])}
    assert "spoor.tenant" not in tags, tags
    # Nothing reached the back without a tenant.
    assert back.metric("spoor_tenant_refused_total", reason="missing") == 0
