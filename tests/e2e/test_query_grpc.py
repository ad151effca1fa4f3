"""The Jaeger query gRPC APIs (api_v2 and api_v3) on `--query-grpc`, called with Python gRPC clients
generated at test time from spoor's own .proto files (crates/spoor-api/proto) by grpcio-tools, after
the real OpenTelemetry Python SDK has sent a trace over OTLP gRPC."""

import importlib
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

from conftest import ROOT, get_trace, wait_for
from otel_clients import hex_span_id, hex_trace_id, send_checkout_trace

PROTO_DIR = ROOT / "crates" / "spoor-api" / "proto"
SHARED_PROTO_DIR = ROOT / "proto"  # the Jaeger api_v2 model, shared with the receivers
PROTOS = ["jaeger/api_v2/model.proto", "jaeger/api_v2/query.proto", "jaeger/api_v3/query_service.proto"]


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """Python modules generated from spoor's .proto files into a temporary directory.

    `opentelemetry/proto/trace/v1/trace.proto` in PROTO_DIR only declares the name for the import;
    it is not generated: api_v3 answers are decoded with the `opentelemetry-proto` package's
    real `TracesData`.
    """
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("grpc-stubs")
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{SHARED_PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *PROTOS,
    ]
    assert protoc.main(args) == 0, "protoc failed on spoor's .proto files"
    sys.path.insert(0, str(out))
    try:
        return SimpleNamespace(
            model=importlib.import_module("jaeger.api_v2.model_pb2"),
            v2=importlib.import_module("jaeger.api_v2.query_pb2"),
            v2_grpc=importlib.import_module("jaeger.api_v2.query_pb2_grpc"),
            v3=importlib.import_module("jaeger.api_v3.query_service_pb2"),
            v3_grpc=importlib.import_module("jaeger.api_v3.query_service_pb2_grpc"),
        )
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def sent(spoor):
    """The 4-span checkout trace, sent with the OTel SDK over OTLP gRPC and stored."""
    spans = send_checkout_trace(lambda: GrpcExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    get_trace(spoor, hex_trace_id(spans["root"]))
    return spans


@pytest.fixture
def channel(spoor):
    with grpc.insecure_channel(spoor.addr("query-grpc")) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


def trace_id_bytes(span):
    return span.get_span_context().trace_id.to_bytes(16, "big")


def span_id_bytes(span):
    return span.get_span_context().span_id.to_bytes(8, "big")


def ns(ts):
    """A protobuf Timestamp or Duration as integer nanoseconds."""
    return ts.seconds * 1_000_000_000 + ts.nanos


def v2_tags(pb, kvs):
    """{key: (type name, value)} from api_v2 KeyValues, reading the field v_type names."""
    field = {
        pb.model.STRING: "v_str",
        pb.model.BOOL: "v_bool",
        pb.model.INT64: "v_int64",
        pb.model.FLOAT64: "v_float64",
        pb.model.BINARY: "v_binary",
    }
    return {kv.key: (pb.model.ValueType.Name(kv.v_type), getattr(kv, field[kv.v_type])) for kv in kvs}


def expect_code(code, call, *args):
    with pytest.raises(grpc.RpcError) as err:
        result = call(*args)
        if not hasattr(result, "ListFields"):
            list(result)  # a stream fails when read
    assert err.value.code() == code, err.value.details()
    return err.value


def test_api_v2(spoor, sent, channel, pb):
    stub = pb.v2_grpc.QueryServiceStub(channel)

    assert list(stub.GetServices(pb.v2.GetServicesRequest()).services) == ["checkout", "payments"]
    ops = stub.GetOperations(pb.v2.GetOperationsRequest(service="checkout"))
    assert [(o.name, o.span_kind) for o in ops.operations] == [
        ("GET /checkout", "server"),
        ("SELECT orders", "client"),
        ("charge card", "client"),
    ]
    assert list(ops.operationNames) == ["GET /checkout", "SELECT orders", "charge card"]
    servers = stub.GetOperations(pb.v2.GetOperationsRequest(service="checkout", span_kind="server"))
    assert [o.name for o in servers.operations] == ["GET /checkout"]

    chunks = list(stub.GetTrace(pb.v2.GetTraceRequest(trace_id=trace_id_bytes(sent["root"]))))
    assert len(chunks) == 1  # 4 spans: one chunk of at most 10
    spans = {s.operation_name: s for s in chunks[0].spans}
    assert set(spans) == {"GET /checkout", "SELECT orders", "charge card", "POST /charge"}
    for s in spans.values():
        assert s.trace_id == trace_id_bytes(sent["root"])
        assert s.flags & ~0xFF == 0  # W3C trace flags only
        assert s.process_id == ""  # as Jaeger: the process is inline

    root = spans["GET /checkout"]
    assert root.span_id == span_id_bytes(sent["root"])
    assert list(root.references) == []
    assert ns(root.start_time) == sent["root"].start_time  # nanoseconds kept
    assert ns(root.duration) == sent["root"].end_time - sent["root"].start_time
    tags = v2_tags(pb, root.tags)
    assert tags["span.kind"] == ("STRING", "server")
    assert tags["http.method"] == ("STRING", "GET")
    assert tags["http.status_code"] == ("INT64", 500)
    assert tags["otel.scope.name"] == ("STRING", "e2e-tests")
    assert tags["otel.scope.version"] == ("STRING", "1.2.3")
    assert root.process.service_name == "checkout"
    ptags = v2_tags(pb, root.process.tags)
    assert ptags["deployment.environment"] == ("STRING", "e2e")
    assert ptags["telemetry.sdk.language"] == ("STRING", "python")
    assert "service.name" not in ptags

    db = spans["SELECT orders"]
    assert db.span_id == span_id_bytes(sent["db"])
    [ref] = db.references
    assert (ref.trace_id, ref.span_id, ref.ref_type) == (
        trace_id_bytes(sent["root"]),
        span_id_bytes(sent["root"]),
        pb.model.CHILD_OF,
    )
    tags = v2_tags(pb, db.tags)
    assert tags["db.rows"] == ("INT64", 3)
    assert tags["ratio"] == ("FLOAT64", 0.5)
    assert tags["cached"] == ("BOOL", False)
    assert tags["db.system"] == ("STRING", "postgresql")
    [log] = db.logs
    assert ns(log.timestamp) == sent["db"].events[0].timestamp
    assert [(f.key, pb.model.ValueType.Name(f.v_type)) for f in log.fields] == [
        ("event", "STRING"),
        ("attempt", "INT64"),
    ]
    assert log.fields[0].v_str == "query.start" and log.fields[1].v_int64 == 1

    remote = spans["POST /charge"]
    assert remote.references[0].span_id == span_id_bytes(sent["charge"])
    assert remote.references[0].ref_type == pb.model.CHILD_OF
    tags = v2_tags(pb, remote.tags)
    assert tags["error"] == ("BOOL", True)
    assert tags["otel.status_code"] == ("STRING", "ERROR")
    assert tags["otel.status_description"] == ("STRING", "card declined")
    assert remote.process.service_name == "payments"

    # FindTraces: conjunction of service, tag and window; the whole trace comes back.
    now = time.time_ns()
    query = pb.v2.TraceQueryParameters(service_name="checkout", tags={"http.method": "GET"})
    query.start_time_min.FromNanoseconds(now - 3600 * 10**9)
    query.start_time_max.FromNanoseconds(now)
    found = list(stub.FindTraces(pb.v2.FindTracesRequest(query=query)))
    assert sorted(s.operation_name for c in found for s in c.spans) == sorted(spans)
    query = pb.v2.TraceQueryParameters(service_name="payments", operation_name="no such op")
    assert list(stub.FindTraces(pb.v2.FindTracesRequest(query=query))) == []

    # From the service graph: the db.system client span is an edge to the virtual node
    # postgresql once it waited the graph's ttl (2 s) for a server side.
    def deps():
        r = stub.GetDependencies(pb.v2.GetDependenciesRequest())
        return [(d.parent, d.child, d.call_count) for d in r.dependencies]

    want = [("checkout", "payments", 1), ("checkout", "postgresql", 1)]
    wait_for(lambda: deps() == want, timeout=10, what=f"{want}, got {deps()}")

    # Errors.
    for bad in [b"", b"\x00" * 16, b"\x01" * 17]:
        expect_code(grpc.StatusCode.INVALID_ARGUMENT, stub.GetTrace, pb.v2.GetTraceRequest(trace_id=bad))
    expect_code(grpc.StatusCode.NOT_FOUND, stub.GetTrace, pb.v2.GetTraceRequest(trace_id=b"\x42" * 16))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, stub.FindTraces, pb.v2.FindTracesRequest())
    expect_code(
        grpc.StatusCode.UNIMPLEMENTED,
        stub.ArchiveTrace,
        pb.v2.ArchiveTraceRequest(trace_id=trace_id_bytes(sent["root"])),
    )


def test_api_v3(spoor, sent, channel, pb):
    from opentelemetry.proto.trace.v1 import trace_pb2

    stub = pb.v3_grpc.QueryServiceStub(channel)
    assert list(stub.GetServices(pb.v3.GetServicesRequest()).services) == ["checkout", "payments"]
    ops = stub.GetOperations(pb.v3.GetOperationsRequest(service="payments"))
    assert [(o.name, o.span_kind) for o in ops.operations] == [("POST /charge", "server")]

    trace_hex = hex_trace_id(sent["root"])
    chunks = list(stub.GetTrace(pb.v3.GetTraceRequest(trace_id=trace_hex)))
    assert len(chunks) == 1
    assert isinstance(chunks[0], trace_pb2.TracesData)
    by_name = {}
    for rs in chunks[0].resource_spans:
        service = {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"]
        for ss in rs.scope_spans:
            for s in ss.spans:
                by_name[s.name] = (service, ss.scope, s)
    assert set(by_name) == {"GET /checkout", "SELECT orders", "charge card", "POST /charge"}
    service, scope, root = by_name["GET /checkout"]
    assert (service, scope.name, scope.version) == ("checkout", "e2e-tests", "1.2.3")
    assert root.trace_id == trace_id_bytes(sent["root"])
    assert root.span_id == span_id_bytes(sent["root"])
    assert root.parent_span_id == b""
    assert root.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert root.start_time_unix_nano == sent["root"].start_time
    assert root.end_time_unix_nano == sent["root"].end_time
    assert {a.key: a.value.int_value for a in root.attributes if a.key == "http.status_code"} == {
        "http.status_code": 500
    }
    _, _, db = by_name["SELECT orders"]
    assert db.parent_span_id == span_id_bytes(sent["root"])
    attrs = {a.key: a.value for a in db.attributes}
    assert attrs["db.rows"].int_value == 3
    assert attrs["ratio"].double_value == 0.5
    assert attrs["cached"].HasField("bool_value") and not attrs["cached"].bool_value
    [event] = db.events
    assert (event.name, event.time_unix_nano) == ("query.start", sent["db"].events[0].timestamp)
    service, _, remote = by_name["POST /charge"]
    assert service == "payments"
    assert remote.parent_span_id == span_id_bytes(sent["charge"])
    assert remote.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert remote.status.message == "card declined"

    now = time.time_ns()
    query = pb.v3.TraceQueryParameters(
        service_name="payments", operation_name="POST /charge", search_depth=5
    )
    query.start_time_min.FromNanoseconds(now - 3600 * 10**9)
    query.start_time_max.FromNanoseconds(now)
    found = list(stub.FindTraces(pb.v3.FindTracesRequest(query=query)))
    assert len(found) == 1
    assert sum(len(ss.spans) for rs in found[0].resource_spans for ss in rs.scope_spans) == 4
    query.duration_min.FromSeconds(3600)
    assert list(stub.FindTraces(pb.v3.FindTracesRequest(query=query))) == []

    [summaries] = list(
        stub.FindTraceSummaries(
            pb.v3.FindTraceSummariesRequest(query=pb.v3.TraceQueryParameters(service_name="checkout"))
        )
    )
    [summary] = summaries.summaries
    assert summary.trace_id == trace_hex
    assert (summary.root_service_name, summary.root_operation_name) == ("checkout", "GET /checkout")
    assert (summary.span_count, summary.error_span_count, summary.orphan_span_count) == (4, 2, 0)
    assert summary.min_start_time_unix_nano == sent["root"].start_time
    assert summary.max_end_time_unix_nano == sent["root"].end_time
    assert [(s.name, s.span_count, s.error_span_count) for s in summary.services] == [
        ("checkout", 3, 1),
        ("payments", 1, 1),
    ]

    for bad in ["", "not-hex", "0" * 32, "1" * 33]:
        err = expect_code(grpc.StatusCode.INVALID_ARGUMENT, stub.GetTrace, pb.v3.GetTraceRequest(trace_id=bad))
        assert "trace_id" in err.details()
    expect_code(grpc.StatusCode.NOT_FOUND, stub.GetTrace, pb.v3.GetTraceRequest(trace_id="42" * 16))
    expect_code(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.FindTraces,
        pb.v3.FindTracesRequest(query=pb.v3.TraceQueryParameters(service_name="checkout", filter=b"\x0a\x00")),
    )
