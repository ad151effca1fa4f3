"""The configs shipped in deploy/config run as the deployment files use them: an application's OTLP
goes to a front collector (front-collector.yaml: persistent queue, otlp out) and on to an ingest
node (ingest.yaml: into the store), where the query API finds it; both answer the health check,
and the front collector serves the applications' OTLP metrics for Prometheus. Listener flags and a
second --config move the fixed ports of the files to 127.0.0.1:0, as tests need."""

import time

import requests

from conftest import ROOT, get_trace, wait_for

CONFIG = ROOT / "deploy" / "config"


def overrides(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text(
        f"""
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
extensions:
  file_storage:
    directory: {tmp_path / "queue"}
"""
    )
    return path


def test_front_collector_and_ingest_configs_carry_a_trace(start_spoor, tmp_path):
    ingest = start_spoor("--config", str(CONFIG / "ingest.yaml"), "--storage", "memory")
    front = start_spoor(
        "--config", str(CONFIG / "front-collector.yaml"),
        "--config", str(overrides(tmp_path)),
        "--storage", "memory",
        env={"SPOOR_INGEST_ENDPOINT": ingest.addr("otlp-grpc"), "SPOOR_ENVIRONMENT": "e2e"},
    )
    for s in (ingest, front):
        assert requests.get(s.url("health-http", "/"), timeout=5).status_code == 200

    trace = "5b8efff798038103d269b633813fc60c"
    now = time.time_ns()
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": "eee19b7ec3c1b174", "name": "GET /cart", "kind": 2,
            "startTimeUnixNano": str(now - 50_000_000), "endTimeUnixNano": str(now),
        }]}],
    }]}
    r = requests.post(front.url("otlp-http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text
    got = get_trace(ingest, trace)
    process = got["processes"][got["spans"][0]["processID"]]
    tags = {t["key"]: t["value"] for t in process["tags"]}
    # The front collector's resource processor ran (deployment.environment from its environment).
    assert process["serviceName"] == "checkout" and tags.get("deployment.environment") == "e2e"
    assert (tmp_path / "queue").is_dir(), "the persistent sending queue is where the override put it"

    metrics = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeMetrics": [{"metrics": [{"name": "orders", "sum": {
            "aggregationTemporality": 2, "isMonotonic": True,
            "dataPoints": [{"asInt": "7", "timeUnixNano": str(now)}]}}]}],
    }]}
    r = requests.post(front.url("otlp-http", "/v1/metrics"), json=metrics, timeout=10)
    assert r.status_code == 200, r.text
    scrape = lambda: requests.get(front.url("prometheus", "/metrics"), timeout=5).text
    text = wait_for(lambda: "orders_total" in scrape() and scrape(), what="orders_total on the prometheus exporter")
    assert 'orders_total{job="checkout"' in text


def test_all_in_one_config_serves_every_receiver(start_spoor, tmp_path):
    path = tmp_path / "o.yaml"
    path.write_text("exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n")
    s = start_spoor("--config", str(CONFIG / "all-in-one.yaml"), "--config", str(path), "--storage", "memory")
    assert requests.get(s.url("health-http", "/"), timeout=5).status_code == 200
    for listener in ("otlp-grpc", "otlp-http", "jaeger-grpc", "jaeger-thrift-http", "zipkin", "prometheus"):
        assert listener in s.addrs, f"{listener} is not listening: {s.addrs}"
    zipkin = [{"traceId": "a" * 32, "id": "b" * 16, "name": "get", "timestamp": int(time.time() * 1e6),
               "duration": 1000, "localEndpoint": {"serviceName": "zipkin-app"}}]
    r = requests.post(s.url("zipkin", "/api/v2/spans"), json=zipkin, timeout=10)
    assert r.status_code == 202, r.text
    assert get_trace(s, "a" * 32)["spans"][0]["operationName"] == "get"
