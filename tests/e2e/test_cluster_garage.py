"""The scale-out cluster on a real distributed S3 (issue 15): Garage, 3 nodes with replication
factor 3 on loopback (scripts/peers/garage-cluster.sh), 2 front collectors (loadbalancing) →
3 ingest nodes → Garage ← 2 query nodes + 2 compactors (one holds the lease), all real spoor
processes, under `spoor loadgen` load. Skipped when Garage is not built
(scripts/peers/build-garage.sh; scripts/test-peers.sh builds it and runs this test)."""

import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import ROOT, SPOOR_BIN, wait_for
from test_pipeline_loadbalancing import lb_config

GARAGE = ROOT / ".cache" / "garage" / "bin" / "garage"
SCRIPT = ROOT / "scripts" / "peers" / "garage-cluster.sh"
CUT = ("--block-cut-interval", "2s", "--manifest-poll-interval", "1s")


def free_base(n=9):
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n >= 65535:
            continue
        ok = True
        for p in range(base, base + n):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return base
    pytest.skip("no free port range for garage")


@pytest.fixture
def garage(tmp_path_factory):
    if not os.environ.get("SPOOR_CLUSTER_TEST"):
        pytest.skip("the Garage cluster test runs in scripts/test-peers.sh (SPOOR_CLUSTER_TEST=1)")
    if not GARAGE.exists():
        pytest.skip("garage not built: run scripts/peers/build-garage.sh (scripts/test-peers.sh does)")
    d = tmp_path_factory.mktemp("garage")
    out = subprocess.run(["bash", str(SCRIPT), str(d), str(free_base())], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    info = dict(line.split("=", 1) for line in out.stdout.strip().splitlines())
    info["dir"] = d
    yield info
    subprocess.run(["bash", str(SCRIPT), "--stop", str(d)], timeout=30)


def env_for(g, endpoint):
    return {
        "AWS_ACCESS_KEY_ID": g["key_id"],
        "AWS_SECRET_ACCESS_KEY": g["secret"],
        "AWS_REGION": "garage",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }


def acked(path):
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if len(line.strip()) == 32]


def loadgen(front, ack_log, rate, duration):
    return subprocess.Popen(
        [str(SPOOR_BIN), "loadgen", "--otlp-grpc", front.addr("otlp-grpc"), "--rate", str(rate),
         "--duration", duration, "--batch-spans", "200", "--concurrency", "2", "--ack-log", str(ack_log),
         "--retries", "20", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def span_counts(q, ids):
    """{trace id: spans} on query node q for `ids` (asked 50 at a time); absent ids have none."""
    counts = {}
    for i in range(0, len(ids), 50):
        r = requests.get(q.url("query-http", "/api/traces"), params=[("traceID", t) for t in ids[i : i + 50]],
                         timeout=30)
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            for t in r.json()["data"]:
                counts[t["traceID"].rjust(32, "0")] = len(t["spans"])
    return counts


def missing(q, ids):
    counts = span_counts(q, ids)
    return [t for t in ids if not counts.get(t)]


def test_the_cluster_keeps_every_acknowledged_trace(start_spoor, tmp_path, garage):
    e1, e2, e3 = garage["endpoints"].split(",")
    url = f"s3://{garage['bucket']}/traces"

    def node(role, node_id, endpoint, *extra, listeners=None):
        return start_spoor("--role", role, "--node-id", node_id, "--data-dir", str(tmp_path / node_id),
                           "--storage-url", url, *CUT, *extra, env=env_for(garage, endpoint), listeners=listeners)

    # Every spoor talks to Garage nodes 1 and 2; node 3 is stopped later.
    ingest = [node("ingest", f"ingest-{i}", [e1, e2][i % 2]) for i in range(3)]
    queries = [node("query", f"query-{i}", [e1, e2][i]) for i in range(2)]
    compactors = [node("compact", f"compact-{i}", [e2, e1][i], "--lease-ttl", "4s") for i in range(2)]
    cfg = tmp_path / "front.yaml"
    hosts = "".join(f"\n          - {n.addr('otlp-grpc')}" for n in ingest)
    cfg.write_text(lb_config(f"      static:\n        hostnames:{hosts}"))
    fronts = [start_spoor("--config", str(cfg), "--storage", "memory") for _ in range(2)]

    acks = [tmp_path / "acks-0.txt", tmp_path / "acks-1.txt"]
    gens = [loadgen(f, a, 400, "40s") for f, a in zip(fronts, acks)]
    wait_for(lambda: len(acked(acks[0])) > 100, timeout=60, what="acknowledged traces")

    # kill -9 one ingest node and restart it on its data dir: its WAL comes back.
    victim = ingest[1]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    time.sleep(2)
    ingest[1] = node("ingest", "ingest-1", e2, listeners={"otlp-grpc": victim.addr("otlp-grpc")})

    # kill -9 the compactor holding the lease: the other takes it.
    lease = "spoor_engine_compactor_lease_held"
    wait_for(lambda: sum(c.metric(lease) for c in compactors) == 1, what="one lease holder")
    # Garage 2.5 ignores If-None-Match/If-Match on PUT: the compactors' probe notices and the
    # lease falls back to writing and reading back (docs/scale-out.md).
    for c in compactors:
        assert "ignores conditional writes" in c.log_text(), c.log_text()[-2000:]
    holder = next(c for c in compactors if c.metric(lease) == 1)
    other = next(c for c in compactors if c is not holder)
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait()
    wait_for(lambda: other.metric(lease) == 1, timeout=20, what="the lease takeover")

    # Stop one Garage node: RF 3 keeps reads and writes going on the other two.
    os.kill(int(garage["pids"].split()[2]), signal.SIGTERM)
    for g in gens:
        out, err = g.communicate(timeout=180)
        assert g.returncode == 0, out + err
    ids = sorted(set(acked(acks[0]) + acked(acks[1])))
    assert len(ids) > 200, len(ids)
    for q in queries:
        wait_for(lambda: not missing(q, ids), timeout=120, what=f"every acknowledged trace on {q.log_path.name}")
    # Whole on both: a trace's spans travel in one request to one ingest node, so both query
    # nodes must see the same spans (a trace cut in two by a lost batch would differ or be short).
    wait_for(lambda: span_counts(queries[0], ids) == span_counts(queries[1], ids), timeout=60,
             what="the same spans on both query nodes")
    counts = span_counts(queries[0], ids)
    print(f"\n[garage cluster] acknowledged traces={len(ids)} spans={sum(counts.values())}", flush=True)
    wait_for(lambda: other.metric("spoor_engine_compactions_total") >= 1, timeout=120, what="compaction after the takeover")
