//! The `pprof` extension: `GET /debug/pprof/profile?seconds=N` samples the process's CPU for N
//! seconds (SIGPROF at 100 Hz, the `pprof` crate) and answers a gzipped pprof protobuf, as Go's
//! `net/http/pprof` does, so `go tool pprof http://HOST:1777/debug/pprof/profile` works.
//! `GET /debug/pprof/heap` answers a gzipped pprof heap profile from the binary's sampling
//! allocator (`spoor_heap`, one sample per ~512 KiB allocated, turned on when this extension is
//! configured), so `go tool pprof http://HOST:1777/debug/pprof/heap` works too.

mod heap;

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

/// Sampling frequency, as Go's runtime profiler.
const HZ: i32 = 100;
/// The longest profile one request may ask for.
const MAX_SECONDS: u64 = 300;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone)]
struct PprofState {
    requests: Family<ResultLabel, Counter>,
    /// Whether the process allocates through `spoor_heap::Sampled` (heap profiles possible).
    heap: bool,
}

impl PprofState {
    fn count(&self, result: &str) {
        self.requests
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }
}

/// The extension's routes; counts requests in `spoor_pprof_requests_total{result}`. Starts
/// heap sampling.
pub fn pprof_router(telemetry: &Telemetry) -> axum::Router {
    let sampling = spoor_heap::enable(spoor_heap::DEFAULT_SAMPLE_BYTES);
    if !sampling {
        tracing::warn!(
            "pprof: the allocator does not sample allocations; /debug/pprof/heap is off"
        );
    }
    let state = PprofState {
        requests: Family::default(),
        heap: sampling,
    };
    telemetry.register(
        "pprof_requests",
        "Requests to the pprof extension by result (ok, bad_request, busy, failed, unsupported)",
        state.requests.clone(),
    );
    if sampling {
        telemetry.register(
            "heap_dropped_samples",
            "Heap samples skipped because the sampler's lock stayed taken (the allocator never waits for it)",
            HeapCounter(spoor_heap::dropped_samples),
        );
        telemetry.register(
            "heap_missed_frees",
            "Frees of sampled allocations lost because the sampler's queue of deferred frees was full",
            HeapCounter(spoor_heap::missed_frees),
        );
    }
    axum::Router::new()
        .route("/debug/pprof/", axum::routing::get(index))
        .route("/debug/pprof/profile", axum::routing::get(profile))
        .route("/debug/pprof/heap", axum::routing::get(heap))
        .with_state(state)
}

/// A counter read from `spoor_heap`'s own atomics when `/metrics` is scraped.
#[derive(Debug)]
struct HeapCounter(fn() -> u64);

impl prometheus_client::encoding::EncodeMetric for HeapCounter {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&(self.0)(), None)
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Counter
    }
}

async fn index() -> &'static str {
    "profiles:\n/debug/pprof/profile?seconds=N  CPU profile (pprof protobuf, gzipped), N from 1 to 300, default 30\n/debug/pprof/heap  heap profile (pprof protobuf, gzipped): allocations sampled every ~512 KiB since the extension started\n"
}

async fn heap(State(state): State<PprofState>) -> Response {
    if !state.heap {
        state.count("unsupported");
        return (
            StatusCode::NOT_IMPLEMENTED,
            "heap profiles are not available: this build's allocator does not sample allocations; use /debug/pprof/profile for CPU\n",
        )
            .into_response();
    }
    match tokio::task::spawn_blocking(heap::heap_profile).await {
        Ok(Ok(body)) => {
            state.count("ok");
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"heap\""),
                ],
                body,
            )
                .into_response()
        }
        Ok(Err(e)) => {
            state.count("failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("heap profile failed: {e}\n"),
            )
                .into_response()
        }
        Err(e) => {
            state.count("failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("heap profile failed: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn profile(
    State(state): State<PprofState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let seconds = match params.get("seconds").map(|s| s.parse::<u64>()) {
        None => 30,
        Some(Ok(n)) if (1..=MAX_SECONDS).contains(&n) => n,
        Some(_) => {
            state.count("bad_request");
            return (
                StatusCode::BAD_REQUEST,
                format!("seconds must be an integer from 1 to {MAX_SECONDS}\n"),
            )
                .into_response();
        }
    };
    let sampled = tokio::task::spawn_blocking(move || cpu_profile(Duration::from_secs(seconds)))
        .await
        .unwrap_or_else(|e| Err(ProfileError::Failed(e.to_string())));
    match sampled {
        Ok(body) => {
            state.count("ok");
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"profile\"",
                    ),
                ],
                body,
            )
                .into_response()
        }
        Err(ProfileError::Busy(e)) => {
            state.count("busy");
            (
                StatusCode::CONFLICT,
                format!("a CPU profile is already being taken: {e}\n"),
            )
                .into_response()
        }
        Err(ProfileError::Failed(e)) => {
            state.count("failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("profiling failed: {e}\n"),
            )
                .into_response()
        }
    }
}

enum ProfileError {
    Busy(String),
    Failed(String),
}

/// Samples for `duration` and returns the gzipped pprof protobuf.
fn cpu_profile(duration: Duration) -> Result<Vec<u8>, ProfileError> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| ProfileError::Busy(e.to_string()))?;
    std::thread::sleep(duration);
    let report = guard
        .report()
        .build()
        .map_err(|e| ProfileError::Failed(e.to_string()))?;
    drop(guard);
    let profile = encode(&report);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&prost::Message::encode_to_vec(&profile))
        .and_then(|_| gz.finish())
        .map_err(|e| ProfileError::Failed(e.to_string()))
}

/// `report` as a pprof `Profile`: samples (count) and cpu (nanoseconds), one location per
/// symbol, leaf first, the thread name as a label.
fn encode(report: &pprof::Report) -> proto::Profile {
    let mut strings = Strings::default();
    let period = 1_000_000_000 / i64::from(report.timing.frequency.max(1));
    let mut profile = proto::Profile {
        sample_type: vec![
            proto::ValueType {
                r#type: strings.id("samples"),
                unit: strings.id("count"),
            },
            proto::ValueType {
                r#type: strings.id("cpu"),
                unit: strings.id("nanoseconds"),
            },
        ],
        period_type: Some(proto::ValueType {
            r#type: strings.id("cpu"),
            unit: strings.id("nanoseconds"),
        }),
        period,
        time_nanos: report
            .timing
            .start_time
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0),
        duration_nanos: i64::try_from(report.timing.duration.as_nanos()).unwrap_or(i64::MAX),
        ..Default::default()
    };
    let thread_key = strings.id("thread");
    let mut functions: HashMap<String, u64> = HashMap::new();
    let mut locations: HashMap<(u64, i64), u64> = HashMap::new();
    for (frames, count) in &report.data {
        let mut location_id = Vec::new();
        for symbol in frames.frames.iter().flatten() {
            let name = symbol.name();
            let next_function = functions.len() as u64 + 1;
            let function_id = *functions.entry(name.clone()).or_insert_with(|| {
                let filename = symbol
                    .filename
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default();
                profile.function.push(proto::Function {
                    id: next_function,
                    name: strings.id(&name),
                    system_name: strings.id(&name),
                    filename: strings.id(&filename),
                    start_line: 0,
                });
                next_function
            });
            let line = i64::from(symbol.lineno.unwrap_or(0));
            let next_location = locations.len() as u64 + 1;
            let id = *locations.entry((function_id, line)).or_insert_with(|| {
                profile.location.push(proto::Location {
                    id: next_location,
                    line: vec![proto::Line { function_id, line }],
                    ..Default::default()
                });
                next_location
            });
            location_id.push(id);
        }
        let count = i64::try_from(*count).unwrap_or(0);
        profile.sample.push(proto::Sample {
            location_id,
            value: vec![count, count * period],
            label: vec![proto::Label {
                key: thread_key,
                str: strings.id(&frames.thread_name),
                ..Default::default()
            }],
        });
    }
    profile.string_table = strings.table;
    profile
}

/// The profile's string table: index 0 is the empty string.
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Default for Strings {
    fn default() -> Self {
        Self {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The messages of pprof's `profile.proto` that CPU and heap profiles use.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_profile_decodes_as_pprof_with_valid_references() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = stop.clone();
        let handle = std::thread::Builder::new()
            .name("spinner".into())
            .spawn(move || {
                let mut x = 0u64;
                while !spinning.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
                x
            })
            .expect("thread");
        let gz = cpu_profile(Duration::from_secs(1));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = handle.join();
        let gz = match gz {
            Ok(gz) => gz,
            Err(ProfileError::Busy(e) | ProfileError::Failed(e)) => panic!("{e}"),
        };
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw)
            .expect("gzip");
        let p = proto::Profile::decode(&raw[..]).expect("pprof protobuf");
        assert_eq!(p.string_table[0], "");
        assert_eq!(p.period, 10_000_000);
        // On a loaded machine the spinner gets little CPU: at least one sample, not ~100.
        let samples: i64 = p.sample.iter().map(|s| s.value[0]).sum();
        assert!(samples >= 1, "no samples");
        let name = |i: i64| p.string_table[i as usize].as_str();
        for s in &p.sample {
            assert_eq!(s.value[1], s.value[0] * p.period);
            for id in &s.location_id {
                let location = &p.location[*id as usize - 1];
                assert_eq!(location.id, *id);
                let function = &p.function[location.line[0].function_id as usize - 1];
                assert!(!name(function.name).is_empty());
            }
        }
    }
}
