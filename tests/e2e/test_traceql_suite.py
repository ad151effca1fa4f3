"""The TraceQL suite (tests/traceql/suite.json: a fixed trace set and queries from Tempo's
TraceQL documentation, each with the spans it must match) through the real binary's Tempo API
(`/api/search` on --tempo-http), against every storage backend: the memory store, the disk
engine's head, its blocks after a restart, and blocks read back from an S3 bucket (moto)."""

import json
import os
import signal
import time
from pathlib import Path

import pytest
import requests

SUITE = json.loads((Path(__file__).resolve().parents[1] / "traceql" / "suite.json").read_text())
KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS = {"ok": 1, "error": 2}


def trace_id(label):
    return label.rjust(32, "0")


def span_id(label):
    return label.rjust(16, "0")


def any_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def attrs(m):
    return [{"key": k, "value": any_value(v)} for k, v in (m or {}).items()]


def otlp_body(base):
    """The suite as OTLP/JSON, one resource per span, times from `base` (unix ns)."""
    out = []
    for trace in SUITE["traces"]:
        for s in trace["spans"]:
            start = base + s["start"] * 1_000_000
            span = {
                "traceId": trace_id(trace["id"]),
                "spanId": span_id(s["id"]),
                "name": s["name"],
                "kind": KINDS[s["kind"]],
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + s["dur"] * 1_000_000),
                "attributes": attrs(s.get("attrs")),
                "events": [
                    {"name": e["name"], "timeUnixNano": str(start), "attributes": attrs(e.get("attrs"))}
                    for e in s.get("events", [])
                ],
                "links": [
                    {"traceId": trace_id(l["trace"]), "spanId": span_id(l["span"]), "attributes": attrs(l.get("attrs"))}
                    for l in s.get("links", [])
                ],
            }
            if "parent" in s:
                span["parentSpanId"] = span_id(s["parent"])
            if "status" in s:
                span["status"] = {"code": STATUS[s["status"][0]], "message": s["status"][1]}
            out.append({
                "resource": {"attributes": attrs({"service.name": s["service"], **s.get("res", {})})},
                "scopeSpans": [{"scope": {"name": s["scope"][0], "version": s["scope"][1]}, "spans": [span]}],
            })
    return {"resourceSpans": out}


def ingest(spoor):
    base = (time.time_ns() // 1_000_000_000 - 60) * 1_000_000_000
    r = requests.post(spoor.url("otlp-http", "/v1/traces"), json=otlp_body(base), timeout=10)
    assert r.status_code == 200, r.text
    return base


def run_suite(spoor, base):
    """Every case's matched spans and traces; failures listed together."""
    start, end = base // 1_000_000_000 - 10, base // 1_000_000_000 + 3600
    failures = []
    for case in SUITE["cases"]:
        r = requests.get(
            spoor.url("tempo-http", "/api/search"),
            params={"q": case["q"], "limit": 100, "spss": 100, "start": start, "end": end},
            timeout=10,
        )
        if r.status_code != 200:
            failures.append(f"{case['q']}: HTTP {r.status_code} {r.text}")
            continue
        traces = r.json()["traces"]
        got = {s["spanID"] for t in traces for ss in t["spanSets"] for s in ss["spans"]}
        want = {span_id(s) for s in case["spans"]}
        got_traces = {t["traceID"] for t in traces}
        want_traces = {trace_id(s[0]) for s in case["spans"]}
        if got != want or got_traces != want_traces:
            failures.append(f"{case['q']}: expected {sorted(want)}, got {sorted(got)}")
    assert not failures, "\n".join(failures)


def test_suite_on_the_memory_store(start_spoor):
    spoor = start_spoor("--storage", "memory")
    base = ingest(spoor)
    assert len(SUITE["cases"]) >= 60
    run_suite(spoor, base)


def test_suite_on_the_disk_engine_head_and_blocks(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    first = start_spoor("--data-dir", data)
    base = ingest(first)
    run_suite(first, base)
    assert first.stop(signal.SIGTERM) == 0
    # A clean shutdown cuts the head into a block; the reopened server reads only blocks.
    second = start_spoor("--data-dir", data)
    run_suite(second, base)


def test_suite_on_the_s3_object_store(start_spoor, tmp_path):
    from test_data_safety import moto_endpoint

    endpoint = moto_endpoint()
    bucket = f"spoor-traceql-{os.getpid()}-{time.time_ns()}"
    assert requests.put(f"{endpoint}/{bucket}", timeout=10).status_code == 200
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    url = f"s3://{bucket}/traces"
    first = start_spoor("--data-dir", str(tmp_path / "d1"), "--storage-url", url, env=env)
    base = ingest(first)
    assert first.stop(signal.SIGTERM) == 0
    listing = requests.get(f"{endpoint}/{bucket}?list-type=2&prefix=traces/blocks/", timeout=10).text
    assert ".parquet" in listing, listing
    # A fresh data dir: every span comes back from the bucket's blocks.
    second = start_spoor("--data-dir", str(tmp_path / "d2"), "--storage-url", url, env=env)
    run_suite(second, base)


@pytest.mark.parametrize("case", SUITE["errors"], ids=lambda c: c["q"][:30])
def test_bad_queries_are_400s_and_counted(spoor, case):
    before = spoor.metric("spoor_tempo_requests_total", endpoint="search", outcome="invalid")
    r = requests.get(spoor.url("tempo-http", "/api/search"), params={"q": case["q"]}, timeout=10)
    assert r.status_code == 400, r.text
    assert case["contains"] in r.text
    assert "position" in r.text
    after = spoor.metric("spoor_tempo_requests_total", endpoint="search", outcome="invalid")
    assert after == before + 1
    assert requests.get(spoor.url("tempo-http", "/ready"), timeout=5).text == "ready"
