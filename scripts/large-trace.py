"""Sends one trace of N spans (default 100k) through OTLP HTTP protobuf and times GET /api/traces/{id}.

Usage (with the e2e venv, which has opentelemetry-proto and requests):
  python scripts/large-trace.py send http://127.0.0.1:4318 [N]
  python scripts/large-trace.py get  http://127.0.0.1:16686
`get` prints, for three requests, the time to the first body byte and to the whole body.
"""
import sys, time, random, requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

def send(otlp, n, tid, services=5, batch=10000):
    now = time.time_ns() - 60_000_000_000
    rnd = random.Random(1)
    sent = 0
    while sent < n:
        req = ExportTraceServiceRequest()
        for s in range(services):
            rs = req.resource_spans.add()
            rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=f"svc-{s}"))
            rs.resource.attributes.add(key="host.name", value=AnyValue(string_value=f"host-{s}"))
            ss = rs.scope_spans.add()
            ss.scope.name = "bench"
            for i in range(batch // services):
                k = sent + s * (batch // services) + i
                if k >= n: break
                sp = ss.spans.add()
                sp.trace_id = tid
                sp.span_id = (k + 1).to_bytes(8, "big")
                if k: sp.parent_span_id = (k // 4 + 1).to_bytes(8, "big") if k // 4 != k else b""
                sp.name = f"op-{k % 50}"
                sp.kind = 2
                sp.start_time_unix_nano = now + k * 1000
                sp.end_time_unix_nano = now + k * 1000 + rnd.randint(1000, 10**7)
                sp.attributes.add(key="http.method", value=AnyValue(string_value="GET"))
                sp.attributes.add(key="http.url", value=AnyValue(string_value=f"https://example.com/api/v1/items/{k}"))
                sp.attributes.add(key="http.status_code", value=AnyValue(int_value=200))
                sp.attributes.add(key="db.statement", value=AnyValue(string_value=f"SELECT * FROM items WHERE id = {k}"))
                sp.attributes.add(key="retry", value=AnyValue(bool_value=False))
                ev = sp.events.add(); ev.name = "cache.miss"; ev.time_unix_nano = now + k * 1000 + 10
                ev.attributes.add(key="key", value=AnyValue(string_value=f"item:{k}"))
        body = req.SerializeToString()
        r = requests.post(f"{otlp}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=120)
        assert r.status_code == 200, r.text
        sent += batch

def timed_get(q, tidhex, runs=3):
    out = []
    for _ in range(runs):
        first = None
        size = 0
        t0 = time.perf_counter()
        r2 = requests.get(f"{q}/api/traces/{tidhex}", timeout=300, stream=True)
        for chunk in r2.iter_content(1 << 16):
            if first is None: first = time.perf_counter() - t0
            size += len(chunk)
        total = time.perf_counter() - t0
        out.append((first, total, size, r2.status_code))
    return out

if __name__ == "__main__":
    mode, base = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    tid = bytes.fromhex("7a" * 16)
    if mode == "send":
        send(base, n, tid)
    else:
        for first, total, size, code in timed_get(base, tid.hex()):
            print(f"status {code} first byte {first*1000:.0f} ms total {total*1000:.0f} ms body {size/1e6:.1f} MB")
