"""Jaeger v2 all-in-one as a peer (issue 11): the same OTLP spans sent to Jaeger (memory storage)
and to Spoor's all-in-one must come back the same from `GET /api/traces/{id}`, after normalising
what is representation only: span, reference, tag and log order, the processID numbering (each
span's process is compared by content), and the `warnings` Jaeger adds.
"""

import re

import pytest
import requests

from conftest import (
    JAEGER_BIN,
    SPOOR_BIN,
    Proc,
    free_port,
    port_open,
    post_traces,
    require_binary,
    write_config,
)
from otlp_data import input_request

LISTENING = re.compile(r"listening listener=(\S+) addr=(\S+)")


def jaeger_config(grpc_port, http_port, query_port, query_grpc_port):
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {"traces": {
                "receivers": ["otlp"], "processors": [], "exporters": ["jaeger_storage_exporter"],
            }},
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_query": {
                "storage": {"traces": "mem"},
                "max_clock_skew_adjust": "0s",
                "http": {"endpoint": f"127.0.0.1:{query_port}"},
                "grpc": {"endpoint": f"127.0.0.1:{query_grpc_port}"},
            },
            "jaeger_storage": {"backends": {"mem": {"memory": {"max_traces": 100000}}}},
        },
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
            "http": {"endpoint": f"127.0.0.1:{http_port}"},
        }}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "mem"}},
    }


def start_jaeger(tmp_path):
    require_binary(JAEGER_BIN, "scripts/peers/build-jaeger.sh")
    ports = [free_port() for _ in range(4)]
    path = write_config(tmp_path / "jaeger.yaml", jaeger_config(*ports))
    proc = Proc("jaeger", [str(JAEGER_BIN), "--config", str(path)], tmp_path / "jaeger.log",
                lambda p: port_open(ports[1]) and port_open(ports[2]))
    return proc, ports[1], f"http://127.0.0.1:{ports[2]}"


def start_spoor_all_in_one(tmp_path):
    if not SPOOR_BIN.exists():
        pytest.fail(f"{SPOOR_BIN} does not exist: build it with `cargo build -p spoor` or set SPOOR_BIN")
    args = ["--storage", "memory"]
    for flag in ("otlp-grpc", "otlp-http", "query-http", "query-grpc", "admin-http", "health-http"):
        args += [f"--{flag}", "127.0.0.1:0"]
    for flag in ("jaeger-thrift-compact", "jaeger-thrift-binary", "jaeger-thrift-http", "jaeger-grpc", "zipkin"):
        args += [f"--{flag}", "off"]
    proc = Proc("spoor", [str(SPOOR_BIN), *args], tmp_path / "spoor.log",
                lambda p: "spoor is ready" in p.log_text())
    addrs = dict(LISTENING.findall(proc.log_text()))
    return proc, int(addrs["otlp-http"].rsplit(":", 1)[1]), f"http://{addrs['query-http']}"


def _tag(t):
    value = t.get("value")
    if t.get("type") == "int64":
        value = int(value)
    elif t.get("type") == "float64":
        value = float(value)
    return (t.get("key"), t.get("type"), value)


def normalise_trace(trace):
    processes = {
        pid: (p.get("serviceName"), tuple(sorted(_tag(t) for t in p.get("tags") or [])))
        for pid, p in (trace.get("processes") or {}).items()
    }
    spans = []
    for s in trace.get("spans") or []:
        spans.append({
            "traceID": s["traceID"].lower().lstrip("0"),
            "spanID": s["spanID"].lower(),
            "operationName": s.get("operationName"),
            "references": tuple(sorted(
                (r.get("refType"), r.get("traceID", "").lower().lstrip("0"), r.get("spanID", "").lower())
                for r in s.get("references") or [])),
            "flags": s.get("flags", 0),
            "startTime": s.get("startTime"),
            "duration": s.get("duration"),
            "tags": tuple(sorted(_tag(t) for t in s.get("tags") or [])),
            "logs": tuple(sorted(
                (lg.get("timestamp"), tuple(sorted(_tag(f) for f in lg.get("fields") or [])))
                for lg in s.get("logs") or [])),
            "process": processes.get(s.get("processID")),
        })
    spans.sort(key=lambda s: s["spanID"])
    return spans


def get_trace(base, trace_id, want_spans, timeout=20):
    import time

    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        r = requests.get(f"{base}/api/traces/{trace_id}", timeout=10)
        last = r
        if r.status_code == 200:
            data = r.json().get("data") or []
            if data and len(data[0].get("spans") or []) >= want_spans:
                return data[0]
        time.sleep(0.2)
    pytest.fail(f"{base}: trace {trace_id} with {want_spans} spans not found; last: "
                f"{last.status_code if last is not None else None} {last.text[:300] if last is not None else ''}")


def diff_traces(want, got):
    lines = []
    w = {s["spanID"]: s for s in want}
    g = {s["spanID"]: s for s in got}
    for sid in sorted(set(w) | set(g)):
        if sid not in g or sid not in w:
            lines.append(f"span {sid}: only in {'jaeger' if sid in w else 'spoor'}")
            continue
        for field in w[sid]:
            if w[sid][field] == g[sid][field]:
                continue
            if field == "tags":
                wt = {t[0]: t[1:] for t in w[sid][field]}
                gt = {t[0]: t[1:] for t in g[sid][field]}
                for k in sorted(set(wt) | set(gt)):
                    if wt.get(k) != gt.get(k):
                        lines.append(f"span {sid} ({w[sid]['operationName']!r}) tag {k!r}: "
                                     f"jaeger={wt.get(k, '<absent>')} spoor={gt.get(k, '<absent>')}")
            else:
                lines.append(f"span {sid} ({w[sid]['operationName']!r}) {field}: "
                             f"jaeger={w[sid][field]!r} spoor={g[sid][field]!r}")
    return lines


def compare_with_jaeger(tmp_path, request):
    per_trace = {}
    for rs in request["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                per_trace[span["traceId"]] = per_trace.get(span["traceId"], 0) + 1
    (tmp_path / "jaeger").mkdir()
    (tmp_path / "spoor").mkdir()
    jaeger, jaeger_http, jaeger_query = start_jaeger(tmp_path / "jaeger")
    try:
        spoor, spoor_http, spoor_query = start_spoor_all_in_one(tmp_path / "spoor")
        try:
            post_traces(jaeger_http, request)
            post_traces(spoor_http, request)
            diffs = []
            for trace_id, n in sorted(per_trace.items()):
                want = normalise_trace(get_trace(jaeger_query, trace_id, n))
                got = normalise_trace(get_trace(spoor_query, trace_id, n))
                assert len(want) == n, f"jaeger returned {len(want)} of {n} spans of {trace_id}"
                diffs += [f"trace {trace_id}: {d}" for d in diff_traces(want, got)]
        finally:
            spoor.stop()
    finally:
        jaeger.stop()
    shown = diffs[:25] + ([f"... and {len(diffs) - 25} more"] if len(diffs) > 25 else [])
    assert not diffs, "spoor's /api/traces/{id} differs from Jaeger v2's:\n  " + "\n  ".join(shown)


def test_same_traces_as_jaeger_v2(tmp_path):
    compare_with_jaeger(tmp_path, input_request())


def test_link_to_the_parent_as_jaeger_v2(tmp_path):
    """A span whose link points at its own parent: Jaeger's OTLP translator
    (pkg/translator/jaeger makeJaegerProtoReferences) keeps one reference to the parent, typed by
    the link (FOLLOWS_FROM unless the link says `opentracing.ref_type`)."""
    compare_with_jaeger(tmp_path, input_request(link_to_parent=True))
