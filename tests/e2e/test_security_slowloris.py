"""Connection floods and slow clients on the HTTP listeners, plain and TLS: 2,000 idle
connections plus clients dripping their headers (or their TLS hello) one byte at a time do not
stop a normal client on the query, admin and OTLP HTTP ports."""

import resource
import socket
import ssl
import threading
import time

import pytest
import requests

from test_security_tls import no_ca_bundle_override, pki, tls_args  # noqa: F401  (fixtures)

LISTENERS = ["query-http", "admin-http", "otlp-http"]
PATHS = {"query-http": "/api/services", "admin-http": "/metrics", "otlp-http": "/v1/traces"}


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 8192:
        pytest.skip(f"hard open-file limit {hard} too low for the test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def drip(addr, stop, payload):
    """Sends `payload` one byte per 0.5 s until the server closes or `stop` is set."""
    host, port = addr
    try:
        with socket.create_connection((host, port), timeout=30) as s:
            for b in payload:
                if stop.is_set():
                    return
                s.sendall(bytes([b]))
                time.sleep(0.5)
    except OSError:
        return


def flood_and_check(s, scheme, verify=None):
    idle, stop, drippers = [], threading.Event(), []
    try:
        for name in LISTENERS:
            addr = ("127.0.0.1", s.port(name))
            for _ in range(2000 // len(LISTENERS)):
                idle.append(socket.create_connection(addr, timeout=10))
            for _ in range(20):
                t = threading.Thread(target=drip, args=(addr, stop, b"GET /api/services HTTP/1.1\r\nhost: x\r\n" * 4), daemon=True)
                t.start()
                drippers.append(t)
        time.sleep(1)
        for name in LISTENERS:
            url = f"{scheme}://localhost:{s.port(name)}{PATHS[name]}"
            started = time.time()
            if name == "otlp-http":
                r = requests.post(url, data=b"", headers={"content-type": "application/x-protobuf"}, verify=verify, timeout=10)
            else:
                r = requests.get(url, verify=verify, timeout=10)
            assert r.status_code == 200, (name, r.status_code)
            assert time.time() - started < 5, name
    finally:
        stop.set()
        for c in idle:
            c.close()


def test_idle_and_slow_clients_do_not_stop_a_normal_client_on_plain_listeners(start_spoor):
    raise_fd_limit()
    s = start_spoor("--storage", "memory")
    flood_and_check(s, "http")


def test_idle_and_slow_clients_do_not_stop_a_normal_client_on_tls_listeners(start_spoor, pki):
    raise_fd_limit()
    s = start_spoor(*tls_args(pki), "--receiver-header-timeout", "3s")
    flood_and_check(s, "https", verify=str(pki / "server-ca.pem"))


def test_a_slow_tls_hello_is_closed_after_the_header_timeout(start_spoor, pki):
    s = start_spoor(*tls_args(pki), "--receiver-header-timeout", "2s")
    with socket.create_connection(("127.0.0.1", s.port("otlp-http")), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        started = time.time()
        while raw.recv(1024):
            pass
        assert 1.5 < time.time() - started < 6
    ctx = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    with socket.create_connection(("127.0.0.1", s.port("otlp-http")), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() is not None
