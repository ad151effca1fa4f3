"""Differential test against the real OpenTelemetry Collector (issue 10).

For each case, the same pipeline config (otlp receiver → one processor → file exporter) runs in the
Collector built by scripts/peers/build-otelcol.sh and in `spoor --config`; the same OTLP JSON spans
are POSTed to both; the file exporters' OTLP JSON lines, normalised (tests/peers/otlp_data.py), must
be equal span by span. A case whose processor `spoor validate` reports as not available in the
binary under test is skipped with that message; any other refusal is a failure.
"""

import pytest

from conftest import (
    OTELCOL_BIN,
    free_port,
    require_binary,
    post_traces,
    read_json_lines,
    start_otelcol,
    start_spoor,
    wait_stable,
)
from otlp_data import diff_records, input_request, normalise, span_count

CARD = r"\b(?:4[0-9]{3}|5[1-5][0-9]{2})(?:[ -]?[0-9]{4}){3}\b"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"

CASES = {
    "passthrough_batch": ("batch", {"timeout": "200ms", "send_batch_size": 8}),
    "memory_limiter": ("memory_limiter", {"check_interval": "1s", "limit_mib": 1024, "spike_limit_mib": 256}),
    "attributes_actions": ("attributes", {
        "actions": [
            {"key": "env", "value": "prod", "action": "insert"},
            {"key": "http.method", "value": "get", "action": "insert"},
            {"key": "http.route", "value": "/redacted", "action": "update"},
            {"key": "missing.key", "value": "x", "action": "update"},
            {"key": "team", "value": "platform", "action": "upsert"},
            {"key": "route.copy", "from_attribute": "http.route", "action": "upsert"},
            {"key": "net.peer.port", "action": "delete"},
            {"key": "user.email", "action": "hash"},
            {"key": "http.url", "pattern": r"^https?://[^/]+/api/v1/users/(?P<user_id>\d+)", "action": "extract"},
            {"key": "retry.count", "action": "convert", "converted_type": "int"},
            {"key": "http.status_code", "action": "convert", "converted_type": "string"},
            {"key": "latency.ratio", "action": "convert", "converted_type": "int"},
        ],
    }),
    "attributes_include_exclude": ("attributes", {
        "include": {"match_type": "regexp", "services": ["^(frontend|users-api)$"]},
        "exclude": {"match_type": "strict", "span_names": ["/health"]},
        "actions": [
            {"key": "matched", "value": True, "action": "insert"},
            {"key": "cache.hit", "action": "delete"},
        ],
    }),
    "resource": ("resource", {
        "attributes": [
            {"key": "deployment.environment", "value": "production", "action": "upsert"},
            {"key": "cloud.region", "value": "eu-west-1", "action": "insert"},
            {"key": "service.version", "value": "9.9.9", "action": "update"},
            {"key": "host.name", "action": "delete"},
            {"key": "k8s.pod.uid", "action": "hash"},
        ],
    }),
    "span_from_attributes": ("span", {
        "name": {"from_attributes": ["http.method", "http.route"], "separator": " "},
    }),
    "span_to_attributes": ("span", {
        "name": {"to_attributes": {"rules": [r"^GET /api/v1/users/(?P<user_id>\d+)$"]}},
    }),
    "filter_health": ("filter", {
        "error_mode": "ignore",
        "traces": {"span": [
            'attributes["http.route"] == "/health"',
            'IsMatch(name, "^users\\\\.") and resource.attributes["service.name"] == "users-api"',
        ]},
    }),
    "transform": ("transform", {
        "error_mode": "ignore",
        "trace_statements": [{
            "context": "span",
            "statements": [
                'set(attributes["checked"], true) where name == "/health"',
                'set(attributes["svc"], resource.attributes["service.name"])',
                'delete_key(attributes, "http.request.header.authorization")',
                'replace_pattern(name, "/users/[0-9]+", "/users/{id}")',
                'set(status.code, STATUS_CODE_ERROR) where attributes["http.status_code"] == 500',
            ],
        }],
    }),
    "redaction": ("redaction", {
        "allow_all_keys": False,
        "allowed_keys": [
            "service.name", "http.method", "http.route", "http.url", "http.status_code", "user.email", "note",
            "payment.card", "db.statement", "db.system", "cache.hit", "tags",
        ],
        "blocked_values": [CARD, EMAIL],
        "summary": "debug",
    }),
    "probabilistic_sampler": ("probabilistic_sampler", {"sampling_percentage": 50, "hash_seed": 22}),
    # Deterministic policies only (rate_limiting and composite depend on the clock): which traces
    # are kept must be the same. The health traces match `cache` but the drop policy wins.
    "tail_sampling": ("tail_sampling", {
        "decision_wait": "1s",
        "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "user-42", "type": "numeric_attribute",
             "numeric_attribute": {"key": "enduser.id", "min_value": 40, "max_value": 50}},
            {"name": "orders", "type": "string_attribute",
             "string_attribute": {"key": "http.route", "values": ["^/api/v1/ord"], "enabled_regex_matching": True}},
            {"name": "some", "type": "probabilistic", "probabilistic": {"sampling_percentage": 30}},
            {"name": "not-users", "type": "string_attribute",
             "string_attribute": {"key": "service.name", "values": ["users-api"], "invert_match": True}},
            {"name": "slow-and-big", "type": "and", "and": {"and_sub_policy": [
                {"name": "slow", "type": "latency", "latency": {"threshold_ms": 5}},
                {"name": "big", "type": "span_count", "span_count": {"min_spans": 6}},
            ]}},
            {"name": "no-health", "type": "drop", "drop": {"drop_sub_policy": [
                {"name": "health", "type": "ottl_condition",
                 "ottl_condition": {"span": ['attributes["http.route"] == "/health"']}},
            ]}},
            {"name": "checked", "type": "boolean_attribute", "boolean_attribute": {"key": "check.ok", "value": True}},
        ],
    }),
}


def pipeline_config(processor, options, grpc_port, http_port, out_path):
    return {
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
            "http": {"endpoint": f"127.0.0.1:{http_port}"},
        }}},
        "processors": {processor: options},
        "exporters": {"file": {"path": str(out_path)}},
        "service": {"pipelines": {"traces": {
            "receivers": ["otlp"], "processors": [processor], "exporters": ["file"],
        }}},
    }


def run_peer(start, config_of, tmp_path, name, request):
    """Start one peer with its own ports and output file, send the input, return its output."""
    d = tmp_path / name
    d.mkdir()
    grpc_port, http_port, out = free_port(), free_port(), d / "out.jsonl"
    config = config_of(grpc_port, http_port, out)
    proc = start(config, d, http_port) if name == "otelcol" else start(config, d)
    try:
        post_traces(http_port, request)
        wait_stable(out)
    finally:
        rc = proc.stop()
    lines = read_json_lines(out)
    assert lines, f"{name} wrote nothing to {out} (exit {rc}); log:\n{proc.log_text()[-3000:]}"
    return lines


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_output_as_the_collector(case, tmp_path):
    require_binary(OTELCOL_BIN, "scripts/peers/build-otelcol.sh")
    processor, options = CASES[case]
    request = input_request()
    assert 20 <= span_count(request) <= 50

    def config_of(grpc_port, http_port, out):
        return pipeline_config(processor, options, grpc_port, http_port, out)

    # Spoor first: a processor this binary lacks skips the case before the Collector starts.
    got = normalise(run_peer(start_spoor, config_of, tmp_path, "spoor", request))
    want = normalise(run_peer(start_otelcol, config_of, tmp_path, "otelcol", request))

    # The case must exercise something: apart from the pass-through ones, the Collector's output
    # differs from the input.
    if not case.startswith("passthrough") and case != "memory_limiter":
        assert want != normalise([request]), f"{case}: the Collector left the spans unchanged"
    else:
        assert want == normalise([request]), f"{case}: the Collector changed the spans"

    diff = diff_records(want, got)
    assert not diff, (
        f"{case}: spoor's output differs from the Collector's "
        f"({len(want)} spans from otelcol, {len(got)} from spoor):\n  " + "\n  ".join(diff)
    )
