"""A burst of 10,000 datagrams on the compact UDP port: every one is accepted or counted as
dropped (queue full, or dropped by the kernel on a full socket buffer), none silently lost."""

from clients.ingest_trace import python_of, run_client
from conftest import wait_for

LABELS = {"receiver": "jaeger", "transport": "udp-compact"}


def test_udp_burst_is_accounted_for(spoor):
    port = spoor.port("jaeger-thrift-compact")
    sent = run_client([python_of("jaeger-client"), "udp_burst.py", "127.0.0.1", str(port), "10000"])
    assert sent["sent"] == 10_000

    def requests():
        # Datagrams read (decoded or rejected) plus those the kernel reported dropping.
        n = spoor.metric("spoor_receiver_requests_total", **LABELS)
        return n if n >= 10_000 else None

    wait_for(requests, timeout=30, what="all datagrams accounted for")
    received = spoor.metric("spoor_receiver_spans_received_total", **LABELS)
    accepted = spoor.metric("spoor_receiver_spans_accepted_total", **LABELS)
    dropped = spoor.metric("spoor_receiver_spans_dropped_total", **LABELS)
    queue_full = spoor.metric("spoor_receiver_request_errors_total", **LABELS, reason="queue_full")
    overflow = spoor.metric("spoor_receiver_request_errors_total", **LABELS, reason="socket_overflow")
    print(f"accepted {accepted} spans, dropped {dropped} (queue full {queue_full}, kernel {overflow})")
    assert received / 3 + queue_full + overflow == 10_000
    assert accepted + dropped == received + queue_full * 3
