"""`spoor validate`, `spoor print-config` and `spoor --config` with Collector-style YAML."""

import subprocess
from pathlib import Path

import pytest
import requests

from conftest import ROOT, SPOOR_BIN, get_trace

FIXTURES = ROOT / "tests" / "fixtures" / "collector"


def validate(*paths, env=None):
    args = [str(SPOOR_BIN), "validate"]
    for p in paths:
        args += ["--config", str(p)]
    return subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)


def write(tmp_path, name, text):
    p = Path(tmp_path) / name
    p.write_text(text)
    return p


MINIMAL = """receivers:
  otlp:
    protocols:
      grpc:
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
"""


def test_five_errors_are_all_reported_with_paths_and_lines():
    r = validate(FIXTURES / "five-errors.yaml")
    assert r.returncode == 1, r
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 5, r.stderr
    for want in [
        "five-errors.yaml:6: receivers.otlp.protocols.grpc.endpoint",
        'five-errors.yaml:9: processors.batch.timeout: invalid duration "1x"',
        "five-errors.yaml:11: processors.memory_limiter.limit_mib",
        "five-errors.yaml:14: exporters.debug.verbosity",
        "five-errors.yaml:20: service.pipelines.traces.exporters[1]: nowhere is not defined",
    ]:
        assert any(want in e for e in errors), (want, r.stderr)


def test_elasticsearch_exporter_is_refused_naming_the_alternative():
    r = validate(FIXTURES / "full.yaml")
    assert r.returncode == 1
    assert "exporters.elasticsearch: the elasticsearch exporter is not supported by Spoor" in r.stderr
    assert "use the `spoor` exporter" in r.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("receivers:\n  otlp: [\n", "invalid YAML"),
        (MINIMAL.replace("  spoor:\n", "  spoor:\n  kafka:\n"), 'exporters.kafka: unknown exporter type "kafka"'),
        (MINIMAL + "processors:\n  batch:\n    send_batch_size: many\n", "processors.batch.send_batch_size: invalid type"),
        (MINIMAL.replace("exporters: [spoor]", "exporters: [spoor, otlp/b]"), "otlp/b is not defined under exporters or connectors"),
        (
            "receivers:\n  otlp:\nexporters:\n  spoor:\nconnectors:\n  forward/a:\n  forward/b:\n"
            "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [forward/a]\n"
            "    traces/a:\n      receivers: [forward/a]\n      exporters: [forward/b, spoor]\n"
            "    traces/b:\n      receivers: [forward/b]\n      exporters: [forward/a]\n",
            "cycle through connectors",
        ),
        (
            MINIMAL.replace("exporters: [spoor]", "processors: [filter]\n      exporters: [spoor]")
            + 'processors:\n  filter:\n    traces:\n      span:\n        - attributes["http.route"] == "/health"\n'
            + "        - IsMatch(name, \"^GET\") and and\n",
            "bad.yaml:18: processors.filter.traces.span[1]: column 27: ",
        ),
        (
            MINIMAL.replace("exporters: [spoor]", "processors: [span]\n      exporters: [spoor]")
            + "processors:\n  span:\n    name:\n      to_attributes:\n        rules: ['^/api/(?P<user_id\\d+)$']\n",
            "processors.span.name.to_attributes.rules[0]: invalid regex",
        ),
        (
            MINIMAL.replace("exporters: [spoor]", "processors: [redaction]\n      exporters: [spoor]")
            + "processors:\n  redaction:\n    allow_all_keys: true\n    blocked_values: ['4[0-9]{12']\n",
            "bad.yaml:16: processors.redaction.blocked_values[0]: invalid regex",
        ),
    ],
    ids=[
        "malformed-yaml",
        "unknown-component",
        "wrong-type",
        "undefined-in-pipeline",
        "connector-cycle",
        "invalid-ottl-condition",
        "invalid-span-regex",
        "invalid-redaction-regex",
    ],
)
def test_bad_configs_are_clear_errors(tmp_path, text, message):
    r = validate(write(tmp_path, "bad.yaml", text))
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr, r.stderr


def test_valid_config_passes_and_later_files_merge_over_earlier(tmp_path):
    base = write(tmp_path, "a.yaml", MINIMAL)
    over = write(tmp_path, "b.yaml", "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:5317\n")
    r = validate(base, over)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(
        [str(SPOOR_BIN), "print-config", "--config", str(base), "--config", str(over)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert "endpoint: 127.0.0.1:5317" in out, out


def test_print_config_without_files_shows_the_implicit_config():
    out = subprocess.run(
        [str(SPOOR_BIN), "print-config", "--zipkin", "off", "--otlp-http", "127.0.0.1:9999"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert "endpoint: 127.0.0.1:9999" in out
    assert "zipkin" not in out
    assert "- spoor" in out


def test_start_refuses_an_invalid_config(tmp_path):
    r = subprocess.run(
        [str(SPOOR_BIN), "--config", str(FIXTURES / "full.yaml"), "--storage", "memory"],
        capture_output=True, text=True, timeout=30,
    )
    assert r.returncode != 0
    assert "exporters.elasticsearch" in r.stderr


def test_jaeger_era_environment_gives_a_warning(start_spoor, tmp_path):
    s = start_spoor("--storage", "memory", env={"SPAN_STORAGE_TYPE": "elasticsearch", "ES_SERVER_URLS": "http://es:9200"})
    log = s.log_text()
    assert "SPAN_STORAGE_TYPE=elasticsearch is a Jaeger setting and is ignored" in log
    assert "ES_SERVER_URLS is a Jaeger Elasticsearch setting" in log


def test_receivers_configured_with_collector_option_names(start_spoor, tmp_path):
    cfg = write(
        tmp_path,
        "c.yaml",
        """
receivers:
  zipkin:
    endpoint: 0.0.0.0:9411
  jaeger:
    protocols:
      thrift_http:
        endpoint: 0.0.0.0:14268
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [zipkin, jaeger]
      exporters: [spoor]
""",
    )
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    # Only the listed protocols listen; the flags' 127.0.0.1:0 replaced the endpoints.
    assert "zipkin" in s.addrs and "jaeger-thrift-http" in s.addrs
    assert "jaeger-grpc" not in s.addrs and "otlp-grpc" not in s.addrs
    span = {
        "traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f",
        "id": "6b221d5bc9e6496c",
        "name": "get /config",
        "timestamp": 1_700_000_000_000_000,
        "duration": 1000,
        "localEndpoint": {"serviceName": "zipkin-svc"},
        "tags": {"http.path": "/config"},
    }
    r = requests.post(s.url("zipkin", "/api/v2/spans"), json=[span], timeout=10)
    assert r.status_code == 202, r.text
    trace = get_trace(s, span["traceId"])
    assert trace["spans"][0]["operationName"] == "get /config"
    assert s.metric("spoor_exporter_spans_sent_total", exporter="spoor") == 1


def test_zpages_shows_pipelines_and_components(start_spoor, tmp_path):
    cfg = write(
        tmp_path,
        "c.yaml",
        MINIMAL.replace("exporters:\n  spoor:\n", "exporters:\n  spoor:\n  debug:\n")
        .replace("exporters: [spoor]", "exporters: [spoor, debug]")
        + "  extensions: [zpages, pprof]\nextensions:\n  zpages:\n    endpoint: 127.0.0.1:0\n  pprof:\n    endpoint: 127.0.0.1:0\n",
    )
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    page = requests.get(s.url("zpages", "/debug/pipelinez"), timeout=5)
    assert page.status_code == 200
    assert "pipeline traces" in page.text and "exporters: spoor, debug" in page.text
    servicez = requests.get(s.url("zpages", "/debug/servicez"), timeout=5).text
    assert "exporter debug: running" in servicez
    assert "extension pprof: running" in servicez
    assert requests.get(s.url("zpages", "/debug/nope"), timeout=5).status_code == 404
