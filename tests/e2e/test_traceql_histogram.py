"""TraceQL `histogram_over_time()` through the real binary's `/api/metrics/query_range` and
`/api/metrics/query`, in Tempo's JSON: one series per power-of-two bucket, labelled `__bucket`
(its upper bound, seconds for durations) after the `by()` labels."""

import requests

from test_traceql_suite import ingest


def tempo(spoor, path, **params):
    return requests.get(spoor.url("tempo-http", path), params=params, timeout=10)


def test_histogram_over_time_by_bucket(spoor):
    base = ingest(spoor)
    start = base // 10**9
    r = tempo(spoor, "/api/metrics/query_range", q='{ name = "step" } | histogram_over_time(duration)',
              start=start, end=start + 60, step="60s")
    assert r.status_code == 200, r.text
    series = {s["promLabels"]: s for s in r.json()["series"]}
    # Steps of 500, 500 and 600 ms: 5e8 ns rounds up to 2^29 ns, 6e8 ns to 2^30 ns.
    assert set(series) == {'{__bucket="0.536870912"}', '{__bucket="1.073741824"}'}
    low = series['{__bucket="0.536870912"}']
    assert low["labels"] == [{"key": "__bucket", "value": {"doubleValue": 0.536870912}}]
    assert low["samples"] == [{"timestampMs": str(start * 1000), "value": 2.0}]
    assert series['{__bucket="1.073741824"}']["samples"][0]["value"] == 1.0

    r = tempo(spoor, "/api/metrics/query", q="{ } | histogram_over_time(span.http.status_code) by (resource.service.name)",
              start=start, end=start + 60)
    assert r.status_code == 200, r.text
    got = {s["promLabels"]: s["value"] for s in r.json()["series"]}
    assert got == {
        '{resource.service.name="checkout", __bucket="256"}': 1.0,
        '{resource.service.name="frontend", __bucket="256"}': 2.0,
        '{resource.service.name="frontend", __bucket="512"}': 2.0,
    }
    bad = tempo(spoor, "/api/metrics/query_range", q="{ } | histogram_over_time()", start=start, end=start + 60)
    assert bad.status_code == 400 and "invalid TraceQL metrics query" in bad.text, bad.text
