"""Sends a burst of Agent.emitBatch datagrams (thrift compact, one 3-span batch each, distinct
trace ids) as fast as the socket allows, with the thrift code generated in jaeger-client.

Usage: udp_burst.py HOST PORT COUNT → prints {"sent": COUNT, "spans_per_datagram": 3}.
"""

import json
import socket
import sys

from jaeger_client.thrift_gen.agent.Agent import emitBatch_args
from jaeger_client.thrift_gen.jaeger import ttypes
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.Thrift import TMessageType
from thrift.transport.TTransport import TMemoryBuffer


def datagram(i):
    spans = [
        ttypes.Span(
            traceIdLow=i + 1,
            traceIdHigh=0,
            spanId=s + 1,
            parentSpanId=s,
            operationName=f"burst-{s}",
            flags=1,
            startTime=1_700_000_000_000_000 + i,
            duration=10,
            tags=[ttypes.Tag(key="n", vType=ttypes.TagType.LONG, vLong=i)],
        )
        for s in range(3)
    ]
    batch = ttypes.Batch(process=ttypes.Process(serviceName="burst"), spans=spans)
    buf = TMemoryBuffer()
    proto = TCompactProtocol(buf)
    proto.writeMessageBegin("emitBatch", TMessageType.ONEWAY, i)
    emitBatch_args(batch=batch).write(proto)
    proto.writeMessageEnd()
    return buf.getvalue()


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    payloads = [datagram(i) for i in range(count)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in payloads:
        sock.sendto(p, (host, port))
    print(json.dumps({"sent": count, "spans_per_datagram": 3}))


if __name__ == "__main__":
    main()
