"""Sends a small, known trace through the real OpenTelemetry Python SDK."""

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def provider_for(service, exporter, **resource):
    provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def send_checkout_trace(make_exporter):
    """Sends a 4-span trace over two services and returns what was sent.

    checkout: GET /checkout (server) → SELECT orders (client, event) and → charge card (client,
    error) → payments: POST /charge (server, same trace, parent = charge card).
    `make_exporter()` returns a fresh span exporter each time it is called.
    """
    checkout = provider_for("checkout", make_exporter(), **{"deployment.environment": "e2e"})
    payments = provider_for("payments", make_exporter())
    tracer = checkout.get_tracer("e2e-tests", "1.2.3")
    ptracer = payments.get_tracer("payments-lib")
    spans = {}
    with tracer.start_as_current_span(
        "GET /checkout", kind=SpanKind.SERVER, attributes={"http.method": "GET", "http.status_code": 500}
    ) as root:
        spans["root"] = root
        with tracer.start_as_current_span(
            "SELECT orders",
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.rows": 3, "ratio": 0.5, "cached": False},
        ) as db:
            db.add_event("query.start", {"attempt": 1})
            spans["db"] = db
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
            spans["charge"] = charge
            ctx = trace.set_span_in_context(charge)
            token = context.attach(ctx)
            try:
                with ptracer.start_as_current_span("POST /charge", kind=SpanKind.SERVER) as remote:
                    spans["remote"] = remote
                    remote.set_status(Status(StatusCode.ERROR, "card declined"))
            finally:
                context.detach(token)
            charge.set_status(Status(StatusCode.ERROR, "payment failed"))
    checkout.shutdown()
    payments.shutdown()
    return spans


def hex_trace_id(span):
    return format(span.get_span_context().trace_id, "032x")


def hex_span_id(span):
    return format(span.get_span_context().span_id, "016x")
