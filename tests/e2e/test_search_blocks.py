"""Search in blocks (tags checked column by column, row groups read newest first with an early
stop) answers through the real binary what it answers from the head before the restart."""

import json
import signal
import time

import requests

N = 60


def tid(i):
    return f"ab{i:030x}"


def span_json(i, now):
    trace = tid(i)
    start = now - (N - i) * 1_000_000_000
    attrs = [{"key": "tenant.id", "value": {"stringValue": f"t{i % 3}"}}]
    if i % 5 == 0:
        attrs.append({"key": "http.method", "value": {"stringValue": "POST"}})
    events = []
    if i % 7 == 0:
        events = [{"name": "ev", "timeUnixNano": str(start), "attributes": [{"key": "retry", "value": {"intValue": "3"}}]}]
    return {
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "svc-a" if i % 2 else "svc-b"}},
            {"key": "region", "value": {"stringValue": "eu" if i % 4 else "us"}},
        ]},
        "scopeSpans": [{"spans": [{
            "traceId": trace,
            "spanId": f"{i + 1:016x}",
            "name": "op",
            "kind": 3 if i % 8 == 0 else 2,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 1_000_000),
            "attributes": attrs,
            "events": events,
            "status": {"code": 2} if i % 6 == 0 else {},
        }]}],
    }


def search(spoor, **params):
    r = spoor.query("/api/traces", lookback="2h", **params)
    assert r.status_code == 200, r.text
    return [t["traceID"] for t in r.json()["data"]]


QUERIES = [
    {"service": "svc-a", "tags": '{"tenant.id":"t1"}', "limit": "4"},
    {"tags": '{"tenant.id":"t2"}', "limit": "5"},
    {"tags": '{"http.method":"POST"}', "limit": "20"},
    {"tags": '{"region":"us"}', "limit": "3"},
    {"tags": '{"retry":"3"}', "limit": "20"},
    {"service": "svc-b", "tags": '{"error":"true"}', "limit": "20"},
    # Tags Jaeger derives from span fields (the query layer's, pushed down as neutral predicates).
    {"tags": '{"span.kind":"client"}', "limit": "20"},
    {"tags": '{"otel.status_code":"ERROR","span.kind":"server"}', "limit": "20"},
    {"tags": '{"tenant.id":"t0","region":"eu"}', "limit": "20"},
    {"tags": '{"tenant.id":"nobody"}', "limit": "20"},
]


def expected(q):
    """The newest `limit` matching traces, computed from what was sent."""
    want = []
    for i in reversed(range(N)):
        service = "svc-a" if i % 2 else "svc-b"
        tags = {"tenant.id": f"t{i % 3}", "region": "eu" if i % 4 else "us"}
        if i % 5 == 0:
            tags["http.method"] = "POST"
        if i % 7 == 0:
            tags["retry"] = "3"
        if i % 6 == 0:
            tags["error"] = "true"
            tags["otel.status_code"] = "ERROR"
        tags["span.kind"] = "client" if i % 8 == 0 else "server"
        if "service" in q and q["service"] != service:
            continue
        if all(tags.get(k) == v for k, v in json.loads(q["tags"]).items()):
            want.append(tid(i))
    return want[: int(q["limit"])]


def test_search_in_blocks_answers_as_the_head_did(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    first = start_spoor("--data-dir", data)
    now = time.time_ns()
    body = {"resourceSpans": [span_json(i, now) for i in range(N)]}
    r = requests.post(first.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text
    from_head = [search(first, **q) for q in QUERIES]
    assert first.stop(signal.SIGTERM) == 0
    # A clean shutdown cuts the head into a block; the reopened server reads only blocks.
    second = start_spoor("--data-dir", data)
    from_blocks = [search(second, **q) for q in QUERIES]
    for q, head, blocks in zip(QUERIES, from_head, from_blocks):
        want = expected(q)
        assert head == want, q
        assert blocks == want, q
    assert any(from_blocks[-2]) and from_blocks[-1] == []
