#!/usr/bin/env python3
# Usage: SPOOR_BIN=target/release/spoor python3 scripts/bench-zipkin-reads.py (needs `requests`;
# the e2e venv has it). Starts its own spoor on ephemeral ports and deletes its data at the end.
"""Latency of the Zipkin reads, compare and critical path against the Jaeger search on the same
data: 5,000 traces x 6 spans posted over Zipkin v2 JSON to a spoor on the disk engine."""
import os, re, shutil, statistics, subprocess, sys, tempfile, time
import requests

BIN = os.environ["SPOOR_BIN"]
data = tempfile.mkdtemp(prefix="zq-bench-")
log = open(f"{data}.log", "w")
flags = ["--otlp-grpc", "--otlp-http", "--jaeger-thrift-compact", "--jaeger-thrift-binary",
         "--jaeger-thrift-http", "--jaeger-grpc", "--sampling-http", "--zipkin", "--query-http",
         "--query-grpc", "--admin-http", "--health-http"]
help_text = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
args = [BIN, "--storage", "disk", "--data-dir", f"{data}/d"]
for f in flags:
    if f"{f} " in help_text or f"{f}=" in help_text:
        args += [f, "127.0.0.1:0"]
p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
addrs = {}
for _ in range(300):
    t = open(f"{data}.log").read()
    addrs.update(re.findall(r"listening listener=(\S+) addr=(\S+)", t))
    if "spoor is ready" in t:
        break
    time.sleep(0.1)
zipkin, query = f"http://{addrs['zipkin']}", f"http://{addrs['query-http']}"
now = int(time.time() * 1e6)
N = 5000
try:
    for b in range(0, N, 250):
        spans = []
        for i in range(b, b + 250):
            tid = f"{i + 1:032x}"
            ts = now - 3_000_000_000 + i * 500_000
            svc = f"svc{i % 10}"
            spans.append({"traceId": tid, "id": f"{1:016x}", "name": f"GET /op{i % 7}", "kind": "SERVER",
                          "timestamp": ts, "duration": 100_000 + i % 1000, "localEndpoint": {"serviceName": svc},
                          "tags": {"http.method": "GET" if i % 3 else "POST"}})
            for j in range(2, 7):
                spans.append({"traceId": tid, "id": f"{j:016x}", "parentId": f"{1:016x}", "name": f"child{j}",
                              "kind": "CLIENT", "timestamp": ts + j * 1000, "duration": 10_000 * j,
                              "localEndpoint": {"serviceName": svc}, "remoteEndpoint": {"serviceName": "db"}})
        r = requests.post(f"{zipkin}/api/v2/spans", json=spans, timeout=60)
        assert r.status_code == 202, r.text
    time.sleep(2)

    def bench(name, url, **params):
        times = []
        for _ in range(15):
            t = time.perf_counter()
            r = requests.get(url, params=params, timeout=120)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (name, r.text[:200])
        print(f"{name:55s} median {statistics.median(times):8.1f} ms  ({len(r.content)} bytes)")

    bench("jaeger /api/traces service limit=20", f"{query}/api/traces", service="svc3", limit=20, lookback="2h")
    bench("zipkin /api/v2/traces serviceName limit=20", f"{zipkin}/api/v2/traces", serviceName="svc3", limit=20)
    bench("zipkin /api/v2/traces +spanName", f"{zipkin}/api/v2/traces", serviceName="svc3", spanName="get /op3", limit=20)
    bench("zipkin /api/v2/traces +annotationQuery (1,000 candidates)", f"{zipkin}/api/v2/traces", serviceName="svc3",
          annotationQuery="http.method=POST", limit=20)
    bench("zipkin /api/v2/trace/{id}", f"{zipkin}/api/v2/trace/{1234:032x}")
    bench("zipkin /api/v2/services", f"{zipkin}/api/v2/services")
    bench("zipkin /api/v2/remoteServices", f"{zipkin}/api/v2/remoteServices", serviceName="svc3")
    bench("zipkin /api/v2/autocompleteKeys", f"{zipkin}/api/v2/autocompleteKeys")
    bench("compare svc3, 2 x 25 min windows (250 traces each)", f"{query}/api/analytics/compare", service="svc3",
          baselineStart=now - 3_000_000_000, baselineEnd=now - 1_500_000_000, start=now - 1_500_000_000, end=now)
    bench("compare all services (5,000 traces)", f"{query}/api/analytics/compare",
          baselineStart=now - 3_000_000_000, baselineEnd=now - 1_500_000_000, start=now - 1_500_000_000, end=now)
    bench("critical path", f"{query}/api/traces/{1234:032x}/critical-path")
finally:
    p.terminate(); p.wait()
    shutil.rmtree(data, ignore_errors=True)
    os.remove(f"{data}.log")
