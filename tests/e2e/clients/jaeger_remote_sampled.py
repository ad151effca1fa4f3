"""Starts root spans with the legacy `jaeger-client` under its remote sampler, which polls Spoor's
sampling endpoint and samples as told.

Usage: jaeger_remote_sampled.py HOST UDP_PORT SAMPLING_PORT SERVICE OPERATION=COUNT...
Prints {"sampler": str, "sampled": {operation: n}} as JSON once the spans are flushed.
"""

import json
import logging
import sys
import time

from jaeger_client import Config
from jaeger_client.sampler import RemoteControlledSampler


def main():
    host, udp, sampling, service = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    plan = [(op, int(n)) for op, n in (arg.split("=") for arg in sys.argv[5:])]
    logging.basicConfig(level=logging.WARNING)
    config = Config(
        config={
            # No sampler: the remote sampler, polling the sampling port every second.
            "sampling_refresh_interval": 1,
            "local_agent": {
                "reporting_host": host,
                "reporting_port": udp,
                "sampling_port": sampling,
            },
            "reporter_flush_interval": 0.05,
            "reporter_queue_size": 100000,
        },
        service_name=service,
        validate=True,
    )
    tracer = config.initialize_tracer()
    sampler = tracer.sampler
    assert isinstance(sampler, RemoteControlledSampler), sampler
    initial = str(sampler.sampler)
    deadline = time.time() + 15
    while str(sampler.sampler) == initial and time.time() < deadline:
        time.sleep(0.1)
    sampled = {}
    for op, n in plan:
        sampled[op] = 0
        for i in range(n):
            span = tracer.start_span(op)
            if span.is_sampled():
                sampled[op] += 1
            span.finish()
            if i % 50 == 49:
                # Keep the UDP reporter below what the socket buffer holds.
                time.sleep(0.02)
    time.sleep(0.5)
    tracer.close()
    time.sleep(1.0)
    print(json.dumps({"sampler": str(sampler.sampler), "sampled": sampled}))


if __name__ == "__main__":
    main()
