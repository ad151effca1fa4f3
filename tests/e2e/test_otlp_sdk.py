"""The real OpenTelemetry Python SDK sends over OTLP gRPC and HTTP; the Jaeger API reads it back."""

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from conftest import assert_receiver_counted, get_trace
from otel_clients import hex_span_id, hex_trace_id, send_checkout_trace


def tag(span, key):
    matches = [t for t in span["tags"] if t["key"] == key]
    assert matches, f"tag {key} missing from {span['operationName']}: {span['tags']}"
    return matches[0]


def by_name(trace):
    return {s["operationName"]: s for s in trace["spans"]}


def check_checkout_trace(trace, sent):
    assert trace["traceID"] == hex_trace_id(sent["root"])
    spans = by_name(trace)
    assert set(spans) == {"GET /checkout", "SELECT orders", "charge card", "POST /charge"}

    root = spans["GET /checkout"]
    assert root["spanID"] == hex_span_id(sent["root"])
    assert root["references"] == []
    assert root["startTime"] == sent["root"].start_time // 1000
    assert root["duration"] == (sent["root"].end_time - sent["root"].start_time) // 1000
    assert tag(root, "span.kind") == {"key": "span.kind", "type": "string", "value": "server"}
    assert tag(root, "http.status_code") == {"key": "http.status_code", "type": "int64", "value": 500}
    assert tag(root, "otel.scope.name")["value"] == "e2e-tests"
    assert tag(root, "otel.scope.version")["value"] == "1.2.3"

    db = spans["SELECT orders"]
    assert db["references"] == [
        {"refType": "CHILD_OF", "traceID": trace["traceID"], "spanID": root["spanID"]}
    ]
    assert tag(db, "db.rows") == {"key": "db.rows", "type": "int64", "value": 3}
    assert tag(db, "ratio") == {"key": "ratio", "type": "float64", "value": 0.5}
    assert tag(db, "cached") == {"key": "cached", "type": "bool", "value": False}
    assert tag(db, "span.kind")["value"] == "client"
    assert len(db["logs"]) == 1
    log = db["logs"][0]
    assert log["timestamp"] == sent["db"].events[0].timestamp // 1000
    assert log["fields"][0] == {"key": "event", "type": "string", "value": "query.start"}
    assert log["fields"][1] == {"key": "attempt", "type": "int64", "value": 1}

    remote = spans["POST /charge"]
    charge = spans["charge card"]
    assert remote["references"][0]["spanID"] == charge["spanID"]
    assert tag(remote, "error") == {"key": "error", "type": "bool", "value": True}
    assert tag(remote, "otel.status_code")["value"] == "ERROR"
    assert tag(remote, "otel.status_description")["value"] == "card declined"
    assert tag(charge, "otel.status_description")["value"] == "payment failed"

    processes = trace["processes"]
    assert processes[root["processID"]]["serviceName"] == "checkout"
    assert processes[remote["processID"]]["serviceName"] == "payments"
    assert root["processID"] == db["processID"] == charge["processID"]
    ptags = {t["key"]: t["value"] for t in processes[root["processID"]]["tags"]}
    assert ptags["deployment.environment"] == "e2e"
    assert ptags["telemetry.sdk.language"] == "python"
    assert "service.name" not in ptags


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_trace_round_trips_through_jaeger_api(spoor, transport):
    if transport == "grpc":
        make = lambda: GrpcExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True)  # noqa: E731
    else:
        make = lambda: HttpExporter(endpoint=spoor.url("otlp-http", "/v1/traces"))  # noqa: E731
    sent = send_checkout_trace(make)
    trace = get_trace(spoor, hex_trace_id(sent["root"]))
    check_checkout_trace(trace, sent)
    assert_receiver_counted(spoor, "otlp", transport, 4)


def test_gzip_compressed_grpc_export(spoor):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import Compression

    sent = send_checkout_trace(
        lambda: GrpcExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True, compression=Compression.Gzip)
    )
    check_checkout_trace(get_trace(spoor, hex_trace_id(sent["root"])), sent)


def test_gzip_compressed_http_export(spoor):
    from opentelemetry.exporter.otlp.proto.http import Compression

    sent = send_checkout_trace(
        lambda: HttpExporter(endpoint=spoor.url("otlp-http", "/v1/traces"), compression=Compression.Gzip)
    )
    check_checkout_trace(get_trace(spoor, hex_trace_id(sent["root"])), sent)
