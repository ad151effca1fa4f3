"""Exporters through the real binary: the persistent sending queue (file_storage) survives a
kill -9 of the exporting Spoor, and its bound refuses what does not fit."""

import gzip
import http.server
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest
import requests

from conftest import get_trace, wait_for


def otlp_json_trace(i):
    """One OTLP/JSON request with a two-span trace; returns (body, trace id hex)."""
    trace_id = f"{0xAB00 + i:032x}"
    now = time.time_ns()
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{0x100 + i:016x}",
            "name": f"GET /orders/{i}",
            "kind": 2,
            "startTimeUnixNano": str(now - 5_000_000),
            "endTimeUnixNano": str(now),
            "attributes": [{"key": "http.route", "value": {"stringValue": "/orders/{id}"}}],
        },
        {
            "traceId": trace_id,
            "spanId": f"{0x200 + i:016x}",
            "parentSpanId": f"{0x100 + i:016x}",
            "name": "SELECT orders",
            "kind": 3,
            "startTimeUnixNano": str(now - 4_000_000),
            "endTimeUnixNano": str(now - 1_000_000),
        },
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "queue-e2e"}}]},
                "scopeSpans": [{"scope": {"name": "e2e"}, "spans": spans}],
            }
        ]
    }
    return body, trace_id


def post_trace(spoor, i):
    body, trace_id = otlp_json_trace(i)
    r = requests.post(spoor.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    return r, trace_id


def queue_config(b_addr, directory, queue_size=3):
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  otlp:
    endpoint: {b_addr}
    tls:
      insecure: true
    timeout: 1s
    sending_queue:
      enabled: true
      num_consumers: 1
      queue_size: {queue_size}
      storage: file_storage/queue
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 500ms
      max_elapsed_time: 0s
extensions:
  file_storage/queue:
    directory: {directory}
    create_directory: true
    fsync: true
    timeout: 2s
    compaction:
      on_start: false
service:
  extensions: [file_storage/queue]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"""


def batch_files(directory):
    queue_dir = directory / "exporter_otlp_traces"
    if not queue_dir.is_dir():
        return []
    return sorted(p.name for p in queue_dir.iterdir() if p.name.endswith(".batch"))


def test_persistent_queue_survives_kill_9_and_is_bounded(start_spoor, tmp_path):
    # B is started only to learn a free address, then stopped: A must queue.
    b = start_spoor("--storage", "memory")
    b_addr = b.addr("otlp-grpc")
    b.stop(sig=signal.SIGKILL)

    directory = tmp_path / "queue"
    cfg = tmp_path / "a.yaml"
    cfg.write_text(queue_config(b_addr, directory))
    a = start_spoor("--config", str(cfg), "--storage", "memory")

    accepted, refused = [], []
    for i in range(7):
        r, trace_id = post_trace(a, i)
        if r.status_code == 200:
            accepted.append(trace_id)
        else:
            assert r.status_code == 429, (r.status_code, r.text)
            assert "sending queue" in r.text, r.text
            refused.append(trace_id)
        if i == 0:
            # The single consumer takes the first batch and retries it against the dead B.
            wait_for(lambda: a.metric("spoor_exporter_retries_total", exporter="otlp") >= 1, what="first retry")
    # One batch in flight plus queue_size=3 waiting; the rest is refused, and counted.
    assert len(accepted) == 4, (accepted, refused)
    assert len(refused) == 3
    assert a.metric("spoor_exporter_spans_enqueue_failed_total", exporter="otlp") == 2 * len(refused)
    assert a.metric("spoor_exporter_queue_capacity", exporter="otlp") == 3
    # Every acknowledged batch is on disk before the client got its 200.
    assert len(batch_files(directory)) == len(accepted)

    # kill -9: nothing gets a chance to flush or drain.
    a.stop(sig=signal.SIGKILL)
    assert len(batch_files(directory)) == len(accepted)

    a2 = start_spoor("--config", str(cfg), "--storage", "memory")
    assert a2.metric("spoor_exporter_queue_recovered_batches_total", exporter="otlp") == len(accepted)
    assert a2.metric("spoor_exporter_queue_corrupt_batches_total", exporter="otlp") == 0
    wait_for(lambda: a2.metric("spoor_exporter_retries_total", exporter="otlp") >= 1, what="retries after restart")

    # B comes back on the same address: every acknowledged trace arrives, none of the refused.
    b2 = start_spoor("--storage", "memory", listeners={"otlp-grpc": b_addr})
    for trace_id in accepted:
        trace = get_trace(b2, trace_id, timeout=30)
        assert len(trace["spans"]) == 2
    wait_for(lambda: a2.metric("spoor_exporter_spans_sent_total", exporter="otlp") == 2 * len(accepted), timeout=30, what="all sent")
    for trace_id in refused:
        assert b2.query(f"/api/traces/{trace_id}").status_code == 404
    # Sent batches leave the disk.
    wait_for(lambda: batch_files(directory) == [], what="queue files deleted")
    assert a2.metric("spoor_exporter_queue_size", exporter="otlp") == 0
    assert a2.stop() == 0


def test_persistent_queue_directory_is_locked_and_errors_are_clear(start_spoor, tmp_path):
    directory = tmp_path / "missing"
    cfg = tmp_path / "a.yaml"
    cfg.write_text(queue_config("127.0.0.1:1", directory).replace("create_directory: true", "create_directory: false"))
    try:
        start_spoor("--config", str(cfg), "--storage", "memory")
        raise AssertionError("spoor started with a missing file_storage directory")
    except RuntimeError as e:
        assert "does not exist" in str(e) and "create_directory" in str(e), str(e)

    # A storage extension that is defined but not enabled in service.extensions.
    cfg.write_text(queue_config("127.0.0.1:1", tmp_path / "q").replace("extensions: [file_storage/queue]", "extensions: []"))
    try:
        start_spoor("--config", str(cfg), "--storage", "memory")
        raise AssertionError("spoor started with a storage extension that is not enabled")
    except RuntimeError as e:
        assert "not enabled" in str(e), str(e)
    from conftest import SPOOR_BIN
    out = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "exporters.otlp.sending_queue.storage" in out.stdout + out.stderr, out

    # Two processes on one queue directory: the second waits `timeout`, then refuses to start.
    cfg.write_text(queue_config("127.0.0.1:1", tmp_path / "q"))
    first = start_spoor("--config", str(cfg), "--storage", "memory")
    try:
        start_spoor("--config", str(cfg), "--storage", "memory")
        raise AssertionError("two spoor processes shared one persistent queue")
    except RuntimeError as e:
        assert "in use by another process" in str(e), str(e)
    assert first.proc.poll() is None
    assert os.path.isdir(tmp_path / "q" / "exporter_otlp_traces")


def zipkin_source_trace():
    """An OTLP/JSON trace exercising what the zipkin exporter translates."""
    trace_id = "5b8efff798038103d269b633813fc60c"
    now = time.time_ns()

    def span(span_id, name, kind, parent=None, attributes=(), status=None, events=()):
        s = {
            "traceId": trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(now - 9_000_000),
            "endTimeUnixNano": str(now - 1_000_000),
            "attributes": [{"key": k, "value": v} for k, v in attributes],
            "events": list(events),
        }
        if parent:
            s["parentSpanId"] = parent
        if status:
            s["status"] = status
        return s

    spans = [
        span("a000000000000001", "GET /checkout", 2, attributes=[("http.status_code", {"intValue": "200"})]),
        span(
            "a000000000000002",
            "charge card",
            3,
            parent="a000000000000001",
            attributes=[
                ("peer.service", {"stringValue": "payments"}),
                ("net.peer.ip", {"stringValue": "10.1.2.3"}),
                ("net.peer.port", {"intValue": "8443"}),
                ("retry", {"boolValue": True}),
            ],
            status={"code": 2, "message": "card declined"},
            events=[{"timeUnixNano": str(now - 5_000_000), "name": "declined", "attributes": [{"key": "code", "value": {"intValue": "51"}}]}],
        ),
        span("a000000000000003", "publish order", 4, parent="a000000000000001", status={"code": 1}),
        span("a000000000000004", "render", 1, parent="a000000000000001"),
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": "checkout"}},
                    {"key": "deployment.environment", "value": {"stringValue": "e2e"}},
                ]},
                "scopeSpans": [{"scope": {"name": "shop", "version": "2.0"}, "spans": spans}],
            }
        ]
    }
    return body, trace_id


def zipkin_config(b_zipkin, fmt):
    return f"""
receivers:
  otlp:
    protocols:
      http:
exporters:
  zipkin:
    endpoint: http://{b_zipkin}/api/v2/spans
    format: {fmt}
    retry_on_failure:
      initial_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [zipkin]
"""



@pytest.mark.parametrize("fmt", ["json", "proto"])
def test_zipkin_exporter_to_a_zipkin_receiver(start_spoor, tmp_path, fmt):
    b = start_spoor("--storage", "memory")
    cfg = tmp_path / "a.yaml"
    cfg.write_text(zipkin_config(b.addr("zipkin"), fmt))
    a = start_spoor("--config", str(cfg), "--storage", "memory")
    body, trace_id = zipkin_source_trace()
    r = requests.post(a.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text

    def full():
        t = get_trace(b, trace_id, timeout=30)
        return t if len(t["spans"]) == 4 else None

    trace = wait_for(full, timeout=30, what="4 spans in B")
    assert b.metric("spoor_receiver_spans_accepted_total", receiver="zipkin", transport="http") == 4
    assert a.metric("spoor_exporter_spans_sent_total", exporter="zipkin") == 4
    by_id = {s["spanID"]: s for s in trace["spans"]}
    tags = {sid: {t["key"]: t["value"] for t in s["tags"]} for sid, s in by_id.items()}
    procs = trace["processes"]
    # JSON lower-cases span names (zipkin-go does); protobuf keeps them.
    names = {by_id[s]["operationName"] for s in by_id}
    if fmt == "json":
        assert names == {"get /checkout", "charge card", "publish order", "render"}
    else:
        assert names == {"GET /checkout", "charge card", "publish order", "render"}
    for s in by_id.values():
        assert procs[s["processID"]]["serviceName"] == "checkout"
    root, charge, publish, render = (by_id[f"a00000000000000{i}"] for i in range(1, 5))
    assert tags[root["spanID"]]["span.kind"] == "server"
    assert tags[root["spanID"]]["http.status_code"] in ("200", 200)
    # Kinds, status, remote endpoint and events survive the round trip.
    c = tags[charge["spanID"]]
    assert c["span.kind"] == "client"
    assert c["error"] in (True, "true")
    assert c["otel.status_code"] == "ERROR"
    assert c["otel.status_description"] == "card declined"
    assert c["peer.service"] == "payments"
    assert c["net.peer.ip"] == "10.1.2.3"
    assert c["net.peer.port"] in (8443, "8443")
    assert c["retry"] in ("true", True)
    assert "shop" in (c.get("otel.library.name"), c.get("otel.scope.name")), c
    assert [l["fields"] for l in charge["logs"]] and any(
        "declined" in str(l["fields"]) for l in charge["logs"]
    ), charge["logs"]
    assert charge["references"][0]["spanID"] == root["spanID"]
    assert tags[publish["spanID"]]["span.kind"] == "producer"
    assert tags[publish["spanID"]]["otel.status_code"] == "OK"
    assert "error" not in tags[publish["spanID"]]
    assert tags[render["spanID"]].get("span.kind", "internal") == "internal"
    assert abs(root["duration"] - 8000) <= 1


# --- TLS ------------------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )


def make_leaf(d, ca, name, usage, san):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
        + (f"subjectAltName={san}\n" if san else "")
    )
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture
def pki(tmp_path):
    """A server CA with a server certificate (localhost, 127.0.0.1, spoor-b.test), a client CA
    with a client certificate, and an unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "server-ca")
    make_ca(d, "client-ca")
    make_ca(d, "other-ca")
    make_leaf(d, "server-ca", "server", "serverAuth", "DNS:localhost,DNS:spoor-b.test,IP:127.0.0.1")
    make_leaf(d, "client-ca", "client", "clientAuth", None)
    return d


class HttpsRecorder:
    """An HTTPS server (mutual TLS when client_ca is given) that records every POST."""

    def __init__(self, pki, client_ca=None):
        self.requests = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                peer = self.connection.getpeercert()
                recorder.requests.append({
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                    "tls": self.connection.version(),
                    "client_cert": peer,
                })
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki / client_ca)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class GrpcRecorder(grpc.GenericRpcHandler):
    """A gRPC server over TLS (mutual when client_ca is given) recording raw unary requests."""

    def __init__(self, pki, client_ca=None):
        self.calls = []
        creds = grpc.ssl_server_credentials(
            [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
            root_certificates=(pki / client_ca).read_bytes() if client_ca else None,
            require_client_auth=bool(client_ca),
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[self])
        self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.server.start()

    def service(self, details):
        method = details.method

        def unary(request, context):
            auth = context.auth_context()
            self.calls.append({"method": method, "body": request, "client_cn": auth.get("x509_common_name")})
            return b""

        return grpc.unary_unary_rpc_method_handler(unary)

    def close(self):
        self.server.stop(0)


def test_exporters_speak_tls_and_mutual_tls(start_spoor, tmp_path, pki):
    otlp_grpc = GrpcRecorder(pki, client_ca="client-ca.pem")
    jaeger = GrpcRecorder(pki)
    otlphttp = HttpsRecorder(pki, client_ca="client-ca.pem")
    zipkin = HttpsRecorder(pki)
    wrong = HttpsRecorder(pki)
    try:
        cfg = tmp_path / "a.yaml"
        cfg.write_text(f"""
receivers:
  otlp:
    protocols:
      http:
exporters:
  otlp:
    endpoint: 127.0.0.1:{otlp_grpc.port}
    tls:
      ca_file: {pki}/server-ca.pem
      cert_file: {pki}/client.pem
      key_file: {pki}/client.key
    retry_on_failure: {{initial_interval: 100ms}}
  otlphttp:
    endpoint: https://127.0.0.1:{otlphttp.port}
    tls:
      ca_file: {pki}/server-ca.pem
      cert_file: {pki}/client.pem
      key_file: {pki}/client.key
      server_name_override: spoor-b.test
      min_version: "1.3"
    retry_on_failure: {{initial_interval: 100ms}}
  jaeger:
    endpoint: https://localhost:{jaeger.port}
    tls:
      ca_file: {pki}/server-ca.pem
    retry_on_failure: {{initial_interval: 100ms}}
  zipkin:
    endpoint: https://localhost:{zipkin.port}/api/v2/spans
    tls:
      ca_file: {pki}/server-ca.pem
    retry_on_failure: {{initial_interval: 100ms}}
  otlphttp/wrong_ca:
    endpoint: https://127.0.0.1:{wrong.port}
    tls:
      ca_file: {pki}/other-ca.pem
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 1s}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp, otlphttp, jaeger, zipkin, otlphttp/wrong_ca]
""")
        a = start_spoor("--config", str(cfg), "--storage", "memory")
        body, trace_id = otlp_json_trace(1)
        r = requests.post(a.url("otlp-http", "/v1/traces"), json=body, timeout=10)
        assert r.status_code == 200, r.text
        raw_id = bytes.fromhex(trace_id)

        wait_for(lambda: otlp_grpc.calls and jaeger.calls and otlphttp.requests and zipkin.requests,
                 timeout=20, what="every TLS server got the trace")
        call = otlp_grpc.calls[0]
        assert call["method"] == "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        assert raw_id in call["body"]
        assert call["client_cn"] == [b"client"], call  # mutual TLS: the client certificate was shown
        assert jaeger.calls[0]["method"] == "/jaeger.api_v2.CollectorService/PostSpans"
        assert raw_id in jaeger.calls[0]["body"]
        req = otlphttp.requests[0]
        assert req["path"] == "/v1/traces"
        assert raw_id in req["body"]
        assert req["tls"] == "TLSv1.3"
        assert dict(x[0] for x in req["client_cert"]["subject"])["commonName"] == "client"
        z = zipkin.requests[0]
        assert z["path"] == "/api/v2/spans"
        assert trace_id[16:] in z["body"].decode() or trace_id in z["body"].decode()
        for name in ("otlp", "otlphttp", "jaeger", "zipkin"):
            wait_for(lambda: a.metric("spoor_exporter_spans_sent_total", exporter=name) == 2, what=f"{name} sent")

        # A server whose certificate the configured CA did not sign: a clear error, counted.
        wait_for(lambda: a.metric("spoor_exporter_spans_send_failed_total", exporter="otlphttp/wrong_ca") == 2,
                 timeout=20, what="wrong CA counted as failed")
        assert a.metric("spoor_exporter_retries_total", exporter="otlphttp/wrong_ca") >= 1
        assert wrong.requests == []
        log = a.log_text()
        assert "otlphttp/wrong_ca" in log and "UnknownIssuer" in log, log[-3000:]
    finally:
        for s in (otlp_grpc, jaeger, otlphttp, zipkin, wrong):
            s.close()


def test_tls_config_errors_are_clear(tmp_path, pki):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"""
receivers:
  otlp:
    protocols:
      http:
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    tls:
      cert_file: {pki}/client.pem
      min_version: "1.1"
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
""")
    from conftest import SPOOR_BIN
    out = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "tls.min_version" in text and "1.1" in text, text
    assert "key_file" in text, text
