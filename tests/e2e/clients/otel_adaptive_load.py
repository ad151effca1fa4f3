"""Root spans at fixed rates per operation through the OpenTelemetry Python SDK, sampled with the
SDK's consistent probability sampler (`composable_traceid_ratio_based`, which writes the W3C
`tracestate` `ot=th:` threshold) at the per-operation probabilities Spoor's sampling endpoint
serves, polled every 0.5 s. No Jaeger tags: Spoor can only learn the probability from tracestate.

Usage: otel_adaptive_load.py SAMPLING_URL OTLP_HTTP_URL SERVICE SECONDS OPERATION=RATE...
Prints {"seconds": [{op: sampled}], "started": [{op: started}], "served": [{op: p}]} (one entry per
second) as JSON: "started" is the rate the client really achieved, which a loaded machine keeps
below the one asked for.
"""

import json
import sys
import threading
import time

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace._sampling_experimental import (
    composable_traceid_ratio_based,
    composite_sampler,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler


class RemotePerOperation(Sampler):
    """Per-operation probabilities from Spoor's `/sampling?service=`, each applied through a
    consistent probability sampler."""

    def __init__(self, url, service):
        self.url, self.service = url, service
        self.default = 1.0
        self.ops = {}
        self.samplers = {}
        self.lock = threading.Lock()
        self.poll()

    def poll(self):
        body = requests.get(self.url, params={"service": self.service}, timeout=5).json()
        ops = body.get("operationSampling") or {}
        default = ops.get("defaultSamplingProbability", body.get("probabilisticSampling", {}).get("samplingRate", 1.0))
        per_op = {o["operation"]: o["probabilisticSampling"]["samplingRate"] for o in ops.get("perOperationStrategies", [])}
        with self.lock:
            self.default, self.ops = default, per_op

    def probability(self, name):
        with self.lock:
            return self.ops.get(name, self.default)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        p = self.probability(name)
        sampler = self.samplers.get(p)
        if sampler is None:
            sampler = self.samplers[p] = composite_sampler(composable_traceid_ratio_based(p))
        return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self):
        return f"RemotePerOperation({self.default}, {self.ops})"


def main():
    sampling_url, otlp_url, service, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    rates = {op: float(r) for op, r in (a.split("=") for a in sys.argv[5:])}
    sampler = RemotePerOperation(sampling_url, service)
    stop = threading.Event()

    def poller():
        while not stop.wait(0.5):
            try:
                sampler.poll()
            except requests.RequestException:
                pass

    threading.Thread(target=poller, daemon=True).start()
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_url), max_queue_size=100000, schedule_delay_millis=200)
    )
    tracer = provider.get_tracer("adaptive-e2e")
    start = time.monotonic()
    started = {op: 0 for op in rates}
    per_second, started_per_second, served = [], [], []
    current = {op: 0 for op in rates}
    began = {op: 0 for op in rates}
    second = 0
    while True:
        now = time.monotonic() - start
        if now >= seconds:
            break
        if int(now) > second:
            per_second.append(current)
            started_per_second.append(began)
            served.append({op: sampler.probability(op) for op in rates})
            current = {op: 0 for op in rates}
            began = {op: 0 for op in rates}
            second = int(now)
        for op, rate in rates.items():
            due = int(now * rate)
            while started[op] < due:
                started[op] += 1
                began[op] += 1
                span = tracer.start_span(op)
                if span.get_span_context().trace_flags.sampled:
                    current[op] += 1
                span.end()
        time.sleep(0.005)
    stop.set()
    provider.force_flush()
    provider.shutdown()
    print(json.dumps({"seconds": per_second, "started": started_per_second, "served": served}))


if __name__ == "__main__":
    main()
