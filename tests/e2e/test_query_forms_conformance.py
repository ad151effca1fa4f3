"""Differential through the real binary: each of the 25 storage conformance queries
(../shared/conformance/jaeger/storage) as Jaeger parameters on /api/traces, as TraceQL and in
the SQL form on the Tempo API's /api/search returns the fixtures it must, on the memory store
and on the disk engine's blocks after a restart. The fixtures' 2017 times are moved to the last
day so retention keeps them."""

import datetime
import json
import signal
import time

import pytest
import requests

from conftest import CONFORMANCE

STORAGE = CONFORMANCE / "jaeger" / "storage"


def unix_ns(text):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def shift_times(node, offset):
    if isinstance(node, dict):
        return {
            k: str(int(v) + offset) if k.endswith("TimeUnixNano") else shift_times(v, offset)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [shift_times(v, offset) for v in node]
    return node


def fixtures(offset):
    """(name → OTLP JSON with times moved by `offset` ns, name → trace ids)."""
    bodies, ids = {}, {}
    for path in sorted((STORAGE / "traces").glob("*.json")):
        data = json.loads(path.read_text())
        bodies[path.stem] = shift_times(data, offset)
        ids[path.stem] = {
            s["traceId"] for rs in data["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
        }
    return bodies, ids


def traceql_literal(v):
    return json.dumps(v)


def sql_literal(v):
    return f"'{v}'" if isinstance(v, str) else json.dumps(v)


def jaeger_text(v):
    return json.dumps(v) if not isinstance(v, str) else v


def to_traceql(q):
    conds = []
    if q["ServiceName"]:
        conds.append(f"resource.service.name = {traceql_literal(q['ServiceName'])}")
    if q["OperationName"]:
        conds.append(f"name = {traceql_literal(q['OperationName'])}")
    if q["DurationMin"]:
        conds.append(f"duration >= {q['DurationMin']}ns")
    if q["DurationMax"]:
        conds.append(f"duration <= {q['DurationMax']}ns")
    for k, v in (q["Tags"] or {}).items():
        lit = traceql_literal(v)
        conds.append("(" + " || ".join(f"{s}.{k} = {lit}" for s in ("span", "resource", "event", "link", "instrumentation")) + ")")
    return "{ " + " && ".join(conds) + " }"


def to_sql(q):
    conds = []
    if q["ServiceName"]:
        conds.append(f"service.name = '{q['ServiceName']}'")
    if q["OperationName"]:
        conds.append(f"operation.name = '{q['OperationName']}'")
    if q["DurationMin"]:
        conds.append(f"duration >= {q['DurationMin']}ns")
    if q["DurationMax"]:
        conds.append(f"duration <= {q['DurationMax']}ns")
    for k, v in (q["Tags"] or {}).items():
        lit = sql_literal(v)
        conds.append("(" + " OR ".join(f"{s}.{k} = {lit}" for s in ("tags", "event", "link", "instrumentation")) + ")")
    where = " WHERE " + " AND ".join(conds) if conds else ""
    return f"SELECT * FROM traces{where} LIMIT {q['NumTraces']}"


def ingest(spoor, bodies):
    for name, body in bodies.items():
        r = requests.post(spoor.url("otlp-http", "/v1/traces"), json=body, timeout=10)
        assert r.status_code == 200, (name, r.text)


def check_all(spoor, queries, ids, offset):
    failures = []
    for case in queries:
        q = case["Query"]
        want = set().union(*(ids[f] for f in case["ExpectedFixtures"]))
        start, end = unix_ns(q["StartTimeMin"]) + offset, unix_ns(q["StartTimeMax"]) + offset
        params = {"start": start // 1000, "end": end // 1000, "limit": q["NumTraces"]}
        if q["ServiceName"]:
            params["service"] = q["ServiceName"]
        if q["OperationName"]:
            params["operation"] = q["OperationName"]
        if q["DurationMin"]:
            params["minDuration"] = f"{q['DurationMin']}ns"
        if q["DurationMax"]:
            params["maxDuration"] = f"{q['DurationMax']}ns"
        if q["Tags"]:
            params["tags"] = json.dumps({k: jaeger_text(v) for k, v in q["Tags"].items()})
        r = spoor.query("/api/traces", **params)
        assert r.status_code == 200, (case["Caption"], r.text)
        got = {s["traceID"].rjust(32, "0") for t in r.json()["data"] for s in t["spans"]}
        if got != want:
            failures.append(f"{case['Caption']} (jaeger {params}): {sorted(got)} != {sorted(want)}")
        # Tempo's window is in seconds: widened to whole seconds around the form's.
        window = {"start": start // 1_000_000_000, "end": -(-end // 1_000_000_000)}
        for form, text in (("traceql", to_traceql(q)), ("sql", to_sql(q))):
            r = requests.get(
                spoor.url("tempo-http", "/api/search"),
                params={"q": text, "limit": q["NumTraces"], **window},
                timeout=10,
            )
            assert r.status_code == 200, (case["Caption"], form, text, r.text)
            got = {t["traceID"].rjust(32, "0") for t in r.json()["traces"]}
            if got != want:
                failures.append(f"{case['Caption']} ({form}: {text}): {sorted(got)} != {sorted(want)}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def conformance():
    if not (STORAGE / "queries.json").is_file():
        pytest.skip(f"conformance folder {STORAGE} is absent")
    queries = json.loads((STORAGE / "queries.json").read_text())
    assert len(queries) == 25
    # The latest window's end moves to an hour ago, in whole seconds.
    latest = max(unix_ns(q["Query"]["StartTimeMax"]) for q in queries)
    offset = (time.time_ns() - 3600 * 1_000_000_000 - latest) // 1_000_000_000 * 1_000_000_000
    bodies, ids = fixtures(offset)
    return queries, bodies, ids, offset


def test_conformance_queries_agree_in_every_form_on_the_memory_store(spoor, conformance):
    queries, bodies, ids, offset = conformance
    ingest(spoor, bodies)
    check_all(spoor, queries, ids, offset)


def test_conformance_queries_agree_in_every_form_on_the_engines_blocks(start_spoor, tmp_path, conformance):
    queries, bodies, ids, offset = conformance
    data = str(tmp_path / "data")
    first = start_spoor("--data-dir", data)
    ingest(first, bodies)
    # A clean shutdown writes the head into blocks; the restarted server reads them.
    assert first.stop(signal.SIGTERM) == 0
    check_all(start_spoor("--data-dir", data), queries, ids, offset)
