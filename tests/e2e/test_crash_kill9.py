"""kill -9 during ingest, restart on the same data directory: every acknowledged trace is readable.

The load comes from `spoor loadgen --ack-log`, which appends the id of every trace whose export
request was acknowledged. The server is killed with SIGKILL while the load is running, restarted
on the same `--data-dir`, and each logged id must come back from `GET /api/traces/{id}`.

Only meaningful with the durable engine: while the binary rejects `--storage disk` the test skips
(it must not pass without checking anything).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import SPOOR_BIN, spoor_help

# Enough load to be mid-flight at the kill, small enough for CI on 2 cores.
RATE = int(os.environ.get("SPOOR_CRASH_RATE", "20000"))
SPANS = int(os.environ.get("SPOOR_CRASH_SPANS", "400000"))
KILL_AFTER_TRACES = int(os.environ.get("SPOOR_CRASH_KILL_AFTER_TRACES", "3000"))


def start_disk(start_spoor, data_dir):
    try:
        return start_spoor("--storage", "disk", "--data-dir", str(data_dir))
    except RuntimeError as e:
        if "invalid value 'disk'" in str(e):
            pytest.skip("this spoor binary rejects --storage disk: no durable engine to crash yet")
        raise


def acked_ids(path):
    if not path.exists():
        return []
    # A line may be half-written when the load generator is stopped: keep full ids only.
    return [line for line in path.read_text().splitlines() if len(line) == 32]


def test_acknowledged_traces_survive_kill9(start_spoor, tmp_path):
    if "loadgen" not in spoor_help():
        pytest.skip("this spoor binary has no `loadgen` subcommand")
    data_dir = tmp_path / "data"
    ack_log = tmp_path / "acks.txt"
    server = start_disk(start_spoor, data_dir)

    loadgen = subprocess.Popen(
        [
            str(SPOOR_BIN),
            "loadgen",
            "--otlp-grpc",
            server.addr("otlp-grpc"),
            "--rate",
            str(RATE),
            "--spans",
            str(SPANS),
            "--concurrency",
            "4",
            "--batch-spans",
            "500",
            "--ack-log",
            str(ack_log),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while len(acked_ids(ack_log)) < KILL_AFTER_TRACES:
            if loadgen.poll() is not None:
                pytest.fail(
                    f"loadgen ended before the kill (exit {loadgen.returncode}):\n"
                    f"{loadgen.stdout.read()}\n{loadgen.stderr.read()}"
                )
            if time.time() > deadline:
                pytest.fail(f"only {len(acked_ids(ack_log))} traces acknowledged in 120 s")
            time.sleep(0.05)
        # The kill lands while requests are in flight.
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        # Let the load generator log the answers it got before the kill, then stop it.
        time.sleep(1.0)
    finally:
        if loadgen.poll() is None:
            loadgen.send_signal(signal.SIGTERM)
        loadgen.wait(timeout=30)

    ids = sorted(set(acked_ids(ack_log)))
    assert len(ids) >= KILL_AFTER_TRACES, f"only {len(ids)} acknowledged traces"

    restarted = start_disk(start_spoor, data_dir)
    missing = []
    session = requests.Session()
    for trace_id in ids:
        r = session.get(restarted.url("query-http", f"/api/traces/{trace_id}"), timeout=30)
        spans = r.json().get("data", [{}])[0].get("spans", []) if r.status_code == 200 else []
        if not spans:
            missing.append((trace_id, r.status_code))
    print(f"checked {len(ids)} acknowledged traces after kill -9, {len(missing)} missing")
    assert not missing, (
        f"{len(missing)} of {len(ids)} acknowledged traces lost after kill -9, "
        f"first: {missing[:5]}\n{restarted.log_text()[-3000:]}"
    )
