"""One app, two exporters (issue 9, item 8): the OTel Python SDK sends every span through the
real `opentelemetry-exporter-jaeger-thrift` (collector HTTP) and through a small OTLP/JSON
exporter (OTLP HTTP), as an app configured with both a Jaeger and an OTLP exporter does.

Usage: otel_double_export.py JAEGER_URL OTLP_URL SERVICE
"""

import json
import sys
import urllib.request

from opentelemetry.exporter.jaeger.thrift import JaegerExporter
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_trace import send


def any_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def attributes(attrs):
    return [{"key": k, "value": any_value(v)} for k, v in (attrs or {}).items()]


class OtlpJsonExporter(SpanExporter):
    """Exports spans as OTLP/JSON over HTTP (what the OTLP HTTP exporter sends, in JSON)."""

    def __init__(self, url):
        self.url = url

    def export(self, spans):
        resource_spans = []
        for span in spans:
            ctx = span.get_span_context()
            out = {
                "traceId": "%032x" % ctx.trace_id,
                "spanId": "%016x" % ctx.span_id,
                "name": span.name,
                "kind": span.kind.value + 1,
                "startTimeUnixNano": str(span.start_time),
                "endTimeUnixNano": str(span.end_time),
                "attributes": attributes(span.attributes),
                "events": [
                    {"name": e.name, "timeUnixNano": str(e.timestamp), "attributes": attributes(e.attributes)}
                    for e in span.events
                ],
                "status": {"code": span.status.status_code.value, "message": span.status.description or ""},
            }
            if span.parent is not None:
                out["parentSpanId"] = "%016x" % span.parent.span_id
            resource_spans.append(
                {
                    "resource": {"attributes": attributes(span.resource.attributes)},
                    "scopeSpans": [
                        {
                            "scope": {"name": span.instrumentation_scope.name, "version": span.instrumentation_scope.version or ""},
                            "spans": [out],
                        }
                    ],
                }
            )
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"resourceSpans": resource_spans}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            ok = response.status == 200
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self):
        pass


class Both(SpanExporter):
    def __init__(self, *exporters):
        self.exporters = exporters

    def export(self, spans):
        results = [e.export(spans) for e in self.exporters]
        ok = all(r == SpanExportResult.SUCCESS for r in results)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self):
        for e in self.exporters:
            e.shutdown()


send(sys.argv[3], Both(JaegerExporter(collector_endpoint=sys.argv[1]), OtlpJsonExporter(sys.argv[2])))
