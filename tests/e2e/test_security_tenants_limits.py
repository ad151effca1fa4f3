"""The per-tenant storage limit (`--tenant-max-bytes`) against the real binary with a disk
store: once a tenant's store holds the limit, its writes get 429 (OTLP HTTP) and
RESOURCE_EXHAUSTED (OTLP gRPC), counted per tenant; another tenant still writes; the server
keeps serving the full tenant's reads."""

import subprocess
import time

import grpc
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from conftest import SPOOR_BIN

A = {"x-scope-orgid": "a"}
B = {"x-scope-orgid": "b"}
LIMIT = 50_000


def body(first, n=40):
    now = time.time_ns()
    spans = [
        {
            "traceId": f"{first + i:032x}",
            "spanId": f"{i + 1:016x}",
            "name": "op",
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 1000),
            # Random-looking text so compression cannot hide it.
            "attributes": [{"key": "payload", "value": {"stringValue": f"{first + i:x}-" + "".join(f"{(first + i) * 7919 + k:08x}" for k in range(100))}}],
        }
        for i in range(n)
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }


def test_a_full_tenant_gets_429_and_resource_exhausted_while_others_write(start_spoor, tmp_path):
    s = start_spoor(
        "--storage", "disk", "--data-dir", str(tmp_path / "data"),
        "--tenancy-enabled", "--tenant-max-bytes", str(LIMIT),
    )
    url = s.url("otlp-http", "/v1/traces")
    # 40 spans of about 1 KB each per request: a few requests fill 50 kB.
    refused = None
    for i in range(20):
        r = requests.post(url, json=body(1 + 100 * i), headers=A, timeout=10)
        if r.status_code != 200:
            refused = r
            break
        time.sleep(1.1)  # the size is measured at most once a second
    assert refused is not None, "tenant a was never refused"
    assert refused.status_code == 429 and "retry-after" in refused.headers, refused.text
    assert "--tenant-max-bytes" in refused.text
    stored = s.metric("spoor_tenant_stored_bytes", tenant="a")
    print(f"tenant a refused at request {i + 1}, storing {stored:.0f} bytes (limit {LIMIT})")
    assert stored >= LIMIT
    # OTLP gRPC: RESOURCE_EXHAUSTED.
    request = json_format.ParseDict(body(5_000_000, n=1), trace_service_pb2.ExportTraceServiceRequest())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.trace_id, span.span_id = (5_000_000).to_bytes(16, "big"), (1).to_bytes(8, "big")
    with grpc.insecure_channel(s.addr("otlp-grpc")) as ch:
        stub = trace_service_pb2_grpc.TraceServiceStub(ch)
        try:
            stub.Export(request, metadata=list(A.items()), timeout=10)
            raise AssertionError("the gRPC export of a full tenant was accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
    assert s.metric("spoor_tenant_storage_full_total", tenant="a") >= 2
    # Tenant b has its own budget.
    assert requests.post(url, json=body(9_000_000), headers=B, timeout=10).status_code == 200
    assert s.metric("spoor_tenant_storage_full_total", tenant="b") == 0
    # a's data is still served.
    r = requests.get(s.url("query-http", "/api/traces"), params={"service": "svc", "limit": 5}, headers=A, timeout=10)
    assert r.status_code == 200 and len(r.json()["data"]) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tenant-max-bytes", "1GB"], "--tenant-max-bytes needs --tenancy-enabled"),
        (["--tenancy-enabled", "--tenant-max-bytes", "0"], "must be at least one byte"),
        (["--tenancy-enabled", "--tenant-max-bytes", "lots"], "invalid size"),
    ],
)
def test_bad_limits_are_a_clear_error(args, message):
    out = subprocess.run(
        [str(SPOOR_BIN), "--storage", "memory", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode != 0
    assert message in out.stderr, out.stderr


def test_a_memory_store_evicts_a_tenants_oldest_traces_at_its_limit(start_spoor):
    """With a memory store, --tenant-max-bytes bounds each tenant's store by its spans' encoded
    size: beyond it the tenant's oldest traces are evicted (writes keep being accepted, as the
    store's trace limit behaves), and another tenant keeps its own."""
    s = start_spoor("--storage", "memory", "--tenancy-enabled", "--tenant-max-bytes", str(LIMIT))
    url = s.url("otlp-http", "/v1/traces")
    assert requests.post(url, json=body(9_000_000), headers=B, timeout=10).status_code == 200
    # 40 spans of about 1 KB each per request: 10 requests are 8 times the limit.
    for i in range(10):
        r = requests.post(url, json=body(1 + 100 * i), headers=A, timeout=10)
        assert r.status_code == 200, r.text

    def trace(first, headers):
        r = requests.get(s.url("query-http", f"/api/traces/{first:032x}"), headers=headers, timeout=10)
        return r.status_code

    assert trace(1, A) == 404, "tenant a's oldest trace was kept beyond the limit"
    assert trace(1 + 100 * 9 + 39, A) == 200, "tenant a's newest trace was evicted"
    assert trace(9_000_000, B) == 200, "tenant b lost a trace to tenant a's limit"
    # The gauge is updated at each write: one more small write reports the store's size.
    assert requests.post(url, json=body(50_000_000, n=1), headers=A, timeout=10).status_code == 200
    stored = s.metric("spoor_tenant_stored_bytes", tenant="a")
    print(f"tenant a stores {stored:.0f} bytes under a {LIMIT}-byte limit")
    assert LIMIT / 2 < stored <= LIMIT
    assert s.metric("spoor_tenant_storage_full_total", tenant="a") == 0
