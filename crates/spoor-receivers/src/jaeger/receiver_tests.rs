//! The Jaeger listeners over real sockets, with a collecting sink.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spoor_model::{ErrorKind, ResourceSpans, SinkError, TraceSink, span_count};
use spoor_telemetry::Telemetry;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::proto::api_v2;
use super::tests::sample_batch;
use super::thrift::{encode_agent_message, encode_batch};
use super::*;
use crate::component::{ReceiverContext, RunningReceiver};
use crate::thrift::Protocol;

/// Collects batches; refuses everything while `refuse` is set.
#[derive(Default)]
pub(crate) struct Collect {
    pub batches: Mutex<Vec<ResourceSpans>>,
    pub refuse: AtomicBool,
}

#[async_trait::async_trait]
impl TraceSink for Collect {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        if self.refuse.load(Ordering::Relaxed) {
            return Err(SinkError::new(ErrorKind::Overloaded, "test sink is full"));
        }
        self.batches
            .lock()
            .map_err(|_| SinkError::new(ErrorKind::Internal, "poisoned"))?
            .extend(batch);
        Ok(())
    }
}

impl Collect {
    pub(crate) fn spans(&self) -> usize {
        self.batches.lock().map(|b| span_count(&b)).unwrap_or(0)
    }
}

pub(crate) struct Harness {
    pub sink: Arc<Collect>,
    pub telemetry: Telemetry,
    pub shutdown: CancellationToken,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self {
            sink: Arc::new(Collect::default()),
            telemetry: Telemetry::new(),
            shutdown: CancellationToken::new(),
        }
    }

    pub(crate) fn ctx(&self) -> ReceiverContext {
        ReceiverContext {
            signals: Default::default(),
            sink: self.sink.clone(),
            telemetry: self.telemetry.clone(),
            shutdown: self.shutdown.clone(),
            memory: spoor_telemetry::MemoryLimiter::off(),
            sampling: None,
            zipkin_routes: None,
            tenancy: None,
        }
    }

    /// The value of a metric series whose line contains all of `parts`.
    pub(crate) fn metric(&self, parts: &[&str]) -> f64 {
        self.telemetry
            .render()
            .lines()
            .filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .fold(0.0, |a, b| a + b)
    }

    pub(crate) async fn wait_spans(&self, n: usize) {
        for _ in 0..200 {
            if self.sink.spans() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} spans, got {}", self.sink.spans());
    }

    /// Fires shutdown and checks the receiver stops promptly.
    pub(crate) async fn stop(&self, running: RunningReceiver) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), running.join())
            .await
            .expect("receiver stops after shutdown");
    }
}

/// A minimal HTTP/1.1 POST; returns the status code.
pub(crate) async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn udp_compact_and_binary_accept_batches_and_survive_garbage() {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let h = Harness::new();
        let running = match protocol {
            Protocol::Compact => JaegerThriftCompactConfig {
                endpoint: localhost(),
                ..Default::default()
            }
            .build(h.ctx())
            .await
            .expect("start"),
            Protocol::Binary => JaegerThriftBinaryConfig {
                endpoint: localhost(),
                ..Default::default()
            }
            .build(h.ctx())
            .await
            .expect("start"),
        };
        let client = tokio::net::UdpSocket::bind(localhost())
            .await
            .expect("bind");
        client
            .send_to(b"garbage", running.local_addr)
            .await
            .expect("send");
        let big = vec![0u8; MAX_DATAGRAM_BYTES + 10];
        client
            .send_to(&big, running.local_addr)
            .await
            .expect("send big");
        let datagram = encode_agent_message(&sample_batch(), protocol, 1);
        client
            .send_to(&datagram, running.local_addr)
            .await
            .expect("send");
        h.wait_spans(3).await;
        assert_eq!(
            h.metric(&["receiver_request_errors", "reason=\"decode\""]),
            1.0
        );
        assert_eq!(
            h.metric(&["receiver_request_errors", "reason=\"too_large\""]),
            1.0
        );
        assert_eq!(h.metric(&["receiver_spans_accepted"]), 3.0);
        h.stop(running).await;
    }
}

async fn burst(queue_size: usize, queue_bytes: usize) -> (f64, f64, f64, f64) {
    let h = Harness::new();
    let running = JaegerThriftCompactConfig {
        endpoint: localhost(),
        queue_size,
        queue_bytes,
        ..Default::default()
    }
    .build(h.ctx())
    .await
    .expect("start");
    let client = tokio::net::UdpSocket::bind(localhost())
        .await
        .expect("bind");
    let datagram = encode_agent_message(&sample_batch(), Protocol::Compact, 1);
    for _ in 0..10_000 {
        client
            .send_to(&datagram, running.local_addr)
            .await
            .expect("send");
    }
    // Wait until every datagram is accounted for (kernel drops are read once a second).
    let mut accounted = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        accounted = (
            h.metric(&["receiver_spans_accepted"]) / 3.0,
            h.metric(&["reason=\"queue_full\""]),
            h.metric(&["reason=\"socket_overflow\""]),
            h.metric(&["receiver_spans_dropped"]),
        );
        if accounted.0 + accounted.1 + accounted.2 >= 10_000.0 {
            break;
        }
    }
    h.stop(running).await;
    accounted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_burst_is_queued_or_counted_never_lost_silently() {
    // The default queue, one bounded in datagrams, one bounded in bytes.
    for (queue_size, queue_bytes) in [(10_000, 64 << 20), (16, 64 << 20), (10_000, 65_000)] {
        let (accepted, queue_full, overflow, dropped_spans) = burst(queue_size, queue_bytes).await;
        println!(
            "burst of 10000 datagrams, queue {queue_size}/{queue_bytes}B: {accepted} accepted, \
             {queue_full} dropped on a full queue, {overflow} dropped by the kernel"
        );
        assert_eq!(
            dropped_spans,
            queue_full * 3.0,
            "queue drops counted in spans"
        );
        if std::path::Path::new("/proc/net/udp").exists() {
            assert_eq!(
                accepted + queue_full + overflow,
                10_000.0,
                "every datagram accounted"
            );
        }
    }
}

#[tokio::test]
async fn udp_sink_refusal_counts_dropped() {
    let h = Harness::new();
    h.sink.refuse.store(true, Ordering::Relaxed);
    let running = JaegerThriftBinaryConfig {
        endpoint: localhost(),
        ..Default::default()
    }
    .build(h.ctx())
    .await
    .expect("start");
    let client = tokio::net::UdpSocket::bind(localhost())
        .await
        .expect("bind");
    let datagram = encode_agent_message(&sample_batch(), Protocol::Binary, 1);
    client
        .send_to(&datagram, running.local_addr)
        .await
        .expect("send");
    for _ in 0..200 {
        if h.metric(&["receiver_spans_dropped"]) >= 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.metric(&["receiver_spans_dropped"]), 3.0);
    h.stop(running).await;
}

#[tokio::test]
async fn http_thrift_answers_202_400_413_415() {
    let h = Harness::new();
    let running = JaegerThriftHttpConfig {
        endpoint: localhost(),
        max_request_body_size: 100_000,
        ..Default::default()
    }
    .build(h.ctx())
    .await
    .expect("start");
    let addr = running.local_addr;
    let body = encode_batch(&sample_batch(), Protocol::Binary);
    let thrift = [("content-type", "application/x-thrift")];
    assert_eq!(post(addr, "/api/traces", &thrift, &body).await, 202);
    assert_eq!(
        post(addr, "/api/traces?format=jaeger.thrift", &[], &body).await,
        202
    );
    assert_eq!(post(addr, "/api/traces", &thrift, b"\x0c\x00").await, 400);
    assert_eq!(
        post(
            addr,
            "/api/traces",
            &[("content-type", "text/plain")],
            &body
        )
        .await,
        415
    );
    assert_eq!(
        post(addr, "/api/traces", &thrift, &vec![0; 200_000]).await,
        413
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &body).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let gzip = [
        ("content-type", "application/x-thrift"),
        ("content-encoding", "gzip"),
    ];
    assert_eq!(post(addr, "/api/traces", &gzip, &gz).await, 202);
    h.wait_spans(9).await;
    h.sink.refuse.store(true, Ordering::Relaxed);
    assert_eq!(post(addr, "/api/traces", &thrift, &body).await, 429);
    h.stop(running).await;
}

#[tokio::test]
async fn grpc_post_spans() {
    let h = Harness::new();
    let running = JaegerGrpcConfig {
        endpoint: localhost(),
        ..Default::default()
    }
    .build(h.ctx())
    .await
    .expect("start");
    let mut client = api_v2::collector_service_client::CollectorServiceClient::connect(format!(
        "http://{}",
        running.local_addr
    ))
    .await
    .expect("connect");
    let span = api_v2::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        operation_name: "op".into(),
        ..Default::default()
    };
    let batch = api_v2::Batch {
        spans: vec![span.clone()],
        process: Some(api_v2::Process {
            service_name: "grpc-svc".into(),
            tags: vec![],
        }),
    };
    client
        .post_spans(api_v2::PostSpansRequest { batch: Some(batch) })
        .await
        .expect("post");
    h.wait_spans(1).await;
    let bad = api_v2::Batch {
        spans: vec![api_v2::Span {
            trace_id: vec![1; 3 * 8],
            ..span
        }],
        process: None,
    };
    let status = client
        .post_spans(api_v2::PostSpansRequest { batch: Some(bad) })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    h.stop(running).await;
}
