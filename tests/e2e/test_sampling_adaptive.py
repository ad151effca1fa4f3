"""Adaptive sampling with real OpenTelemetry SDK clients against the real binary: per-operation
probabilities learned from what is stored, served over HTTP 5778, and kept across a restart."""

import statistics
import sys

import pytest
import requests

from clients.ingest_trace import run_client
from conftest import wait_for

TARGET = 10.0
# Two operations 20x apart: 10 traces/s each needs 0.01 and 0.2. Each probability is learned from
# the traces of 5 two-second intervals. At a target of 5/s, 50 traces a window, counting alone
# scatters a window's estimate by 14 % (one sigma), and a CI run saw 24 %; 100 a window make it 10 %.
RATES = {"fast": 1000.0, "slow": 50.0}
EXPECTED = {op: TARGET / rate for op, rate in RATES.items()}
ADAPTIVE = (
    f"target_samples_per_second={TARGET},calculation_interval=2s,aggregation_buckets=10,"
    "buckets_for_calculation=5,delta_tolerance=0.1,initial_sampling_probability=0.05"
)


def served(s, service):
    body = requests.get(s.url("sampling-http", "/sampling"), params={"service": service}, timeout=5).json()
    ops = body.get("operationSampling") or {}
    return {o["operation"]: o["probabilisticSampling"]["samplingRate"] for o in ops.get("perOperationStrategies", [])}


def run_load(s, service, seconds):
    return run_client(
        [
            sys.executable,
            "otel_adaptive_load.py",
            s.url("sampling-http", "/sampling"),
            s.url("otlp-http", "/v1/traces"),
            service,
            str(seconds),
            *(f"{op}={rate}" for op, rate in RATES.items()),
        ],
        timeout=seconds + 60,
    )


def test_otel_sdk_clients_sending_only_tracestate_converge_and_the_rates_survive_a_restart(start_spoor, tmp_path):
    data = tmp_path / "data"
    args = ("--data-dir", str(data), "--sampling-adaptive", ADAPTIVE)
    s = start_spoor(*args)
    out = run_load(s, "adaptive-py", 36)
    seconds, probabilities = out["seconds"], out["served"]
    # After 20 s (10 intervals) each operation keeps the target rate and is told its probability.
    late = seconds[20:]
    late_p = probabilities[20:]
    report = {}
    for op in RATES:
        rate = statistics.mean(sec[op] for sec in late)
        p = statistics.mean(sec[op] for sec in late_p)
        # The right probability is the target over the traffic the client really sent in the
        # seconds the served ones were learned from: a loaded machine may slow the client.
        sent = statistics.mean(sec[op] for sec in out["started"][10:])
        want = TARGET / sent
        report[op] = {"stored_per_s": round(rate, 2), "p": round(p, 4), "want_p": round(want, 4), "sent_per_s": sent}
    print("adaptive convergence:", report)
    for op, nominal in EXPECTED.items():
        want = report[op]["want_p"]
        # The issue asks for 20 %; four runs here (two operations each) measured 2-10 %.
        assert abs(report[op]["p"] - want) <= 0.20 * want, report
        assert abs(want - nominal) <= 0.25 * nominal, report
        assert abs(report[op]["stored_per_s"] - TARGET) <= 0.3 * TARGET, report
    # Spoor learned from the threshold in tracestate, the only signal these spans carry.
    assert s.metric("spoor_sampling_adaptive_roots_total", signal="tracestate") > 0
    assert s.metric("spoor_sampling_adaptive_roots_total", signal="served") == 0
    assert s.metric("spoor_sampling_adaptive_roots_total", signal="jaeger_tags") == 0
    assert s.metric("spoor_sampling_adaptive_calculations_total") >= 15
    # Every sampled trace was stored.
    sampled = sum(sec[op] for sec in seconds for op in RATES)
    wait_for(
        lambda: len(s.query("/api/traces", service="adaptive-py", limit=10000, lookback="1h").json()["data"]) >= sampled,
        timeout=20,
        what="sampled traces stored",
    )
    before = served(s, "adaptive-py")
    assert set(before) == set(RATES), before
    assert s.stop() == 0
    again = start_spoor(*args)
    # Equal to the last bit but for float parsing (serde_json reads decimals to within one ulp).
    assert served(again, "adaptive-py") == pytest.approx(before, rel=1e-12)
    assert (data / "sampling" / "adaptive.json").exists()


def test_services_the_file_names_keep_their_strategy_and_adaptive_entries_adapt(start_spoor, tmp_path):
    path = tmp_path / "sampling.json"
    path.write_text(
        '{"default_strategy": {"type": "probabilistic", "param": 1.0},'
        ' "service_strategies": [{"service": "ada", "type": "adaptive", "max_traces_per_second": 10},'
        ' {"service": "fixed", "type": "probabilistic", "param": 0.25}]}'
    )
    s = start_spoor(
        "--storage",
        "memory",
        "--sampling-strategies",
        str(path),
        "--sampling-adaptive",
        "calculation_interval=2s,buckets_for_calculation=2,initial_sampling_probability=0.05",
    )
    fixed = requests.get(s.url("sampling-http", "/sampling"), params={"service": "fixed"}, timeout=5).json()
    assert fixed == {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.25}}
    ada = requests.get(s.url("sampling-http", "/sampling"), params={"service": "ada"}, timeout=5).json()
    assert ada["operationSampling"]["defaultSamplingProbability"] == 0.05
    # The file's own target (10/s) applies: 1000 traces/s of "fast" → 0.01.
    out = run_client(
        [
            sys.executable,
            "otel_adaptive_load.py",
            s.url("sampling-http", "/sampling"),
            s.url("otlp-http", "/v1/traces"),
            "ada",
            "10",
            "fast=1000",
        ],
        timeout=70,
    )
    late = statistics.mean(sec["fast"] for sec in out["served"][-3:])
    # Three 2 s intervals of a loaded client scatter by up to ~40 %; the initial 0.05 and the
    # default target's 0.001 both stay far outside this bound.
    assert late == pytest.approx(0.01, rel=0.5), out["served"]
    # "fixed" is counted by nobody: it does not adapt.
    assert served(s, "fixed") == {}


@pytest.mark.parametrize(
    "bad",
    ["target_samples_per_second=0", "initial_sampling_probability=2", "calculation_interval=never", "nope=1"],
)
def test_bad_adaptive_options_are_a_clear_error(tmp_path, bad):
    import subprocess

    from conftest import SPOOR_BIN

    proc = subprocess.run(
        [str(SPOOR_BIN), "--storage", "memory", "--sampling-adaptive", bad],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert bad.split("=")[0] in proc.stderr, proc.stderr


EXTENSION = """
receivers:
  otlp:
    protocols:
      http:
exporters:
  spoor:
extensions:
  jaeger_remote_sampling:
    http:
      endpoint: 127.0.0.1:0
    grpc:
      endpoint: ""
    adaptive:
      target_samples_per_second: {target}
      calculation_interval: 2s
      buckets_for_calculation: 2
      initial_sampling_probability: 0.05
service:
  extensions: [jaeger_remote_sampling]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
"""


def test_the_extensions_adaptive_block_turns_it_on_without_a_file(start_spoor, tmp_path):
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(EXTENSION.format(target=10))
    s = start_spoor("--storage", "memory", "--config", str(cfg))
    out = run_client(
        [
            sys.executable,
            "otel_adaptive_load.py",
            s.url("sampling-http", "/sampling"),
            s.url("otlp-http", "/v1/traces"),
            "ext",
            "10",
            "fast=1000",
        ],
        timeout=70,
    )
    late = statistics.mean(sec["fast"] for sec in out["served"][-3:])
    assert late == pytest.approx(0.01, rel=0.35), out["served"]


def test_a_bad_adaptive_block_is_refused_by_validate(tmp_path):
    import subprocess

    from conftest import SPOOR_BIN

    cfg = tmp_path / "collector.yaml"
    cfg.write_text(EXTENSION.format(target=0))
    out = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out
    assert "adaptive.target_samples_per_second" in out.stdout + out.stderr
