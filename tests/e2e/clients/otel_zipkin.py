"""OTel Python Zipkin exporters: `json` (v2), `json-v1`, or `proto` (v2 protobuf).

Usage: otel_zipkin.py json|json-v1|proto URL SERVICE
"""

import sys

from otel_trace import send

kind, url, service = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "proto":
    from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter

    exporter = ZipkinExporter(endpoint=url)
else:
    from opentelemetry.exporter.zipkin.encoder import Protocol
    from opentelemetry.exporter.zipkin.json import ZipkinExporter

    version = Protocol.V1 if kind == "json-v1" else Protocol.V2
    # The v1 encoder fails on the default max_tag_value_length (None): pass one.
    exporter = ZipkinExporter(endpoint=url, version=version, max_tag_value_length=4096)
send(service, exporter)
