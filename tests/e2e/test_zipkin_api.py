"""Zipkin API v2 reads on the Zipkin port (9411): spans posted as Zipkin v2 JSON (and by the
real zipkin-js client) are read back through every GET endpoint, field by field against
zipkin-api's `zipkin2-api.yaml`, with the request shapes Grafana's Zipkin data source sends;
shared span ids sent in separate requests come back unique, in the Zipkin and Jaeger APIs."""

import re
import time

import pytest
import requests

from clients.ingest_trace import run_client
from conftest import get_trace, wait_for

T1 = "5af7183fb1d4cf5f6d8a2b4c1e3f9a70"  # frontend → payments (shared span, flagged)
T2 = "463ac35c9f6413ad"  # a 64-bit trace id
T3 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # shared span without the flag
SPAN_KEYS = {
    "traceId", "parentId", "id", "kind", "name", "timestamp", "duration",
    "localEndpoint", "remoteEndpoint", "annotations", "tags", "debug", "shared",
}
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(params=["memory", "disk"])
def store(request, start_spoor, tmp_path):
    """A spoor on each storage backend: the in-memory store and the engine on local disk."""
    if request.param == "memory":
        return start_spoor("--storage", "memory")
    return start_spoor("--storage", "disk", "--data-dir", str(tmp_path / "data"))


def now_us():
    return int(time.time() * 1_000_000)


def post(spoor, spans):
    r = requests.post(spoor.url("zipkin", "/api/v2/spans"), json=spans, timeout=10)
    assert r.status_code == 202, r.text


def zget(spoor, path, **params):
    return requests.get(spoor.url("zipkin", f"/api/v2/{path}"), params=params, timeout=10)


def ok(spoor, path, **params):
    r = zget(spoor, path, **params)
    assert r.status_code == 200, (path, params, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def bad(spoor, path, status=400, **params):
    r = zget(spoor, path, **params)
    assert r.status_code == status, (path, params, r.status_code, r.text)
    assert r.text.strip(), "an error carries a message"
    return r.text


def seed(spoor):
    base = now_us() - 5_000_000
    root = {
        "traceId": T1, "id": "a000000000000001", "kind": "SERVER", "name": "GET /Checkout",
        "timestamp": base, "duration": 200_000,
        "localEndpoint": {"serviceName": "Frontend", "ipv4": "10.0.0.1", "port": 8080},
        "annotations": [{"timestamp": base + 10, "value": "wr"}],
        "tags": {"http.method": "GET", "http.path": "/checkout"},
    }
    client = {
        "traceId": T1, "parentId": "a000000000000001", "id": "a000000000000002",
        "kind": "CLIENT", "name": "charge", "timestamp": base + 20_000, "duration": 150_000,
        "localEndpoint": {"serviceName": "frontend"},
        "remoteEndpoint": {"serviceName": "payments", "ipv4": "10.0.0.2", "port": 9000},
        "tags": {"error": "card declined"},
    }
    server = {
        "traceId": T1, "parentId": "a000000000000001", "id": "a000000000000002",
        "kind": "SERVER", "name": "charge", "timestamp": base + 30_000, "duration": 120_000,
        "localEndpoint": {"serviceName": "payments"}, "shared": True,
    }
    other = {
        "traceId": T2, "id": "b000000000000001", "kind": "SERVER", "name": "lookup",
        "timestamp": base + 1_000, "duration": 5_000,
        "localEndpoint": {"serviceName": "inventory"}, "tags": {"http.method": "POST"},
    }
    # The client and server halves of the RPC arrive in separate requests.
    post(spoor, [root, client, other])
    post(spoor, [server])
    wait_for(lambda: len(ok(spoor, f"trace/{T1}")) == 3, what="trace T1 with 3 spans")
    return base, root, client, server, other


def check_span_shape(span):
    assert set(span) <= SPAN_KEYS, set(span) - SPAN_KEYS
    assert HEX32.match(span["traceId"]) or HEX16.match(span["traceId"]), span
    assert HEX16.match(span["id"]), span
    if "parentId" in span:
        assert HEX16.match(span["parentId"]), span
    assert span.get("kind") in (None, "CLIENT", "SERVER", "PRODUCER", "CONSUMER")
    assert span["name"] == span["name"].lower()
    assert isinstance(span["timestamp"], int) and isinstance(span["duration"], int)
    for key in ("localEndpoint", "remoteEndpoint"):
        if key in span:
            assert set(span[key]) <= {"serviceName", "ipv4", "ipv6", "port"}, span[key]
            assert span[key].get("serviceName", "").lower() == span[key].get("serviceName", "")
    for a in span.get("annotations", []):
        assert set(a) == {"timestamp", "value"} and isinstance(a["timestamp"], int)
    assert all(isinstance(v, str) for v in span.get("tags", {}).values())


def test_zipkin_read_api(store):
    spoor = store
    base, root, client, server, other = seed(spoor)

    assert {"frontend", "payments", "inventory"} <= set(ok(spoor, "services"))
    services = ok(spoor, "services")
    assert services == sorted(services)
    assert ok(spoor, "spans", serviceName="frontend") == ["charge", "get /checkout"]
    assert ok(spoor, "spans", serviceName="FRONTEND") == ["charge", "get /checkout"]
    assert ok(spoor, "spans", serviceName="nobody") == []
    assert ok(spoor, "remoteServices", serviceName="frontend") == ["payments"]

    # /trace/{id}: field by field.
    spans = {s["id"] if s.get("kind") != "SERVER" or s["name"] != "charge" else "server": s
             for s in ok(spoor, f"trace/{T1}")}
    for s in spans.values():
        check_span_shape(s)
    r = spans["a000000000000001"]
    assert r["traceId"] == T1 and "parentId" not in r
    assert (r["kind"], r["name"], r["timestamp"], r["duration"]) == (
        "SERVER", "get /checkout", base, 200_000)
    assert r["localEndpoint"] == {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080}
    assert r["annotations"] == [{"timestamp": base + 10, "value": "wr"}]
    assert r["tags"]["http.method"] == "GET" and r["tags"]["http.path"] == "/checkout"
    c = spans["a000000000000002"]
    assert (c["kind"], c["parentId"], c["duration"]) == ("CLIENT", "a000000000000001", 150_000)
    assert c["remoteEndpoint"] == {"serviceName": "payments", "ipv4": "10.0.0.2", "port": 9000}
    assert c["tags"]["error"] == "true"
    assert c["tags"]["otel.status_description"] == "card declined"
    # The shared server half: a new id, the client half as its parent.
    s = spans["server"]
    assert s["id"] != "a000000000000002" and s["parentId"] == "a000000000000002"
    assert s["localEndpoint"] == {"serviceName": "payments"}

    # A 64-bit trace id is answered in 16 digits, asked in 16 or 32.
    t2 = ok(spoor, f"trace/{T2}")
    assert [x["traceId"] for x in t2] == [T2]
    assert ok(spoor, f"trace/{T2.rjust(32, '0')}") == t2

    many = ok(spoor, "traceMany", traceIds=f"{T1},{T2},{'1' * 32}")
    assert sorted(t[0]["traceId"] for t in many) == sorted([T1, T2])

    # /traces: Zipkin's search semantics.
    def found(**params):
        return sorted(t[0]["traceId"] for t in ok(spoor, "traces", **params))

    assert found(serviceName="frontend") == [T1]
    assert found(serviceName="Frontend", spanName="GET /checkout") == [T1]
    assert found(serviceName="frontend", spanName="all") == [T1]
    assert found(serviceName="frontend", spanName="lookup") == []
    assert found(serviceName="frontend", remoteServiceName="payments") == [T1]
    assert found(serviceName="frontend", remoteServiceName="ledger") == []
    # `error` on the client span, `http.method=GET` on the root: both frontend spans.
    assert found(serviceName="frontend", annotationQuery="error and http.method=GET") == [T1]
    assert found(annotationQuery="http.method=POST") == [T2]
    assert found(annotationQuery="wr") == [T1]
    assert found(serviceName="payments", annotationQuery="http.method=GET") == []
    assert found(minDuration=150_000) == [T1]
    assert found(minDuration=4_000, maxDuration=6_000) == [T2]
    assert found(minDuration=300_000) == []
    assert found(limit=1) in ([T1], [T2])
    end_ms = base // 1000 + 10_000
    assert found(endTs=end_ms, lookback=60_000) == sorted([T1, T2])
    assert found(endTs=base // 1000 - 60_000, lookback=1_000) == []

    links = ok(spoor, "dependencies", endTs=end_ms, lookback=3_600_000)
    assert {"parent": "frontend", "child": "payments", "callCount": 1} in links

    assert {"http.method", "http.path"} <= set(ok(spoor, "autocompleteKeys"))
    assert ok(spoor, "autocompleteValues", key="http.method") == ["GET", "POST"]


def test_grafana_zipkin_request_shapes(spoor):
    """Grafana's Zipkin data source (`datasource.ts`, `QueryField.tsx`): test the data source
    with /services, fill the cascader with /spans?serviceName and /traces?serviceName&spanName
    (no time parameters: the default window), take each trace's root span name, duration and
    trace id, then load /trace/{encodeURIComponent(id)}."""
    seed(spoor)
    assert "frontend" in ok(spoor, "services")
    for span_name in ok(spoor, "spans", serviceName="frontend"):
        traces = ok(spoor, "traces", serviceName="frontend", spanName=span_name)
        assert traces, span_name
        for trace in traces:
            roots = [s for s in trace if not s.get("parentId")]
            assert roots and roots[0]["name"] and roots[0]["duration"] > 0
            full = ok(spoor, f"trace/{roots[0]['traceId']}")
            assert {s["id"] for s in trace} == {s["id"] for s in full}
    deps = ok(spoor, "dependencies", endTs=int(time.time() * 1000), lookback=3_600_000)
    assert all(set(d) == {"parent", "child", "callCount"} for d in deps)


def test_shared_span_id_without_the_flag_is_made_unique_at_read_time(store):
    spoor = store
    base = now_us() - 2_000_000
    client = {
        "traceId": T3, "id": "c000000000000001", "kind": "CLIENT", "name": "call",
        "timestamp": base, "duration": 100_000, "localEndpoint": {"serviceName": "caller"},
    }
    server = {
        "traceId": T3, "id": "c000000000000001", "kind": "SERVER", "name": "serve",
        "timestamp": base + 10_000, "duration": 80_000, "localEndpoint": {"serviceName": "callee"},
    }
    child = {
        "traceId": T3, "id": "c000000000000002", "parentId": "c000000000000001",
        "kind": "CLIENT", "name": "db", "timestamp": base + 20_000, "duration": 10_000,
        "localEndpoint": {"serviceName": "callee"},
    }
    post(spoor, [client])
    post(spoor, [server, child])
    trace = wait_for(
        lambda: (t := get_trace(spoor, T3)) and len(t["spans"]) == 3 and t,
        what="3 spans of T3",
    )
    by_name = {s["operationName"]: s for s in trace["spans"]}
    ids = [s["spanID"] for s in trace["spans"]]
    assert len(set(ids)) == 3, ids
    assert by_name["call"]["spanID"] == "c000000000000001"
    serve = by_name["serve"]
    assert serve["spanID"] != "c000000000000001"
    assert serve["references"] == [
        {"refType": "CHILD_OF", "traceID": T3, "spanID": "c000000000000001"}
    ]
    assert by_name["db"]["references"][0]["spanID"] == serve["spanID"]
    # The same in the Zipkin API.
    zipkin = {s["name"]: s for s in ok(spoor, f"trace/{T3}")}
    assert zipkin["serve"]["id"] == serve["spanID"]
    assert zipkin["serve"]["parentId"] == "c000000000000001"
    assert zipkin["db"]["parentId"] == serve["spanID"]


def test_zipkin_js_trace_reads_back(spoor):
    """The real zipkin-js client posts its 3-span trace; the Zipkin API returns it."""
    sent = run_client(["node", "node_zipkin.js", "v2", spoor.url("zipkin"), "zipkin-js-read"])
    trace = wait_for(
        lambda: (r := zget(spoor, f"trace/{sent['trace_id']}")).status_code == 200
        and len(r.json()) == 3 and r.json(),
        what="zipkin-js trace",
    )
    for s in trace:
        check_span_shape(s)
    ids = {s["id"] for s in trace}
    assert {sent["root"], sent["db"], sent["charge"]} <= ids | {s.get("parentId") for s in trace}
    assert "zipkin-js-read" in ok(spoor, "services")
    assert ok(spoor, "spans", serviceName="zipkin-js-read")


def test_bad_zipkin_queries_are_400_and_the_server_keeps_serving(spoor):
    seed(spoor)
    before = {o: spoor.metric("spoor_zipkin_query_requests_total", outcome=o)
              for o in ("ok", "invalid", "not_found")}
    assert "serviceName" in bad(spoor, "spans")
    bad(spoor, "remoteServices")
    bad(spoor, "autocompleteValues")
    bad(spoor, "traceMany")
    bad(spoor, "traceMany", traceIds="abc,zz")
    bad(spoor, "trace/not-hex")
    bad(spoor, f"trace/{'a' * 33}")
    assert "not found" in bad(spoor, f"trace/{'e' * 32}", status=404)
    assert "minDuration" in bad(spoor, "traces", maxDuration=10)
    bad(spoor, "traces", minDuration=10, maxDuration=5)
    bad(spoor, "traces", limit=0)
    bad(spoor, "traces", limit="ten")
    bad(spoor, "traces", endTs=-5)
    bad(spoor, "traces", lookback="1h")
    bad(spoor, "traces", annotationQuery="error and ")
    bad(spoor, "dependencies", endTs="yesterday")
    assert len(ok(spoor, "traces", limit=10**12)) == 2
    counted = {o: spoor.metric("spoor_zipkin_query_requests_total", outcome=o) - before[o]
               for o in before}
    assert counted == {"ok": 1, "invalid": 15, "not_found": 1}, counted
    # Unknown paths stay 404 and POST still ingests.
    assert zget(spoor, "nothing").status_code == 404
    post(spoor, [{"traceId": "1" * 32, "id": "2" * 16, "name": "after",
                  "timestamp": now_us(), "duration": 1, "localEndpoint": {"serviceName": "late"}}])
    wait_for(lambda: "late" in ok(spoor, "services"), what="service late")
