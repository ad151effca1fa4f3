"""Bad input gets a clear status, is counted in /metrics, and the server keeps serving."""

import gzip
import json
import socket

import grpc
from google.rpc import status_pb2
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from conftest import get_trace
from otel_clients import hex_trace_id, send_checkout_trace

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def post(spoor, body, headers):
    return requests.post(spoor.url("otlp-http", "/v1/traces"), data=body, headers=headers, timeout=10)


def errors(spoor, reason, transport="http"):
    return spoor.metric(
        "spoor_receiver_request_errors_total", receiver="otlp", transport=transport, reason=reason
    )


def assert_still_serving(spoor):
    sent = send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    assert len(get_trace(spoor, hex_trace_id(sent["root"]))["spans"]) == 4
    assert spoor.query("/api/services").status_code == 200


def test_http_bad_inputs_get_the_right_status(spoor):
    r = post(spoor, b"\xff\xff\xff garbage", PROTOBUF)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status()
    status.ParseFromString(r.content)  # google.rpc.Status in the request's encoding
    assert status.code == 3 and "invalid protobuf" in status.message
    assert errors(spoor, "decode") == 1

    good = gzip.compress(b'{"resourceSpans": []}')
    r = post(spoor, good[: len(good) // 2], {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 400
    assert r.json()["code"] == 3  # INVALID_ARGUMENT, as google.rpc.Status JSON
    assert errors(spoor, "bad_compression") == 1

    r = post(spoor, b"{}", {"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert errors(spoor, "unsupported_media_type") == 1

    r = post(spoor, b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"})
    assert r.status_code == 400
    assert errors(spoor, "unsupported_encoding") == 1

    r = post(spoor, b"{not json", {"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["message"]

    assert_still_serving(spoor)


def test_oversized_bodies_and_zip_bombs_are_refused(start_spoor):
    spoor = start_spoor("--storage", "memory", "--max-request-bytes", "1048576")
    r = post(spoor, b"\x00" * (2 * 1024 * 1024), PROTOBUF)
    assert r.status_code == 413
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    r = post(spoor, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert errors(spoor, "too_large") == 2
    # gRPC: a message over the limit is RESOURCE_EXHAUSTED.
    channel = grpc.insecure_channel(spoor.addr("otlp-grpc"))
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    request = trace_service_pb2.ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    span = rs.scope_spans.add().spans.add()
    span.trace_id = b"\x01" * 16
    span.span_id = b"\x02" * 8
    span.name = "x" * (2 * 1024 * 1024)
    try:
        stub.Export(request, timeout=10)
        raise AssertionError("oversized gRPC export was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serving(spoor)


def test_grpc_garbage_and_invalid_ids(spoor):
    channel = grpc.insecure_channel(spoor.addr("otlp-grpc"))
    # Raw garbage through the same method: the server answers INTERNAL (decode failure) and lives.
    raw = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    try:
        raw(b"\xff\xff\xff\xff", timeout=10)
        raise AssertionError("garbage was accepted")
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    # A span with a short trace id is rejected through partial success.
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = b"\x01" * 8
    span.span_id = b"\x02" * 8
    response = stub.Export(request, timeout=10)
    assert response.partial_success.rejected_spans == 1
    assert "invalid trace id" in response.partial_success.error_message
    assert spoor.metric("spoor_receiver_spans_refused_total", receiver="otlp", transport="grpc") == 1
    assert_still_serving(spoor)


def test_unknown_routes_and_raw_socket_garbage(spoor):
    r = spoor.query("/api/nope")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 404
    host, port = spoor.addr("otlp-http").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        s.recv(1024)
    r = requests.get(spoor.url("otlp-http", "/v1/traces"), timeout=5)
    assert r.status_code == 405
    assert json.loads(spoor.query("/api/services").text)["errors"] is None
    assert_still_serving(spoor)
