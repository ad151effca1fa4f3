"""Real clients' expectations of the query API (issue 9 items 1–5 and 8, issue 8's query side):
api_v3 parameters in both spellings, the Jaeger UI's exact search, the Deep Dependency Graph,
JSON 404s, prettyPrint, orphan counts, key:value tags, double exports, the search cap, CORS,
UI security headers and idle-connection timeouts."""

import json
import socket
import time
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
import requests

from conftest import get_trace, wait_for
from test_query_api import NOW_NS, otlp_span, post_json, resource, search, seed, short, sid, tid


def iso(ns):
    """RFC 3339 with milliseconds and Z, as JavaScript's Date.toISOString() writes it."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def v3_trace_ids(body):
    return sorted({s["traceId"] for r in body["result"]["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]})


def v3_get(spoor, path, params):
    r = requests.get(spoor.url("query-http", path), params=params, timeout=10)
    return r.status_code, r.json()


# (JSON name, proto name, value) for the query.* parameters of /api/v3/traces and /trace-summaries.
SEARCH_PARAMS = [
    ("query.operationName", "query.operation_name", "op-1"),
    ("query.startTimeMin", "query.start_time_min", iso(NOW_NS - 4_500_000_000)),
    ("query.startTimeMax", "query.start_time_max", iso(NOW_NS - 4_500_000_000)),
    ("query.durationMin", "query.duration_min", "75ms"),
    ("query.durationMax", "query.duration_max", "0.035s"),
    ("query.searchDepth", "query.search_depth", "3"),
    ("query.rawTraces", "query.raw_traces", "true"),
    ("query.pagination.pageSize", "query.pagination.page_size", "2"),
]


@pytest.mark.parametrize("endpoint", ["/api/v3/traces", "/api/v3/trace-summaries"])
def test_v3_search_parameters_in_both_spellings(spoor, endpoint):
    seed(spoor)
    base_camel = {"query.serviceName": "shop"}
    base_snake = {"query.service_name": "shop"}
    status, unfiltered = v3_get(spoor, endpoint, base_camel)
    assert status == 200
    assert (status, unfiltered) == v3_get(spoor, endpoint, base_snake)
    for camel, snake, value in SEARCH_PARAMS:
        got_camel = v3_get(spoor, endpoint, {**base_camel, camel: value})
        got_snake = v3_get(spoor, endpoint, {**base_snake, snake: value})
        assert got_camel[0] == 200, (camel, got_camel)
        assert got_camel == got_snake, camel
        if camel != "query.rawTraces":  # Spoor has no enrichment for rawTraces to skip
            assert got_camel[1] != unfiltered, f"{camel} had no effect"
    # Mixed spellings in one request, and the service name missing under both names.
    mixed = v3_get(spoor, endpoint, {"query.serviceName": "shop", "query.operation_name": "op-1", "query.searchDepth": 2})
    assert mixed == v3_get(spoor, endpoint, {"query.service_name": "shop", "query.operationName": "op-1", "query.search_depth": 2})
    status, body = v3_get(spoor, endpoint, {"query.operationName": "op-1"})
    assert status == 400 and "query.serviceName" in body["error"]["message"]


def test_v3_search_results_per_parameter(spoor):
    seed(spoor)

    def ids(**params):
        status, body = v3_get(spoor, "/api/v3/traces", {"query.serviceName": "shop", **params})
        assert status == 200, body
        return [int(t, 16) for t in v3_trace_ids(body)]

    assert ids(**{"query.operationName": "op-0"}) == [2, 4, 6, 8, 10]
    assert ids(**{"query.durationMin": "75ms"}) == [8, 9, 10]
    assert ids(**{"query.durationMin": "0.035s", "query.durationMax": "50ms"}) == [4, 5]
    assert ids(**{"query.startTimeMax": iso(NOW_NS - 4_500_000_000)}) == [5, 6, 7, 8, 9, 10]
    assert ids(**{"query.startTimeMin": iso(NOW_NS - 2_500_000_000)}) == [1, 2]
    assert ids(**{"query.searchDepth": 2}) == [1, 2]
    assert ids(**{"query.attributes": json.dumps({"tier": "gold"})}) == [7]
    assert ids(**{"query.attributes[tier]": "gold"}) == [7]
    status, body = v3_get(spoor, "/api/v3/traces", {"query.serviceName": "shop", "query.pagination.pageToken": "x"})
    assert status == 400


def test_v3_other_endpoints_in_both_spellings(spoor):
    seed(spoor)
    for camel, snake in [("spanKind", "span_kind")]:
        a = v3_get(spoor, "/api/v3/operations", {"service": "db", camel: "client"})
        b = v3_get(spoor, "/api/v3/operations", {"service": "db", snake: "client"})
        assert a == b == (200, {"operations": [{"name": "query", "spanKind": "client"}]})
        assert v3_get(spoor, "/api/v3/operations", {"service": "db", camel: "server"}) == (200, {"operations": []})
    window = {"start": iso(NOW_NS - 3_600_000_000_000), "end": iso(NOW_NS + 60_000_000_000)}
    for path in [f"/api/v3/traces/{tid(3)}", "/api/v3/dependencies"]:
        camel = v3_get(spoor, path, {"startTime": window["start"], "endTime": window["end"], **({"rawTraces": "true"} if "traces" in path else {})})
        snake = v3_get(spoor, path, {"start_time": window["start"], "end_time": window["end"], **({"raw_traces": "true"} if "traces" in path else {})})
        assert camel[0] == 200 and camel == snake, path
    deps = v3_get(spoor, "/api/v3/dependencies", {"startTime": window["start"], "endTime": window["end"]})[1]
    assert deps == {"dependencies": [{"parent": "shop", "child": "db", "callCount": "10"}]}
    # A window before the data: the time parameters are honoured under both names.
    old = {"startTime": iso(NOW_NS - 7_200_000_000_000), "endTime": iso(NOW_NS - 3_600_000_000_000)}
    assert v3_get(spoor, "/api/v3/dependencies", old)[1] == {"dependencies": []}
    assert v3_get(spoor, "/api/v3/dependencies", {"start_time": old["startTime"], "end_time": old["endTime"]})[1] == {"dependencies": []}
    status, body = v3_get(spoor, f"/api/v3/traces/{tid(3)}", {"rawTraces": "maybe"})
    assert status == 400


def test_the_jaeger_ui_search_query_string(spoor):
    """Exactly what Jaeger UI v2.19's v3 client sends for a search (URLSearchParams of the search
    form: service, operation, ISO times, limit as searchDepth, durations, tags as JSON)."""
    seed(spoor)
    start_us = (NOW_NS - 3_600_000_000_000) // 1000
    end_us = NOW_NS // 1000 + 60_000_000
    tags = json.dumps({"tier": "gold"}, separators=(",", ":"))
    qs = (
        "query.serviceName=shop"
        "&query.operationName=op-1"
        f"&query.startTimeMin={quote(iso(start_us * 1000), safe='')}"
        f"&query.startTimeMax={quote(iso(end_us * 1000), safe='')}"
        "&query.searchDepth=20"
        "&query.durationMin=10ms"
        f"&query.attributes={quote(tags, safe='')}"
    )
    r = requests.get(spoor.url("query-http", "/api/v3/trace-summaries?" + qs), timeout=10)
    assert r.status_code == 200, r.text
    summaries = r.json()["summaries"]
    assert len(summaries) == 1
    s = summaries[0]
    assert s["traceId"] == tid(7)
    assert len(s["traceId"]) == 32
    assert s["rootServiceName"] == "shop" and s["rootOperationName"] == "op-1"
    assert s["minStartTimeUnixNano"].isdigit() and s["maxEndTimeUnixNano"].isdigit()
    assert int(s["maxEndTimeUnixNano"]) - int(s["minStartTimeUnixNano"]) == 70_000_000
    assert s["spanCount"] == 2 and s["errorSpanCount"] == 0 and s["orphanSpanCount"] == 0
    assert s["services"] == [{"name": "db", "spanCount": 1, "errorSpanCount": 0}, {"name": "shop", "spanCount": 1, "errorSpanCount": 0}]
    # The UI's operations call and the search without optional fields.
    assert requests.get(spoor.url("query-http", "/api/v3/operations?service=shop"), timeout=10).status_code == 200
    r = requests.get(spoor.url("query-http", "/api/v3/trace-summaries?query.serviceName=shop&query.searchDepth=20"), timeout=10)
    assert [s["traceId"] for s in r.json()["summaries"]] == [tid(i) for i in range(1, 11)]


def test_orphan_span_count_in_summaries(spoor):
    post_json(
        spoor,
        [
            resource("partial", [otlp_span(tid(40), sid(1), "root"), otlp_span(tid(40), sid(2), "lost-child", parent=sid(99))]),
        ],
    )
    s = wait_for(lambda: v3_get(spoor, "/api/v3/trace-summaries", {"query.serviceName": "partial"})[1]["summaries"])[0]
    assert s["orphanSpanCount"] == 1 and s["rootOperationName"] == "root" and s["spanCount"] == 2


def ddg_seed(spoor):
    """frontend:GET /cart → cart:get → db:select (trace 50); frontend:GET /cart → auth:check (51);
    a trace not through cart (52)."""
    post_json(
        spoor,
        [
            resource("frontend", [otlp_span(tid(50), sid(1), "GET /cart", kind=2), otlp_span(tid(50), sid(2), "render", parent=sid(1), kind=1)]),
            resource("cart", [otlp_span(tid(50), sid(3), "get", parent=sid(2), kind=2)]),
            resource("db", [otlp_span(tid(50), sid(4), "select", parent=sid(3), kind=2)]),
        ],
    )
    post_json(
        spoor,
        [
            resource("frontend", [otlp_span(tid(51), sid(1), "GET /cart", kind=2)]),
            resource("auth", [otlp_span(tid(51), sid(2), "check", parent=sid(1), kind=2)]),
        ],
    )
    post_json(spoor, [resource("auth", [otlp_span(tid(52), sid(1), "check", kind=2)])])


def test_deep_dependency_graph(spoor):
    ddg_seed(spoor)
    # What the Jaeger UI sends: service, operation, start=0, end=0.
    r = spoor.query("/analytics/v1/dependencies", service="cart", operation="get", start=0, end=0)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {
        "dependencies": [
            {
                "path": [{"service": "frontend", "operation": "GET /cart"}, {"service": "cart", "operation": "get"}, {"service": "db", "operation": "select"}],
                "attributes": [{"key": "exemplar_trace_id", "value": tid(50)}],
            }
        ]
    }
    # Service only: every path contains the focal service (the UI throws on a path without it).
    deps = spoor.query("/analytics/v1/dependencies", service="auth").json()["dependencies"]
    assert sorted(tuple((e["service"], e["operation"]) for e in d["path"]) for d in deps) == [
        (("auth", "check"),),
        (("frontend", "GET /cart"), ("auth", "check")),
    ]
    for d in deps:
        assert any(e["service"] == "auth" for e in d["path"])
    assert spoor.query("/analytics/v1/dependencies", service="nobody").json() == {"dependencies": []}
    r = spoor.query("/analytics/v1/dependencies", operation="get")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 400


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/api/nope"), ("GET", "/api/v3/nope"), ("GET", "/api/v2/traces"), ("POST", "/api/nope"), ("GET", "/api"), ("GET", "/api/"),
     ("GET", "/analytics"), ("GET", "/analytics/"), ("GET", "/analytics/v1/nope"), ("GET", "/analytics/v2/dependencies")],
)
def test_unknown_api_paths_are_json_404s(spoor, method, path):
    r = requests.request(method, spoor.url("query-http", path), timeout=10)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["data"] is None and body["total"] == 0 and body["limit"] == 0 and body["offset"] == 0
    assert body["errors"] == [{"code": 404, "msg": f"no API endpoint at {path}"}]
    assert r.text.startswith('{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,'), r.text


def test_ui_routes_still_serve_the_page_with_security_headers(spoor):
    for path in ["/", "/search", "/trace/abc", "/dependencies"]:
        r = requests.get(spoor.url("query-http", path), timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    r = spoor.query("/api/services")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_pretty_print(spoor):
    seed(spoor)
    get_trace(spoor, short(3))
    for path, params in [
        (f"/api/traces/{short(3)}", {}),
        ("/api/traces", {"service": "shop", "limit": 2}),
        ("/api/services", {}),
        (f"/api/v3/traces/{tid(3)}", {}),
        ("/api/v3/trace-summaries", {"query.serviceName": "shop"}),
    ]:
        plain = spoor.query(path, **params)
        pretty = spoor.query(path, **params, prettyPrint="true")
        assert plain.status_code == pretty.status_code == 200, path
        assert "\n" not in plain.text and "\n  " in pretty.text, path
        assert plain.json() == pretty.json(), path


def test_tags_as_key_value_pairs(spoor):
    seed(spoor)
    post_json(spoor, [resource("video-ingestion", [otlp_span(tid(60), sid(1), "upload", attrs={"http.status_code": {"intValue": "500"}}, error=True)])])
    post_json(spoor, [resource("video-ingestion", [otlp_span(tid(61), sid(1), "upload", attrs={"http.status_code": {"intValue": "200"}})])])
    # The reference documents' curl commands.
    assert search(spoor, service="video-ingestion", tags="error:true") == [short(60)]
    assert search(spoor, service="video-ingestion", tags="http.status_code:500") == [short(60)]
    assert search(spoor, service="video-ingestion", tags="http.status_code:200") == [short(61)]
    # Several pairs, separated by spaces or commas; JSON keeps working.
    assert search(spoor, tags="http.method:GET tier:gold") == [short(7)]
    assert search(spoor, tags="http.method:GET,tier:gold") == [short(7)]
    assert search(spoor, tags=json.dumps({"tier": "gold"})) == [short(7)]
    r = spoor.query("/api/traces", service="shop", tags="nocolon")
    assert r.status_code == 400 and "key:value" in r.json()["errors"][0]["msg"]


def test_double_exports_are_shown_once(spoor):
    """The same span through OTLP and through Zipkin (two translations of one span): one span,
    attributes merged, a warning naming what differed. An identical second copy: no warning."""
    start_us = NOW_NS // 1000 - 5_000_000
    span = otlp_span(tid(70), sid(1), "checkout", start_ms_ago=5000, duration_ms=20, attrs={"order.id": {"stringValue": "42"}})
    span["startTimeUnixNano"] = str(start_us * 1000)
    span["endTimeUnixNano"] = str(start_us * 1000 + 20_000_000)
    post_json(spoor, [resource("shop", [span])])
    zipkin = [{"traceId": tid(70), "id": sid(1), "name": "checkout", "kind": "SERVER", "timestamp": start_us, "duration": 20_000,
               "localEndpoint": {"serviceName": "shop"}, "tags": {"order.id": "42", "zipkin.only": "yes"}}]
    r = requests.post(spoor.url("zipkin", "/api/v2/spans"), json=zipkin, timeout=10)
    assert r.status_code == 202, r.text
    # An identical copy of another span.
    child = otlp_span(tid(70), sid(2), "charge", parent=sid(1), start_ms_ago=4990, duration_ms=5)
    post_json(spoor, [resource("shop", [child])])
    post_json(spoor, [resource("shop", [child])])

    def merged():
        t = get_trace(spoor, short(70))
        return t if {s["spanID"] for s in t["spans"]} == {sid(1), sid(2)} and len(t["spans"]) == 2 and any(s["warnings"] for s in t["spans"]) else None

    trace = wait_for(merged, what="merged trace")
    by_id = {s["spanID"]: s for s in trace["spans"]}
    root = by_id[sid(1)]
    tags = {t["key"]: t["value"] for t in root["tags"]}
    assert tags["order.id"] == "42" and tags["zipkin.only"] == "yes"
    assert len(root["warnings"]) == 1 and "zipkin.only" in root["warnings"][0] and "received 2 times" in root["warnings"][0]
    assert by_id[sid(2)]["warnings"] is None
    # Every API sees one copy: api_v3, summaries and the search.
    status, body = v3_get(spoor, f"/api/v3/traces/{tid(70)}", {})
    spans = [s for r in body["result"]["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
    assert sorted(s["spanId"] for s in spans) == [sid(1), sid(2)]
    s = v3_get(spoor, "/api/v3/trace-summaries", {"query.serviceName": "shop", "query.operationName": "checkout"})[1]["summaries"][0]
    assert s["spanCount"] == 2
    assert [len(t["spans"]) for t in spoor.query("/api/traces", service="shop", operation="checkout").json()["data"]] == [2]


def test_search_limit_is_capped(spoor):
    """limit=10^9 answers the capped 10,000 traces, streamed, instead of trying to build it all."""
    spans = [otlp_span(f"{0xb000_0000 + i:032x}", sid(1), "bulk-op", start_ms_ago=2000, duration_ms=1) for i in range(10_001)]
    for chunk in range(0, len(spans), 2_500):
        post_json(spoor, [resource("bulk", spans[chunk:chunk + 2_500])])
    t0 = time.time()
    r = spoor.query("/api/traces", service="bulk", limit=10**9)
    elapsed = time.time() - t0
    assert r.status_code == 200
    assert len(r.json()["data"]) == 10_000
    print(f"limit=10^9 over 10,001 traces: 10,000 returned, {len(r.content)} bytes in {elapsed:.2f}s")
    status, body = v3_get(spoor, "/api/v3/trace-summaries", {"query.serviceName": "bulk", "query.searchDepth": 10**9})
    assert status == 200 and len(body["summaries"]) == 10_000


def test_cors_is_off_by_default(spoor):
    origin = {"Origin": "http://evil.example"}
    r = requests.get(spoor.url("query-http", "/api/services"), headers=origin, timeout=10)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    preflight = requests.options(
        spoor.url("query-http", "/api/traces"),
        headers={**origin, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_configured_origins(start_spoor):
    s = start_spoor("--storage", "memory", "--query-cors-allowed-origins", "http://grafana.example,https://*.corp.example")
    for origin, allowed in [("http://grafana.example", True), ("https://ui.corp.example", True), ("http://evil.example", False), ("https://corp.example", False)]:
        r = requests.get(s.url("query-http", "/api/services"), headers={"Origin": origin}, timeout=10)
        assert r.status_code == 200
        assert r.headers.get("access-control-allow-origin") == (origin if allowed else None), origin
        preflight = requests.options(
            s.url("query-http", "/api/v3/traces"),
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            timeout=10,
        )
        assert preflight.headers.get("access-control-allow-origin") == (origin if allowed else None), origin


def test_invalid_cors_origin_refuses_to_start(start_spoor):
    with pytest.raises(RuntimeError, match="invalid CORS origin"):
        start_spoor("--storage", "memory", "--query-cors-allowed-origins", "grafana.example")


def test_idle_and_slow_header_connections_are_closed(spoor):
    """Silent connections and stalled headers are closed after the 10 s header timeout, and a
    normal client gets through while 300 of them are open."""
    host, port = spoor.addr("query-http").rsplit(":", 1)
    stalled = []
    for i in range(300):
        c = socket.create_connection((host, int(port)), timeout=30)
        if i % 2:
            c.sendall(b"GET /api/services HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        stalled.append(c)
    # A keep-alive connection that went idle after one request.
    idle = socket.create_connection((host, int(port)), timeout=30)
    idle.sendall(b"GET /api/services HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    t0 = time.time()
    assert spoor.query("/api/services").status_code == 200
    assert time.time() - t0 < 2
    for c in stalled + [idle]:
        c.settimeout(20)
    closed_after = []
    for c in stalled[:10] + stalled[-10:] + [idle]:
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        closed_after.append(time.time() - t0)
    for c in stalled + [idle]:
        c.close()
    assert max(closed_after) < 15, closed_after
    print(f"300 stalled connections closed within {max(closed_after):.1f}s")


def test_an_app_exporting_through_jaeger_and_otlp(spoor):
    """The real double export: the OTel SDK with the Jaeger exporter and an OTLP exporter. Each
    span arrives twice (Jaeger's copy in whole microseconds, with the resource and scope folded
    into its tags); every API shows it once, the OTLP copy, and no warning: the copies differ only
    by translation."""
    from clients.ingest_trace import check_trace, python_of, run_client

    service = "double-export"
    sent = run_client([python_of("otel-jaeger"), "otel_double_export.py", spoor.url("jaeger-thrift-http", "/api/traces"), spoor.url("otlp-http", "/v1/traces"), service])
    assert spoor.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="http") == 3
    wait_for(lambda: spoor.metric("spoor_receiver_spans_accepted_total", receiver="jaeger", transport="http") == 3, what="jaeger copies")
    trace = get_trace(spoor, sent["trace_id"])
    # Exactly the three spans, parents, tags, the event and the error. The Jaeger exporter names an
    # event in the log field `message`, the OTLP translation in `event`: whichever copy was kept.
    fields = [f for s in trace["spans"] for log in s["logs"] for f in log["fields"]]
    event_key = "message" if any(f["key"] == "message" and f["value"] == "query.start" for f in fields) else "event"
    check_trace(trace, sent, service, event_key=event_key)
    assert [p["serviceName"] for p in trace["processes"].values()] == [service]
    process_tags = {t["key"] for p in trace["processes"].values() for t in p["tags"]}
    assert {"deployment.environment", "telemetry.sdk.name"} <= process_tags
    for s in trace["spans"]:
        assert s["warnings"] is None, s
        span_tags = {t["key"] for t in s["tags"]}
        assert not span_tags & {"service.name", "deployment.environment", "otel.library.name", "telemetry.sdk.name"}, span_tags
    summary = wait_for(lambda: v3_get(spoor, "/api/v3/trace-summaries", {"query.serviceName": service})[1]["summaries"])[0]
    assert summary["spanCount"] == 3 and summary["orphanSpanCount"] == 0 and summary["errorSpanCount"] == 1
