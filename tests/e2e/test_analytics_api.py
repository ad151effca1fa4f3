"""Regression analysis (`GET /api/analytics/compare`) and the critical path
(`GET /api/traces/{id}/critical-path`) through the real binary: spans are posted to the Zipkin
receiver and read from the query port."""

import time

import requests

from conftest import wait_for

MIN_US = 60_000_000


def post(spoor, spans):
    r = requests.post(spoor.url("zipkin", "/api/v2/spans"), json=spans, timeout=30)
    assert r.status_code == 202, r.text


def workload(start_us, version, cart_factor, first_trace):
    """60 checkouts, one every 5 s: POST /checkout → GET /cart, GET /price (ms durations)."""
    spans = []
    for i in range(60):
        trace = f"{first_trace + i:032x}"
        ts = start_us + i * 5_000_000
        local = {"serviceName": "shop"}
        tags = {"service.version": version}
        spans += [
            {"traceId": trace, "id": "0000000000000001", "name": "POST /checkout",
             "timestamp": ts, "duration": (100 + i % 10) * 1000, "localEndpoint": local,
             "tags": tags, "kind": "SERVER"},
            {"traceId": trace, "id": "0000000000000002", "parentId": "0000000000000001",
             "name": "GET /cart", "timestamp": ts + 1000,
             "duration": int((50 + i % 10) * cart_factor) * 1000, "localEndpoint": local,
             "tags": tags},
            {"traceId": trace, "id": "0000000000000003", "parentId": "0000000000000001",
             "name": "GET /price", "timestamp": ts + 2000,
             "duration": (20 + i % 5) * 1000, "localEndpoint": local,
             "tags": {**tags, "error": "boom"} if i % 30 == 0 else tags},
        ]
    return spans


def compare(spoor, **params):
    r = spoor.query("/api/analytics/compare", **params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_the_operation_that_got_30_percent_slower_is_ranked_first(spoor):
    now = int(time.time() * 1_000_000)
    base_start, cur_start = now - 20 * MIN_US, now - 10 * MIN_US
    post(spoor, workload(base_start, "1.0", 1.0, 0x1000))
    post(spoor, workload(cur_start, "1.1", 1.3, 0x2000))
    wait_for(
        lambda: compare(spoor, service="shop", start=cur_start, end=now)["current"]["traces"]
        == 60,
        what="the current window's 60 traces",
    )

    data = compare(spoor, service="shop", baselineStart=base_start,
                   baselineEnd=cur_start - 1, start=cur_start, end=now)
    assert (data["baseline"]["traces"], data["current"]["traces"]) == (60, 60)
    ops = data["operations"]
    assert [o["operation"] for o in ops][0] == "GET /cart", ops
    cart = ops[0]
    assert cart["baseline"]["calls"] == cart["current"]["calls"] == 60
    assert 0.25 <= cart["p95Change"] <= 0.35, cart
    assert cart["current"]["p50"] > cart["baseline"]["p50"]
    assert set(cart["baseline"]) == {"calls", "errors", "errorRate", "p50", "p95", "p99"}
    for o in ops[1:]:
        assert abs(o["p95Change"]) < 0.05, o
    price = next(o for o in ops if o["operation"] == "GET /price")
    assert price["baseline"]["errors"] == 2
    assert abs(price["baseline"]["errorRate"] - 2 / 60) < 1e-9

    # The default baseline is the window of the same length just before.
    data = compare(spoor, service="shop", start=cur_start, end=cur_start + 10 * MIN_US)
    assert data["baseline"]["start"] == cur_start - 10 * MIN_US
    assert data["operations"][0]["operation"] == "GET /cart"

    # Two versions in one window.
    data = compare(spoor, service="shop", baselineVersion="1.0", version="1.1",
                   start=base_start, end=now)
    assert data["operations"][0]["operation"] == "GET /cart"
    assert data["operations"][0]["baseline"]["calls"] == 60
    assert data["operations"][0]["current"]["calls"] == 60


def test_compare_bad_input(spoor):
    for params in [
        {"start": 10, "end": 5},
        {"baselineStart": 10, "baselineEnd": 5, "start": 1, "end": 2},
        {"baselineStart": 10},
        {"version": "1.1"},
        {"start": "yesterday"},
    ]:
        r = spoor.query("/api/analytics/compare", **params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["errors"][0]["msg"]
    assert spoor.query("/api/analytics/compare").status_code == 200


def test_critical_path_of_a_constructed_trace(spoor):
    # A [0,100] ─ B [10,40]
    #           ├ C [20,90] ─ D [30,60]
    #           │           └ E [65,85]
    #           └ F [95,120]: ends after A, clipped to [95,100]
    trace = "c0ffee00000000000000000000000001"
    t0 = int(time.time() * 1_000_000) - MIN_US
    ms = 1000

    def span(i, parent, name, start, end, service="front"):
        s = {"traceId": trace, "id": f"{i:016x}", "name": name, "timestamp": t0 + start * ms,
             "duration": (end - start) * ms, "localEndpoint": {"serviceName": service}}
        if parent:
            s["parentId"] = f"{parent:016x}"
        return s

    post(spoor, [span(1, 0, "A", 0, 100), span(2, 1, "B", 10, 40), span(6, 1, "F", 95, 120)])
    post(spoor, [span(3, 1, "C", 20, 90, "back"), span(4, 3, "D", 30, 60, "back"),
                 span(5, 3, "E", 65, 85, "back")])

    def path():
        r = spoor.query(f"/api/traces/{trace}/critical-path")
        if r.status_code != 200:
            return None
        data = r.json()["data"]
        # Every span but B (done before C ends) is on the path once the trace is whole.
        return data if len({s["spanID"] for s in data}) == 5 else None

    sections = wait_for(path, what="the critical path over all spans")
    got = [(s["operationName"], (s["start"] - t0) // ms, (s["end"] - t0) // ms)
           for s in sections]
    assert got == [("F", 95, 100), ("A", 90, 95), ("C", 85, 90), ("E", 65, 85),
                   ("C", 60, 65), ("D", 30, 60), ("C", 20, 30), ("A", 0, 20)]
    assert sections[3] == {"spanID": f"{5:016x}", "serviceName": "back",
                           "operationName": "E", "start": t0 + 65 * ms, "end": t0 + 85 * ms}
    assert sum(s["end"] - s["start"] for s in sections) == 100 * ms

    r = spoor.query(f"/api/traces/{'e' * 32}/critical-path")
    assert r.status_code == 404
    assert spoor.query("/api/traces/xyz/critical-path").status_code == 400
