"""`spanmetrics` with `histogram.exponential`: spans of known durations over OTLP/HTTP become an
OTLP exponential histogram, which the `prometheus` exporter serves as the Collector does: a native
histogram in the protobuf exposition format (read here by a real Prometheus), and only `+Inf`,
`_sum` and `_count` in the text format."""

import time

import requests

from conftest import wait_for
from test_pipeline_metrics import promtool
from test_pipeline_native_histograms import start_native_prometheus

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
connectors:
  spanmetrics:
    metrics_flush_interval: 200ms
    histogram:
      unit: ms
      exponential:
        max_size: 4
exporters:
  spoor:
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor, spanmetrics]
    metrics:
      receivers: [spanmetrics]
      exporters: [prometheus]
"""


def test_exponential_duration_histogram_through_the_prometheus_exporter(start_spoor, tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(CONFIG)
    spoor = start_spoor("--config", str(cfg), "--storage", "memory")
    start = time.time_ns()
    spans = [
        {
            "traceId": f"{i + 1:032x}",
            "spanId": f"{i + 1:016x}",
            "name": "GET /",
            "kind": 2,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + ms * 1_000_000),
        }
        for i, ms in enumerate([1, 2, 16, 16])
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }
    r = requests.post(spoor.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text
    name = "traces_span_metrics_duration_milliseconds"

    def scrape():
        text = requests.get(spoor.url("prometheus", "/metrics"), timeout=5).text
        return text if f"{name}_count" in text else None

    text = wait_for(scrape, timeout=10, what="spanmetrics flushed")
    buckets = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{") and 'service_name="shop"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[le] = float(line.rpartition(" ")[2])
    # Exponential buckets are not classic buckets: the text format has +Inf only.
    assert buckets == {"+Inf": 4}, text
    count = [l for l in text.splitlines() if l.startswith(f"{name}_count{{") and 'service_name="shop"' in l]
    assert len(count) == 1 and count[0].endswith(" 4"), count
    sums = [l for l in text.splitlines() if l.startswith(f"{name}_sum{{") and 'service_name="shop"' in l]
    assert len(sums) == 1 and float(sums[0].rpartition(" ")[2]) == 35, sums

    # 1, 2, 16, 16 ms in at most 4 buckets: scale -1 (base 4), buckets (1/4, 1], (1, 4], (4, 16].
    # A real Prometheus reads the native histogram; fractions at the bucket bounds are exact.
    proc, base = start_native_prometheus(tmp_path, spoor.addr("prometheus"))
    try:
        sel = f'{name}{{service_name="shop"}}'
        got = wait_for(lambda: promtool(base, f"histogram_count({sel})"), timeout=30, what="native histogram scraped")
        assert [v for _, v in got] == [4], got
        (_, below1), = promtool(base, f"histogram_fraction(0, 1, {sel})")
        (_, below4), = promtool(base, f"histogram_fraction(0, 4, {sel})")
        (_, below16), = promtool(base, f"histogram_fraction(0, 16, {sel})")
        assert (below1, below4, below16) == (0.25, 0.5, 1.0), (below1, below4, below16)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
