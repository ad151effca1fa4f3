"""The ingest test trace through the OpenTelemetry Python SDK, for any span exporter.

Imported by the per-exporter scripts; each prints {"trace_id", "root", "db", "charge"} as JSON.
"""

import json

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def send(service, exporter):
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "e2e"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("ingest-e2e", "0.1.0")
    with tracer.start_as_current_span(
        "GET /orders",
        kind=SpanKind.SERVER,
        attributes={"http.method": "GET", "order.count": 3, "ratio": 0.25, "cached": True},
    ) as root:
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as db:
            db.add_event("query.start", {"attempt": 1})
            with tracer.start_as_current_span("charge card") as charge:
                charge.set_status(Status(StatusCode.ERROR, "card declined"))
    provider.shutdown()
    ctx = lambda s: s.get_span_context()  # noqa: E731
    print(
        json.dumps(
            {
                "trace_id": "%032x" % ctx(root).trace_id,
                "root": "%016x" % ctx(root).span_id,
                "db": "%016x" % ctx(db).span_id,
                "charge": "%016x" % ctx(charge).span_id,
            }
        )
    )
