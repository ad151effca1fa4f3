"""Trace by id served from blocks (the engine's pooled-decompressor row-group reader) gives the
same spans as the head gave before the cut: traces are sent over OTLP/HTTP, read back from the
head, the server stops (flushing the head to a block), restarts, and every trace read from the
block must equal its head answer; an unknown id is still a 404."""

import random
import time

import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1 import common_pb2 as common
from opentelemetry.proto.resource.v1 import resource_pb2 as res
from opentelemetry.proto.trace.v1 import trace_pb2 as tr

TRACES = 400
# Recent start times: older spans are outside the default retention.
T0 = (int(time.time()) - 600) * 1_000_000_000


def request(rng, first):
    spans_by_service = {}
    ids = []
    for t in range(first, first + 50):
        trace_id = rng.randbytes(16)
        ids.append(trace_id.hex())
        root = rng.randbytes(8)
        for s in range(1 + t % 7):
            service = f"svc-{(t + s) % 4}"
            spans_by_service.setdefault(service, []).append(
                tr.Span(
                    trace_id=trace_id,
                    span_id=root if s == 0 else rng.randbytes(8),
                    parent_span_id=b"" if s == 0 else root,
                    name=f"op-{s}",
                    kind=2 if s == 0 else 3,
                    start_time_unix_nano=T0 + t * 1_000_000 + s,
                    end_time_unix_nano=T0 + t * 1_000_000 + s + 5_000 * (s + 1),
                    attributes=[
                        common.KeyValue(key="http.route", value=common.AnyValue(string_value=f"/r/{t % 9}")),
                        common.KeyValue(key="n", value=common.AnyValue(int_value=t * 10 + s)),
                    ],
                )
            )
    body = ts.ExportTraceServiceRequest(
        resource_spans=[
            tr.ResourceSpans(
                resource=res.Resource(
                    attributes=[common.KeyValue(key="service.name", value=common.AnyValue(string_value=svc))]
                ),
                scope_spans=[tr.ScopeSpans(spans=spans)],
            )
            for svc, spans in spans_by_service.items()
        ]
    )
    return body.SerializeToString(), ids


def normalised(trace):
    """Spans by span id, with tags sorted: the order of spans and tags is not the answer."""
    processes = trace["processes"]
    out = {}
    for s in trace["spans"]:
        out[s["spanID"]] = (
            s["traceID"],
            s["operationName"],
            s["startTime"],
            s["duration"],
            sorted((r["refType"], r["spanID"]) for r in s.get("references", [])),
            sorted((t["key"], str(t["value"])) for t in s.get("tags", [])),
            processes[s["processID"]]["serviceName"],
        )
    return out


def get(spoor, trace_id):
    r = requests.get(spoor.url("query-http", f"/api/traces/{trace_id}"), timeout=30)
    assert r.status_code == 200, (trace_id, r.status_code, r.text[:300])
    (trace,) = r.json()["data"]
    return normalised(trace)


def test_traces_read_from_blocks_equal_their_head_answers(start_spoor, tmp_path):
    data = tmp_path / "data"
    args = ("--storage", "disk", "--data-dir", str(data))
    spoor = start_spoor(*args)
    rng = random.Random(11)
    ids = []
    for first in range(0, TRACES, 50):
        body, batch_ids = request(rng, first)
        r = requests.post(
            spoor.url("otlp-http", "/v1/traces"),
            data=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        ids += batch_ids
    from_head = {i: get(spoor, i) for i in ids}
    assert sum(len(v) for v in from_head.values()) == sum(1 + t % 7 for t in range(TRACES))
    spoor.stop()
    assert list(data.rglob("*.parquet")), "stopping flushed the head to a block"

    restarted = start_spoor(*args)
    for i in ids:
        assert get(restarted, i) == from_head[i], i
    r = requests.get(restarted.url("query-http", f"/api/traces/{'ab' * 16}"), timeout=30)
    assert r.status_code == 404
