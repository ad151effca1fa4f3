"""Roles per tenant (`read`, `write`, `admin`) from a basicauth `roles_file` (`user:tenant:role`),
with tenancy on: the tenant comes from the identity when no header names it; writing needs
`write`, the query APIs `read`, the admin port's delete `admin`; a missing role is 403 (gRPC
PERMISSION_DENIED) and counted."""

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import wait_for
from otel_clients import hex_trace_id, provider_for

USERS = {"alice": "pa", "bob": "pb", "root": "pr"}


@pytest.fixture
def roles(start_spoor, tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))
    roles_file = tmp_path / "roles"
    roles_file.write_text("# user:tenant:role\nalice:a:read,write\nbob:b:read\nroot:*:admin\n")
    cfg = tmp_path / "roles.yaml"
    cfg.write_text(f"""
extensions:
  basicauth/users:
    htpasswd:
      file: {htpasswd}
    roles_file: {roles_file}
receivers:
  otlp:
    protocols:
      grpc:
        auth:
          authenticator: basicauth/users
      http:
        auth:
          authenticator: basicauth/users
exporters:
  spoor:
service:
  extensions: [basicauth/users]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    return start_spoor("--config", str(cfg), "--storage", "memory", "--tenancy-enabled",
                       "--query-auth", "basicauth/users", "--admin-auth", "basicauth/users")


def send(s, user, headers=None):
    import base64
    auth = "Basic " + base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    exporter = HttpExporter(endpoint=s.url("otlp-http", "/v1/traces"), headers={"authorization": auth, **(headers or {})}, timeout=3)
    provider = provider_for(f"svc-{user}", exporter)
    with provider.get_tracer("e2e").start_as_current_span("op") as span:
        pass
    return exporter.export([span]), hex_trace_id(span)


def test_roles_per_tenant(roles):
    s = roles
    # alice writes to her tenant (from her identity, no header) and reads it back.
    result, tid = send(s, "alice")
    assert result == SpanExportResult.SUCCESS
    alice = ("alice", USERS["alice"])
    wait_for(lambda: requests.get(s.url("query-http", f"/api/traces/{tid}"), auth=alice, timeout=5).status_code == 200,
             what="alice's trace")
    # A header naming another tenant than the identity's is refused.
    r = requests.get(s.url("query-http", "/api/services"), auth=alice, headers={"x-scope-orgid": "b"}, timeout=5)
    assert r.status_code == 403
    # bob may read b but not write; his tenant holds nothing of alice's.
    assert send(s, "bob")[0] == SpanExportResult.FAILURE
    bob = ("bob", USERS["bob"])
    r = requests.get(s.url("query-http", "/api/services"), auth=bob, timeout=5)
    assert r.status_code == 200 and r.json()["data"] == []
    assert requests.get(s.url("query-http", f"/api/traces/{tid}"), auth=bob, timeout=5).status_code == 404
    # root holds admin everywhere, but not read.
    root = ("root", USERS["root"])
    assert requests.get(s.url("query-http", "/api/services"), auth=root, headers={"x-scope-orgid": "a"}, timeout=5).status_code == 403
    # Delete needs admin on the tenant.
    delete = s.url("admin-http", "/api/admin/delete")
    assert requests.post(delete, params={"service": "svc-alice"}, auth=alice, timeout=10).status_code == 403
    r = requests.post(delete, params={"service": "svc-alice"}, auth=root, headers={"x-scope-orgid": "a"}, timeout=30)
    assert r.status_code in (200, 501), r.text  # the memory store has no delete
    # /metrics on the admin port needs admin on every tenant.
    assert requests.get(s.url("admin-http", "/metrics"), auth=alice, timeout=5).status_code == 403
    metrics = requests.get(s.url("admin-http", "/metrics"), auth=root, timeout=5).text
    assert 'spoor_auth_refused_total{listener="query-http"}' in metrics
    assert 'reason="forbidden"' in metrics  # the receiver counted bob's write

    # gRPC query port: bob reads, root may not.
    with grpc.insecure_channel(s.addr("query-grpc")) as ch:
        import base64
        call = ch.unary_unary("/jaeger.api_v2.QueryService/GetServices",
                              request_serializer=lambda _: b"", response_deserializer=lambda b: b)
        call(None, timeout=5, metadata=[("authorization", "Basic " + base64.b64encode(b"bob:pb").decode())])
        with pytest.raises(grpc.RpcError) as e:
            call(None, timeout=5, metadata=[("authorization", "Basic " + base64.b64encode(b"root:pr").decode()),
                                            ("x-scope-orgid", "a")])
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
