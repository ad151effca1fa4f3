"""Tenants in the metrics from traces and in sampling (`--tenancy-enabled`), against the real
binary: Jaeger's Monitor API (`/api/metrics/*`) answers from the request's tenant's RED series
only, the `/metrics` RED and service graph series carry a `tenant` label, and adaptive sampling learns each
tenant's probabilities from that tenant's traffic (the strategies file is shared)."""

import time

import grpc
import requests

from conftest import wait_for
from test_sampling_remote import decode_message, encode_varint

A = {"x-scope-orgid": "a"}
B = {"x-scope-orgid": "b"}


def post(s, headers, service, n, first, error=False):
    """n root server spans of `service` (traces first..first+n), as OTLP JSON."""
    now = time.time_ns()
    spans = [
        {
            "traceId": f"{first + i:032x}",
            "spanId": f"{i + 1:016x}",
            "name": "op",
            "kind": 2,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 5_000_000),
            "status": {"code": 2 if error else 0},
        }
        for i in range(n)
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }
    r = requests.post(s.url("otlp-http", "/v1/traces"), json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text


def monitor(s, path, headers, **params):
    end = int(time.time() * 1000)
    common = {"endTs": end, "lookback": 4000, "step": 1000, "ratePer": 600000}
    r = requests.get(s.url("query-http", path), params={**common, **params}, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["metrics"]


def last_points(metrics):
    return {m["labels"][0]["value"]: m["metricPoints"][-1]["gaugeValue"]["doubleValue"] for m in metrics}


def test_monitor_api_and_red_series_are_per_tenant(start_spoor):
    s = start_spoor("--storage", "memory", "--tenancy-enabled", "--monitor-step", "1s")
    time.sleep(1.5)  # a first snapshot before any span: the baseline
    post(s, A, "shop", 30, 1)
    post(s, B, "shop", 10, 1000, error=True)
    post(s, B, "billing", 20, 2000)
    time.sleep(2.5)

    # The same service name in two tenants: each sees its own rate only.
    calls_a = last_points(monitor(s, "/api/metrics/calls", A, service=["shop", "billing"]))
    calls_b = last_points(monitor(s, "/api/metrics/calls", B, service=["shop", "billing"]))
    assert set(calls_a) == {"shop"}, calls_a
    assert set(calls_b) == {"shop", "billing"}, calls_b
    assert abs(calls_a["shop"] / calls_b["shop"] - 3.0) < 1e-9, (calls_a, calls_b)
    # b's service is invisible to a, in every measure.
    assert monitor(s, "/api/metrics/calls", A, service="billing") == []
    assert monitor(s, "/api/metrics/errors", A, service="billing") == []
    assert monitor(s, "/api/metrics/latencies", A, service="billing", quantile="0.95") == []
    assert last_points(monitor(s, "/api/metrics/errors", A, service="shop")) == {"shop": 0.0}
    assert last_points(monitor(s, "/api/metrics/errors", B, service="shop")) == {"shop": 1.0}
    assert monitor(s, "/api/metrics/calls", {"x-scope-orgid": "c"}, service="shop") == []
    # Without a tenant the Monitor API is refused like every query API.
    r = requests.get(s.url("query-http", "/api/metrics/calls"), params={"service": "shop"}, timeout=10)
    assert r.status_code == 401

    # /metrics: the RED series carry the tenant.
    calls = "traces_span_metrics_calls_total"
    series = dict(span_name="op", span_kind="SPAN_KIND_SERVER")
    assert s.metric(calls, service_name="shop", **series, status_code="STATUS_CODE_UNSET", tenant="a") == 30
    assert s.metric(calls, service_name="shop", **series, status_code="STATUS_CODE_ERROR", tenant="b") == 10
    assert s.metric(calls, service_name="billing", **series, status_code="STATUS_CODE_UNSET", tenant="b") == 20
    assert s.metric(calls, service_name="billing", **series, status_code="STATUS_CODE_UNSET", tenant="a") == 0

    # The service graph's series too: the root spans are edges from `user` once their wait ends.
    def graph_edges():
        edges = {}
        for line in s.metrics().splitlines():
            if line.startswith("traces_service_graph_request_total{"):
                labels, _, value = line.rpartition(" ")
                server = labels.split('server="', 1)[1].split('"', 1)[0]
                tenant = labels.split('tenant="', 1)[1].split('"', 1)[0] if 'tenant="' in labels else None
                edges[(server, tenant)] = float(value)
        return edges

    wait_for(lambda: len(graph_edges()) >= 3, what="service graph edges of both tenants")
    # And the trace-level series, once the traces are complete (idle 5 s).
    traces = "jaeger_traces_total"
    wait_for(lambda: s.metric(traces, service_name="billing", operation="op", tenant="b") == 20, timeout=20, what="b's completed traces")
    assert s.metric(traces, service_name="shop", operation="op", tenant="a") == 30
    assert s.metric(traces, service_name="shop", operation="op", tenant="b") == 10
    assert graph_edges() == {("shop", "a"): 30, ("shop", "b"): 10, ("billing", "b"): 20}, graph_edges()


def test_red_series_have_no_tenant_label_with_tenancy_off(start_spoor):
    s = start_spoor("--storage", "memory")
    post(s, {}, "shop", 3, 1)
    calls = "traces_span_metrics_calls_total"
    wait_for(
        lambda: s.metric(calls, service_name="shop", span_name="op", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET") == 3,
        what="shop's calls without a tenant label",
    )
    assert 'tenant="' not in s.metrics()


def served(s, headers, service):
    r = requests.get(s.url("sampling-http", "/sampling"), params={"service": service}, headers=headers, timeout=5)
    assert r.status_code == 200, r.text
    ops = r.json().get("operationSampling") or {}
    return {o["operation"]: o["probabilisticSampling"]["samplingRate"] for o in ops.get("perOperationStrategies", [])}


def grpc_served(s, headers, service):
    """SamplingManager/GetSamplingStrategy on the Jaeger gRPC port: {operation: probability}."""
    name = service.encode()
    with grpc.insecure_channel(s.addr("jaeger-grpc")) as channel:
        call = channel.unary_unary(
            "/jaeger.api_v2.SamplingManager/GetSamplingStrategy",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        answer = decode_message(call(b"\x0a" + encode_varint(len(name)) + name, metadata=list(headers.items()), timeout=5))
    ops = {}
    for per_operation in answer.get(4, []):
        for op in decode_message(per_operation).get(3, []):
            fields = decode_message(op)
            ops[fields[1][0].decode()] = decode_message(fields[2][0])[1][0]
    return ops


def test_adaptive_sampling_learns_per_tenant(start_spoor, tmp_path):
    strategies = tmp_path / "sampling.json"
    strategies.write_text(
        '{"default_strategy": {"type": "probabilistic", "param": 0.5},'
        ' "service_strategies": [{"service": "fixed", "type": "probabilistic", "param": 0.1}]}'
    )
    s = start_spoor(
        "--storage", "memory", "--tenancy-enabled",
        "--sampling-strategies", str(strategies),
        "--sampling-adaptive",
        "target_samples_per_second=1,calculation_interval=1s,initial_sampling_probability=0.5",
    )
    # Tenant a's `ada` sends far more roots than the target; tenant b sends none.
    deadline = time.time() + 20
    first = 1
    while time.time() < deadline and not served(s, A, "ada").get("op", 1.0) < 0.5:
        post(s, A, "ada", 50, first)
        first += 50
        time.sleep(0.3)
    learned = served(s, A, "ada")
    assert learned.get("op", 1.0) < 0.5, learned
    # b's `ada` learned nothing from a's traffic.
    assert "op" not in served(s, B, "ada"), served(s, B, "ada")
    # The same over gRPC (SamplingManager on the Jaeger gRPC port), tenant in the metadata.
    assert grpc_served(s, A, "ada").get("op", 1.0) < 0.5
    assert "op" not in grpc_served(s, B, "ada")
    try:
        grpc_served(s, {}, "ada")
        raise AssertionError("a sampling call without a tenant was answered")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
    # The file's strategies are shared.
    for headers in (A, B):
        r = requests.get(s.url("sampling-http", "/sampling"), params={"service": "fixed"}, headers=headers, timeout=5)
        assert r.json()["probabilisticSampling"]["samplingRate"] == 0.1
    # With tenancy on, a sampling client names its tenant too.
    r = requests.get(s.url("sampling-http", "/sampling"), params={"service": "ada"}, timeout=5)
    assert r.status_code == 401
    assert s.metric("spoor_tenant_refused_total", reason="missing") >= 1
