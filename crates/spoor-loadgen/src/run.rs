//! Sending the workload over OTLP gRPC: a generator thread encodes whole-trace requests ahead of
//! the senders, `concurrency` senders pipeline them over a few HTTP/2 connections, and every
//! acknowledgement is counted (and its trace ids optionally logged).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use serde::Serialize;
use tokio::sync::mpsc;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use crate::codec::PreEncodedCodec;
use crate::replay::{Patches, salts};
use crate::summary::{Summary, summarize};
use crate::workload::{TimeSource, Workload};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Arguments of `spoor loadgen`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct LoadgenArgs {
    /// OTLP gRPC endpoint to send to (`host:port` or `http://host:port`).
    #[arg(
        long = "otlp-grpc",
        env = "SPOOR_LOADGEN_OTLP_GRPC",
        default_value = "127.0.0.1:4317"
    )]
    pub otlp_grpc: String,
    /// Target spans per second; unlimited when absent.
    #[arg(long, env = "SPOOR_LOADGEN_RATE")]
    pub rate: Option<u64>,
    /// How long to send (e.g. `60s`, `5m`); 60 s when neither this nor `--spans` is given.
    #[arg(long, env = "SPOOR_LOADGEN_DURATION", value_parser = humantime::parse_duration)]
    #[serde(with = "secs_opt")]
    pub duration: Option<Duration>,
    /// How many spans to send (rounded up to whole traces); stops at whichever of this and
    /// `--duration` comes first.
    #[arg(long, env = "SPOOR_LOADGEN_SPANS")]
    pub spans: Option<u64>,
    /// Seed of the workload: the same seed sends the same traces.
    #[arg(long, env = "SPOOR_LOADGEN_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Requests in flight at once.
    #[arg(long, env = "SPOOR_LOADGEN_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,
    /// HTTP/2 connections the requests are spread over.
    #[arg(long, env = "SPOOR_LOADGEN_CONNECTIONS", default_value_t = 2)]
    pub connections: usize,
    /// Spans per request (whole traces, so a request may hold a few more).
    #[arg(long, env = "SPOOR_LOADGEN_BATCH_SPANS", default_value_t = 1000)]
    pub batch_spans: usize,
    /// Request compression: none, gzip or zstd.
    #[arg(long, env = "SPOOR_LOADGEN_COMPRESSION", default_value = "none")]
    pub compression: String,
    /// Append the hex id of every trace whose request was acknowledged to this file.
    #[arg(long, env = "SPOOR_LOADGEN_ACK_LOG")]
    pub ack_log: Option<PathBuf>,
    /// Requests generated before sending starts and then replayed with fresh trace/span ids and
    /// timestamps, so sending costs a copy instead of generating and encoding. 0 generates
    /// every request fresh on a separate thread (~180k spans/s on one core here).
    #[arg(long, env = "SPOOR_LOADGEN_POOL", default_value_t = 256)]
    pub pool: usize,
    /// Use the fixed time origin (2026-01-01) instead of the wall clock for span timestamps.
    #[arg(long)]
    pub fixed_time: bool,
    /// Times a request refused with RESOURCE_EXHAUSTED or UNAVAILABLE is sent again, after an
    /// exponential back-off from 50 ms to 2 s (as OTel exporters do); 0 never retries.
    #[arg(long, env = "SPOOR_LOADGEN_RETRIES", default_value_t = 0)]
    pub retries: u32,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for LoadgenArgs {
    fn default() -> Self {
        Self {
            otlp_grpc: "127.0.0.1:4317".into(),
            rate: None,
            duration: None,
            spans: None,
            seed: 1,
            concurrency: 8,
            connections: 2,
            batch_spans: 1000,
            compression: "none".into(),
            ack_log: None,
            pool: 256,
            fixed_time: false,
            retries: 0,
            timeout: Duration::from_secs(30),
            quiet: true,
        }
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod secs_opt {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// Why a load run could not start or finish. Failed requests are not errors: they are counted
/// in the [`Summary`].
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error("invalid arguments: {0}")]
    Args(String),
    #[error("invalid OTLP gRPC endpoint {0:?}: {1}")]
    Endpoint(String, String),
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("cannot write ack log {path}: {source}")]
    AckLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a load generator task failed: {0}")]
    Task(String),
}

/// One encoded request ready to send.
struct Prepared {
    body: Bytes,
    spans: u64,
    ids: Vec<[u8; 16]>,
}

/// A pooled request and where to patch it for replay.
struct Template {
    prepared: Prepared,
    patches: Patches,
}

/// Where requests come from.
enum Source {
    /// A generator thread, fresh requests through a channel.
    Fresh(tokio::sync::Mutex<mpsc::Receiver<Prepared>>),
    /// A pool replayed round after round.
    Pool {
        templates: Vec<Template>,
        next: AtomicU64,
        /// Wall-clock time the pool was generated at; `None` on the fixed clock.
        generated_at_ns: Option<u64>,
        seed: u64,
    },
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests_sent: AtomicU64,
    pub(crate) requests_acked: AtomicU64,
    pub(crate) requests_failed: AtomicU64,
    pub(crate) requests_retried: AtomicU64,
    pub(crate) traces_sent: AtomicU64,
    pub(crate) traces_acked: AtomicU64,
    pub(crate) spans_sent: AtomicU64,
    pub(crate) spans_acked: AtomicU64,
    pub(crate) spans_rejected: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
}

pub(crate) struct Shared {
    source: Source,
    limit: Option<u64>,
    scheduled_spans: AtomicU64,
    start: Instant,
    deadline: Option<Instant>,
    rate: Option<f64>,
    stop: Arc<AtomicBool>,
    pub(crate) counters: Counters,
    ack_log: Option<Mutex<BufWriter<File>>>,
    ack_log_error: Mutex<Option<std::io::Error>>,
    timeout: Duration,
    retries: u32,
    compression: Option<CompressionEncoding>,
}

pub(crate) struct WorkerResult {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) first_error: Option<String>,
    pub(crate) generator_wait: Duration,
}

/// Sends the standard workload as `args` say and waits for every answer.
pub async fn run(args: LoadgenArgs) -> Result<Summary, LoadgenError> {
    let args = validate(args)?;
    let compression = match args.compression.as_str() {
        "none" => None,
        "gzip" => Some(CompressionEncoding::Gzip),
        "zstd" => Some(CompressionEncoding::Zstd),
        other => return Err(LoadgenError::Args(format!("unknown compression {other:?}"))),
    };
    let channels = connect(&args).await?;
    let ack_log = match &args.ack_log {
        None => None,
        Some(path) => {
            let file = File::options()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LoadgenError::AckLog {
                    path: path.clone(),
                    source,
                })?;
            Some(Mutex::new(BufWriter::new(file)))
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let time = if args.fixed_time {
        TimeSource::Fixed {
            origin_unix_nanos: crate::workload::DEFAULT_ORIGIN_UNIX_NANOS,
            step_nanos: 1_000_000,
        }
    } else {
        TimeSource::Wall
    };
    let mut generator = None;
    let source = if args.pool > 0 {
        let gen_stop = stop.clone();
        let (seed, batch, pool, limit) = (args.seed, args.batch_spans, args.pool, args.spans);
        let templates = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            generate(seed, batch, limit, time, &gen_stop, |p| {
                let patches = Patches::find(&p.body).unwrap_or_default();
                all.push(Template {
                    prepared: p,
                    patches,
                });
                all.len() < pool
            });
            all
        })
        .await
        .map_err(|e| LoadgenError::Task(e.to_string()))?;
        // Shifting by (send time − this) keeps every timestamp at or before its send time.
        let generated_at_ns = (!args.fixed_time).then(now_ns);
        Source::Pool {
            templates,
            next: AtomicU64::new(0),
            generated_at_ns,
            seed: args.seed,
        }
    } else {
        let (tx, rx) = mpsc::channel::<Prepared>(args.concurrency * 2 + 4);
        let gen_stop = stop.clone();
        let (seed, batch, limit) = (args.seed, args.batch_spans, args.spans);
        generator = Some(tokio::task::spawn_blocking(move || {
            generate(seed, batch, limit, time, &gen_stop, |p| {
                tx.blocking_send(p).is_ok()
            });
        }));
        Source::Fresh(tokio::sync::Mutex::new(rx))
    };

    let start = Instant::now();
    let shared = Arc::new(Shared {
        source,
        limit: args.spans,
        scheduled_spans: AtomicU64::new(0),
        start,
        deadline: args.duration.map(|d| start + d),
        rate: args.rate.map(|r| r as f64),
        stop: stop.clone(),
        counters: Counters::default(),
        ack_log,
        ack_log_error: Mutex::new(None),
        timeout: args.timeout,
        retries: args.retries,
        compression,
    });
    let progress = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| spawn_progress(shared.clone(), &args));
    let mut workers = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let channel = channels[i % channels.len()].clone();
        workers.push(tokio::spawn(worker(shared.clone(), channel)));
    }
    let mut results = Vec::with_capacity(workers.len());
    for w in workers {
        results.push(w.await.map_err(|e| LoadgenError::Task(e.to_string()))?);
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    // Unblock a generator waiting on a full channel, then let it finish.
    if let Source::Fresh(rx) = &shared.source {
        rx.lock().await.close();
    }
    if let Some(g) = generator {
        g.abort();
    }
    if let Some((task, bar)) = progress {
        task.abort();
        bar.finish();
    }
    finish_ack_log(&shared, &args)?;
    Ok(summarize(&args, &shared, results, elapsed))
}

fn validate(mut args: LoadgenArgs) -> Result<LoadgenArgs, LoadgenError> {
    if args.duration.is_none() && args.spans.is_none() {
        args.duration = Some(Duration::from_secs(60));
    }
    if args.concurrency == 0 || args.connections == 0 || args.batch_spans == 0 {
        return Err(LoadgenError::Args(
            "--concurrency, --connections and --batch-spans must be at least 1".into(),
        ));
    }
    if args.rate == Some(0) {
        return Err(LoadgenError::Args("--rate must be at least 1".into()));
    }
    Ok(args)
}

async fn connect(args: &LoadgenArgs) -> Result<Vec<Channel>, LoadgenError> {
    let uri = if args.otlp_grpc.contains("://") {
        args.otlp_grpc.clone()
    } else {
        format!("http://{}", args.otlp_grpc)
    };
    let endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| LoadgenError::Endpoint(args.otlp_grpc.clone(), e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .initial_connection_window_size(Some(8 << 20))
        .initial_stream_window_size(Some(4 << 20));
    let mut channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections.min(args.concurrency) {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| LoadgenError::Connect {
                addr: uri.clone(),
                message: error_chain(&e),
            })?;
        channels.push(channel);
    }
    Ok(channels)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Runs on a blocking thread: generates and encodes requests until the limit, the stop flag or
/// a closed channel.
fn generate(
    seed: u64,
    batch_spans: usize,
    limit: Option<u64>,
    time: TimeSource,
    stop: &AtomicBool,
    mut sink: impl FnMut(Prepared) -> bool,
) {
    let mut workload = Workload::new(seed).with_time(time);
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let want = match limit {
            Some(l) if total >= l => break,
            Some(l) => (l - total).min(batch_spans as u64) as usize,
            None => batch_spans,
        };
        let (request, spans, ids) = workload.next_batch(want);
        total += spans as u64;
        let prepared = Prepared {
            body: Bytes::from(request.encode_to_vec()),
            spans: spans as u64,
            ids,
        };
        if !sink(prepared) {
            break;
        }
    }
}

async fn worker(shared: Arc<Shared>, channel: Channel) -> WorkerResult {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Some(c) = shared.compression {
        grpc = grpc.send_compressed(c);
    }
    let mut result = WorkerResult {
        latencies_us: Vec::new(),
        errors: BTreeMap::new(),
        first_error: None,
        generator_wait: Duration::ZERO,
    };
    let c = &shared.counters;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let Some((item, due)) = next_request(&shared, &mut result.generator_wait).await else {
            break;
        };
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
        }
        if shared.deadline.is_some_and(|d| Instant::now() >= d) {
            shared.stop.store(true, Ordering::Relaxed);
            break;
        }
        c.requests_sent.fetch_add(1, Ordering::Relaxed);
        c.spans_sent.fetch_add(item.spans, Ordering::Relaxed);
        c.traces_sent
            .fetch_add(item.ids.len() as u64, Ordering::Relaxed);
        c.bytes_sent
            .fetch_add(item.body.len() as u64, Ordering::Relaxed);
        let mut attempt = 0;
        let outcome = loop {
            let sent = Instant::now();
            let outcome = send(&mut grpc, item.body.clone(), shared.timeout).await;
            result
                .latencies_us
                .push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            match outcome {
                Err(status) if attempt < shared.retries && retryable(&status, &shared) => {
                    attempt += 1;
                    c.requests_retried.fetch_add(1, Ordering::Relaxed);
                    // 50 ms, 100 ms, … capped at 2 s: what the server's back-off asks of clients.
                    let backoff =
                        Duration::from_millis(50u64 << attempt.min(6)).min(Duration::from_secs(2));
                    tokio::time::sleep(backoff).await;
                }
                other => break other,
            }
        };
        match outcome {
            Ok(rejected) => {
                c.requests_acked.fetch_add(1, Ordering::Relaxed);
                c.traces_acked
                    .fetch_add(item.ids.len() as u64, Ordering::Relaxed);
                c.spans_acked
                    .fetch_add(item.spans.saturating_sub(rejected), Ordering::Relaxed);
                c.spans_rejected.fetch_add(rejected, Ordering::Relaxed);
                log_acked(&shared, &item.ids);
            }
            Err(status) => {
                c.requests_failed.fetch_add(1, Ordering::Relaxed);
                *result
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                result
                    .first_error
                    .get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
            }
        }
    }
    result
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The next request to send and when (under `--rate`); `None` when the run is over.
async fn next_request(shared: &Shared, wait: &mut Duration) -> Option<(Prepared, Option<Instant>)> {
    let due = |before: u64| {
        shared
            .rate
            .map(|rate| shared.start + Duration::from_secs_f64(before as f64 / rate))
    };
    match &shared.source {
        Source::Fresh(rx) => {
            let mut rx = rx.lock().await;
            let waited = Instant::now();
            let item = rx.recv().await?;
            *wait += waited.elapsed();
            let before = shared
                .scheduled_spans
                .fetch_add(item.spans, Ordering::Relaxed);
            Some((item, due(before)))
        }
        Source::Pool {
            templates,
            next,
            generated_at_ns,
            seed,
        } => {
            if templates.is_empty() {
                return None;
            }
            let k = next.fetch_add(1, Ordering::Relaxed);
            let n = templates.len() as u64;
            let t = &templates[(k % n) as usize];
            let before = shared
                .scheduled_spans
                .fetch_add(t.prepared.spans, Ordering::Relaxed);
            if shared.limit.is_some_and(|l| before >= l) {
                return None;
            }
            let round = k / n;
            let (trace_salt, span_salt) = salts(*seed, round);
            let shift = generated_at_ns
                .map(|g| i64::try_from(now_ns().saturating_sub(g)).unwrap_or(0))
                .unwrap_or(0);
            let body = if round == 0 && shift == 0 {
                t.prepared.body.clone()
            } else {
                let mut copy = t.prepared.body.to_vec();
                t.patches.apply(&mut copy, &trace_salt, &span_salt, shift);
                Bytes::from(copy)
            };
            let ids = t
                .prepared
                .ids
                .iter()
                .map(|id| {
                    let mut out = *id;
                    for (o, s) in out.iter_mut().zip(trace_salt) {
                        *o ^= s;
                    }
                    out
                })
                .collect();
            Some((
                Prepared {
                    body,
                    spans: t.prepared.spans,
                    ids,
                },
                due(before),
            ))
        }
    }
}

/// Whether a failed request is worth sending again: the server asked for back-off or was
/// unreachable, and a `--duration` run has not ended.
fn retryable(status: &tonic::Status, shared: &Shared) -> bool {
    matches!(
        status.code(),
        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
    ) && shared.deadline.is_none_or(|d| Instant::now() < d)
}

/// One export; the number of spans the server reported as rejected.
async fn send(
    grpc: &mut tonic::client::Grpc<Channel>,
    body: Bytes,
    timeout: Duration,
) -> Result<u64, tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(error_chain(&e)))?;
    let mut request = tonic::Request::new(body);
    request.set_timeout(timeout);
    let response = tokio::time::timeout(
        timeout + Duration::from_secs(1),
        grpc.unary(
            request,
            PathAndQuery::from_static(EXPORT_PATH),
            PreEncodedCodec,
        ),
    )
    .await
    .map_err(|_| tonic::Status::deadline_exceeded("no answer in time"))??;
    Ok(response
        .into_inner()
        .partial_success
        .map(|p| p.rejected_spans.max(0) as u64)
        .unwrap_or(0))
}

fn log_acked(shared: &Shared, ids: &[[u8; 16]]) {
    let Some(log) = &shared.ack_log else { return };
    let Ok(mut w) = log.lock() else { return };
    let mut result = Ok(());
    for id in ids {
        let mut line = [0u8; 33];
        for (j, b) in id.iter().enumerate() {
            line[2 * j] = HEX[usize::from(b >> 4)];
            line[2 * j + 1] = HEX[usize::from(b & 15)];
        }
        line[32] = b'\n';
        result = result.and_then(|()| w.write_all(&line));
    }
    // Flushed per request so a killed load generator still leaves every ack it saw.
    if let Err(e) = result.and_then(|()| w.flush())
        && let Ok(mut slot) = shared.ack_log_error.lock()
    {
        slot.get_or_insert(e);
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn finish_ack_log(shared: &Shared, args: &LoadgenArgs) -> Result<(), LoadgenError> {
    let (Some(log), Some(path)) = (&shared.ack_log, &args.ack_log) else {
        return Ok(());
    };
    let err = |source| LoadgenError::AckLog {
        path: path.clone(),
        source,
    };
    if let Ok(mut slot) = shared.ack_log_error.lock()
        && let Some(e) = slot.take()
    {
        return Err(err(e));
    }
    if let Ok(mut w) = log.lock() {
        w.flush().map_err(err)?;
        w.get_ref().sync_all().map_err(err)?;
    }
    Ok(())
}

fn spawn_progress(
    shared: Arc<Shared>,
    args: &LoadgenArgs,
) -> (tokio::task::JoinHandle<()>, indicatif::ProgressBar) {
    let bar = match (args.spans, args.duration) {
        (Some(n), _) => indicatif::ProgressBar::new(n),
        (None, Some(d)) => indicatif::ProgressBar::new(d.as_secs().max(1)),
        (None, None) => indicatif::ProgressBar::no_length(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    let by_spans = args.spans.is_some();
    let handle = bar.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let acked = shared.counters.spans_acked.load(Ordering::Relaxed);
            let failed = shared.counters.requests_failed.load(Ordering::Relaxed);
            let secs = shared.start.elapsed().as_secs_f64();
            bar.set_position(if by_spans { acked } else { secs as u64 });
            bar.set_message(format!(
                "{acked} spans acked, {:.0} spans/s, {failed} failed requests",
                acked as f64 / secs.max(1e-9)
            ));
        }
    });
    (task, handle)
}
