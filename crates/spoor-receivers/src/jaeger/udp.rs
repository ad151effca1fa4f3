//! Jaeger agent UDP listeners: one `Agent.emitBatch` message per datagram, thrift compact on
//! 6831 or thrift binary on 6832.
//!
//! A reader task only receives datagrams and queues them (bounded); decoder tasks decode,
//! translate and hand batches to the sink. A burst therefore lands first in the enlarged socket
//! receive buffer, then in the queue; a datagram that finds the queue full is dropped and
//! counted (`dropped` spans, `request_errors{reason="queue_full"}`), never lost silently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use serde::Deserialize;
use spoor_telemetry::ReceiverMetrics;
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};

use super::model::batch_to_otlp;
use super::thrift::decode_agent_message;
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::ingest::{WarnLimiter, deliver};
use crate::thrift::{Protocol, Reader, TType};

/// Largest datagram accepted (the Jaeger clients' limit is 65000 bytes).
pub const MAX_DATAGRAM_BYTES: usize = 65_000;

macro_rules! udp_config {
    ($name:ident, $label:literal, $port:literal, $protocol:expr, $transport:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            pub endpoint: SocketAddr,
            /// Datagrams held between the socket reader and the decoders.
            pub queue_size: usize,
            /// Bytes held in that queue, at most (bounds memory whatever the datagram size).
            pub queue_bytes: usize,
            /// Requested `SO_RCVBUF`; the kernel may grant less (capped by `net.core.rmem_max`).
            pub socket_buffer_size: usize,
            /// Decoder tasks.
            pub workers: usize,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    endpoint: SocketAddr::from(([0, 0, 0, 0], $port)),
                    queue_size: 10_000,
                    queue_bytes: 64 * 1024 * 1024,
                    socket_buffer_size: 8 * 1024 * 1024,
                    workers: 2,
                }
            }
        }

        impl $name {
            pub const NAME: &'static str = $label;

            pub async fn build(
                &self,
                ctx: ReceiverContext,
            ) -> Result<RunningReceiver, ReceiverError> {
                let options = UdpOptions {
                    name: Self::NAME,
                    transport: $transport,
                    protocol: $protocol,
                    endpoint: self.endpoint,
                    queue_size: self.queue_size,
                    queue_bytes: self.queue_bytes,
                    socket_buffer_size: self.socket_buffer_size,
                    workers: self.workers,
                };
                start(options, ctx).await
            }
        }
    };
}

udp_config!(
    JaegerThriftCompactConfig,
    "jaeger-thrift-compact",
    6831,
    Protocol::Compact,
    "udp-compact",
    "Jaeger agent UDP, thrift compact protocol (`Agent.emitBatch`, 6831)."
);
udp_config!(
    JaegerThriftBinaryConfig,
    "jaeger-thrift-binary",
    6832,
    Protocol::Binary,
    "udp-binary",
    "Jaeger agent UDP, thrift binary protocol (`Agent.emitBatch`, 6832; Node's exporter)."
);

struct UdpOptions {
    name: &'static str,
    transport: &'static str,
    protocol: Protocol,
    endpoint: SocketAddr,
    queue_size: usize,
    queue_bytes: usize,
    socket_buffer_size: usize,
    workers: usize,
}

fn bind(o: &UdpOptions) -> Result<(UdpSocket, usize), std::io::Error> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(o.endpoint),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: the kernel caps the value; what it granted is reported.
    let _ = socket.set_recv_buffer_size(o.socket_buffer_size);
    socket.set_nonblocking(true)?;
    socket.bind(&o.endpoint.into())?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    let socket = UdpSocket::from_std(socket.into())?;
    Ok((socket, granted))
}

async fn start(o: UdpOptions, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
    let bind_error = |source| ReceiverError::Bind {
        name: o.name,
        addr: o.endpoint,
        source,
    };
    if o.queue_size == 0 || o.workers == 0 || o.queue_bytes < MAX_DATAGRAM_BYTES {
        return Err(ReceiverError::Config {
            name: o.name,
            detail: format!(
                "queue_size and workers must be at least 1, queue_bytes at least {MAX_DATAGRAM_BYTES}"
            ),
        });
    }
    let (socket, granted) = bind(&o).map_err(bind_error)?;
    let local_addr = socket.local_addr().map_err(bind_error)?;
    tracing::info!(
        receiver = o.name,
        requested = o.socket_buffer_size,
        granted,
        "udp receive buffer"
    );
    let metrics = ctx.telemetry.receiver("jaeger", o.transport);
    let limiter = WarnLimiter::default();
    let (tx, rx) = mpsc::channel::<Bytes>(o.queue_size);
    let rx = Arc::new(Mutex::new(rx));
    let queued = Arc::new(AtomicUsize::new(0));
    let queue = Queue {
        tx,
        queued: queued.clone(),
        limit: o.queue_bytes,
    };
    let mut workers = Vec::with_capacity(o.workers);
    for _ in 0..o.workers {
        workers.push(tokio::spawn(decode_loop(
            o.name,
            o.protocol,
            rx.clone(),
            queued.clone(),
            ctx.clone(),
            metrics.clone(),
            limiter.clone(),
        )));
    }
    let (name, protocol) = (o.name, o.protocol);
    let task = tokio::spawn(async move {
        read_loop(name, protocol, socket, queue, &ctx, &metrics, &limiter).await;
        // The sender is dropped: decoders drain what is queued, then stop.
        for w in workers {
            if let Err(e) = w.await {
                tracing::error!(receiver = name, error = %e, "udp decoder failed");
            }
        }
    });
    Ok(RunningReceiver::new(o.name, local_addr, task))
}

/// The sending side of the datagram queue, bounded in datagrams (the channel) and in bytes.
struct Queue {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl Queue {
    /// Queues a datagram, or hands it back when the queue is full.
    fn push(&self, datagram: Bytes) -> Result<(), Bytes> {
        let n = datagram.len();
        if self.queued.fetch_add(n, Ordering::AcqRel) + n > self.limit {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(datagram);
        }
        self.tx.try_send(datagram).map_err(|e| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => d,
            }
        })
    }
}

async fn read_loop(
    name: &'static str,
    protocol: Protocol,
    socket: UdpSocket,
    queue: Queue,
    ctx: &ReceiverContext,
    metrics: &ReceiverMetrics,
    limiter: &WarnLimiter,
) {
    // One byte more than the limit, to tell an oversized datagram from a full one.
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let local = socket.local_addr().ok();
    let mut kernel_drops = local.and_then(socket_drops).unwrap_or(0);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {
                // Datagrams the kernel dropped because the socket buffer was full.
                if let Some(now) = local.and_then(socket_drops) {
                    let delta = now.saturating_sub(kernel_drops);
                    kernel_drops = now;
                    for _ in 0..delta.min(1_000_000) {
                        metrics.request_error("socket_overflow", 0);
                    }
                    if delta > 0 {
                        limiter.warn(name, "socket_overflow", &format!(
                            "the kernel dropped {delta} datagrams: raise socket_buffer_size \
                             (and net.core.rmem_max) or workers"
                        ));
                    }
                }
                continue;
            }
            r = socket.recv_from(&mut buf) => r,
        };
        let n = match received {
            Ok((n, _peer)) => n,
            Err(e) => {
                // ICMP errors and the like surface here; keep listening.
                limiter.warn(name, "recv", &e);
                continue;
            }
        };
        if n > MAX_DATAGRAM_BYTES {
            metrics.request_error("too_large", n as u64);
            limiter.warn(
                name,
                "too_large",
                &format!("datagram over {MAX_DATAGRAM_BYTES} bytes"),
            );
            continue;
        }
        let datagram = Bytes::copy_from_slice(&buf[..n]);
        if let Err(datagram) = queue.push(datagram) {
            let spans = count_spans(&datagram, protocol).unwrap_or(0) as u64;
            metrics.request_error("queue_full", datagram.len() as u64);
            metrics.dropped(spans);
            limiter.warn(
                name,
                "queue_full",
                &format!("dropped a datagram of {spans} spans"),
            );
        }
    }
}

async fn decode_loop(
    name: &'static str,
    protocol: Protocol,
    rx: Arc<Mutex<mpsc::Receiver<Bytes>>>,
    queued: Arc<AtomicUsize>,
    ctx: ReceiverContext,
    metrics: ReceiverMetrics,
    limiter: WarnLimiter,
) {
    loop {
        let next = rx.lock().await.recv().await;
        let Some(datagram) = next else { return };
        queued.fetch_sub(datagram.len(), Ordering::AcqRel);
        if !ctx.memory.admit() {
            // No client to answer: the datagram is dropped undecoded and counted.
            metrics.request_error("memory_limit", datagram.len() as u64);
            limiter.warn(name, "memory_limit", &"spoor is over its memory limit");
            continue;
        }
        match decode_agent_message(&datagram, protocol) {
            Ok(batch) => {
                let otlp = batch_to_otlp(batch);
                if let Err((kind, message)) =
                    deliver(&ctx, &metrics, otlp, datagram.len() as u64, false).await
                {
                    limiter.warn(name, kind.as_str(), &message);
                }
            }
            Err(e) => {
                metrics.request_error("decode", datagram.len() as u64);
                limiter.warn(name, "decode", &e);
            }
        }
    }
}

/// The kernel's count of datagrams dropped on the UDP socket bound to `addr` (Linux:
/// `/proc/net/udp{,6}`, last column), or `None` where that is not available.
fn socket_drops(addr: SocketAddr) -> Option<u64> {
    let file = if addr.is_ipv4() {
        "/proc/net/udp"
    } else {
        "/proc/net/udp6"
    };
    let table = std::fs::read_to_string(file).ok()?;
    let port = format!(":{:04X}", addr.port());
    table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let local = cols.nth(1)?;
        if !local.ends_with(&port) {
            return None;
        }
        line.split_whitespace().last()?.parse().ok()
    })
}

/// The number of spans an `emitBatch` datagram claims, read from the list header without
/// decoding the spans (for counting drops cheaply).
pub fn count_spans(datagram: &[u8], protocol: Protocol) -> Option<usize> {
    let mut r = Reader::new(datagram, protocol);
    r.read_message_begin().ok()?;
    r.read_struct_begin().ok()?;
    while let Some((t, id)) = r.read_field_begin().ok()? {
        if id == 1 && t == TType::Struct {
            r.read_struct_begin().ok()?;
            while let Some((t, id)) = r.read_field_begin().ok()? {
                if id == 2 && t == TType::List {
                    return r.read_list_begin().ok().map(|(_, n)| n);
                }
                r.skip(t).ok()?;
            }
            return None;
        }
        r.skip(t).ok()?;
    }
    None
}
