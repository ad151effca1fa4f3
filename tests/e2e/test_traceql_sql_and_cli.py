"""The seeds' SQL form through the real binary's Tempo search, and `spoor query` against a
running server (table and JSON) and against a data directory."""

import json
import signal
import subprocess

import requests

from conftest import SPOOR_BIN
from test_traceql_suite import ingest, trace_id


def sql(spoor, q):
    r = requests.get(spoor.url("tempo-http", "/api/search"), params={"q": q}, timeout=10)
    assert r.status_code == 200, (q, r.text)
    return [t["traceID"][-1] for t in r.json()["traces"]]


def test_sql_form_over_the_suite(spoor):
    ingest(spoor)
    cases = {
        "SELECT * FROM traces WHERE duration > 1000ms": {"3", "5"},
        "SELECT * FROM traces WHERE tags.error = true": {"1", "3", "5"},
        'SELECT * FROM traces WHERE service.name = "checkout"': {"1"},
        'SELECT * FROM traces WHERE operation.name = "GetProduct"': {"2"},
        "SELECT * FROM traces WHERE tags.http.status_code = 500": {"5"},
        'SELECT * FROM traces WHERE tags.db.system = "postgresql"': {"1", "2"},
        'SELECT * FROM traces WHERE tags.http.route = "/cart" AND NOT tags.http.status_code = 200': {"4", "5"},
    }
    for q, want in cases.items():
        assert set(sql(spoor, q)) == want, q
    ordered = 'SELECT * FROM traces WHERE service.name = "frontend" ORDER BY duration DESC'
    assert sql(spoor, ordered) == ["5", "1", "2", "4"]
    assert sql(spoor, ordered + " LIMIT 2") == ["5", "1"]
    bad = requests.get(spoor.url("tempo-http", "/api/search"), params={"q": "SELECT * FROM spans"}, timeout=10)
    assert bad.status_code == 400 and "SELECT * FROM traces" in bad.text


def spoor_query(*args):
    return subprocess.run([str(SPOOR_BIN), "query", *args], capture_output=True, text=True, timeout=60)


def test_spoor_query_against_a_server_and_a_data_dir(start_spoor, tmp_path):
    data = str(tmp_path / "data")
    server = start_spoor("--data-dir", data)
    ingest(server)
    url = "http://" + server.addr("tempo-http")
    out = spoor_query("--server", url, '{ status = error } | count() > 0')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["TRACE", "ID", "START", "DURATION", "ROOT", "SERVICE", "ROOT", "NAME", "MATCHED"]
    assert {l.split()[0] for l in lines[1:-1]} == {trace_id(t) for t in "135"}
    assert lines[-1] == "3 traces"
    out = spoor_query("--server", url, "--json", "SELECT * FROM traces WHERE duration > 1000ms ORDER BY duration DESC")
    assert out.returncode == 0, out.stderr
    assert [t["traceID"] for t in json.loads(out.stdout)["traces"]] == [trace_id("5"), trace_id("3")]
    bad = spoor_query("--server", url, "{ nonsense = 1 }")
    assert bad.returncode != 0 and "unknown intrinsic or attribute 'nonsense'" in bad.stderr
    assert server.stop(signal.SIGTERM) == 0
    # The clean shutdown wrote the spans into a block, which the data-dir mode reads.
    out = spoor_query("--data-dir", data, "--json", '{ resource.service.name = "worker" }')
    assert out.returncode == 0, out.stderr
    assert [t["traceID"] for t in json.loads(out.stdout)["traces"]] == [trace_id("3")]
