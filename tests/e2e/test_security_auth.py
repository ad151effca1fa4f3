"""Authentication extensions (`basicauth`, `bearertokenauth`) on receivers, the query API and UI
and the admin port, with real clients: the OTel Python SDK with headers, requests with basic and
bearer credentials, grpc with metadata. No or wrong credentials → 401 with WWW-Authenticate, or
UNAUTHENTICATED; refusals are counted and the server keeps serving."""

import base64

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import wait_for
from otel_clients import hex_trace_id, send_checkout_trace

# bcrypt (cost 4) of "s3cret", made with libc's crypt(3), not with the crate Spoor verifies with.
ALICE_BCRYPT = "$2b$04$ILNuICTzA49dj7Ia5IWZIOJVhQHGXknlRgl0rwqs.vGr4cWnZpQgi"
ALICE = ("alice", "s3cret")
INGEST_TOKEN = "t-ingest-6f1c"
UI_TOKEN = "t-ui-93ab"


def config(tmp_path):
    tokens = tmp_path / "ui-tokens"
    tokens.write_text(f"# query API tokens\n{UI_TOKEN}\n")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{ALICE_BCRYPT}\n")
    cfg = tmp_path / "auth.yaml"
    cfg.write_text(f"""
extensions:
  basicauth/ingest:
    htpasswd:
      file: {htpasswd}
  bearertokenauth/ingest:
    token: {INGEST_TOKEN}
  bearertokenauth/ui:
    filename: {tokens}
receivers:
  otlp:
    protocols:
      grpc:
        auth:
          authenticator: bearertokenauth/ingest
      http:
        auth:
          authenticator: basicauth/ingest
  zipkin:
    auth:
      authenticator: basicauth/ingest
exporters:
  spoor:
service:
  extensions: [basicauth/ingest, bearertokenauth/ingest, bearertokenauth/ui]
  pipelines:
    traces:
      receivers: [otlp, zipkin]
      exporters: [spoor]
""")
    return cfg


@pytest.fixture
def secured(start_spoor, tmp_path):
    return start_spoor("--config", str(config(tmp_path)), "--storage", "memory",
                       "--query-auth", "bearertokenauth/ui", "--admin-auth", "basicauth/ingest")


def ui_headers():
    return {"authorization": f"Bearer {UI_TOKEN}"}


def basic_header(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def metric(s, name, **labels):
    text = requests.get(s.url("admin-http", "/metrics"), auth=ALICE, timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == f"{name}{{{want}}}":
            return float(value)
    return 0.0


def trace_found(s, trace_id):
    r = requests.get(s.url("query-http", f"/api/traces/{trace_id}"), headers=ui_headers(), timeout=10)
    return r.status_code == 200 and len(r.json()["data"][0]["spans"]) == 4


def one_span():
    with TracerProvider().get_tracer("e2e").start_as_current_span("refused") as span:
        pass
    return span


def test_receivers_accept_the_sdk_with_credentials_and_refuse_it_without(secured):
    s = secured
    sent = send_checkout_trace(lambda: GrpcExporter(
        endpoint=s.addr("otlp-grpc"), insecure=True, headers={"authorization": f"Bearer {INGEST_TOKEN}"}))
    wait_for(lambda: trace_found(s, hex_trace_id(sent["root"])), what="trace over gRPC with a token")
    sent = send_checkout_trace(lambda: HttpExporter(
        endpoint=s.url("otlp-http", "/v1/traces"), headers={"authorization": basic_header(*ALICE)}))
    wait_for(lambda: trace_found(s, hex_trace_id(sent["root"])), what="trace over HTTP with basic auth")

    for headers in [None, {"authorization": "Bearer wrong"}, {"authorization": basic_header(*ALICE)}]:
        exporter = GrpcExporter(endpoint=s.addr("otlp-grpc"), insecure=True, headers=headers, timeout=3)
        assert exporter.export([one_span()]) == SpanExportResult.FAILURE, headers
    for headers in [None, {"authorization": basic_header("alice", "wrong")}, {"authorization": f"Bearer {INGEST_TOKEN}"}]:
        exporter = HttpExporter(endpoint=s.url("otlp-http", "/v1/traces"), headers=headers, timeout=3)
        assert exporter.export([one_span()]) == SpanExportResult.FAILURE, headers

    r = requests.post(s.url("otlp-http", "/v1/traces"), data=b"", headers={"content-type": "application/x-protobuf"}, timeout=5)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="spoor"'
    assert "s3cret" not in r.text and "htpasswd" not in r.text
    r = requests.post(s.url("zipkin", "/api/v2/spans"), json=[], timeout=5)
    assert r.status_code == 401
    r = requests.post(s.url("zipkin", "/api/v2/spans"), json=[], auth=ALICE, timeout=5)
    assert r.status_code in (200, 202)

    assert metric(s, "spoor_receiver_request_errors_total", receiver="otlp", transport="grpc", reason="unauthenticated") == 3
    assert metric(s, "spoor_receiver_request_errors_total", receiver="otlp", transport="http", reason="unauthenticated") >= 4
    assert metric(s, "spoor_receiver_request_errors_total", receiver="zipkin", transport="http", reason="unauthenticated") == 1


def test_query_api_ui_and_admin_require_credentials_and_health_stays_open(secured):
    s = secured
    for path in ["/api/services", "/api/traceql?q=%7B%7D", "/analytics/v1/dependencies", "/api/v3/services"]:
        r = requests.get(s.url("query-http", path), timeout=5)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer", path
        r = requests.get(s.url("query-http", path), headers={"authorization": "Bearer nope"}, timeout=5)
        assert r.status_code == 401, path
    # The UI's static files hold no data and load without credentials, so the UI can show its login form.
    for path in ["/", "/search"]:
        r = requests.get(s.url("query-http", path), timeout=5)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], path
    r = requests.get(s.url("query-http", "/api/services"), headers=ui_headers(), timeout=5)
    assert r.status_code == 200 and "data" in r.json()

    assert requests.get(s.url("admin-http", "/metrics"), timeout=5).status_code == 401
    assert requests.get(s.url("admin-http", "/metrics"), auth=("alice", "nope"), timeout=5).status_code == 401
    assert requests.get(s.url("health-http", "/"), timeout=5).status_code == 200
    assert metric(s, "spoor_auth_refused_total", listener="query-http") == 8
    assert metric(s, "spoor_auth_refused_total", listener="admin-http") == 2


def test_query_grpc_requires_a_token(secured):
    s = secured
    channel = grpc.insecure_channel(s.addr("query-grpc"))
    get_services = channel.unary_unary(
        "/jaeger.api_v2.QueryService/GetServices",
        request_serializer=lambda _: b"",
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as e:
        get_services(None, timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        get_services(None, timeout=5, metadata=[("authorization", "Bearer wrong")])
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    get_services(None, timeout=5, metadata=[("authorization", f"Bearer {UI_TOKEN}")])
    channel.close()
    assert metric(s, "spoor_auth_refused_total", listener="query-grpc") == 2


def test_an_unknown_or_disabled_authenticator_stops_startup(start_spoor, tmp_path):
    cfg = config(tmp_path)
    text = cfg.read_text()
    cfg.write_text(text.replace("authenticator: basicauth/ingest\n  zipkin", "authenticator: basicauth/nobody\n  zipkin"))
    with pytest.raises(RuntimeError) as e:
        start_spoor("--config", str(cfg), "--storage", "memory")
    assert "receivers.otlp.protocols.http.auth.authenticator" in str(e.value)
    assert "basicauth/nobody is not defined" in str(e.value)

    cfg.write_text(text.replace("extensions: [basicauth/ingest, bearertokenauth/ingest, bearertokenauth/ui]",
                                "extensions: [bearertokenauth/ingest, bearertokenauth/ui]"))
    with pytest.raises(RuntimeError) as e:
        start_spoor("--config", str(cfg), "--storage", "memory")
    assert "basicauth/ingest is not enabled" in str(e.value)

    with pytest.raises(RuntimeError) as e:
        start_spoor("--config", str(config(tmp_path)), "--storage", "memory", "--query-auth", "basicauth/ui")
    assert "--query-auth basicauth/ui: no such authenticator" in str(e.value)
