"""Tenants end to end (`--tenancy-enabled`): the OTel Python SDK sends as tenants a and b (the
`x-scope-orgid` header) to the real binary with a disk store; every query API answers from the
request's tenant only (Jaeger HTTP and gRPC, api_v3 HTTP and gRPC, Tempo, Zipkin, search,
services, dependencies); a tenant outside `--tenants` or none at all is refused and counted;
deleting one tenant's spans leaves the other's; the per-tenant ingest rate gives 429."""

import subprocess
import time

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

from conftest import SPOOR_BIN, wait_for
from otel_clients import hex_trace_id, provider_for, send_checkout_trace
from test_query_grpc import pb  # noqa: F401  (the generated Jaeger gRPC stubs)

A = {"x-scope-orgid": "a"}
B = {"x-scope-orgid": "b"}


def send_billing_trace(make_exporter):
    """One client → server trace of billing → ledger, as tenant b sends it."""
    billing = provider_for("billing", make_exporter())
    ledger = provider_for("ledger", make_exporter())
    with billing.get_tracer("e2e").start_as_current_span("invoice", kind=SpanKind.CLIENT) as root:
        with ledger.get_tracer("e2e").start_as_current_span("book", kind=SpanKind.SERVER):
            pass
    billing.shutdown()
    ledger.shutdown()
    return root


def get(s, listener, path, headers=None, **params):
    return requests.get(s.url(listener, path), headers=headers or {}, params=params, timeout=10)


def found(s, trace_id, headers):
    r = get(s, "query-http", f"/api/traces/{trace_id}", headers)
    return r.status_code == 200 and len(r.json()["data"][0]["spans"]) >= 2


@pytest.fixture
def tenants(start_spoor, tmp_path):
    data = tmp_path / "data"
    s = start_spoor("--storage", "disk", "--data-dir", str(data), "--tenancy-enabled", "--tenants", "a,b,c")
    s.data = data
    a = send_checkout_trace(lambda: GrpcExporter(endpoint=s.addr("otlp-grpc"), insecure=True, headers=A))
    b = send_billing_trace(lambda: HttpExporter(endpoint=s.url("otlp-http", "/v1/traces"), headers=B))
    s.a, s.b = hex_trace_id(a["root"]), hex_trace_id(b)
    wait_for(lambda: found(s, s.a, A), what="tenant a's trace")
    wait_for(lambda: found(s, s.b, B), what="tenant b's trace")
    return s


def test_each_query_api_answers_from_the_request_tenant_only(tenants, pb):  # noqa: F811
    s = tenants
    # Jaeger HTTP and api_v3 HTTP.
    assert get(s, "query-http", f"/api/traces/{s.a}", B).status_code == 404
    assert get(s, "query-http", f"/api/traces/{s.b}", A).status_code == 404
    assert get(s, "query-http", f"/api/v3/traces/{s.a}", B).status_code == 404
    assert get(s, "query-http", f"/api/v3/traces/{s.a}", A).status_code == 200
    # Tempo, with its own header spelling.
    assert get(s, "tempo-http", f"/api/traces/{s.a}", {"X-Scope-OrgID": "b"}).status_code == 404
    assert get(s, "tempo-http", f"/api/traces/{s.a}", {"X-Scope-OrgID": "a"}).status_code == 200
    # Zipkin's reads on the Zipkin port.
    assert get(s, "zipkin", f"/api/v2/trace/{s.a}", B).status_code == 404
    assert get(s, "zipkin", f"/api/v2/trace/{s.a}", A).status_code == 200

    # Services, search and dependencies.
    assert sorted(get(s, "query-http", "/api/services", A).json()["data"]) == ["checkout", "payments"]
    assert sorted(get(s, "query-http", "/api/services", B).json()["data"]) == ["billing", "ledger"]
    assert get(s, "query-http", "/api/traces", B, service="checkout").json()["data"] == []
    assert len(get(s, "query-http", "/api/traces", A, service="checkout").json()["data"]) == 1
    end = int(time.time() * 1000) + 60_000
    deps = {
        t: {(d["parent"], d["child"]) for d in get(s, "query-http", "/api/dependencies", h, endTs=end, lookback=3_600_000).json()["data"]}
        for t, h in [("a", A), ("b", B)]
    }
    assert ("checkout", "payments") in deps["a"] and ("billing", "ledger") not in deps["a"]
    assert ("billing", "ledger") in deps["b"] and ("checkout", "payments") not in deps["b"]

    # Jaeger gRPC api_v2 and api_v3.
    with grpc.insecure_channel(s.addr("query-grpc")) as ch:
        v2 = pb.v2_grpc.QueryServiceStub(ch)
        v3 = pb.v3_grpc.QueryServiceStub(ch)
        tid = bytes.fromhex(s.a)
        chunks = list(v2.GetTrace(pb.v2.GetTraceRequest(trace_id=tid), metadata=list(A.items())))
        assert sum(len(c.spans) for c in chunks) == 4
        with pytest.raises(grpc.RpcError) as e:
            list(v2.GetTrace(pb.v2.GetTraceRequest(trace_id=tid), metadata=list(B.items())))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as e:
            list(v3.GetTrace(pb.v3.GetTraceRequest(trace_id=s.a), metadata=list(B.items())))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert list(v3.GetServices(pb.v3.GetServicesRequest(), metadata=list(B.items())).services) == ["billing", "ledger"]
        with pytest.raises(grpc.RpcError) as e:
            v3.GetServices(pb.v3.GetServicesRequest())
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            v3.GetServices(pb.v3.GetServicesRequest(), metadata=[("x-scope-orgid", "z")])
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # Each tenant has its own engine directory.
    assert (s.data / "tenants" / "a").is_dir() and (s.data / "tenants" / "b").is_dir()


def test_missing_or_unknown_tenants_are_refused_and_counted(tenants):
    s = tenants
    assert get(s, "query-http", f"/api/traces/{s.a}").status_code == 401
    assert get(s, "query-http", f"/api/traces/{s.a}", {"x-scope-orgid": "z"}).status_code == 403
    assert get(s, "query-http", "/api/services", {"x-scope-orgid": "../a"}).status_code == 400
    for headers in [None, {"x-scope-orgid": "z"}]:
        grpc_exporter = GrpcExporter(endpoint=s.addr("otlp-grpc"), insecure=True, headers=headers, timeout=3)
        http_exporter = HttpExporter(endpoint=s.url("otlp-http", "/v1/traces"), headers=headers, timeout=3)
        for exporter in [grpc_exporter, http_exporter]:
            provider = provider_for("intruder", exporter)
            with provider.get_tracer("e2e").start_as_current_span("x") as span:
                pass
            assert exporter.export([span]) == SpanExportResult.FAILURE, headers
    r = requests.post(s.url("zipkin", "/api/v2/spans"), json=[], timeout=5)
    assert r.status_code == 401
    assert s.metric("spoor_tenant_refused_total", reason="missing") >= 4
    assert s.metric("spoor_tenant_refused_total", reason="not_allowed") >= 3
    assert s.metric("spoor_tenant_refused_total", reason="invalid") >= 1
    assert s.metric("spoor_receiver_request_errors_total", receiver="otlp", transport="grpc", reason="not_allowed") >= 1
    # No tenant "z" store was created, and the server still serves.
    assert not (s.data / "tenants" / "z").exists()
    assert found(s, s.a, A)


def test_deleting_one_tenant_leaves_the_other(tenants):
    s = tenants
    r = requests.post(s.url("admin-http", "/api/admin/delete"), params={"service": "checkout"}, headers=A, timeout=30)
    assert r.status_code == 200, r.text
    assert requests.post(s.url("admin-http", "/api/admin/delete"), params={"service": "x"}, timeout=10).status_code == 401
    wait_for(lambda: get(s, "query-http", "/api/traces", A, service="checkout").json()["data"] == [], what="a's checkout spans deleted")
    assert found(s, s.b, B)

    # Offline: `spoor tool delete --tenant b` touches b's store only.
    assert s.stop() == 0
    out = subprocess.run(
        [str(SPOOR_BIN), "tool", "delete", "--data-dir", str(s.data), "--tenant", "b", "--service", "billing"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "deleted 1 spans" in out.stdout, out.stdout


def test_tenant_ingest_rate_limit_gives_429(start_spoor):
    s = start_spoor("--storage", "memory", "--tenancy-enabled", "--tenant-ingest-rate", "10")

    def body(n, trace):
        spans = [{"traceId": f"{trace:032x}", "spanId": f"{i + 1:016x}", "name": "op",
                  "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000)}
                 for i in range(n)]
        return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                                   "scopeSpans": [{"spans": spans}]}]}

    url = s.url("otlp-http", "/v1/traces")
    assert requests.post(url, json=body(8, 1), headers=A, timeout=5).status_code == 200
    r = requests.post(url, json=body(8, 2), headers=A, timeout=5)
    assert r.status_code == 429 and "retry-after" in r.headers, r.text
    # Another tenant has its own budget.
    assert requests.post(url, json=body(8, 3), headers=B, timeout=5).status_code == 200
    assert s.metric("spoor_tenant_refused_total", reason="rate_limited") == 1
    time.sleep(1.0)
    assert requests.post(url, json=body(8, 4), headers=A, timeout=5).status_code == 200
