"""What losing an ingest node costs (issue 15, README "Scale out"), on one moto bucket:
2 front collectors (front-i forwards over OTLP to ingest-i) → 2 ingest nodes → S3 ← 1 query node,
under `spoor loadgen --ack-log` load on both fronts. ingest-1 is killed with SIGKILL and its disk is
treated as gone (it never comes back on it).

- With the fronts' default in-memory `sending_queue`, the spans ingest-1 had acknowledged since its
  last block are lost, and so is everything front-1 acknowledged after the kill (dropped once
  `max_elapsed_time` runs out; a memory queue dies with its front too).
- With a persistent `sending_queue` (`file_storage`), front-1 keeps what it acknowledged during the
  outage on disk, even across its own kill -9, and delivers it to the replacement node (a new, empty
  data directory under the same node id and address); only ingest-1's unflushed head is lost.

Run with `-s` to print the figures."""

import os
import time

import requests

from conftest import wait_for
from test_data_safety import moto_endpoint
from test_roles import bucket  # noqa: F401  (fixture)

CUT = ("--block-cut-interval", "5s", "--manifest-poll-interval", "500ms")
RATE = 300
DURATION_S = 20
KILL_AFTER_S = 2


def front_config(ingest_addr, queue_dir=None):
    storage = "\n      storage: file_storage" if queue_dir else ""
    elapsed = "0s" if queue_dir else "4s"
    ext = (
        f"extensions:\n  file_storage:\n    directory: {queue_dir}\n    create_directory: true\n"
        if queue_dir
        else ""
    )
    service_ext = "  extensions: [file_storage]\n" if queue_dir else ""
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  otlp:
    endpoint: {ingest_addr}
    tls:
      insecure: true
    timeout: 2s
    sending_queue:
      queue_size: 5000{storage}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: {elapsed}
{ext}service:
{service_ext}  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"""


def acked(path):
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if len(line.strip()) == 32]


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def missing(q, ids):
    """The ids of `ids` the query node does not find (asked 50 at a time)."""
    found = set()
    for i in range(0, len(ids), 50):
        chunk = ids[i : i + 50]
        r = requests.get(q.url("query-http", "/api/traces"), params=[("traceID", t) for t in chunk], timeout=30)
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            found |= {t["traceID"].rjust(32, "0") for t in r.json()["data"] if t["spans"]}
    return [t for t in ids if t not in found]


def total(spoor, name):
    """The sum of every series of metric `name` (labelled or not)."""
    out = 0.0
    for line in spoor.metrics().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            out += float(line.rpartition(" ")[2])
    return out


def dir_bytes(d):
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.exists() else 0


class Cluster:
    def __init__(self, start_spoor, tmp_path, bucket, persistent):
        import subprocess

        from conftest import SPOOR_BIN

        self.start_spoor, self.tmp, self.bucket = start_spoor, tmp_path, bucket
        self.ingest = [self.node(f"ingest-{i}", tmp_path / f"ingest-{i}") for i in range(2)]
        url, env, _, _ = bucket
        self.query = start_spoor("--role", "query", "--node-id", "query-0", "--data-dir", str(tmp_path / "q"),
                                 "--storage-url", url, *CUT, env=env)
        self.queue_dirs = [tmp_path / f"queue-{i}" if persistent else None for i in range(2)]
        self.cfgs = []
        for i in range(2):
            cfg = tmp_path / f"front-{i}.yaml"
            cfg.write_text(front_config(self.ingest[i].addr("otlp-grpc"), self.queue_dirs[i]))
            self.cfgs.append(cfg)
        self.fronts = [start_spoor("--config", str(c), "--storage", "memory") for c in self.cfgs]
        self.acks = [tmp_path / f"acks-{i}.txt" for i in range(2)]
        self.gens = [
            subprocess.Popen(
                [str(SPOOR_BIN), "loadgen", "--otlp-grpc", f.addr("otlp-grpc"), "--rate", str(RATE),
                 "--duration", f"{DURATION_S}s", "--batch-spans", "100", "--concurrency", "2",
                 "--ack-log", str(a), "--retries", "20", "--quiet", "--seed", str(seed)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            # Different seeds: the two loadgens send different trace ids.
            for seed, (f, a) in enumerate(zip(self.fronts, self.acks), start=1)
        ]

    def node(self, node_id, data_dir, listeners=None):
        url, env, _, _ = self.bucket
        return self.start_spoor("--role", "ingest", "--node-id", node_id, "--data-dir", str(data_dir),
                                "--storage-url", url, *CUT, env=env, listeners=listeners)

    def kill_ingest_1(self):
        """kill -9 ingest-1 mid-load; returns (its head spans just before, acks on front-1 then)."""
        wait_for(lambda: len(acked(self.acks[1])) > 30, timeout=60, what="acknowledged traces")
        time.sleep(KILL_AFTER_S)
        victim = self.ingest[1]
        head = victim.metric("spoor_engine_head_spans")
        queued = total(self.fronts[1], "spoor_exporter_queue_size")
        victim.proc.kill()
        victim.proc.wait()
        return head, queued, len(acked(self.acks[1]))

    def finish_load(self):
        for g in self.gens:
            out, err = g.communicate(timeout=120)
            assert g.returncode == 0, out + err
        return [sorted(set(acked(a))) for a in self.acks]


def report(name, **figures):
    print(f"\n[node loss, {name}] " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def test_an_ingest_node_that_never_returns_loses_its_head_and_what_its_memory_queue_front_held(
    start_spoor, tmp_path, bucket  # noqa: F811
):
    c = Cluster(start_spoor, tmp_path, bucket, persistent=False)
    cpu0 = [cpu_s(f.proc.pid) for f in c.fronts]
    head, queued, acks_at_kill = c.kill_ingest_1()
    ids0, ids1 = c.finish_load()
    cpu = [cpu_s(f.proc.pid) - b for f, b in zip(c.fronts, cpu0)]
    # front-1 gives up on its batches after max_elapsed_time (4 s here, 300 s by default).
    wait_for(lambda: total(c.fronts[1], "spoor_exporter_queue_size") == 0, timeout=60, what="front-1 gives up")
    wait_for(lambda: not missing(c.query, ids0), timeout=60, what="every trace of the surviving node")
    before = acked(c.acks[1])[:acks_at_kill]
    lost_before = missing(c.query, sorted(set(before)))
    after = sorted(set(ids1) - set(before))
    lost_after = missing(c.query, after)
    report("memory queue", acked_traces=len(ids0) + len(ids1), acked_by_front1_before_kill=len(set(before)),
           lost_of_those=len(lost_before), victim_head_spans_at_kill=head, front1_queued_at_kill=queued,
           acked_by_front1_after_kill=len(after), lost_of_those_after=len(lost_after),
           front_cpu_s=[round(x, 2) for x in cpu])
    if head > 0:
        assert lost_before, "ingest-1 had unflushed spans when it was killed: some of them are lost"
    # Each lost trace had at least one span in ingest-1's head or in front-1's queue at the kill.
    assert len(lost_before) <= head + queued * 100 + 100, (len(lost_before), head, queued)
    assert after and len(lost_after) == len(after), "what front-1 acknowledged after the kill never arrives"
    assert total(c.fronts[1], "spoor_exporter_spans_send_failed_total") > 0


def test_a_persistent_queue_keeps_what_the_front_acknowledged_until_the_node_is_replaced(
    start_spoor, tmp_path, bucket  # noqa: F811
):
    c = Cluster(start_spoor, tmp_path, bucket, persistent=True)
    cpu0 = [cpu_s(f.proc.pid) for f in c.fronts]
    addr = c.ingest[1].addr("otlp-grpc")
    head, queued, acks_at_kill = c.kill_ingest_1()
    ids0, ids1 = c.finish_load()
    cpu = [cpu_s(f.proc.pid) - b for f, b in zip(c.fronts, cpu0)]
    on_disk = dir_bytes(c.queue_dirs[1])
    assert on_disk > 0, "front-1 keeps the outage's batches on disk"
    # front-1 dies too while ingest-1 is down (kill -9), and comes back on its queue directory.
    front_addr = c.fronts[1].addr("otlp-grpc")
    c.fronts[1].proc.kill()
    c.fronts[1].proc.wait()
    c.fronts[1] = start_spoor("--config", str(c.cfgs[1]), "--storage", "memory",
                              listeners={"otlp-grpc": front_addr})
    # ingest-1 is replaced: same node id and address, an empty data directory (its disk is lost).
    c.ingest[1] = c.node("ingest-1", tmp_path / "ingest-1-replacement", listeners={"otlp-grpc": addr})
    wait_for(lambda: total(c.fronts[1], "spoor_exporter_queue_size") == 0, timeout=120, what="front-1's queue drains")
    recovered = total(c.fronts[1], "spoor_exporter_queue_recovered_batches_total")
    wait_for(lambda: not missing(c.query, ids0), timeout=60, what="every trace of the surviving node")
    before = acked(c.acks[1])[:acks_at_kill]
    after = sorted(set(ids1) - set(before))
    wait_for(lambda: not missing(c.query, after), timeout=60, what="every trace front-1 acknowledged after the kill")
    lost_before = missing(c.query, sorted(set(before)))
    report("file_storage queue", acked_traces=len(ids0) + len(ids1), acked_by_front1_before_kill=len(set(before)),
           lost_of_those=len(lost_before), victim_head_spans_at_kill=head, front1_queued_at_kill=queued,
           acked_by_front1_after_kill=len(after), lost_of_those_after=0, recovered_batches=recovered,
           queue_bytes_on_disk=on_disk, front_cpu_s=[round(x, 2) for x in cpu])
    assert after and recovered > 0
    # Only what ingest-1 had acknowledged and not yet put in a block is gone.
    assert len(lost_before) <= head + 100, (len(lost_before), head)
