"""Remote sampling as Jaeger serves it: strategies from a file over HTTP (5778) and gRPC
(SamplingManager on the Jaeger gRPC port), obeyed by the real legacy jaeger-client, reloaded when
the file changes; bad input refused and counted."""

import json
import math
import struct
import subprocess
import time

import grpc
import pytest
import requests

from clients.ingest_trace import python_of, run_client
from conftest import CONFORMANCE, SPOOR_BIN, wait_for

STRATEGIES = {
    "default_strategy": {"type": "probabilistic", "param": 1.0},
    "service_strategies": [
        {"service": "remote-py", "type": "probabilistic", "param": 0.1},
        {
            "service": "remote-ops",
            "type": "probabilistic",
            "param": 0.5,
            "operation_strategies": [
                {"operation": "always", "type": "probabilistic", "param": 1.0},
                {"operation": "never", "type": "probabilistic", "param": 0.0},
            ],
        },
        {"service": "limited", "type": "ratelimiting", "param": 7},
    ],
}


def write(path, value):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value if isinstance(value, str) else json.dumps(value))
    tmp.replace(path)


@pytest.fixture
def sampled_spoor(start_spoor, tmp_path):
    path = tmp_path / "sampling.json"
    write(path, STRATEGIES)
    s = start_spoor(
        "--storage", "memory", "--sampling-strategies", str(path), "--sampling-reload-interval", "300ms"
    )
    s.strategies_path = path
    return s


def strategy(s, path="/sampling", **params):
    return requests.get(s.url("sampling-http", path), params=params, timeout=5)


def test_http_serves_jaegers_json_for_each_service(sampled_spoor):
    r = strategy(sampled_spoor, service="remote-py")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.1}}
    assert strategy(sampled_spoor, "/", service="limited").json() == {
        "strategyType": "RATE_LIMITING",
        "rateLimitingSampling": {"maxTracesPerSecond": 7},
    }
    ops = strategy(sampled_spoor, service="remote-ops").json()["operationSampling"]
    assert ops["defaultSamplingProbability"] == 0.5
    assert {o["operation"]: o["probabilisticSampling"]["samplingRate"] for o in ops["perOperationStrategies"]} == {
        "always": 1.0,
        "never": 0.0,
    }
    # A service the file does not name gets the default strategy.
    assert strategy(sampled_spoor, service="unknown").json()["probabilisticSampling"] == {"samplingRate": 1.0}


def test_bad_requests_are_refused_and_counted(sampled_spoor):
    assert strategy(sampled_spoor).status_code == 400
    r = requests.get(sampled_spoor.url("sampling-http", "/sampling?service=a&service=b"), timeout=5)
    assert r.status_code == 400 and "once" in r.text
    r = strategy(sampled_spoor, service="x" * 5000)
    assert r.status_code == 400 and "1024" in r.text
    assert strategy(sampled_spoor, service="remote-py").status_code == 200
    assert sampled_spoor.metric("spoor_sampling_requests_total", transport="http", result="bad_request") == 3
    assert sampled_spoor.metric("spoor_sampling_requests_total", transport="http", result="ok") == 1


def grpc_strategy(s, service, listener="jaeger-grpc"):
    """Calls SamplingManager/GetSamplingStrategy with a hand-encoded request; decodes the answer."""
    name = service.encode()
    request = b"\x0a" + encode_varint(len(name)) + name
    with grpc.insecure_channel(s.addr(listener)) as channel:
        call = channel.unary_unary(
            "/jaeger.api_v2.SamplingManager/GetSamplingStrategy",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        return decode_message(call(request, timeout=5))


def encode_varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def decode_message(buf):
    """Protobuf wire format → {field: [values]} (varints, doubles, nested bytes)."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack("<d", buf[i : i + 8])[0], i + 8
        elif wire == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(field, []).append(value)
    return fields


def read_varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def test_grpc_sampling_manager_answers_on_the_jaeger_grpc_port(sampled_spoor):
    limited = grpc_strategy(sampled_spoor, "limited")
    assert limited[1] == [1]  # RATE_LIMITING
    assert decode_message(limited[3][0]) == {1: [7]}
    ops = grpc_strategy(sampled_spoor, "remote-ops")
    assert 1 not in ops  # PROBABILISTIC is the zero value
    assert decode_message(ops[2][0]) == {1: [0.5]}
    per_op = decode_message(ops[4][0])
    names = [decode_message(o)[1][0] for o in per_op[3]]
    assert names == [b"always", b"never"]
    with pytest.raises(grpc.RpcError) as e:
        grpc_strategy(sampled_spoor, "y" * 2000)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sampled_spoor.metric("spoor_sampling_requests_total", transport="grpc", result="bad_request") == 1


def test_a_changed_file_is_picked_up_and_a_bad_one_keeps_the_old_strategies(sampled_spoor):
    changed = json.loads(json.dumps(STRATEGIES))
    changed["service_strategies"][0]["param"] = 0.25
    write(sampled_spoor.strategies_path, changed)
    wait_for(
        lambda: strategy(sampled_spoor, service="remote-py").json()["probabilisticSampling"]["samplingRate"] == 0.25,
        timeout=5,
        what="the changed strategy served",
    )
    write(sampled_spoor.strategies_path, '{"service_strategies": [{"service": "remote-py", "type": "probabilistic", "param": 7}]}')
    wait_for(
        lambda: sampled_spoor.metric("spoor_sampling_strategy_reloads_total", result="failed") >= 1,
        timeout=5,
        what="the bad file refused",
    )
    assert strategy(sampled_spoor, service="remote-py").json()["probabilisticSampling"]["samplingRate"] == 0.25
    assert "still serving the previous ones" in sampled_spoor.log_text()


def test_a_bad_file_at_start_is_a_clear_error(start_spoor, tmp_path):
    path = tmp_path / "bad.json"
    write(path, '"nonsense"')
    with pytest.raises(Exception):
        start_spoor("--storage", "memory", "--sampling-strategies", str(path))
    logs = "".join(p.read_text() for p in tmp_path.glob("spoor-*.log"))
    assert "loading the sampling strategies" in logs and "not a sampling strategies file" in logs


def stored_traces(s, service):
    r = s.query("/api/traces", service=service, limit=5000, lookback="1h")
    return len(r.json()["data"]) if r.status_code == 200 else 0


def test_the_legacy_jaeger_client_obeys_the_served_probability(sampled_spoor):
    n, p = 2000, 0.1
    out = run_client(
        [
            python_of("jaeger-client"),
            "jaeger_remote_sampled.py",
            "127.0.0.1",
            str(sampled_spoor.port("jaeger-thrift-compact")),
            str(sampled_spoor.port("sampling-http")),
            "remote-py",
            f"GET /cart={n}",
        ],
        timeout=120,
    )
    assert "0.1" in out["sampler"], out
    sampled = out["sampled"]["GET /cart"]
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(sampled - n * p) <= 3 * sigma, sampled
    wait_for(lambda: stored_traces(sampled_spoor, "remote-py") >= sampled * 0.98, timeout=20, what="sampled traces stored")
    assert stored_traces(sampled_spoor, "remote-py") <= sampled


def test_per_operation_strategies_apply(sampled_spoor):
    out = run_client(
        [
            python_of("jaeger-client"),
            "jaeger_remote_sampled.py",
            "127.0.0.1",
            str(sampled_spoor.port("jaeger-thrift-compact")),
            str(sampled_spoor.port("sampling-http")),
            "remote-ops",
            "always=200",
            "never=200",
        ],
        timeout=120,
    )
    assert out["sampled"] == {"always": 200, "never": 0}, out
    wait_for(lambda: stored_traces(sampled_spoor, "remote-ops") >= 196, timeout=20, what="stored")
    ops = sampled_spoor.query("/api/operations", service="remote-ops").json()["data"]
    assert {o["name"] for o in ops} == {"always"}


@pytest.mark.skipif(not (CONFORMANCE / "jaeger" / "sampling").exists(), reason="../shared/conformance absent")
def test_jaegers_conformance_files_load(start_spoor):
    s = start_spoor(
        "--storage",
        "memory",
        "--sampling-strategies",
        str(CONFORMANCE / "jaeger" / "sampling" / "operation_strategies.json"),
    )
    bar = strategy(s, service="bar").json()
    assert bar["strategyType"] == "RATE_LIMITING"
    assert [o["operation"] for o in bar["operationSampling"]["perOperationStrategies"]] == [
        "op3", "op5", "op0", "op6", "op7",
    ]


def run_node(s, service, *plan):
    return run_client(
        [
            "node",
            "node_remote_sampled.js",
            s.url("sampling-http").rstrip("/"),
            s.url("zipkin", "/api/v2/spans"),
            service,
            *plan,
        ],
        timeout=120,
    )


def test_the_otel_js_remote_sampler_obeys_the_served_probability(sampled_spoor):
    n, p = 2000, 0.1
    out = run_node(sampled_spoor, "remote-py", f"GET /cart={n}")
    sampled = out["sampled"]["GET /cart"]
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(sampled - n * p) <= 3 * sigma, out
    wait_for(lambda: stored_traces(sampled_spoor, "remote-py") == sampled, timeout=20, what="sampled traces stored")


def test_the_otel_js_remote_sampler_applies_per_operation_strategies(sampled_spoor):
    out = run_node(sampled_spoor, "remote-ops", "always=300", "never=300", "other=400")
    assert out["sampled"]["always"] == 300 and out["sampled"]["never"] == 0, out
    # Operations the strategy does not name use its default probability (0.5).
    assert abs(out["sampled"]["other"] - 200) <= 3 * math.sqrt(400 * 0.25), out


def test_the_collectors_jaeger_remote_sampling_extension_serves_the_file(start_spoor, tmp_path):
    path = tmp_path / "sampling.json"
    write(path, STRATEGIES)
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  spoor:
extensions:
  jaeger_remote_sampling:
    source:
      file: {path}
      reload_interval: 300ms
    http:
      endpoint: 127.0.0.1:0
    grpc:
      endpoint: 127.0.0.1:0
service:
  extensions: [jaeger_remote_sampling]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
"""
    )
    s = start_spoor("--storage", "memory", "--config", str(cfg))
    assert strategy(s, service="remote-py").json()["probabilisticSampling"] == {"samplingRate": 0.1}
    # No Jaeger receiver in this config: the extension's own gRPC listener answers.
    limited = grpc_strategy(s, "limited", listener="sampling-grpc")
    assert limited[1] == [1] and decode_message(limited[3][0]) == {1: [7]}
    changed = json.loads(json.dumps(STRATEGIES))
    changed["service_strategies"][0]["param"] = 0.5
    write(path, changed)
    wait_for(
        lambda: strategy(s, service="remote-py").json()["probabilisticSampling"]["samplingRate"] == 0.5,
        timeout=5,
        what="the extension's reload",
    )


def test_the_extension_without_a_file_or_with_a_remote_source_is_refused(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        """
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  spoor:
extensions:
  jaeger_remote_sampling:
    source:
      remote:
        endpoint: jaeger:14250
service:
  extensions: [jaeger_remote_sampling]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
"""
    )
    out = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 1, out
    text = out.stdout + out.stderr
    assert "extensions.jaeger_remote_sampling.source.remote" in text and "source.file" in text, text
