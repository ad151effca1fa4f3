"""Roles from an OIDC `groups_claim` through the `oidc` extension's `group_roles`: JWTs signed by
a test key (a local JWKS file) whose groups map to `read` open the query API and the admin port
only as far as the groups' roles go; a token without a mapped group is refused with 403 and
counted.
The JWKS file is read again when it changes: after a key rotation written to the file, tokens of
the new key pass and those of the old key are refused, without a restart."""

import json
import shutil
import time

import pytest
import requests

from conftest import wait_for
from test_security_oidc import ISSUER, rsa_key, sign


@pytest.fixture
def oidc_groups(start_spoor, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [rsa_key(tmp_path, "idp-1")]}))
    cfg = tmp_path / "oidc.yaml"
    cfg.write_text(f"""
extensions:
  oidc:
    issuer_url: {ISSUER}
    audience: spoor
    jwks_file: {tmp_path / "jwks.json"}
    reload_interval: 1s
    groups_claim: groups
    group_roles:
      spoor-readers: [read]
      spoor-ops: [read, admin]
      spoor-writers: [write]
exporters:
  spoor:
receivers:
  otlp:
    protocols:
      http:
        auth:
          authenticator: oidc
service:
  extensions: [oidc]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    s = start_spoor("--config", str(cfg), "--storage", "memory",
                    "--query-auth", "oidc", "--admin-auth", "oidc")
    return s, tmp_path


def token(d, groups, key="idp-1"):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "spoor", "sub": "u-1", "iat": now, "exp": now + 300}
    if groups is not None:
        claims["groups"] = groups
    return sign(d, key, claims)


def get(s, port, path, tok):
    return requests.get(s.url(port, path), headers={"authorization": f"Bearer {tok}"}, timeout=5)


def refused(s, d, listener):
    text = requests.get(s.url("admin-http", "/metrics"),
                        headers={"authorization": f"Bearer {token(d, ['spoor-ops'])}"}, timeout=5).text
    for line in text.splitlines():
        if line.startswith("spoor_auth_refused_total") and f'listener="{listener}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_groups_grant_roles_and_a_missing_group_is_forbidden(oidc_groups):
    s, d = oidc_groups
    reader = token(d, ["staff", "spoor-readers"])
    assert get(s, "query-http", "/api/services", reader).status_code == 200
    # A single group as a string claim counts as well.
    assert get(s, "query-http", "/api/services", token(d, "spoor-readers")).status_code == 200
    # `read` does not open the admin port's /metrics (it needs admin).
    assert get(s, "admin-http", "/metrics", reader).status_code == 403
    assert get(s, "admin-http", "/metrics", token(d, ["spoor-ops"])).status_code == 200

    before = refused(s, d, "query-http")
    for groups in (None, [], ["staff"], "spoor-readerz", ["spoor-writers"]):
        r = get(s, "query-http", "/api/services", token(d, groups))
        assert r.status_code == 403, groups
    assert refused(s, d, "query-http") == before + 5

    # The receiver needs `write`: the writers' group sends, the readers' group is forbidden.
    def post(tok):
        return requests.post(s.url("otlp-http", "/v1/traces"), data=b"", timeout=5,
                             headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {tok}"})
    assert post(token(d, ["spoor-writers"])).status_code == 200
    assert post(reader).status_code == 403


def test_a_rotated_jwks_file_is_followed_without_restart(oidc_groups):
    s, d = oidc_groups
    old = token(d, ["spoor-readers"])
    assert get(s, "query-http", "/api/services", old).status_code == 200
    new_key = rsa_key(d, "idp-2")
    assert get(s, "query-http", "/api/services", token(d, ["spoor-readers"], "idp-2")).status_code == 401

    (d / "jwks.json").write_text(json.dumps({"keys": [new_key]}))
    start = time.monotonic()
    assert wait_for(lambda: get(s, "query-http", "/api/services",
                                token(d, ["spoor-readers"], "idp-2")).status_code == 200,
                    timeout=10, what="the rotated key")
    assert time.monotonic() - start < 5
    assert get(s, "query-http", "/api/services", old).status_code == 401

    # A broken file keeps the keys in use.
    (d / "jwks.json").write_text('{"keys": [')
    time.sleep(1.5)
    assert get(s, "query-http", "/api/services", token(d, ["spoor-readers"], "idp-2")).status_code == 200
    metrics = requests.get(s.url("admin-http", "/metrics"), timeout=5,
                           headers={"authorization": f"Bearer {token(d, ['spoor-ops'], 'idp-2')}"}).text
    assert 'spoor_auth_file_reloads_total{extension="oidc",result="failed"} 1' in metrics, \
        [l for l in metrics.splitlines() if "file_reloads" in l]
