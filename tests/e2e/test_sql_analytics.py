"""Analytics SQL over spans (`SELECT service.name, quantile(duration, 0.99), count(*) FROM spans
GROUP BY 1`) through the real binary: the Tempo search endpoint's table answer, `spoor query`'s
table and JSON, and bad queries refused with a 400 and counted while the server keeps serving.

The workload has known durations: `cart` spans of 1, 2, …, 200 ms and `db` spans of 10 ms, 3 of
them errors. Quantiles are exact (interpolated between the two closest ranks, no histogram), so
p99 of 1..200 ms is 197.01 + 0.99 * 1 = 198.01 ms and every figure is compared exactly."""

import json
import subprocess
import time

import requests

from conftest import SPOOR_BIN


def otlp(base):
    out = []
    for n in range(1, 201):
        start = base + n * 1_000_000
        tid = f"{n:032x}"
        spans = [(
            "cart",
            {
                "traceId": tid,
                "spanId": f"{n:08x}00000001",
                "name": "checkout",
                "kind": 2,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + n * 1_000_000),
                "attributes": [{"key": "http.method", "value": {"stringValue": "GET" if n % 2 == 0 else "POST"}}],
            },
        )]
        if n <= 20:
            spans.append((
                "db",
                {
                    "traceId": tid,
                    "spanId": f"{n:08x}00000002",
                    "parentSpanId": f"{n:08x}00000001",
                    "name": "query",
                    "kind": 3,
                    "startTimeUnixNano": str(start + 100_000),
                    "endTimeUnixNano": str(start + 100_000 + 10_000_000),
                    **({"status": {"code": 2, "message": "timeout"}} if n <= 3 else {}),
                },
            ))
        for service, span in spans:
            out.append({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": [span]}],
            })
    return {"resourceSpans": out}


def ingest(spoor):
    base = (time.time_ns() // 1_000_000_000 - 120) * 1_000_000_000
    r = requests.post(spoor.url("otlp-http", "/v1/traces"), json=otlp(base), timeout=10)
    assert r.status_code == 200, r.text


def analytics(spoor, q, **params):
    r = requests.get(spoor.url("tempo-http", "/api/search"), params={"q": q, **params}, timeout=20)
    assert r.status_code == 200, (q, r.text)
    return r.json()


def close(a, b):
    return abs(a - b) < 1e-9


def test_analytics_sql_through_the_tempo_search(spoor):
    ingest(spoor)
    t = analytics(spoor, "SELECT service.name, quantile(duration, 0.99), count(*) FROM spans GROUP BY 1")
    assert t["columns"] == [
        {"name": "service.name"},
        {"name": "quantile(duration, 0.99)", "unit": "ms"},
        {"name": "count(*)"},
    ]
    assert [r[0] for r in t["rows"]] == ["cart", "db"]
    assert close(t["rows"][0][1], 198.01) and t["rows"][0][2] == 200
    assert close(t["rows"][1][1], 10.0) and t["rows"][1][2] == 20
    assert t["spansMatched"] == 220 and t["tracesRead"] == 200 and t["truncated"] is False

    t = analytics(
        spoor,
        "SELECT tags.http.method AS method, avg(duration), min(duration), max(duration), sum(duration) "
        "FROM spans WHERE service.name = 'cart' AND duration > 100ms GROUP BY method ORDER BY 2 DESC",
    )
    # 101..200 ms: GET the even ones (avg 151), POST the odd ones (avg 150).
    assert [r[0] for r in t["rows"]] == ["GET", "POST"]
    get, post = t["rows"]
    assert close(get[1], 151.0) and close(get[2], 102.0) and close(get[3], 200.0) and close(get[4], 7550.0)
    assert close(post[1], 150.0) and close(post[2], 101.0) and close(post[3], 199.0)

    t = analytics(spoor, "SELECT service.name, status, count(*) FROM spans WHERE status = 'error' GROUP BY 1, 2")
    assert t["rows"] == [["db", "error", 3]]
    t = analytics(spoor, "SELECT kind, count(*) AS n FROM spans GROUP BY kind ORDER BY n DESC LIMIT 1")
    assert t["rows"] == [["server", 200]]


def test_bad_analytics_sql_is_refused_and_counted(spoor):
    ingest(spoor)
    bad = {
        "SELECT service.name, count(*) FROM spans": "must appear in GROUP BY",
        "SELECT quantile(duration, 1.5) FROM spans": "not between 0 and 1",
        "SELECT count(*) FROM spans LIMIT 99999999": "over the maximum",
        "SELECT median(duration) FROM spans": "unknown function 'median'",
        "SELECT * FROM spans": "SELECT * FROM traces",
        "SELECT count(*) FROM spans WHERE name = 'unterminated": "unterminated string",
    }
    before = spoor.metric("spoor_tempo_requests_total", endpoint="search", outcome="invalid")
    for q, want in bad.items():
        r = requests.get(spoor.url("tempo-http", "/api/search"), params={"q": q}, timeout=10)
        assert r.status_code == 400 and want in r.text, (q, r.status_code, r.text)
    after = spoor.metric("spoor_tempo_requests_total", endpoint="search", outcome="invalid")
    assert after - before == len(bad)
    # Still serving.
    t = analytics(spoor, "SELECT count(*) FROM spans")
    assert t["rows"] == [[220]]


def test_spoor_query_prints_analytics(spoor):
    ingest(spoor)
    url = "http://" + spoor.addr("tempo-http")
    q = "SELECT service.name, quantile(duration, 0.5), count(*) FROM spans GROUP BY 1"
    out = subprocess.run([str(SPOOR_BIN), "query", "--server", url, q], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["service.name", "quantile(duration,", "0.5)", "[ms]", "count(*)"]
    # p50 of 1..200 ms: rank 99.5, between 100 and 101 ms.
    assert lines[1].split() == ["cart", "100.5", "200"]
    assert lines[2].split() == ["db", "10.0", "20"]
    assert lines[-1] == "2 rows from 220 spans"
    out = subprocess.run(
        [str(SPOOR_BIN), "query", "--server", url, "--json", q], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"][0] == ["cart", 100.5, 200]
