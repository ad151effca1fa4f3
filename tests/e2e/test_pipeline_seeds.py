"""The Collector configs of the user's reference documents (tests/fixtures/collector/, extracted
unchanged) validate and run; the legacy `jaeger` exporter they use delivers to a Jaeger gRPC
collector (here another spoor)."""

import subprocess

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

from conftest import SPOOR_BIN, get_trace, wait_for
from otel_clients import hex_trace_id, provider_for, send_checkout_trace
from test_pipeline_config import FIXTURES


@pytest.mark.parametrize("name", ["basic.yaml", "minimal.yaml"])
def test_seed_config_validates_and_runs(start_spoor, name):
    r = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(FIXTURES / name)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    s = start_spoor("--config", str(FIXTURES / name), "--storage", "memory")
    sent = send_checkout_trace(lambda: GrpcExporter(endpoint=s.addr("otlp-grpc"), insecure=True))
    # `jaeger:14250` does not resolve here: the jaeger exporter queues and retries, the client
    # was acknowledged, and (basic.yaml) the logging exporter printed every span.
    if name == "basic.yaml":
        wait_for(lambda: "Name           : GET /checkout" in s.log_text(), what="logging exporter output")
    wait_for(lambda: s.metric("spoor_exporter_retries_total", exporter="jaeger") >= 1, what="jaeger retries")
    assert s.metric("spoor_receiver_spans_accepted_total", receiver="otlp", transport="grpc") == 4
    assert hex_trace_id(sent["root"])


def validate(name):
    return subprocess.run([str(SPOOR_BIN), "validate", "--config", str(FIXTURES / name)], capture_output=True, text=True, timeout=30)


def test_kubernetes_and_full_seeds_fail_only_on_what_is_missing():
    k = validate("kubernetes.yaml")
    assert k.returncode == 0, k.stderr
    assert not [line for line in k.stderr.splitlines() if line.startswith("error:")], k.stderr
    assert "prometheus" not in k.stderr, k.stderr
    f = validate("full.yaml")
    assert f.returncode == 1, f.stderr
    errors = [line for line in f.stderr.splitlines() if line.startswith("error:")]
    # The resource and span processors are built now: the refused elasticsearch exporter is the
    # only error, and it names the alternative.
    assert len(errors) == 1, f.stderr
    assert "exporters.elasticsearch" in errors[0]
    assert "use the `spoor` exporter" in errors[0] and "otlp" in errors[0], errors[0]


def test_kubernetes_seed_runs_its_resource_processor(start_spoor, tmp_path):
    # Unchanged but for pprof's fixed port (the test machine is shared; the other listeners
    # are overridden by flags).
    cfg = tmp_path / "kubernetes.yaml"
    cfg.write_text((FIXTURES / "kubernetes.yaml").read_text().replace("0.0.0.0:1777", "127.0.0.1:0").replace('"0.0.0.0:8889"', '"127.0.0.1:0"'))
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    send_checkout_trace(lambda: GrpcExporter(endpoint=s.addr("otlp-grpc"), insecure=True))
    wait_for(
        lambda: s.metric("spoor_processor_spans_accepted_total", pipeline="traces", processor="resource") == 4,
        what="resource processor counted 4 spans",
    )
    wait_for(lambda: s.metric("spoor_exporter_retries_total", exporter="jaeger") >= 1, what="jaeger retries")


def test_full_seed_without_elasticsearch_forwards_rewritten_spans(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    text = (FIXTURES / "full.yaml").read_text()
    text = text.replace("endpoint: jaeger:4317", f"endpoint: {b.addr('otlp-grpc')}")
    # Only the refused exporter goes: its definition and its place in the pipeline.
    text = text[: text.index("  elasticsearch:")] + text[text.index("service:") :]
    text = text.replace("exporters: [jaeger, otlp, elasticsearch, logging]", "exporters: [jaeger, otlp, logging]")
    cfg = tmp_path / "full.yaml"
    cfg.write_text(text)
    a = start_spoor("--config", str(cfg), "--storage", "memory")
    provider = provider_for("users", GrpcExporter(endpoint=a.addr("otlp-grpc"), insecure=True))
    with provider.get_tracer("e2e").start_as_current_span("/api/v1/users/42") as span:
        pass
    provider.shutdown()
    trace = get_trace(b, hex_trace_id(span), timeout=30)
    (got,) = trace["spans"]
    tags = {t["key"]: t["value"] for t in got["tags"]}
    assert tags["user_id"] == "42"
    assert got["operationName"] == "/api/v1/users/{user_id}"
    process = trace["processes"][got["processID"]]
    ptags = {t["key"]: t["value"] for t in process["tags"]}
    assert process["serviceName"] == "my-app"
    assert ptags["service.version"] == "1.0.0"
    assert ptags["deployment.environment"] == "production"


def test_jaeger_exporter_delivers_to_a_jaeger_grpc_collector(start_spoor, tmp_path):
    b = start_spoor("--storage", "memory")
    cfg = tmp_path / "a.yaml"
    cfg.write_text(
        (FIXTURES / "basic.yaml").read_text().replace("endpoint: jaeger:14250", f"endpoint: {b.addr('jaeger-grpc')}")
    )
    a = start_spoor("--config", str(cfg), "--storage", "memory")
    sent = send_checkout_trace(lambda: GrpcExporter(endpoint=a.addr("otlp-grpc"), insecure=True))

    def all_four():
        t = get_trace(b, hex_trace_id(sent["root"]))
        return t if len(t["spans"]) == 4 else None

    trace = wait_for(all_four, timeout=30, what="4 spans in B")
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert services == {"checkout", "payments"}
    by_name = {s["operationName"]: s for s in trace["spans"]}
    tags = {t["key"]: t["value"] for t in by_name["SELECT orders"]["tags"]}
    assert tags["db.system"] == "postgresql"
    assert b.metric("spoor_receiver_spans_accepted_total", receiver="jaeger", transport="grpc") == 4
