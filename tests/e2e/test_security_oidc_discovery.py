"""The `oidc` extension with keys from the network: a small local provider (a Python HTTPS server
with a test CA, serving `/.well-known/openid-configuration` and a JWKS) stands in for the identity
provider. Spoor finds the keys through `issuer_url` discovery or `jwks_url`, follows a key rotation
(a token with a new `kid`) without restart, fetches at most once per `jwks_refresh_interval`, and
stops start-up with a clear error when the provider cannot be reached or is not trusted.
Also: bearer tokens from a token file with a tenant and roles (`TOKEN TENANT ROLE[,ROLE]`)."""

import json
import shutil
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import wait_for
from otel_clients import hex_trace_id, provider_for
from test_security_oidc import rsa_key, sign
from test_security_tls import SERVER_SAN, make_ca, make_leaf


class Provider:
    """An OIDC provider's discovery document and JWKS over HTTPS; `keys` can change at any time."""

    def __init__(self, d):
        make_ca(d, "idp-ca")
        make_leaf(d, "idp-ca", "idp", "serverAuth", SERVER_SAN)
        self.keys = []
        self.fetches = {"discovery": 0, "jwks": 0}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/realms/ops/.well-known/openid-configuration":
                    provider.fetches["discovery"] += 1
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/keys",
                            "authorization_endpoint": f"{provider.issuer}/auth",
                            "token_endpoint": f"{provider.issuer}/token"}
                elif self.path == "/realms/ops/keys":
                    provider.fetches["jwks"] += 1
                    body = {"keys": list(provider.keys)}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(d / "idp.pem"), str(d / "idp.key"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.server.server_address[1]}/realms/ops"
        self.ca = d / "idp-ca.pem"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path / "idp"
    d.mkdir()
    p = Provider(d)
    yield p
    p.stop()


def config(d, provider, extra="", tls=None):
    tls = tls if tls is not None else f"issuer_ca_path: {provider.ca}"
    cfg = d / "oidc.yaml"
    cfg.write_text(f"""
extensions:
  oidc:
    issuer_url: {provider.issuer}
    audience: spoor-ui
    {tls}
{extra}
exporters:
  spoor:
receivers:
  otlp:
    protocols:
      http:
service:
  extensions: [oidc]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    return cfg


def claims(issuer, **over):
    now = int(time.time())
    c = {"iss": issuer, "aud": "spoor-ui", "sub": "u-1", "iat": now, "exp": now + 300}
    c.update(over)
    return c


def get(s, token, path="/api/services"):
    return requests.get(s.url("query-http", path), headers={"authorization": f"Bearer {token}"}, timeout=10)


def test_keys_come_from_discovery_and_a_rotation_is_followed_without_restart(start_spoor, provider, tmp_path):
    k1, k2 = rsa_key(tmp_path, "k1"), rsa_key(tmp_path, "k2")
    provider.keys = [k1]
    cfg = config(tmp_path, provider, extra="    jwks_refresh_interval: 1s")
    s = start_spoor("--config", str(cfg), "--storage", "memory", "--query-auth", "oidc")
    assert provider.fetches == {"discovery": 1, "jwks": 1}
    assert get(s, sign(tmp_path, "k1", claims(provider.issuer))).status_code == 200

    # The provider rotates its key: a token signed with the new one is accepted after Spoor
    # fetches the JWKS again on seeing the unknown kid.
    provider.keys = [k2]
    time.sleep(1.1)
    new = sign(tmp_path, "k2", claims(provider.issuer))
    assert get(s, new).status_code == 200
    assert provider.fetches["jwks"] == 2
    # The old key is gone from the JWKS, and with it its tokens.
    assert get(s, sign(tmp_path, "k1", claims(provider.issuer))).status_code == 401

    # A burst of tokens with unknown kids fetches at most once per jwks_refresh_interval.
    before = provider.fetches["jwks"]
    for i in range(20):
        assert get(s, sign(tmp_path, "k2", claims(provider.issuer), kid=f"nope-{i}")).status_code == 401
    assert provider.fetches["jwks"] - before <= 1
    # The server kept serving.
    assert get(s, new).status_code == 200

    # The UI learns how to log in without credentials.
    r = requests.get(s.url("query-http", "/api/auth/config"), timeout=5)
    assert r.status_code == 200
    assert r.json() == {"type": "oidc", "issuer": provider.issuer, "client_id": "spoor-ui",
                        "scope": "openid profile email"}
    # The UI's pages may fetch from the issuer (discovery, token endpoint), and only from there.
    page = requests.get(s.url("query-http", "/search"), timeout=5)
    origin = provider.issuer.rsplit("/realms", 1)[0]
    assert f"connect-src 'self' {origin};" in page.headers["content-security-policy"]


def test_jwks_url_over_https_needs_a_trusted_certificate(start_spoor, provider, tmp_path):
    provider.keys = [rsa_key(tmp_path, "k1")]
    jwks = f"    jwks_url: {provider.issuer}/keys"
    cfg = config(tmp_path, provider, extra=jwks)
    s = start_spoor("--config", str(cfg), "--storage", "memory", "--query-auth", "oidc")
    assert provider.fetches == {"discovery": 0, "jwks": 1}
    assert get(s, sign(tmp_path, "k1", claims(provider.issuer))).status_code == 200
    # The issuer's answers unsigned by a trusted CA: start-up stops and says why.
    untrusted = tmp_path / "untrusted"
    untrusted.mkdir()
    with pytest.raises(RuntimeError) as e:
        start_spoor("--config", str(config(untrusted, provider, extra=jwks, tls="tls: {}")),
                    "--storage", "memory", "--query-auth", "oidc")
    assert "jwks_url" in str(e.value) and "signing keys" in str(e.value), str(e.value)
    # The Collector's way to skip verification works, as on the exporters.
    skip = tmp_path / "skip"
    skip.mkdir()
    s = start_spoor("--config", str(config(skip, provider, extra=jwks, tls="tls: {insecure_skip_verify: true}")),
                    "--storage", "memory", "--query-auth", "oidc")
    assert get(s, sign(tmp_path, "k1", claims(provider.issuer))).status_code == 200


def test_an_unreachable_or_mismatched_issuer_stops_startup(start_spoor, provider, tmp_path):
    provider.keys = [rsa_key(tmp_path, "k1")]
    gone = tmp_path / "gone"
    gone.mkdir()
    cfg = gone / "oidc.yaml"
    cfg.write_text(config(gone, provider).read_text().replace(provider.issuer, "https://127.0.0.1:9/realms/ops"))
    with pytest.raises(RuntimeError) as e:
        start_spoor("--config", str(cfg), "--storage", "memory", "--query-auth", "oidc")
    assert "issuer_url" in str(e.value) and "openid-configuration" in str(e.value), str(e.value)


TOKENS = {"reader-a": "a read", "writer-a": "a write", "ops": "* read,write,admin"}


@pytest.fixture
def bearer_roles(start_spoor, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# TOKEN TENANT ROLE[,ROLE]\n" + "".join(f"{t} {r}\n" for t, r in TOKENS.items()) + "bare\n")
    cfg = tmp_path / "bearer.yaml"
    cfg.write_text(f"""
extensions:
  bearertokenauth/teams:
    filename: {tokens}
receivers:
  otlp:
    protocols:
      http:
        auth:
          authenticator: bearertokenauth/teams
exporters:
  spoor:
service:
  extensions: [bearertokenauth/teams]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    return start_spoor("--config", str(cfg), "--storage", "memory", "--tenancy-enabled",
                       "--query-auth", "bearertokenauth/teams", "--admin-auth", "bearertokenauth/teams")


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def test_bearer_tokens_hold_the_roles_of_their_file_line(bearer_roles):
    s = bearer_roles

    def send(token):
        exporter = OTLPSpanExporter(endpoint=s.url("otlp-http", "/v1/traces"), headers=bearer(token), timeout=3)
        with provider_for("svc-tokens", exporter).get_tracer("e2e").start_as_current_span("op") as span:
            pass
        return exporter.export([span]), hex_trace_id(span)

    # write → receivers; the tenant comes from the token's line.
    result, tid = send("writer-a")
    assert result == SpanExportResult.SUCCESS
    assert send("reader-a")[0] == SpanExportResult.FAILURE
    assert send("bare")[0] == SpanExportResult.FAILURE
    # read → query APIs.
    wait_for(lambda: requests.get(s.url("query-http", f"/api/traces/{tid}"), headers=bearer("reader-a"),
                                  timeout=5).status_code == 200, what="the trace, read with reader-a")
    assert requests.get(s.url("query-http", "/api/services"), headers=bearer("writer-a"), timeout=5).status_code == 403
    # A token without roles in a file that names roles holds none (with its tenant named: without
    # one, tenancy refuses first, 401).
    assert requests.get(s.url("query-http", "/api/services"), headers={**bearer("bare"), "x-scope-orgid": "a"},
                        timeout=5).status_code == 403
    assert requests.get(s.url("query-http", "/api/services"), headers=bearer("nope"), timeout=5).status_code == 401
    # admin → /api/admin/*.
    delete = s.url("admin-http", "/api/admin/delete")
    assert requests.post(delete, params={"service": "svc-tokens"}, headers=bearer("reader-a"), timeout=10).status_code == 403
    r = requests.post(delete, params={"service": "svc-tokens"}, headers={**bearer("ops"), "x-scope-orgid": "a"}, timeout=30)
    assert r.status_code in (200, 501), r.text  # the memory store has no delete
    metrics = requests.get(s.url("admin-http", "/metrics"), headers=bearer("ops"), timeout=5).text
    assert 'spoor_auth_refused_total{listener="query-http"}' in metrics
