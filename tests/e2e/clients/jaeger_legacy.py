"""Sends the ingest test trace with the legacy `jaeger-client` (thrift compact over UDP).

Usage: jaeger_legacy.py HOST PORT SERVICE → prints {"trace_id", "root", "db", "charge"} as JSON.
"""

import json
import logging
import sys
import time

from jaeger_client import Config


def main():
    host, port, service = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.WARNING)
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": host, "reporting_port": port},
            "reporter_flush_interval": 0.1,
            "tags": {"deployment.environment": "e2e"},
        },
        service_name=service,
        validate=True,
    )
    tracer = config.initialize_tracer()
    root = tracer.start_span("GET /orders", tags={"span.kind": "server", "http.method": "GET"})
    root.set_tag("order.count", 3)
    root.set_tag("ratio", 0.25)
    root.set_tag("cached", True)
    db = tracer.start_span("SELECT orders", child_of=root, tags={"span.kind": "client"})
    db.log_kv({"event": "query.start", "attempt": 1})
    charge = tracer.start_span("charge card", child_of=db)
    charge.set_tag("error", True)
    charge.log_kv({"event": "error", "message": "card declined"})
    charge.finish()
    db.finish()
    root.finish()
    ids = {
        "trace_id": "%032x" % root.trace_id,
        "root": "%016x" % root.span_id,
        "db": "%016x" % db.span_id,
        "charge": "%016x" % charge.span_id,
    }
    time.sleep(0.5)
    tracer.close()
    time.sleep(1.0)
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
