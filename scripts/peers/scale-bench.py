#!/usr/bin/env python3
"""Ingest spans/s with 1, 2 and 3 `--role ingest` nodes on one S3 bucket, with each node's CPU
(issue 15, README "Scale out"). Each node gets its own `spoor loadgen` (unlimited rate) for
DURATION; spans/s is the sum of the nodes' `spoor_engine_spans_written_total` deltas; CPU is
utime+stime from /proc per node. Everything runs on this machine, loadgens included.

Usage: SPOOR_BIN=… .cache/venvs/e2e/bin/python scripts/peers/scale-bench.py ENDPOINT [DURATION_S]
ENDPOINT: an S3 endpoint with credentials test/test (scripts/start-moto.sh), where each run gets a
new bucket; or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION and SCALE_BENCH_BUCKET for
another store (Garage: scripts/peers/garage-cluster.sh prints them), where each run gets a new
prefix in that bucket. ENDPOINT may be a comma list: node k talks to endpoint k mod len.
SCALE_BENCH_STORE_PIDS (space-separated) adds the store processes' CPU to each line."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
import requests  # noqa: E402
from conftest import SPOOR_BIN, Spoor, listener_args  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    endpoints = sys.argv[1].split(",")
    endpoint = endpoints[0]
    given_bucket = os.environ.get("SCALE_BENCH_BUCKET")
    # The object store's processes (Garage nodes), whose CPU is reported too.
    store_pids = [int(p) for p in os.environ.get("SCALE_BENCH_STORE_PIDS", "").split()]
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    env = {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    for n in (1, 2, 3):
        tmp = Path(tempfile.mkdtemp(prefix="spoor-scale-bench-"))
        run = f"scale-bench-{os.getpid()}-{n}-{time.time_ns()}"
        if given_bucket:
            url = f"s3://{given_bucket}/{run}"
        else:
            requests.put(f"{endpoint}/{run}", timeout=10)
            url = f"s3://{run}/t"
        nodes = []
        try:
            for k in range(n):
                args = listener_args() + ["--role", "ingest", "--node-id", f"ingest-{k}", "--data-dir",
                                          str(tmp / f"n{k}"), "--storage-url", url,
                                          "--block-cut-interval", "5s"]
                node_env = {**os.environ, **env, "AWS_ENDPOINT": endpoints[k % len(endpoints)]}
                nodes.append(Spoor(args, tmp / f"n{k}.log", env=node_env))
            gens = [subprocess.Popen([str(SPOOR_BIN), "loadgen", "--otlp-grpc", n_.addr("otlp-grpc"),
                                      "--duration", "600s", "--quiet", "--retries", "5"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n_ in nodes]
            # Measure once every node takes spans (the loadgens first build their request pools).
            deadline = time.time() + 300
            while time.time() < deadline and not all(
                    n_.metric("spoor_engine_spans_written_total") > 0 for n_ in nodes):
                time.sleep(0.5)
            before = [(n_.metric("spoor_engine_spans_written_total"), cpu_s(n_.proc.pid)) for n_ in nodes]
            store_before = [cpu_s(p) for p in store_pids]
            t0 = time.time()
            time.sleep(duration)
            after = [(n_.metric("spoor_engine_spans_written_total"), cpu_s(n_.proc.pid)) for n_ in nodes]
            store_cpu = [f"{(cpu_s(p) - b) / (time.time() - t0) * 100:.0f}%" for p, b in zip(store_pids, store_before)]
            elapsed = time.time() - t0
            for g in gens:
                g.terminate()
                g.wait()
            spans = sum(a[0] - b[0] for a, b in zip(after, before))
            cpus = [f"{(a[1] - b[1]) / elapsed * 100:.0f}%" for a, b in zip(after, before)]
            store = f" store CPU={' '.join(store_cpu)}" if store_pids else ""
            print(f"ingest nodes={n} spans/s={spans / elapsed:.0f} per-node CPU={' '.join(cpus)}{store}", flush=True)
        finally:
            for n_ in nodes:
                n_.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
