"""TLS on every listener: the OTel Python SDK exports over TLS and mutual TLS, the query and admin
ports answer over HTTPS, a plaintext client to a TLS port fails cleanly while the server keeps
serving, and a certificate replaced on disk is served without a restart."""

import os
import shutil
import socket
import ssl
import subprocess
import time

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import wait_for
from otel_clients import hex_trace_id, send_checkout_trace


def openssl(*args, cwd):
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


def make_ca(d, name):
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )


def make_leaf(d, ca, name, usage, san=None, serial=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
        + (f"subjectAltName={san}\n" if san else "")
    )
    serial_args = ["-set_serial", str(serial)] if serial else ["-CAcreateserial"]
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            *serial_args, "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


SERVER_SAN = "DNS:localhost,IP:127.0.0.1"


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`, which is
    how the OTLP HTTP exporter passes `certificate_file`: unset them so the test CA is used."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def pki(tmp_path):
    """A server CA and server certificate (serial 1001), a client CA and client certificate, and
    a client certificate from an unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "server-ca")
    make_ca(d, "client-ca")
    make_ca(d, "other-ca")
    make_leaf(d, "server-ca", "server", "serverAuth", SERVER_SAN, serial=1001)
    make_leaf(d, "client-ca", "client", "clientAuth")
    make_leaf(d, "other-ca", "stranger", "clientAuth")
    return d


def tls_args(pki, mtls=False, reload_interval=None):
    args = ["--storage", "memory", "--tls-cert-file", str(pki / "server.pem"),
            "--tls-key-file", str(pki / "server.key")]
    if mtls:
        args += ["--tls-client-ca-file", str(pki / "client-ca.pem")]
    if reload_interval:
        args += ["--tls-reload-interval", reload_interval]
    return args


def https(s, name, path=""):
    return f"https://localhost:{s.port(name)}{path}"


def metric(s, pki, name, cert=None, **labels):
    text = requests.get(https(s, "admin-http", "/metrics"), verify=str(pki / "server-ca.pem"),
                        cert=cert, timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == f"{name}{{{want}}}":
            return float(value)
    return 0.0


def trace_found(s, pki, trace_id, cert=None):
    r = requests.get(https(s, "query-http", f"/api/traces/{trace_id}"),
                     verify=str(pki / "server-ca.pem"), cert=cert, timeout=10)
    return r.status_code == 200 and len(r.json()["data"][0]["spans"]) == 4


def grpc_credentials(pki, client=None):
    root = (pki / "server-ca.pem").read_bytes()
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=(pki / f"{client}.key").read_bytes(),
        certificate_chain=(pki / f"{client}.pem").read_bytes(),
    )


def test_sdk_exports_over_tls_on_grpc_and_http_and_queries_answer_over_https(start_spoor, pki):
    s = start_spoor(*tls_args(pki))
    sent = send_checkout_trace(lambda: GrpcExporter(
        endpoint=f"localhost:{s.port('otlp-grpc')}", insecure=False, credentials=grpc_credentials(pki)))
    wait_for(lambda: trace_found(s, pki, hex_trace_id(sent["root"])), what="trace sent over gRPC+TLS")
    sent = send_checkout_trace(lambda: HttpExporter(
        endpoint=https(s, "otlp-http", "/v1/traces"), certificate_file=str(pki / "server-ca.pem")))
    wait_for(lambda: trace_found(s, pki, hex_trace_id(sent["root"])), what="trace sent over HTTPS")
    # Every HTTP listener speaks TLS with the flags' certificate.
    for name in ["query-http", "admin-http", "health-http", "zipkin", "jaeger-thrift-http", "sampling-http"]:
        if name in s.addrs:
            ctx = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
            with socket.create_connection(("127.0.0.1", s.port(name)), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert tls.version() in ("TLSv1.2", "TLSv1.3"), name
    assert metric(s, pki, "spoor_receiver_spans_accepted_total", receiver="otlp", transport="grpc") == 4
    assert metric(s, pki, "spoor_receiver_spans_accepted_total", receiver="otlp", transport="http") == 4


def test_query_grpc_answers_over_tls(start_spoor, pki):
    s = start_spoor(*tls_args(pki))
    channel = grpc.secure_channel(f"localhost:{s.port('query-grpc')}", grpc_credentials(pki))
    grpc.channel_ready_future(channel).result(timeout=10)
    channel.close()
    plain = grpc.insecure_channel(f"127.0.0.1:{s.port('query-grpc')}")
    with pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(plain).result(timeout=2)
    plain.close()


def test_mutual_tls_requires_a_client_certificate_from_the_client_ca(start_spoor, pki):
    s = start_spoor(*tls_args(pki, mtls=True))
    client = (str(pki / "client.pem"), str(pki / "client.key"))
    sent = send_checkout_trace(lambda: GrpcExporter(
        endpoint=f"localhost:{s.port('otlp-grpc')}", insecure=False,
        credentials=grpc_credentials(pki, "client")))
    wait_for(lambda: trace_found(s, pki, hex_trace_id(sent["root"]), cert=client), what="trace over mTLS")
    sent = send_checkout_trace(lambda: HttpExporter(
        endpoint=https(s, "otlp-http", "/v1/traces"), certificate_file=str(pki / "server-ca.pem"),
        client_certificate_file=client[0], client_key_file=client[1]))
    wait_for(lambda: trace_found(s, pki, hex_trace_id(sent["root"]), cert=client), what="trace over mTLS HTTP")

    for cert in [None, (str(pki / "stranger.pem"), str(pki / "stranger.key"))]:
        for name in ["otlp-http", "query-http", "admin-http"]:
            with pytest.raises(requests.exceptions.RequestException):
                requests.post(https(s, name, "/v1/traces") if name == "otlp-http" else https(s, name, "/"),
                              verify=str(pki / "server-ca.pem"), cert=cert, timeout=5).raise_for_status()
    # Refused handshakes are counted per receiver, and the server keeps serving.
    assert metric(s, pki, "spoor_receiver_request_errors_total", cert=client,
                  receiver="otlp", transport="http", reason="tls_handshake") >= 2
    assert trace_found(s, pki, hex_trace_id(sent["root"]), cert=client)


def test_plaintext_client_to_a_tls_port_fails_cleanly_and_the_server_keeps_serving(start_spoor, pki):
    s = start_spoor(*tls_args(pki))
    for name, path in [("otlp-http", "/v1/traces"), ("query-http", "/api/services"), ("zipkin", "/api/v2/spans")]:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(f"http://127.0.0.1:{s.port(name)}{path}", data=b"{}", timeout=5)
    # A plaintext gRPC client cannot export.
    exporter = GrpcExporter(endpoint=f"127.0.0.1:{s.port('otlp-grpc')}", insecure=True, timeout=3)
    with TracerProvider().get_tracer("e2e").start_as_current_span("plaintext") as span:
        pass
    assert exporter.export([span]) == SpanExportResult.FAILURE
    # Garbage bytes on a TLS port: the connection is closed (after a TLS alert at most).
    with socket.create_connection(("127.0.0.1", s.port("otlp-http")), timeout=5) as raw:
        raw.sendall(b"\x00" * 64 + b"GET / HTTP/1.1\r\n\r\n")
        received = b""
        while chunk := raw.recv(1024):
            received += chunk
        assert b"HTTP/1.1" not in received
    assert s.proc.poll() is None
    assert metric(s, pki, "spoor_receiver_request_errors_total",
                  receiver="otlp", transport="http", reason="tls_handshake") >= 2
    sent = send_checkout_trace(lambda: HttpExporter(
        endpoint=https(s, "otlp-http", "/v1/traces"), certificate_file=str(pki / "server-ca.pem")))
    wait_for(lambda: trace_found(s, pki, hex_trace_id(sent["root"])), what="trace after plaintext attempts")


def served_serial(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True,
                         text=True, check=True).stdout
    return int(out.strip().split("=", 1)[1], 16)


def test_a_certificate_replaced_on_disk_is_served_without_restart(start_spoor, pki):
    s = start_spoor(*tls_args(pki, reload_interval="1s"))
    ports = [s.port("otlp-grpc"), s.port("otlp-http"), s.port("query-http"), s.port("admin-http")]
    assert {served_serial(p) for p in ports} == {1001}
    pid = s.proc.pid

    new = pki / "new"
    new.mkdir()
    for f in ["server-ca.pem", "server-ca.key"]:
        shutil.copy(pki / f, new / f)
    make_leaf(new, "server-ca", "server", "serverAuth", SERVER_SAN, serial=2002)
    # Replaced the way cert-manager and certbot do it: new files renamed over the old ones.
    os.replace(new / "server.key", pki / "server.key.tmp")
    os.replace(new / "server.pem", pki / "server.pem.tmp")
    os.replace(pki / "server.key.tmp", pki / "server.key")
    os.replace(pki / "server.pem.tmp", pki / "server.pem")

    def all_new():
        return all(served_serial(p) == 2002 for p in ports)

    wait_for(all_new, timeout=20, what="the new certificate on every listener")
    assert s.proc.pid == pid and s.proc.poll() is None
    sent = send_checkout_trace(lambda: GrpcExporter(
        endpoint=f"localhost:{s.port('otlp-grpc')}", insecure=False, credentials=grpc_credentials(pki)))
    wait_for(lambda: trace_found(s, pki, hex_trace_id(sent["root"])), what="trace after the swap")


def test_a_broken_replacement_keeps_the_previous_certificate(start_spoor, pki):
    s = start_spoor(*tls_args(pki, reload_interval="1s"))
    port = s.port("otlp-http")
    assert served_serial(port) == 1001
    (pki / "server.pem").write_text("not a certificate\n")
    time.sleep(2.5)
    assert served_serial(port) == 1001
    assert "cannot be loaded" in s.log_text()


def test_unreadable_tls_files_stop_startup_with_a_clear_error(start_spoor, pki, tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(RuntimeError) as e:
        start_spoor("--storage", "memory", "--tls-cert-file", str(missing),
                    "--tls-key-file", str(pki / "server.key"))
    assert "cert_file" in str(e.value) and "nope.pem" in str(e.value)


def test_a_receivers_own_tls_block_wins_over_the_flags_and_can_require_client_certificates(start_spoor, pki, tmp_path):
    cfg = tmp_path / "tls.yaml"
    cfg.write_text(f"""
receivers:
  otlp:
    protocols:
      grpc:
        tls:
          cert_file: {pki / "server.pem"}
          key_file: {pki / "server.key"}
          client_ca_file: {pki / "client-ca.pem"}
          min_version: "1.3"
      http:
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    # The gRPC listener requires a client certificate; the HTTP one, without tls, is plaintext.
    sent = send_checkout_trace(lambda: GrpcExporter(
        endpoint=f"localhost:{s.port('otlp-grpc')}", insecure=False, credentials=grpc_credentials(pki, "client")))
    wait_for(lambda: s.query(f"/api/traces/{hex_trace_id(sent['root'])}").status_code == 200,
             what="trace over the receiver's own mTLS")
    exporter = GrpcExporter(endpoint=f"localhost:{s.port('otlp-grpc')}", insecure=False,
                            credentials=grpc_credentials(pki), timeout=3)
    with TracerProvider().get_tracer("e2e").start_as_current_span("no client cert") as span:
        pass
    assert exporter.export([span]) == SpanExportResult.FAILURE
    ctx = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", s.port("otlp-grpc")), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    r = requests.post(s.url("otlp-http", "/v1/traces"), data=b"", headers={"content-type": "application/x-protobuf"}, timeout=5)
    assert r.status_code == 200


def test_a_tls_block_without_its_key_is_a_config_error(tmp_path, pki):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"""
receivers:
  zipkin:
    tls:
      cert_file: {pki / "server.pem"}
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [zipkin]
      exporters: [spoor]
""")
    from conftest import SPOOR_BIN
    r = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "receivers.zipkin.tls.cert_file" in r.stdout + r.stderr, r.stdout + r.stderr
