"""RED metrics from traces, through the real binary: exact span and trace figures on the admin
port's /metrics with no config (a service head-sampled at 10 % counted ×10), the `spanmetrics`
connector into a metrics pipeline and the `prometheus` exporter, and a real Prometheus that
loads deploy/monitoring's rules, fires TraceErrorRate on an error burst and answers every
dashboard expression."""

import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def span(trace_id, span_id, name, millis, error=False, parent=None, start_ns=None):
    start = start_ns or time.time_ns()
    s = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + millis * 1_000_000),
    }
    if parent:
        s["parentSpanId"] = parent
    if error:
        s["status"] = {"code": 2}
    return s


def resource_spans(service, spans, extra=None):
    attributes = [{"key": "service.name", "value": {"stringValue": service}}]
    attributes += extra or []
    return {"resource": {"attributes": attributes}, "scopeSpans": [{"spans": spans}]}


def post(spoor, resource_spans_list):
    r = requests.post(
        spoor.url("otlp-http", "/v1/traces"),
        data=json.dumps({"resourceSpans": resource_spans_list}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def rid(n, width):
    return f"{random.getrandbits(64):016x}{n:016x}"[-width:] if width == 32 else f"{random.getrandbits(32):08x}{n:08x}"


def workload(spoor, traces=100, errors=10, sampled=20):
    """`traces` traces of shop (GET /checkout root, 5 ms, or 300 ms for the failing ones) with a
    child in db; `sampled` one-span traces of batch, head-sampled at 10 % and recorded."""
    shop, db = [], []
    for i in range(traces):
        t = rid(i, 32)
        root = rid(i, 16)
        failing = i < errors
        start = time.time_ns()
        shop.append(span(t, root, "GET /checkout", 300 if failing else 5, error=failing, start_ns=start))
        db.append(span(t, rid(i + 10_000, 16), "SELECT", 1, parent=root, start_ns=start + 1_000_000) | {"kind": 3})
    batch = [span(rid(i + 20_000, 32), rid(i + 20_000, 16), "nightly", 20) for i in range(sampled)]
    prob = [{"key": "sampling.probability", "value": {"doubleValue": 0.1}}]
    post(spoor, [resource_spans("shop", shop), resource_spans("db", db)])
    post(spoor, [resource_spans("batch", batch, prob)])


def series(name, **labels):
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


SERVER = {"span_kind": "SPAN_KIND_SERVER"}


def test_red_metrics_on_admin_metrics_with_no_config(start_spoor):
    spoor = start_spoor("--storage", "memory")
    workload(spoor)
    calls = "traces_span_metrics_calls_total"
    ok = dict(service_name="shop", span_name="GET /checkout", **SERVER, status_code="STATUS_CODE_UNSET")
    err = dict(ok, status_code="STATUS_CODE_ERROR")
    assert spoor.metric(calls, **ok) == 90
    assert spoor.metric(calls, **err) == 10
    sampled = dict(service_name="batch", span_name="nightly", **SERVER, status_code="STATUS_CODE_UNSET")
    assert spoor.metric(calls, **sampled) == 200, "10 % sampled: each span counts 10"
    hist = "traces_span_metrics_duration_seconds"
    assert spoor.metric(f"{hist}_bucket", **ok, le="0.006") == 90
    assert spoor.metric(f"{hist}_bucket", **err, le="0.2") == 0
    assert spoor.metric(f"{hist}_bucket", **err, le="0.4") == 10
    assert abs(spoor.metric(f"{hist}_sum", **err) - 3.0) < 1e-6
    # Trace-level metrics once the traces are idle (5 s by default).
    root = dict(service_name="shop", operation="GET /checkout")
    wait_for(lambda: spoor.metric("jaeger_traces_total", **root) == 100, timeout=20, what="traces completed")
    assert spoor.metric("jaeger_trace_errors_total", **root) == 10
    batch = dict(service_name="batch", operation="nightly")
    wait_for(lambda: spoor.metric("jaeger_traces_total", **batch) == 200, timeout=20, what="sampled traces completed")
    assert spoor.metric("jaeger_trace_duration_seconds_bucket", **root, le="0.01") == 90
    assert spoor.metric("jaeger_trace_duration_seconds_bucket", **root, le="0.25") == 90
    assert spoor.metric("jaeger_trace_duration_seconds_bucket", **root, le="0.5") == 100
    # The Jaeger collector names the seeds chart.
    assert spoor.metric("jaeger_collector_traces_received_total", sampler_type="unrecognized", svc="shop") == 100
    assert spoor.metric("jaeger_collector_spans_received_total", receiver="otlp", transport="http") == 220
    assert spoor.metric("spoor_receiver_spans_received_total", receiver="otlp", transport="http") == 220


def test_promtool_accepts_the_exposition_with_red_metrics(start_spoor):
    if not PROMTOOL:
        pytest.fail("promtool is not installed: run scripts/setup.sh")
    spoor = start_spoor("--storage", "memory")
    workload(spoor, traces=10, errors=1, sampled=2)
    text = spoor.metrics()
    assert "traces_span_metrics_calls_total{" in text
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert "error" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


CONNECTOR_CONFIG = """
receivers:
  otlp:
    protocols:
      http:
connectors:
  spanmetrics:
    metrics_flush_interval: 200ms
    dimensions:
      - name: http.method
        default: GET
    aggregation_cardinality_limit: 5
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


def test_spanmetrics_connector_feeds_the_prometheus_exporter(start_spoor, tmp_path):
    cfg = tmp_path / "spanmetrics.yaml"
    cfg.write_text(CONNECTOR_CONFIG)
    spoor = start_spoor("--config", str(cfg), "--storage", "memory")
    workload(spoor, traces=20, errors=2, sampled=3)
    # 10 distinct names more than the limit: counted in the overflow series.
    post(spoor, [resource_spans("names", [span(rid(i + 30_000, 32), rid(i + 30_000, 16), f"op-{i}", 1) for i in range(10)])])

    def scrape():
        text = requests.get(spoor.url("prometheus", "/metrics"), timeout=5).text
        return text if 'otel_metric_overflow="true"' in text else None

    text = wait_for(scrape, timeout=10, what="spanmetrics flushed to the prometheus exporter")
    lines = {l.rpartition(" ")[0]: float(l.rpartition(" ")[2]) for l in text.splitlines() if l and not l.startswith("#")}

    def value(prefix, *parts):
        found = [v for k, v in lines.items() if k.startswith(prefix + "{") and all(p in k for p in parts)]
        assert len(found) == 1, (prefix, parts, found)
        return found[0]

    calls = "traces_span_metrics_calls_total"
    assert value(calls, 'service_name="shop"', 'status_code="STATUS_CODE_ERROR"', 'http_method="GET"') == 2
    assert value(calls, 'service_name="batch"') == 30
    # shop ok, shop error, db, batch and the first names series: 5 named, the rest overflow.
    overflow = value(calls, 'otel_metric_overflow="true"')
    assert overflow == 9, text
    assert value("traces_span_metrics_duration_seconds_count", 'service_name="shop"', 'STATUS_CODE_ERROR') == 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus_with_rules(tmp_path):
    """Starts Prometheus scraping `target` with deploy/monitoring's rules; the test copy has
    short `for:` and windows so it runs in seconds."""
    procs = []

    def start(target):
        if not PROMETHEUS:
            pytest.fail("prometheus is not installed: run scripts/setup.sh")
        rules = (MONITORING / "rules" / "spoor-traces.rules.yml").read_text()
        rules = rules.replace("for: 2m", "for: 2s").replace("[5m]", "[20s]")
        (tmp_path / "rules.yml").write_text(rules)
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files: ['rules.yml']\n"
            "scrape_configs:\n  - job_name: spoor\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{base}/-/ready", timeout=2).status_code == 200, what="prometheus ready")
        return base

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=20)


def promql(base, expr):
    r = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def firing(base, name):
    alerts = requests.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_trace_error_rate_fires_in_prometheus_and_the_dashboard_has_data(start_spoor, prometheus_with_rules, tmp_path):
    spoor = start_spoor("--data-dir", str(tmp_path / "data"))
    prom = prometheus_with_rules(spoor.addr("admin-http"))
    stop = threading.Event()
    error_every = {"n": 10}  # 10 % of traces fail while the burst lasts

    def traffic():
        i = 0
        while not stop.is_set():
            shop, db = [], []
            for _ in range(20):
                i += 1
                t, root = rid(i, 32), rid(i, 16)
                failing = error_every["n"] and i % error_every["n"] == 0
                shop.append(span(t, root, "GET /checkout", 30, error=bool(failing)))
                db.append(span(t, rid(i + 1_000_000, 16), "SELECT", 1, parent=root) | {"kind": 3})
            post(spoor, [resource_spans("shop", shop), resource_spans("db", db)])
            time.sleep(0.5)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        alert = wait_for(lambda: firing(prom, "TraceErrorRate"), timeout=60, interval=1, what="TraceErrorRate firing")
        assert alert[0]["labels"]["service_name"] == "shop"
        assert abs(float(alert[0]["value"]) - 0.1) < 0.03, alert
        assert not firing(prom, "HighTraceLatency")
        dashboard = json.loads((MONITORING / "grafana" / "spoor-overview.json").read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        assert len(exprs) >= 10
        for expr in exprs:
            wait_for(lambda: promql(prom, expr), timeout=30, interval=1, what=f"data for {expr}")
        # A quiet period (no errors) clears the alert.
        error_every["n"] = 0
        wait_for(lambda: not firing(prom, "TraceErrorRate"), timeout=60, interval=1, what="TraceErrorRate cleared")
    finally:
        stop.set()
        thread.join(timeout=10)


def test_promtool_rule_unit_tests_pass():
    if not PROMTOOL:
        pytest.fail("promtool is not installed: run scripts/setup.sh")
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(MONITORING / "tests" / "spoor-traces.test.yml")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_service_graph_from_python_sdk_spans_includes_the_database(start_spoor):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    from otel_clients import send_checkout_trace

    spoor = start_spoor("--storage", "memory")
    send_checkout_trace(lambda: OTLPSpanExporter(endpoint=spoor.addr("otlp-grpc"), insecure=True))
    edges = "traces_service_graph_request_total"
    # checkout's client span "charge card" and payments' server span pair at once.
    wait_for(lambda: spoor.metric(edges, client="checkout", server="payments") == 1, what="checkout → payments")
    assert spoor.metric("traces_service_graph_request_failed_total", client="checkout", server="payments") == 1
    assert spoor.metric("traces_service_graph_request_server_seconds_count", client="checkout", server="payments") == 1
    assert spoor.metric("traces_service_graph_request_client_seconds_count", client="checkout", server="payments") == 1
    # The db.system client span has no server side: after the ttl it is an edge to a virtual
    # database node; the root server span is an edge from `user`.
    wait_for(
        lambda: spoor.metric(edges, client="checkout", server="postgresql", connection_type="database") == 1,
        what="checkout → postgresql",
    )
    wait_for(lambda: spoor.metric(edges, client="user", server="checkout", connection_type="virtual_node") == 1, what="user → checkout")
    assert spoor.metric("traces_service_graph_request_failed_total", client="checkout", server="postgresql", connection_type="database") == 0
    assert spoor.metric("traces_service_graph_unpaired_spans_total", side="client") == 0


def test_monitor_api_answers_from_spoor_own_red_history(start_spoor):
    spoor = start_spoor("--storage", "memory", "--monitor-step", "1s")
    assert spoor.query("/api/metrics/minstep").json()["data"] == 1000
    time.sleep(1.5)  # a first snapshot before any span: the baseline
    workload(spoor)
    time.sleep(2.5)
    end = int(time.time() * 1000)
    common = {"endTs": end, "lookback": 3000, "step": 1000, "ratePer": 600000}

    def family(path, **params):
        r = spoor.query(path, **common, **params)
        assert r.status_code == 200, r.text
        return r.json()

    calls = family("/api/metrics/calls", service=["shop", "batch"], spanKind="server")
    assert calls["name"] == "service_call_rate" and calls["type"] == "GAUGE"
    by_service = {m["labels"][0]["value"]: m["metricPoints"] for m in calls["metrics"]}
    assert set(by_service) == {"shop", "batch"}
    last = {s: p[-1]["gaugeValue"]["doubleValue"] for s, p in by_service.items()}
    assert last["shop"] > 0
    # batch was sampled at 10 %: 20 spans count as 200, twice shop's 100.
    assert abs(last["batch"] / last["shop"] - 2.0) < 1e-9, last
    assert by_service["shop"][-1]["timestamp"].endswith("Z")

    errors = family("/api/metrics/errors", service="shop", groupByOperation="true")
    assert errors["name"] == "service_operation_error_rate"
    (metric,) = errors["metrics"]
    assert {l["name"]: l["value"] for l in metric["labels"]} == {"service_name": "shop", "operation": "GET /checkout"}
    assert abs(metric["metricPoints"][-1]["gaugeValue"]["doubleValue"] - 0.1) < 1e-9

    # 90 spans of 5 ms and 10 of 300 ms: rank 95 is half-way into the (0.2 s, 0.4 s] bucket.
    latencies = family("/api/metrics/latencies", service="shop", quantile="0.95")
    assert latencies["name"] == "service_latencies"
    p95 = latencies["metrics"][0]["metricPoints"][-1]["gaugeValue"]["doubleValue"]
    assert abs(p95 - 300.0) < 1e-6, p95

    # Client spans only when asked for.
    client = family("/api/metrics/calls", service="db", spanKind="client")
    assert client["metrics"] and family("/api/metrics/calls", service="db")["metrics"] == []

    for path, params, message in [
        ("/api/metrics/calls", {}, "service"),
        ("/api/metrics/latencies", {"service": "shop"}, "quantile"),
        ("/api/metrics/latencies", {"service": "shop", "quantile": "2"}, "quantile"),
        ("/api/metrics/calls", {"service": "shop", "spanKind": "sideways"}, "span kind"),
        ("/api/metrics/calls", {"service": "shop", "step": "0"}, "step"),
    ]:
        r = spoor.query(path, **params)
        assert r.status_code == 400, (path, params, r.text)
        assert message in r.text, r.text
    assert spoor.query("/api/services").status_code == 200, "spoor keeps serving"


def test_100k_span_names_stay_within_the_cardinality_limit(start_spoor):
    spoor = start_spoor("--storage", "memory")
    names, per_post = 100_000, 5_000
    for chunk in range(names // per_post):
        spans = [
            span(rid(chunk * per_post + i, 32), rid(chunk * per_post + i, 16), f"op-{chunk * per_post + i}", 1)
            for i in range(per_post)
        ]
        post(spoor, [resource_spans("names", spans)])
    text = spoor.metrics()
    calls = [l for l in text.splitlines() if l.startswith("traces_span_metrics_calls_total{")]
    # The `spoor` exporter's default metrics_cardinality_limit: 5000 named series + overflow.
    assert len(calls) == 5001, len(calls)
    assert spoor.metric("traces_span_metrics_calls_total", otel_metric_overflow="true") == names - 5000
