"""Scale-out roles on one shared bucket (moto S3): --role ingest/query/compact, per-node
manifest logs, the compactor lease (issue 15)."""

import os
import signal
import threading
import time

import pytest
import requests

from conftest import wait_for
from test_data_safety import found, moto_endpoint, post, request



CUT = ("--block-cut-interval", "1s")
POLL = ("--manifest-poll-interval", "500ms")


@pytest.fixture
def bucket():
    endpoint = moto_endpoint()
    name = f"spoor-roles-{os.getpid()}-{time.time_ns()}"
    assert requests.put(f"{endpoint}/{name}", timeout=10).status_code == 200
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    return f"s3://{name}/traces", env, endpoint, name


def node(start_spoor, tmp_path, bucket, role, node_id, *extra):
    url, env, _, _ = bucket
    return start_spoor(
        "--role",
        role,
        "--node-id",
        node_id,
        "--data-dir",
        str(tmp_path / node_id),
        "--storage-url",
        url,
        *CUT,
        *POLL,
        *extra,
        env=env,
    )


def listing(bucket, prefix):
    _, _, endpoint, name = bucket
    return requests.get(f"{endpoint}/{name}?list-type=2&prefix=traces/{prefix}", timeout=10).text


def test_two_ingest_nodes_write_concurrently_and_a_query_node_sees_both(
    start_spoor, tmp_path, bucket
):
    a = node(start_spoor, tmp_path, bucket, "ingest", "ingest-a")
    b = node(start_spoor, tmp_path, bucket, "ingest", "ingest-b")
    q = node(start_spoor, tmp_path, bucket, "query", "query-1")
    # The query node receives nothing.
    assert "otlp-http" not in q.addrs
    errors = []

    def writer(spoor, numbers):
        for n in numbers:
            if post(spoor, request([n])).status_code != 200:
                errors.append(n)

    ta = threading.Thread(target=writer, args=(a, range(0, 300)))
    tb = threading.Thread(target=writer, args=(b, range(1000, 1300)))
    ta.start(), tb.start()
    ta.join(), tb.join()
    assert errors == []
    everything = list(range(0, 300)) + list(range(1000, 1300))
    # Both nodes cut several blocks each while the other committed.
    wait_for(lambda: a.metric("spoor_engine_blocks_written_total") >= 1, what="a's blocks")
    wait_for(lambda: b.metric("spoor_engine_blocks_written_total") >= 1, what="b's blocks")
    wait_for(lambda: found(q, everything) == 600, timeout=60, what="every trace on the query node")
    assert found(a, range(1000, 1300)) == 0, "an ingest node serves its own blocks only"
    # Each node has its own manifest log.
    text = listing(bucket, "manifest/nodes/")
    assert "manifest/nodes/ingest-a/" in text and "manifest/nodes/ingest-b/" in text, text
    # No compaction on ingest nodes.
    assert a.metric("spoor_engine_compactions_total") == 0
    # A restarted ingest node keeps its blocks and takes more.
    assert a.stop() == 0
    a2 = node(start_spoor, tmp_path, bucket, "ingest", "ingest-a")
    assert post(a2, request([5000])).status_code == 200
    wait_for(lambda: found(q, everything + [5000]) == 601, timeout=60, what="after a restart")


def test_one_compactor_holds_the_lease_and_another_takes_over_after_kill_9(
    start_spoor, tmp_path, bucket
):
    ttl = ("--lease-ttl", "3s")
    a = node(start_spoor, tmp_path, bucket, "ingest", "ingest-a")
    b = node(start_spoor, tmp_path, bucket, "ingest", "ingest-b")
    q = node(start_spoor, tmp_path, bucket, "query", "query-1")
    c1 = node(start_spoor, tmp_path, bucket, "compact", "compact-1", *ttl)
    c2 = node(start_spoor, tmp_path, bucket, "compact", "compact-2", *ttl)
    lease = "spoor_engine_compactor_lease_held"
    wait_for(lambda: c1.metric(lease) + c2.metric(lease) == 1, what="one lease holder")
    holder, other = (c1, c2) if c1.metric(lease) == 1 else (c2, c1)

    def round_of(base):
        # Several blocks from each node in the same hour window: compaction merges them.
        for i in range(4):
            assert post(a, request([base + 10 * i])).status_code == 200
            assert post(b, request([base + 10 * i + 1])).status_code == 200
            time.sleep(1.3)
        return [base + 10 * i + j for i in range(4) for j in (0, 1)]

    first = round_of(0)
    wait_for(lambda: holder.metric("spoor_engine_compactions_total") >= 1, timeout=60, what="a compaction")
    for _ in range(5):
        assert other.metric(lease) == 0
        assert other.metric("spoor_engine_compactions_total") == 0, "only the holder compacts"
        time.sleep(0.3)
    wait_for(lambda: found(q, first) == len(first), timeout=30, what="traces after compaction")

    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait()
    killed = time.time()
    wait_for(lambda: other.metric(lease) == 1, timeout=20, what="the takeover")
    took = time.time() - killed
    assert took < 3 + 2, f"takeover after {took:.1f} s with a 3 s TTL"
    second = round_of(100)
    wait_for(lambda: other.metric("spoor_engine_compactions_total") >= 1, timeout=60, what="compaction resumes")
    wait_for(lambda: found(q, first + second) == len(first + second), timeout=30, what="every trace")
    # The query node serves a whole trace: each id has its one span, once.
    r = q.query(f"/api/traces/{'d5' + format(second[0], '030x')}")
    assert r.status_code == 200 and len(r.json()["data"][0]["spans"]) == 1, r.text
