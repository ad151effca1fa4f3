"""The `pprof` extension through the real binary: a CPU profile taken while spans are ingested
is gzipped pprof protobuf that `go tool pprof` reads (or, without Go, that decodes as a pprof
`Profile` with samples); so is the heap profile of the sampling allocator; bad requests get
clear answers and are counted."""

import gzip
import os
import shutil
import subprocess
import threading
import time

import requests

from conftest import wait_for

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
exporters:
  spoor:
extensions:
  pprof:
    endpoint: 127.0.0.1:0
service:
  extensions: [pprof]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
"""


def varints(buf):
    """(field number, wire type, value) of each top-level field of a protobuf message."""
    out, i = [], 0

    def varint():
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value

    while i < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, wire, varint()))
        elif wire == 2:
            n = varint()
            out.append((field, wire, buf[i:i + n]))
            i += n
        elif wire == 1:
            out.append((field, wire, buf[i:i + 8]))
            i += 8
        elif wire == 5:
            out.append((field, wire, buf[i:i + 4]))
            i += 4
        else:
            raise AssertionError(f"bad wire type {wire}")
    return out


def load(s, stop):
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "pprof-e2e"}}]},
                               "scopeSpans": [{"spans": [{"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "op",
                                                          "startTimeUnixNano": "1700000000000000000",
                                                          "endTimeUnixNano": "1700000000001000000"} for i in range(200)]}]}]}
    while not stop.is_set():
        requests.post(s.url("otlp-http", "/v1/traces"), json=body, timeout=10)


def test_cpu_profile_is_gzipped_pprof_that_go_tool_pprof_reads(start_spoor, tmp_path):
    cfg = tmp_path / "pprof.yaml"
    cfg.write_text(CONFIG)
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    stop = threading.Event()
    loader = threading.Thread(target=load, args=(s, stop))
    loader.start()
    try:
        started = time.time()
        r = requests.get(s.url("pprof", "/debug/pprof/profile"), params={"seconds": 2}, timeout=30)
        took = time.time() - started
    finally:
        stop.set()
        loader.join()
    assert r.status_code == 200, r.text
    assert 2 <= took < 10, took
    raw = gzip.decompress(r.content)
    fields = varints(raw)
    strings = [v.decode() for f, w, v in fields if f == 6]
    assert strings[0] == "" and "samples" in strings and "nanoseconds" in strings
    samples = [v for f, w, v in fields if f == 2]
    assert samples, "the profile has samples"
    period = [v for f, w, v in fields if f == 12]
    assert period == [10_000_000], "100 Hz"
    assert any("spoor" in name for name in strings), "Spoor's own functions are named"

    if shutil.which("go"):
        top = go_pprof_top(tmp_path, "cpu.pb.gz", r.content)
        assert "Type: cpu" in top and "flat%" in top, top
    assert s.metric("spoor_pprof_requests_total", result="ok") == 1


def test_bad_requests_are_refused_and_counted(start_spoor, tmp_path):
    cfg = tmp_path / "pprof.yaml"
    cfg.write_text(CONFIG)
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    for bad in ("0", "301", "abc"):
        r = requests.get(s.url("pprof", "/debug/pprof/profile"), params={"seconds": bad}, timeout=10)
        assert r.status_code == 400 and "seconds" in r.text, (bad, r.status_code, r.text)
    assert s.metric("spoor_pprof_requests_total", result="bad_request") == 3
    # One profile at a time: a second one meanwhile is a conflict, not a crash.
    first = {}
    t = threading.Thread(target=lambda: first.update(r=requests.get(
        s.url("pprof", "/debug/pprof/profile"), params={"seconds": 2}, timeout=30)))
    t.start()
    time.sleep(0.5)
    second = requests.get(s.url("pprof", "/debug/pprof/profile"), params={"seconds": 1}, timeout=30)
    t.join()
    # The two overlap (2 s and 1 s, 0.5 s apart); on a loaded machine either may start first.
    assert sorted([first["r"].status_code, second.status_code]) == [200, 409], (first["r"].text, second.text)
    wait_for(lambda: s.metric("spoor_pprof_requests_total", result="busy") == 1, what="busy counted")
    assert requests.get(s.url("pprof", "/debug/pprof/"), timeout=10).status_code == 200


def go_pprof_top(tmp_path, name, content, *flags):
    """`go tool pprof -top` of `content`; the user's build cache is kept (a cold one rebuilds
    the pprof tool, minutes on a loaded machine)."""
    path = tmp_path / name
    path.write_bytes(content)
    cache = os.environ.get("GOCACHE") or os.path.expanduser("~/.cache/go-build")
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "HOME": str(tmp_path), "GOCACHE": cache}
    top = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=15", *flags, str(path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert top.returncode == 0, top.stderr
    return top.stdout


def test_heap_profile_is_gzipped_pprof_with_the_heap_sample_types(start_spoor, tmp_path):
    cfg = tmp_path / "pprof.yaml"
    cfg.write_text(CONFIG)
    # The memory store keeps what is sent: the in-use figures must show it.
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    stop = threading.Event()
    loader = threading.Thread(target=load, args=(s, stop))
    loader.start()
    try:
        wait_for(lambda: s.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="http") >= 20_000,
                 timeout=60, what="20k spans stored")
    finally:
        stop.set()
        loader.join()
    r = requests.get(s.url("pprof", "/debug/pprof/heap"), timeout=30)
    assert r.status_code == 200, r.text
    raw = gzip.decompress(r.content)
    fields = varints(raw)
    strings = [v.decode() for f, w, v in fields if f == 6]
    for t in ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space", "space", "bytes", "count"):
        assert t in strings, t
    period = [v for f, w, v in fields if f == 12]
    assert period == [512 * 1024], "one sample per 512 KiB"
    samples = [varints(v) for f, w, v in fields if f == 2]
    assert samples, "the profile has samples"

    def values(sample):
        # Field 2 is packed (one length-delimited run of varints) or one varint per value.
        packed = [v for f, w, v in sample if f == 2 and w == 2]
        if packed:
            out, i, buf = [], 0, packed[0]
            while i < len(buf):
                shift = value = 0
                while True:
                    b = buf[i]
                    i += 1
                    value |= (b & 0x7F) << shift
                    shift += 7
                    if b < 0x80:
                        break
                out.append(value)
            return out
        return [v for f, w, v in sample if f == 2 and w == 0]

    totals = [sum(col) for col in zip(*(values(x) for x in samples))]
    assert len(totals) == 4, totals
    alloc_objects, alloc_space, inuse_objects, inuse_space = totals
    # 20k spans of this shape decode to several MiB; what was allocated covers what is in use.
    assert inuse_space > 1 << 20, totals
    assert alloc_space >= inuse_space and alloc_objects >= inuse_objects, totals
    assert any("spoor" in name for name in strings), "Spoor's own functions are named"
    assert s.metric("spoor_pprof_requests_total", result="ok") == 1

    if shutil.which("go"):
        top = go_pprof_top(tmp_path, "heap.pb.gz", r.content)
        assert "Type: inuse_space" in top and "flat%" in top, top
        top = go_pprof_top(tmp_path, "heap.pb.gz", r.content, "-sample_index=alloc_space")
        assert "Type: alloc_space" in top, top


GRPC_CONFIG = CONFIG.replace("      http:\n", "      http:\n      grpc:\n", 1)


def test_heap_profiles_under_loadgen_ingest_never_hang_the_server(start_spoor, tmp_path):
    """Ten heap profiles taken while `spoor loadgen` ingests: each answers, and ingest still
    gets acknowledged afterwards (the sampling allocator once deadlocked on its own lock here,
    freezing the whole process)."""
    from conftest import SPOOR_BIN

    cfg = tmp_path / "pprof.yaml"
    cfg.write_text(GRPC_CONFIG)
    # The disk engine (WAL, Parquet blocks, compaction) allocates from many more call sites than
    # the memory store: the profile's snapshot then clones enough to be sampled itself.
    s = start_spoor("--config", str(cfg), "--storage", "disk", "--data-dir", str(tmp_path / "data"))
    gen = subprocess.Popen(
        [str(SPOOR_BIN), "loadgen", "--otlp-grpc", s.addr("otlp-grpc"), "--duration", "300s",
         "--batch-spans", "200", "--concurrency", "4", "--retries", "20", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: s.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="grpc") >= 100_000,
                 timeout=120, what="loadgen spans accepted")
        for i in range(10):
            r = requests.get(s.url("pprof", "/debug/pprof/heap"), timeout=60)
            assert r.status_code == 200, (i, r.text)
            assert gzip.decompress(r.content), i
    finally:
        gen.kill()
        gen.wait()
    assert s.metric("spoor_pprof_requests_total", result="ok") == 10
    # What the sampler gave up instead of waiting is counted.
    text = s.metrics()
    assert "spoor_heap_dropped_samples_total " in text and "spoor_heap_missed_frees_total " in text, text
    # The server still acknowledges spans: a fresh batch over OTLP/HTTP is accepted and counted.
    before = s.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="http")
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "after"}}]},
                               "scopeSpans": [{"spans": [{"traceId": f"{0xabc:032x}", "spanId": f"{i + 1:016x}", "name": "op",
                                                          "startTimeUnixNano": "1700000000000000000",
                                                          "endTimeUnixNano": "1700000000001000000"} for i in range(10)]}]}]}
    r = requests.post(s.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text
    wait_for(lambda: s.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="http") >= before + 10,
             timeout=30, what="spans acknowledged after the profiles")
