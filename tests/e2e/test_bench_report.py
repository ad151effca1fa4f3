"""`spoor bench` end to end on a tiny workload: its JSON report carries what issue 11 asks of
it, among them the per-column byte breakdown read from `spoor tool inspect`, whose table
once changed under the bench's parser so that full runs reported none."""

import json
import subprocess

from conftest import SPOOR_BIN


def test_a_small_bench_reports_ingest_storage_columns_and_queries(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            str(SPOOR_BIN),
            "bench",
            "--spoor-bin",
            str(SPOOR_BIN),
            "--no-baseline",
            "--no-jaeger",
            "--no-recovery",
            "--duration",
            "2s",
            "--rounds",
            "1",
            "--spans",
            "20000",
            "--queries",
            "1",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(out.read_text())
    assert not [n for n in report["notes"] if "per-column" in n], report["notes"]
    (store,) = [s for s in report["stores"] if s["target"].startswith("spoor")]
    columns = {c["column"]: c for c in store["columns"]}
    # The random ids are the floor of a span's bytes: 8 B of span id a span, at least.
    assert columns["span_id"]["bytes_per_span"] >= 7.5, columns["span_id"]
    assert "trace_id" in columns and "duration_nano" in columns, sorted(columns)
    assert sum(c["compressed_bytes"] for c in store["columns"]) > 0
    assert report["ingest"], report
    assert any(q["ok"] > 0 for q in store["queries"]), store["queries"]
    assert "column span_id, B/span" in run.stdout, run.stdout[-3000:]
