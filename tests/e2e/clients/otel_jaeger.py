"""OTel Python `opentelemetry-exporter-jaeger-thrift`: agent UDP (compact) or collector HTTP.

Usage: otel_jaeger.py udp HOST PORT SERVICE | otel_jaeger.py http URL SERVICE
"""

import sys

from opentelemetry.exporter.jaeger.thrift import JaegerExporter

from otel_trace import send

if sys.argv[1] == "udp":
    exporter = JaegerExporter(agent_host_name=sys.argv[2], agent_port=int(sys.argv[3]))
    service = sys.argv[4]
else:
    exporter = JaegerExporter(collector_endpoint=sys.argv[2])
    service = sys.argv[3]
send(service, exporter)
