"""Runs an ingest client script and checks the trace it sent as the Jaeger query API returns it.

Every client sends the same 3-span trace: `GET /orders` (server; http.method, order.count, …) →
`SELECT orders` (client; event `query.start`) → `charge card` (error status "card declined"), and
prints {"trace_id", "root", "db", "charge"} (hex) as its last stdout line.
"""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = Path(__file__).resolve().parent
VENVS = ROOT / ".cache" / "venvs"


def python_of(venv):
    python = VENVS / venv / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"{python} missing: run tests/e2e/setup_clients.sh")
    return str(python)


def run_client(argv, timeout=60):
    """Runs argv (interpreter, script, args…) in the clients folder; returns the sent ids."""
    proc = subprocess.run(
        argv,
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert proc.returncode == 0 and lines, (
        f"client {argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return json.loads(lines[-1])


def tags(span):
    return {t["key"]: t["value"] for t in span["tags"]}


def check_trace(trace, sent, service, event_key="event", kinds=True):
    """Parent links, service names, tags, the event and the error status."""
    assert int(trace["traceID"], 16) == int(sent["trace_id"], 16)
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert set(spans) == {sent["root"], sent["db"], sent["charge"]}, trace["spans"]
    root, db, charge = spans[sent["root"]], spans[sent["db"]], spans[sent["charge"]]

    assert root["references"] == []
    for child, parent in ((db, root), (charge, db)):
        assert [(r["refType"], r["spanID"]) for r in child["references"]] == [
            ("CHILD_OF", parent["spanID"])
        ]
        assert int(child["references"][0]["traceID"], 16) == int(sent["trace_id"], 16)

    for s in spans.values():
        assert trace["processes"][s["processID"]]["serviceName"] == service

    root_tags = tags(root)
    assert root_tags["http.method"] == "GET"
    assert str(root_tags["order.count"]) in ("3", "3.0")
    if kinds:
        assert root_tags["span.kind"] == "server"
        assert tags(db)["span.kind"] == "client"

    events = [{f["key"]: f["value"] for f in log["fields"]} for log in db["logs"]]
    assert any(e.get(event_key) == "query.start" for e in events), db["logs"]

    charge_tags = tags(charge)
    assert charge_tags["error"] is True
    return root, db, charge
