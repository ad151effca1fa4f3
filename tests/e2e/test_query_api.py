"""The Jaeger query API's search semantics, catalog, dependencies, transform, api_v3, health."""

import json
import time

import requests

from conftest import CONFORMANCE, get_trace, wait_for

NOW_NS = time.time_ns()


def otlp_span(trace_id, span_id, name, parent="", kind=2, start_ms_ago=1000, duration_ms=10, attrs=None, error=False):
    start = NOW_NS - start_ms_ago * 1_000_000
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ms * 1_000_000),
        "attributes": [{"key": k, "value": v} for k, v in (attrs or {}).items()],
    }
    if parent:
        span["parentSpanId"] = parent
    if error:
        span["status"] = {"code": "STATUS_CODE_ERROR", "message": "failed"}
    return span


def post_json(spoor, resource_spans):
    r = requests.post(
        spoor.url("otlp-http", "/v1/traces"),
        data=json.dumps({"resourceSpans": resource_spans}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


def resource(service, spans):
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
    }


def tid(n):
    return f"{n:032x}"


def sid(n):
    return f"{n:016x}"


def seed(spoor):
    """Ten traces of service `shop`; trace i has a root `op-{i%2}` lasting i*10 ms, starting i s
    ago, and a child in service `db`. Trace 3 is an error; trace 7 has tag tier=gold."""
    for i in range(1, 11):
        root_attrs = {"http.method": {"stringValue": "GET"}}
        if i == 7:
            root_attrs["tier"] = {"stringValue": "gold"}
        post_json(
            spoor,
            [
                resource("shop", [otlp_span(tid(i), sid(i * 10), f"op-{i % 2}", start_ms_ago=i * 1000, duration_ms=i * 10, attrs=root_attrs, error=(i == 3))]),
                resource("db", [otlp_span(tid(i), sid(i * 10 + 1), "query", parent=sid(i * 10), kind=3, start_ms_ago=i * 1000 - 1, duration_ms=1)]),
            ],
        )


def search(spoor, **params):
    params.setdefault("service", "shop")
    r = spoor.query("/api/traces", **params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errors"] is None
    assert body["total"] == 0  # as Jaeger: total is set for services and operations only
    return [t["traceID"] for t in body["data"]]


def short(n):
    return f"{n:016x}"


def test_search_semantics(spoor):
    seed(spoor)
    # Newest first; limit applies after filtering.
    assert search(spoor) == [short(i) for i in range(1, 11)]
    assert search(spoor, limit=3) == [short(1), short(2), short(3)]
    assert search(spoor, operation="op-1", limit=2) == [short(1), short(3)]
    # Tags: JSON form and repeated tag=k:v; synthetic error tag from the status.
    assert search(spoor, tags=json.dumps({"tier": "gold"})) == [short(7)]
    assert search(spoor, tag="error:true") == [short(3)]
    assert search(spoor, tag=["http.method:GET", "tier:gold"]) == [short(7)]
    assert search(spoor, tag=["http.method:POST"]) == []
    # Durations are Go duration strings; conditions hold on one span.
    assert search(spoor, minDuration="75ms") == [short(8), short(9), short(10)]
    assert search(spoor, minDuration="35ms", maxDuration="0.05s") == [short(4), short(5)]
    assert search(spoor, service="db", minDuration="5ms") == []
    # Time window in microseconds.
    end_us = (NOW_NS - 4_500 * 1_000_000) // 1000
    assert search(spoor, start=0, end=end_us) == [short(i) for i in range(5, 11)]
    # Across all services (the UI's "all services"): db spans of traces 1..10 match.
    r = spoor.query("/api/traces", tag="span.kind:client", limit=2)
    assert [t["traceID"] for t in r.json()["data"]] == [short(1), short(2)]
    # Fetch several by id, unknown ids skipped.
    r = spoor.query("/api/traces", traceID=[short(2), short(99), short(4)])
    assert [t["traceID"] for t in r.json()["data"]] == [short(2), short(4)]


def test_catalog_and_dependencies(spoor):
    seed(spoor)
    r = spoor.query("/api/services")
    assert r.json() == {"data": ["db", "shop"], "total": 2, "limit": 0, "offset": 0, "errors": None}
    r = spoor.query("/api/services/shop/operations")
    assert r.json()["data"] == ["op-0", "op-1"]
    r = spoor.query("/api/operations", service="db", spanKind="client")
    assert r.json()["data"] == [{"name": "query", "spanKind": "client"}]
    r = spoor.query("/api/operations", service="db", spanKind="server")
    assert r.json()["data"] == []
    r = spoor.query("/api/dependencies", endTs=NOW_NS // 1_000_000, lookback=3_600_000)
    assert r.json()["data"] == [{"parent": "shop", "child": "db", "callCount": 10}]
    r = spoor.query("/api/dependencies", endTs=NOW_NS // 1_000_000 - 5_500, lookback=1000)
    assert [d["callCount"] for d in r.json()["data"]] == [1]


def test_unknown_and_malformed_trace_ids(spoor):
    r = spoor.query("/api/traces/" + "ab" * 16)
    assert r.status_code == 404
    body = r.json()
    assert body["data"] is None and body["errors"][0]["code"] == 404
    r = spoor.query("/api/traces/not-hex")
    assert r.status_code == 400
    assert "malformed trace id" in r.json()["errors"][0]["msg"]
    for bad in [{"service": "x", "minDuration": "fast"}, {"operation": "x"}, {"service": "x", "tags": "{"}]:
        r = spoor.query("/api/traces", **bad)
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["msg"]


def test_enum_names_and_partial_success_over_otlp_json(spoor):
    spans = [otlp_span(tid(77), sid(1), "good", kind="SPAN_KIND_CLIENT", error=True)]
    spans.append(otlp_span("0" * 32, sid(2), "bad-trace-id"))
    body = post_json(spoor, [resource("json-svc", spans)])
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "invalid trace id" in body["partialSuccess"]["errorMessage"]
    trace = get_trace(spoor, short(77))
    tags = {t["key"]: t["value"] for t in trace["spans"][0]["tags"]}
    assert tags["span.kind"] == "client" and tags["error"] is True
    assert spoor.metric("spoor_receiver_spans_refused_total", receiver="otlp", transport="http") == 1


def test_transform_matches_jaeger_fixture(spoor):
    fixture = CONFORMANCE / "jaeger" / "otlp2jaeger"
    if not fixture.is_dir():
        import pytest

        pytest.skip(f"conformance folder {fixture} is absent")
    r = requests.post(spoor.url("query-http", "/api/transform"), data=(fixture / "otlp2jaeger-in.json").read_bytes(), timeout=10)
    assert r.status_code == 200
    assert r.json() == json.loads((fixture / "otlp2jaeger-out.json").read_text())
    assert spoor.query("/api/services").json()["data"] == []  # nothing stored


def test_api_v3(spoor):
    seed(spoor)
    assert spoor.query("/api/v3/services").json() == {"services": ["db", "shop"]}
    ops = spoor.query("/api/v3/operations", service="db").json()
    assert ops == {"operations": [{"name": "query", "spanKind": "client"}]}
    body = spoor.query(f"/api/v3/traces/{tid(3)}").json()
    rs = body["result"]["resourceSpans"]
    spans = [s for r in rs for ss in r["scopeSpans"] for s in ss["spans"]]
    assert {s["spanId"] for s in spans} == {sid(30), sid(31)}
    assert all(s["traceId"] == tid(3) for s in spans)
    root = next(s for s in spans if s["spanId"] == sid(30))
    assert root["kind"] == 2 and root["status"]["code"] == 2
    r = spoor.query("/api/v3/traces/" + "cd" * 16)
    assert r.status_code == 404 and r.json()["error"]["httpCode"] == 404
    found = spoor.query("/api/v3/traces", **{"query.service_name": "shop", "query.attributes": json.dumps({"tier": "gold"})}).json()
    ids = {s["traceId"] for r in found["result"]["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]}
    assert ids == {tid(7)}
    summaries = spoor.query("/api/v3/trace-summaries", **{"query.service_name": "shop", "query.num_traces": 1}).json()["summaries"]
    assert summaries[0]["traceId"] == tid(1)
    assert summaries[0]["rootServiceName"] == "shop" and summaries[0]["spanCount"] == 2


def test_health_and_metrics(spoor):
    r = requests.get(spoor.url("health-http", "/"), timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "Server available"
    assert requests.get(spoor.url("admin-http", "/health"), timeout=5).status_code == 200
    seed(spoor)
    text = spoor.metrics()
    assert "spoor_receiver_spans_received_total" in text
    assert spoor.metric("spoor_store_traces") == 10
    assert spoor.metric("spoor_store_spans") == 20
    wait_for(lambda: spoor.metric("spoor_receiver_bytes_received_total", receiver="otlp", transport="http") > 0)


def test_cors_lets_browser_sdks_post(start_spoor):
    # CORS is off by default (issue 8); a deployment that serves browser SDKs configures it.
    spoor = start_spoor("--storage", "memory", "--otlp-http-cors-allowed-origins", "*")
    preflight = requests.options(
        spoor.url("otlp-http", "/v1/traces"),
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] in ("*", "POST")
    body = {"resourceSpans": [resource("browser", [otlp_span(tid(5), sid(5), "click")])]}
    r = requests.post(
        spoor.url("otlp-http", "/v1/traces"),
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Origin": "http://app.example"},
        timeout=5,
    )
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
