"""Bad input on the legacy listeners is counted and answered (400/413/415), never stops them."""

import gzip
import socket

import requests

from clients.ingest_trace import check_trace, python_of, run_client
from conftest import get_trace, wait_for


def errors(spoor, receiver, transport, reason):
    return spoor.metric(
        "spoor_receiver_request_errors_total", receiver=receiver, transport=transport, reason=reason
    )


def test_bad_datagrams_and_bodies_are_counted_and_listeners_keep_serving(spoor):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for name in ("jaeger-thrift-compact", "jaeger-thrift-binary"):
        for payload in (b"", b"\x00", b"\x82\x81\x01\x09emitBatch\x1c\x19\xff", b"garbage" * 100):
            udp.sendto(payload, ("127.0.0.1", spoor.port(name)))
    wait_for(
        lambda: errors(spoor, "jaeger", "udp-compact", "decode") >= 4
        and errors(spoor, "jaeger", "udp-binary", "decode") >= 4,
        what="udp decode errors counted",
    )

    url = spoor.url("jaeger-thrift-http", "/api/traces")
    thrift = {"Content-Type": "application/x-thrift"}
    assert requests.post(url, data=b"\x0c\x00\x01", headers=thrift).status_code == 400
    assert requests.post(url, data=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    bomb = gzip.compress(b"\x00" * (20 * 1024 * 1024))
    r = requests.post(url, data=bomb, headers={**thrift, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert errors(spoor, "jaeger", "http", "decode") == 1

    zipkin = spoor.url("zipkin", "/api/v2/spans")
    assert requests.post(zipkin, data=b"[{", headers={"Content-Type": "application/json"}).status_code == 400
    assert requests.post(
        zipkin, data=b"\x0a\xff", headers={"Content-Type": "application/x-protobuf"}
    ).status_code == 400
    assert requests.post(zipkin, data=b"<a/>", headers={"Content-Type": "text/xml"}).status_code == 415
    ok = b'[{"traceId":"1","id":"1","name":"x","timestamp":1,"localEndpoint":{"serviceName":"s"}}]'
    assert requests.post(zipkin, data=ok, headers={"Content-Type": "application/json"}).status_code == 202
    assert errors(spoor, "zipkin", "http", "decode") == 2
    assert errors(spoor, "zipkin", "http", "unsupported_media_type") == 1

    # The UDP listener still serves a real client afterwards.
    port = spoor.port("jaeger-thrift-compact")
    sent = run_client([python_of("jaeger-client"), "jaeger_legacy.py", "127.0.0.1", str(port), "after-garbage"])
    check_trace(get_trace(spoor, sent["trace_id"]), sent, "after-garbage")
    # At most one warning per listener and interval, however many bad inputs.
    log = spoor.log_text()
    assert log.count('receiver="jaeger-thrift-compact"') <= 3, log
