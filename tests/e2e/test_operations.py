"""Operations (issue 11) through the real binary: large traces streamed, deleting data on
demand (admin API and offline tool), and a read-only process that sees new blocks."""

import json
import os
import subprocess
import time

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from conftest import SPOOR_BIN, wait_for
from test_data_safety import moto_endpoint

CUT = ("--block-cut-interval", "1s")


def tid(n):
    return f"{0x0b:02x}{n:030x}"


def request(numbers, service, spans_per_trace=1, start=None):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    spans = rs.scope_spans.add().spans
    now = start or time.time_ns()
    for n in numbers:
        for k in range(spans_per_trace):
            s = spans.add()
            s.trace_id = bytes.fromhex(tid(n))
            s.span_id = (k + 1 + (n << 32)).to_bytes(8, "big")
            if k:
                s.parent_span_id = (k // 2 + 1 + (n << 32)).to_bytes(8, "big")
            s.name = f"op-{k % 7}"
            s.kind = 2
            s.start_time_unix_nano = now + k
            s.end_time_unix_nano = now + k + 1000
            s.attributes.add(key="k", value=AnyValue(int_value=k))
    return req.SerializeToString()


def send(spoor, numbers, service, **kw):
    r = requests.post(
        spoor.url("otlp-http", "/v1/traces"),
        data=request(numbers, service, **kw),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=60,
    )
    assert r.status_code == 200, r.text


def status(spoor, n):
    r = spoor.query(f"/api/traces/{tid(n)}")
    assert r.status_code in (200, 404), (n, r.status_code, r.text)
    return r.status_code


def found(spoor, service):
    r = spoor.query("/api/traces", service=service, limit="1000", lookback="48h")
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def blocks_written(spoor, n):
    wait_for(lambda: spoor.metric("spoor_engine_blocks_written_total") >= n, what=f"{n} blocks")


def delete(spoor, **params):
    return requests.post(spoor.url("admin-http", "/api/admin/delete"), params=params, timeout=60)


def test_a_large_trace_is_streamed_in_chunks_and_complete(start_spoor):
    spoor = start_spoor("--storage", "memory")
    spans = 20_000
    for part in range(4):
        req = ExportTraceServiceRequest.FromString(request([1], "big", spans_per_trace=spans // 4))
        for s in req.resource_spans[0].scope_spans[0].spans:
            s.span_id = (int.from_bytes(s.span_id, "big") + part * spans).to_bytes(8, "big")
        r = requests.post(
            spoor.url("otlp-http", "/v1/traces"),
            data=req.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
    r = requests.get(spoor.url("query-http", f"/api/traces/{tid(1)}"), stream=True, timeout=120)
    assert r.status_code == 200
    assert r.headers.get("Transfer-Encoding") == "chunked", r.headers
    assert "Content-Length" not in r.headers
    chunks = [c for c in r.iter_content(chunk_size=None) if c]
    assert len(chunks) > 10, f"{len(chunks)} chunks: the body was not streamed"
    body = json.loads(b"".join(chunks))
    trace = body["data"][0]
    assert trace["traceID"] == tid(1)
    assert len(trace["spans"]) == spans
    assert len({s["spanID"] for s in trace["spans"]}) == spans
    assert trace["processes"]["p1"]["serviceName"] == "big"
    assert body["errors"] is None and body["total"] == 0
    # The same trace indented on request, and in search results.
    pretty = spoor.query(f"/api/traces/{tid(1)}", prettyPrint="true").json()
    assert len(pretty["data"][0]["spans"]) == spans
    listed = spoor.query("/api/traces", service="big", lookback="1h").json()
    assert len(listed["data"][0]["spans"]) == spans


def test_delete_through_the_admin_api_and_after_a_restart(start_spoor, tmp_path):
    data = tmp_path / "data"
    spoor = start_spoor("--data-dir", str(data), *CUT)
    old = time.time_ns() - 3 * 3600 * 10**9
    send(spoor, range(1, 11), "gone")
    send(spoor, range(11, 21), "kept")
    send(spoor, range(21, 26), "kept", start=old)
    blocks_written(spoor, 1)
    send(spoor, range(26, 31), "gone")  # still in the head: the delete cuts it first

    # Bad input: 400 with a message, counted; nothing deleted.
    for params in ({}, {"before": "soon"}, {"servce": "gone"}, {"service": ""}):
        r = delete(spoor, **params)
        assert r.status_code == 400, (params, r.status_code, r.text)
        assert r.json()["error"], r.text
    assert spoor.metric("spoor_admin_delete_requests_total", outcome="invalid") == 4
    assert requests.get(spoor.url("admin-http", "/api/admin/delete"), timeout=10).status_code == 405
    assert found(spoor, "gone") == 15

    r = delete(spoor, service="gone")
    assert r.status_code == 200, r.text
    assert r.json()["spans_deleted"] == 15, r.text
    assert spoor.metric("spoor_admin_delete_requests_total", outcome="ok") == 1
    assert spoor.metric("spoor_engine_deleted_spans_total") == 15
    assert [status(spoor, n) for n in range(1, 11)] == [404] * 10
    assert [status(spoor, n) for n in range(26, 31)] == [404] * 5
    assert found(spoor, "gone") == 0
    assert "gone" not in spoor.query("/api/services").json()["data"]
    assert found(spoor, "kept") == 15

    # By age: the three-hour-old traces go, the rest stay.
    r = delete(spoor, before="2h")
    assert r.status_code == 200 and r.json()["spans_deleted"] == 5, r.text
    assert [status(spoor, n) for n in range(21, 26)] == [404] * 5
    assert [status(spoor, n) for n in range(11, 21)] == [200] * 10
    assert spoor.stop() == 0

    again = start_spoor("--data-dir", str(data), *CUT)
    assert [status(again, n) for n in range(1, 11)] == [404] * 10
    assert [status(again, n) for n in range(21, 31)] == [404] * 10
    assert [status(again, n) for n in range(11, 21)] == [200] * 10
    assert found(again, "gone") == 0


def test_the_memory_store_cannot_delete(spoor):
    r = delete(spoor, service="x")
    assert r.status_code == 501, r.text
    assert spoor.metric("spoor_admin_delete_requests_total", outcome="unsupported") == 1


def test_tool_delete_offline(start_spoor, tmp_path):
    data = tmp_path / "data"
    spoor = start_spoor("--data-dir", str(data), *CUT)
    send(spoor, range(1, 6), "a")
    send(spoor, range(6, 11), "b")
    assert spoor.stop() == 0  # the head is cut into a block on shutdown

    tool = [str(SPOOR_BIN), "tool", "delete", "--data-dir", str(data)]
    bad = subprocess.run(tool, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--before" in bad.stderr, bad.stderr
    bad = subprocess.run(tool + ["--before", "soon"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "before" in bad.stderr, bad.stderr
    out = subprocess.run(tool + ["--service", "a"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "deleted 5 spans" in out.stdout, out.stdout

    again = start_spoor("--data-dir", str(data))
    assert [status(again, n) for n in range(1, 6)] == [404] * 5
    assert [status(again, n) for n in range(6, 11)] == [200] * 5
    assert found(again, "a") == 0 and found(again, "b") == 5


def reader_sees_new_blocks(start_spoor, writer_args, reader_args, env=None):
    writer = start_spoor(*writer_args, *CUT, env=env)
    send(writer, [1], "svc")
    blocks_written(writer, 1)
    reader = start_spoor(*reader_args, "--read-only", "--manifest-poll-interval", "300ms", env=env)
    assert status(reader, 1) == 200
    assert "otlp-http" not in reader.addrs and "otlp-grpc" not in reader.addrs, reader.addrs
    r = delete(reader, service="svc")
    assert r.status_code == 503 and "read-only" in r.text, r.text

    send(writer, [2, 3], "svc")
    blocks_written(writer, 2)
    t = time.time()
    wait_for(lambda: status(reader, 2) == 200 and status(reader, 3) == 200, timeout=5,
             what="the reader to find the new block")
    assert time.time() - t < 3, "found only after several poll intervals"
    assert found(reader, "svc") == 3
    assert reader.metric("spoor_engine_manifest_refreshes_total") >= 1
    # The writer deletes; the reader follows.
    assert delete(writer, service="svc").status_code == 200
    wait_for(lambda: status(reader, 1) == 404, timeout=5, what="the delete to reach the reader")
    assert reader.stop() == 0
    assert writer.stop() == 0


def test_a_read_only_process_on_the_same_data_dir_sees_new_blocks(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    reader_sees_new_blocks(start_spoor, ["--data-dir", data], ["--data-dir", data])
    assert not (tmp_path / "data" / "store" / "quarantine").exists() or not any(
        (tmp_path / "data" / "store" / "quarantine").iterdir()
    )


def test_a_read_only_process_on_the_same_bucket_sees_new_blocks(start_spoor, tmp_path):
    endpoint = moto_endpoint()
    bucket = f"spoor-ro-{os.getpid()}-{time.time_ns()}"
    assert requests.put(f"{endpoint}/{bucket}", timeout=10).status_code == 200
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    url = f"s3://{bucket}/traces"
    reader_sees_new_blocks(
        start_spoor,
        ["--data-dir", str(tmp_path / "w"), "--storage-url", url],
        ["--data-dir", str(tmp_path / "r"), "--storage-url", url],
        env=env,
    )
