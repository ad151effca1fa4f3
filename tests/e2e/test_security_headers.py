"""Security headers on every response of the query, Tempo and admin listeners, refusals
included: `X-Content-Type-Options: nosniff` always, `Strict-Transport-Security` with TLS."""

import requests

from test_security_tls import https, no_ca_bundle_override, pki, tls_args  # noqa: F401

PATHS = [("query-http", "/api/services"), ("query-http", "/api/traces/zz"), ("query-http", "/"),
         ("tempo-http", "/api/echo"), ("admin-http", "/metrics")]


def test_nosniff_without_tls_and_no_hsts(spoor):
    for listener, path in PATHS:
        r = requests.get(spoor.url(listener, path), timeout=10)
        assert r.headers.get("x-content-type-options") == "nosniff", (listener, path, r.status_code)
        assert "strict-transport-security" not in r.headers, (listener, path)


def test_hsts_and_nosniff_with_tls_also_on_refusals(start_spoor, pki):  # noqa: F811
    s = start_spoor(*tls_args(pki), "--tenancy-enabled")
    for listener, path in PATHS:
        r = requests.get(https(s, listener, path), verify=str(pki / "server-ca.pem"), timeout=10)
        assert r.headers.get("x-content-type-options") == "nosniff", (listener, path)
        assert r.headers.get("strict-transport-security") == "max-age=31536000", (listener, path)
    # A refusal (no tenant) carries them too.
    r = requests.get(https(s, "query-http", "/api/services"), verify=str(pki / "server-ca.pem"), timeout=10)
    assert r.status_code == 401 and r.headers.get("x-content-type-options") == "nosniff"
