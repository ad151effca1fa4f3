"""Tempo's HTTP API on --tempo-http, as Grafana's Tempo data source calls it: trace by id (v1,
v2; OTLP JSON and protobuf), TraceQL search, tag names and values (v1, v2), echo, build info,
readiness; answers checked field by field against Tempo's documented shapes; bad input is a
400, counted, and the server keeps serving."""

import requests
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from test_traceql_suite import ingest, span_id, trace_id


def tempo(spoor, path, **params):
    return requests.get(spoor.url("tempo-http", path), params=params, timeout=10)


def test_trace_by_id_json_and_protobuf(spoor):
    base = ingest(spoor)
    tid = trace_id("1")
    window = {"start": base // 10**9 - 60, "end": base // 10**9 + 60}
    v1 = tempo(spoor, f"/api/traces/{tid}")
    assert v1.status_code == 200 and v1.headers["content-type"] == "application/json"
    spans = [s for rs in v1.json()["batches"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert sorted(s["spanId"] for s in spans) == [span_id(x) for x in ["11", "12", "13", "14", "15"]]
    v2 = tempo(spoor, f"/api/v2/traces/{tid}", **window)
    assert v2.status_code == 200
    v2_spans = [s for rs in v2.json()["trace"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert len(v2_spans) == 5
    # Grafana asks v2 for protobuf: tempopb.TraceByIDResponse { Trace trace = 1 }.
    pb = requests.get(
        spoor.url("tempo-http", f"/api/v2/traces/{tid}"),
        params=window,
        headers={"Accept": "application/protobuf"},
        timeout=10,
    )
    assert pb.status_code == 200 and pb.headers["content-type"] == "application/protobuf"
    body = pb.content
    assert body[0] == 0x0A  # field 1, length-delimited
    # Skip the varint length and decode the inner Trace as TracesData (same wire format).
    i, length, shift = 1, 0, 0
    while True:
        b = body[i]
        length |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if b < 0x80:
            break
    assert len(body) == i + length
    inner = TracesData.FromString(body[i:])
    names = sorted(s.name for rs in inner.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert names == ["GET /cart", "HTTP GET checkout", "POST /checkout", "postgresql SELECT", "redis GET"]
    v1pb = requests.get(
        spoor.url("tempo-http", f"/api/traces/{tid}"), headers={"Accept": "application/protobuf"}, timeout=10
    )
    v1_data = TracesData.FromString(v1pb.content)
    assert sum(len(ss.spans) for rs in v1_data.resource_spans for ss in rs.scope_spans) == 5
    missing = tempo(spoor, "/api/traces/" + "ab" * 16)
    assert missing.status_code == 404
    assert tempo(spoor, "/api/traces/xyz").status_code == 400


def test_search_shape_as_grafana_reads_it(spoor):
    base = ingest(spoor)
    r = tempo(
        spoor,
        "/api/search",
        q='{ resource.service.name = "checkout" && span.db.system = "postgresql" }',
        limit=20,
        spss=3,
        start=base // 10**9 - 60,
        end=base // 10**9 + 60,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"traces", "metrics"}
    [t] = body["traces"]
    assert t["traceID"] == trace_id("1")
    assert t["rootServiceName"] == "frontend"
    assert t["rootTraceName"] == "GET /cart"
    assert t["startTimeUnixNano"] == str(base)
    assert t["durationMs"] == 900
    [ss] = t["spanSets"]
    assert t["spanSet"] == ss
    assert ss["matched"] == 1
    [s] = ss["spans"]
    assert s["spanID"] == span_id("14")
    assert s["name"] == "postgresql SELECT"
    assert s["startTimeUnixNano"] == str(base + 200 * 10**6)
    assert s["durationNanos"] == str(300 * 10**6)
    attrs = {a["key"]: a["value"] for a in s["attributes"]}
    assert attrs["service.name"] == {"stringValue": "checkout"}
    assert attrs["db.system"] == {"stringValue": "postgresql"}


def test_search_limits_spss_by_and_tags(spoor):
    ingest(spoor)
    r = tempo(spoor, "/api/search", q='{ name = "step" }', spss=2)
    [t] = r.json()["traces"]
    assert t["spanSets"][0]["matched"] == 3 and len(t["spanSets"][0]["spans"]) == 2
    r = tempo(spoor, "/api/search", q="{ } | by(resource.service.name) | count() > 2")
    sets = [ss for t in r.json()["traces"] for ss in t["spanSets"]]
    assert sorted(ss["attributes"][0]["value"]["stringValue"] for ss in sets) == ["checkout", "worker"]
    assert len(tempo(spoor, "/api/search", q="{ }", limit=2).json()["traces"]) == 2
    # The tags form (logfmt), with trace duration bounds.
    r = tempo(spoor, "/api/search", tags="service.name=frontend http.status_code=500")
    assert [t["traceID"] for t in r.json()["traces"]] == [trace_id("5")]
    r = tempo(spoor, "/api/search", tags="service.name=frontend", minDuration="500ms", maxDuration="1s")
    assert [t["traceID"] for t in r.json()["traces"]] == [trace_id("1")]
    for bad in [{"limit": "100000000"}, {"limit": "x"}, {"spss": "99999"}, {"minDuration": "fast"},
                {"start": "yesterday"}, {"start": "20", "end": "10"}, {"tags": "novalue"}]:
        resp = tempo(spoor, "/api/search", **bad)
        assert resp.status_code == 400, (bad, resp.text)


def test_tags_and_values(spoor):
    ingest(spoor)
    v1 = tempo(spoor, "/api/search/tags").json()
    assert {"http.method", "service.name", "db.system", "deployment.environment"} <= set(v1["tagNames"])
    assert v1["tagNames"] == sorted(v1["tagNames"])
    v2 = tempo(spoor, "/api/v2/search/tags").json()
    scopes = {s["name"]: s["tags"] for s in v2["scopes"]}
    assert "service.name" in scopes["resource"] and "http.route" in scopes["span"]
    assert "attempt" in scopes["event"] and "link.kind" in scopes["link"]
    assert "duration" in scopes["intrinsic"]
    only_span = tempo(spoor, "/api/v2/search/tags", scope="span").json()
    assert [s["name"] for s in only_span["scopes"]] == ["span"]
    assert tempo(spoor, "/api/v2/search/tags", scope="bogus").status_code == 400
    values = tempo(spoor, "/api/search/tag/service.name/values").json()
    assert values == {"tagValues": ["checkout", "frontend", "mobile", "product", "worker"]}
    typed = tempo(spoor, "/api/v2/search/tag/span.http.status_code/values").json()["tagValues"]
    assert sorted((v["type"], v["value"]) for v in typed) == [("int", "200"), ("int", "404"), ("int", "500")]
    status = tempo(spoor, "/api/v2/search/tag/status/values").json()["tagValues"]
    assert sorted(v["value"] for v in status) == ["error", "ok", "unset"]
    assert all(v["type"] == "keyword" for v in status)
    assert tempo(spoor, "/api/v2/search/tag/nonsense/values").status_code == 400


def test_echo_buildinfo_ready_and_unknown_paths(spoor):
    assert tempo(spoor, "/api/echo").text == "echo"
    assert tempo(spoor, "/ready").text == "ready"
    info = tempo(spoor, "/api/status/buildinfo").json()
    assert {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} == set(info)
    assert tempo(spoor, "/api/nothing").status_code == 404


def test_deep_nesting_and_huge_queries_do_not_stop_the_server(spoor):
    deep = "(" * 10_000 + "{ }" + ")" * 10_000
    r = tempo(spoor, "/api/search", q=deep)
    assert r.status_code == 400 and "deeper than" in r.text
    r = requests.get(
        spoor.url("tempo-http", "/api/search"),
        params={"q": '{ .a =~ "' + "(a{1000}){1000}" * 3 + '" }'},
        timeout=10,
    )
    assert r.status_code == 400 and "regex" in r.text
    assert spoor.metric("spoor_tempo_requests_total", endpoint="search", outcome="invalid") == 2
    assert tempo(spoor, "/api/search", q="{ }").status_code == 200


def test_metrics_query_range_and_instant(spoor):
    base = ingest(spoor)
    start = base // 10**9
    r = tempo(spoor, "/api/metrics/query_range",
              q="{ } | count_over_time() by (resource.service.name)", start=start, end=start + 60, step="60s")
    assert r.status_code == 200, r.text
    series = {s["promLabels"]: s for s in r.json()["series"]}
    assert set(series) == {f'{{resource.service.name="{n}"}}' for n in ["checkout", "frontend", "mobile", "product", "worker"]}
    worker = series['{resource.service.name="worker"}']
    assert worker["labels"] == [{"key": "resource.service.name", "value": {"stringValue": "worker"}}]
    assert worker["samples"] == [{"timestampMs": str(start * 1000), "value": 4.0}]
    r = tempo(spoor, "/api/metrics/query_range", q="{ kind = server } | rate()", start=start, end=start + 10, step="1s")
    assert r.json()["series"][0]["samples"] == [{"timestampMs": str(start * 1000), "value": 6.0}]
    r = tempo(spoor, "/api/metrics/query", q='{ name = "step" } | quantile_over_time(duration, .5)',
              start=start, end=start + 60)
    [s] = r.json()["series"]
    assert s["value"] == 0.5 and s["promLabels"] == '{p="0.5"}'
    for bad in [{"q": "{ } | rate("}, {"q": "{ }"}, {"q": "{ } | rate()", "start": "10", "end": "5"},
                {"q": "{ } | rate()", "start": "0", "end": "100000", "step": "1s"}]:
        resp = tempo(spoor, "/api/metrics/query_range", **bad)
        assert resp.status_code == 400, (bad, resp.text)
    assert spoor.metric("spoor_tempo_requests_total", endpoint="metrics", outcome="invalid") == 4
