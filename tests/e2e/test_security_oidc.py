"""The `oidc` extension: JWTs signed by a test key (made with openssl in the test) are checked
against a JWKS file on the query API and an OTLP receiver; expired, foreign-audience,
foreign-issuer, tampered and foreign-key tokens are refused with 401."""

import base64
import json
import shutil
import subprocess
import time

import pytest
import requests

ISSUER = "https://login.example.test/realms/ops"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_key(d, name):
    subprocess.run(["openssl", "genrsa", "-out", str(d / f"{name}.pem"), "2048"], check=True, capture_output=True)
    out = subprocess.run(["openssl", "rsa", "-in", str(d / f"{name}.pem"), "-noout", "-modulus"],
                         check=True, capture_output=True, text=True).stdout
    n = bytes.fromhex(out.strip().split("=", 1)[1])
    return {"kty": "RSA", "kid": name, "use": "sig", "alg": "RS256", "n": b64url(n), "e": "AQAB"}


def sign(d, key, claims, kid=None):
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid or key}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(d / f"{key}.pem")],
                         input=signing_input, check=True, capture_output=True).stdout
    return f"{header}.{payload}.{b64url(sig)}"


@pytest.fixture
def oidc(start_spoor, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    jwks = {"keys": [rsa_key(tmp_path, "idp-1")]}
    rsa_key(tmp_path, "attacker")
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    cfg = tmp_path / "oidc.yaml"
    cfg.write_text(f"""
extensions:
  oidc:
    issuer_url: {ISSUER}
    audience: spoor
    username_claim: email
    jwks_file: {tmp_path / "jwks.json"}
receivers:
  otlp:
    protocols:
      http:
        auth:
          authenticator: oidc
exporters:
  spoor:
service:
  extensions: [oidc]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    s = start_spoor("--config", str(cfg), "--storage", "memory", "--query-auth", "oidc")
    return s, tmp_path


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": ["spoor", "other"], "sub": "u-1", "email": "ops@example.test",
         "iat": now, "exp": now + 300}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def get(s, token):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return requests.get(s.url("query-http", "/api/services"), headers=headers, timeout=5)


def test_a_valid_jwt_passes_and_every_kind_of_bad_one_is_refused(oidc):
    s, d = oidc
    good = sign(d, "idp-1", claims())
    assert get(s, good).status_code == 200
    r = requests.post(s.url("otlp-http", "/v1/traces"), data=b"",
                      headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {good}"}, timeout=5)
    assert r.status_code == 200
    assert get(s, sign(d, "idp-1", claims(aud="spoor"))).status_code == 200

    now = int(time.time())
    header, payload, sig = good.split(".")
    tampered_claims = claims(email="admin@example.test")
    tampered = f"{header}.{b64url(json.dumps(tampered_claims).encode())}.{sig}"
    bad = {
        "none": None,
        "expired": sign(d, "idp-1", claims(exp=now - 3600)),
        "no exp": sign(d, "idp-1", claims(exp=None)),
        "not yet valid": sign(d, "idp-1", claims(nbf=now + 3600)),
        "other audience": sign(d, "idp-1", claims(aud="grafana")),
        "other issuer": sign(d, "idp-1", claims(iss="https://evil.test")),
        "foreign key": sign(d, "attacker", claims(), kid="idp-1"),
        "tampered": tampered,
        "no username claim": sign(d, "idp-1", claims(email=None)),
        "garbage": "a.b.c",
    }
    for what, token in bad.items():
        r = get(s, token)
        assert r.status_code == 401, what
        assert r.headers["www-authenticate"].startswith("Bearer"), what
    r = requests.post(s.url("otlp-http", "/v1/traces"), data=b"",
                      headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {bad['expired']}"}, timeout=5)
    assert r.status_code == 401
    assert get(s, good).status_code == 200
