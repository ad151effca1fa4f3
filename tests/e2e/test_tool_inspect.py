"""Block format 3 through the real binary: spans of multi-span traces come back from blocks with
their start and end times exact to the nanosecond (starts are stored relative to the trace), and
`spoor tool inspect` prints the per-column byte breakdown and bytes per span of a block file and
of a whole data directory."""

import base64
import re
import subprocess
import time

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from conftest import SPOOR_BIN, wait_for

CUT = ("--block-cut-interval", "1s")


def trace_id(n):
    return f"{0xb3:02x}{n:030x}"


def request(traces, base):
    """`traces` traces of 5 spans each: a root and children starting at odd nanosecond offsets."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="inspect"))
    spans = rs.scope_spans.add().spans
    expected = {}
    for n in traces:
        # Trace starts far apart, as trace ids sort them in no time order.
        t0 = base - (n * 7_919_000_003) % 3_600_000_000_000
        for k in range(5):
            s = spans.add()
            s.trace_id = bytes.fromhex(trace_id(n))
            s.span_id = (n * 10 + k + 1).to_bytes(8, "big")
            if k:
                s.parent_span_id = (n * 10 + 1).to_bytes(8, "big")
            s.name = f"op-{k}"
            s.start_time_unix_nano = t0 + k * 1_000_003 + n
            s.end_time_unix_nano = s.start_time_unix_nano + 999_999_937 - k
            s.attributes.add(key="n", value=AnyValue(int_value=n))
            expected[(trace_id(n), s.span_id.hex())] = (s.start_time_unix_nano, s.end_time_unix_nano)
    return req.SerializeToString(), expected


def post(spoor, body):
    r = requests.post(
        spoor.url("otlp-http", "/v1/traces"),
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def times_of(spoor, tid):
    """(trace id, span id hex) → (start, end) from api_v3 (OTLP JSON, nanoseconds)."""
    r = spoor.query(f"/api/v3/traces/{tid}")
    assert r.status_code == 200, r.text
    out = {}
    for rs in r.json()["result"]["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                span_hex = s["spanId"]
                if not re.fullmatch("[0-9a-f]{16}", span_hex):
                    span_hex = base64.b64decode(span_hex).hex()
                out[(tid, span_hex)] = (int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]))
    return out


def inspect(path):
    r = subprocess.run([str(SPOOR_BIN), "tool", "inspect", str(path)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_block_times_exact_and_inspect_breakdown(start_spoor, tmp_path):
    data = tmp_path / "data"
    spoor = start_spoor("--data-dir", str(data), *CUT)
    body, expected = request(range(1, 41), time.time_ns())
    post(spoor, body)
    wait_for(lambda: spoor.metric("spoor_engine_blocks_written_total") >= 1, what="a block")
    wait_for(lambda: spoor.metric("spoor_engine_head_spans") == 0, what="an empty head", timeout=10)
    got = {}
    for n in range(1, 41):
        got.update(times_of(spoor, trace_id(n)))
    assert got == expected
    assert spoor.stop() == 0

    # After a restart everything is read from the block file.
    spoor = start_spoor("--data-dir", str(data), *CUT)
    assert times_of(spoor, trace_id(7)) == {k: v for k, v in expected.items() if k[0] == trace_id(7)}
    r = spoor.query("/api/traces", service="inspect", limit="100", lookback="2h")
    assert r.status_code == 200 and len(r.json()["data"]) == 40, r.text
    assert spoor.stop() == 0

    code, out, err = inspect(data)
    assert code == 0, err
    assert re.search(r"format 3, 200 spans", out), out
    for column in ("span_id", "trace_start_unix_nano", "start_offset_nano", "duration_nano", "attributes_int.list.item.value"):
        assert re.search(rf"^\s+{re.escape(column)}\s+\d+\s+[\d.]+\s+[\d.]+%", out, re.M), (column, out)
    total = re.search(r"\(all columns\)\s+(\d+)\s+([\d.]+)", out)
    assert total and int(total.group(1)) > 0 and float(total.group(2)) > 0, out
    per_span = re.search(r"columns \((\d+) spans, ([\d.]+) bytes/span in files\)", out)
    assert per_span and per_span.group(1) == "200", out

    block = next((data / "store" / "blocks").glob("*.parquet"))
    code, out, err = inspect(block)
    assert code == 0, err
    assert "spoor.format: 3" in out and "start_offset_nano" in out and "bytes/span" in out, out

    code, out, err = inspect(tmp_path / "missing.parquet")
    assert code != 0 and "missing.parquet" in err, (out, err)
