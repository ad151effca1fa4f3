"""The UI's query box API on the query port (`/api/traceql`, tags, tag values) through the real
binary: a trace from the OTel Python SDK is found by TraceQL and by the SQL form with its matched
spans; completion lists its tags and values; bad queries are 400s with the parse position, counted in
`/metrics`, and the server keeps serving."""

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from conftest import wait_for
from otel_clients import hex_span_id, hex_trace_id, send_checkout_trace


def test_query_box_finds_matched_spans_completes_and_refuses_bad_queries(start_spoor):
    spoor = start_spoor("--storage", "memory")
    sent = send_checkout_trace(lambda: HttpExporter(endpoint=spoor.url("otlp-http", "/v1/traces")))
    trace_id = hex_trace_id(sent["root"])
    wait_for(lambda: spoor.query(f"/api/traces/{trace_id}").status_code == 200, what="the trace")

    r = spoor.query("/api/traceql", q="{ status = error }")
    assert r.status_code == 200, r.text
    (found,) = r.json()["data"]
    assert found["traceID"] == trace_id
    assert found["rootServiceName"] == "checkout" and found["rootTraceName"] == "GET /checkout"
    # The two error spans, in start order, with their ids.
    assert [(s["service"], s["name"]) for s in found["matchedSpans"]] == [("checkout", "charge card"), ("payments", "POST /charge")]
    assert [s["spanID"] for s in found["matchedSpans"]] == [hex_span_id(sent["charge"]), hex_span_id(sent["remote"])]
    assert found["matched"] == 2

    r = spoor.query("/api/traceql", q="SELECT * FROM traces WHERE service.name = 'checkout' AND tags.db.system = 'postgresql'")
    assert r.status_code == 200, r.text
    assert [t["traceID"] for t in r.json()["data"]] == [trace_id]
    assert spoor.query("/api/traceql", q='{ span.db.system = "mysql" }').json()["data"] == []

    tags = spoor.query("/api/traceql/tags").json()["data"]
    assert "db.system" in tags["span"] and "service.name" in tags["resource"]
    assert spoor.query("/api/traceql/tags/span.db.system/values").json()["data"] == ["postgresql"]
    assert "checkout" in spoor.query("/api/traceql/tags/resource.service.name/values").json()["data"]

    for params, position in [({"q": "{ span.db.system = }"}, 19), ({"q": '{ name = "open'}, 9)]:
        r = spoor.query("/api/traceql", **params)
        assert r.status_code == 400, r.text
        err = r.json()["errors"][0]
        assert err["code"] == 400 and "invalid TraceQL query" in err["msg"], err
        assert err["position"] == position, err
    for params in [{}, {"q": "SELECT * FROM nowhere"}, {"q": "{ }", "limit": "99999999"}, {"q": "(" * 10_000}]:
        assert spoor.query("/api/traceql", **params).status_code == 400, params
    assert spoor.query("/api/traceql/tags/not-a-field/values").status_code == 400
    assert spoor.metric("spoor_query_box_requests_total", endpoint="search", outcome="invalid") == 6
    assert spoor.metric("spoor_query_box_requests_total", endpoint="tag_values", outcome="invalid") == 1
    assert spoor.metric("spoor_query_box_requests_total", endpoint="search", outcome="ok") == 3
    assert spoor.query("/api/services").status_code == 200, "spoor keeps serving"
