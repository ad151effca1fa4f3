//! Timing trace-by-id and search queries against the Jaeger HTTP API, and (Spoor only) the
//! same searches written in TraceQL against the Tempo API: both compile to the query layer's
//! one plan, so their latencies should stay within about 10 % of each other.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spoor_loadgen::SERVICES;

use crate::http::{HttpClient, encode};
use crate::report::QueryStats;

const WINDOW: &str = "lookback=1h&limit=20";

/// The URL of the k-th query of a kind.
type UrlFn = fn(usize) -> String;

/// Runs `queries` of each kind, one after another on one connection; with `tempo`, each search
/// kind is also timed as TraceQL (`traceql …`), alternating with its Jaeger form query by query.
pub(crate) async fn run_all(
    addr: SocketAddr,
    tempo: Option<SocketAddr>,
    trace_ids: &[String],
    queries: usize,
) -> Vec<QueryStats> {
    let mut client = HttpClient::new(addr, Duration::from_secs(30));
    let mut out = Vec::new();
    if !trace_ids.is_empty() {
        let step = (trace_ids.len() / queries.max(1)).max(1);
        let urls: Vec<String> = trace_ids
            .iter()
            .step_by(step)
            .take(queries)
            .map(|id| format!("/api/traces/{id}"))
            .collect();
        out.push(time_queries(&mut client, "trace by id", &urls, count_spans).await);
    }
    let kinds: [(&str, UrlFn); 5] = [
        ("search service", |k| {
            format!("/api/traces?service={}&{WINDOW}", encode(service(k)))
        }),
        ("search service+operation", |k| {
            let s = &SERVICES[k % SERVICES.len()];
            let op = s.operations[(k / SERVICES.len()) % s.operations.len()].name;
            format!(
                "/api/traces?service={}&operation={}&{WINDOW}",
                encode(s.name),
                encode(op)
            )
        }),
        ("search service+attribute", |k| {
            format!(
                "/api/traces?service={}&tags={}&{WINDOW}",
                encode(service(k)),
                encode(&format!("{{\"tenant.id\":\"t{:03}\"}}", k % 10))
            )
        }),
        ("search attribute only", |k| {
            format!(
                "/api/traces?tags={}&{WINDOW}",
                encode(&format!("{{\"tenant.id\":\"t{:03}\"}}", k % 10))
            )
        }),
        ("search min duration", |k| {
            format!(
                "/api/traces?service={}&minDuration=100ms&{WINDOW}",
                encode(service(k))
            )
        }),
    ];
    // The UI's window as explicit microseconds too: Jaeger ignores `lookback` on /api/traces
    // (its default window is longer), and the UI sends both.
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let start = end.saturating_sub(3_600_000_000);
    let traceql: [UrlFn; 5] = [
        |k| traceql(&format!("resource.service.name = {:?}", service(k))),
        |k| {
            let s = &SERVICES[k % SERVICES.len()];
            let op = s.operations[(k / SERVICES.len()) % s.operations.len()].name;
            traceql(&format!(
                "resource.service.name = {:?} && name = {op:?}",
                s.name
            ))
        },
        |k| {
            traceql(&format!(
                "resource.service.name = {:?} && .tenant.id = \"t{:03}\"",
                service(k),
                k % 10
            ))
        },
        |k| traceql(&format!(".tenant.id = \"t{:03}\"", k % 10)),
        |k| {
            traceql(&format!(
                "resource.service.name = {:?} && duration >= 100ms",
                service(k)
            ))
        },
    ];
    let mut tempo_client = tempo.map(|t| HttpClient::new(t, Duration::from_secs(30)));
    let (start_s, end_s) = (start / 1_000_000, end / 1_000_000 + 1);
    for ((name, url), tql) in kinds.into_iter().zip(traceql) {
        let urls: Vec<String> = (0..queries)
            .map(|k| format!("{}&start={start}&end={end}", url(k)))
            .collect();
        let Some(tc) = tempo_client.as_mut() else {
            out.push(time_queries(&mut client, name, &urls, count_traces).await);
            continue;
        };
        let tql_urls: Vec<String> = (0..queries)
            .map(|k| format!("{}&start={start_s}&end={end_s}", tql(k)))
            .collect();
        // The two forms alternate query by query, each going first every other time, so a
        // burst of load from other processes and the cache the first warms fall on both.
        let (mut jaeger, mut tempo) = (Timings::default(), Timings::default());
        for (k, (j, t)) in urls.iter().zip(&tql_urls).enumerate() {
            if k % 2 == 0 {
                jaeger.time(&mut client, j, count_traces).await;
                tempo.time(tc, t, count_tempo_traces).await;
            } else {
                tempo.time(tc, t, count_tempo_traces).await;
                jaeger.time(&mut client, j, count_traces).await;
            }
        }
        out.push(jaeger.stats(name));
        out.push(tempo.stats(&name.replacen("search", "traceql", 1)));
    }
    out
}

/// A Tempo search for the spans `{ cond }`, 20 traces as the Jaeger form asks.
fn traceql(cond: &str) -> String {
    format!(
        "/api/search?limit=20&spss=3&q={}",
        encode(&format!("{{ {cond} }}"))
    )
}

/// Traces in a Tempo search answer (`{"traces": [...]}`).
fn count_tempo_traces(body: &serde_json::Value) -> usize {
    body.get("traces")
        .and_then(|d| d.as_array())
        .map_or(0, |d| d.len())
}

fn service(k: usize) -> &'static str {
    SERVICES[k % SERVICES.len()].name
}

/// Traces in a Jaeger `{"data": [...]}` answer.
fn count_traces(body: &serde_json::Value) -> usize {
    body.get("data")
        .and_then(|d| d.as_array())
        .map_or(0, |d| d.len())
}

/// Spans of the first trace in a Jaeger answer.
fn count_spans(body: &serde_json::Value) -> usize {
    body.get("data")
        .and_then(|d| d.get(0))
        .and_then(|t| t.get("spans"))
        .and_then(|s| s.as_array())
        .map_or(0, |s| s.len())
}

async fn time_queries(
    client: &mut HttpClient,
    name: &str,
    urls: &[String],
    results: fn(&serde_json::Value) -> usize,
) -> QueryStats {
    let mut timings = Timings::default();
    for url in urls {
        timings.time(client, url, results).await;
    }
    timings.stats(name)
}

/// Latencies and outcomes of one kind's queries, as they are timed.
#[derive(Default)]
struct Timings {
    latencies: Vec<f64>,
    errors: BTreeMap<u16, usize>,
    first_error: Option<String>,
    example: Option<String>,
    ok: usize,
    total_results: usize,
}

impl Timings {
    async fn time(
        &mut self,
        client: &mut HttpClient,
        url: &str,
        results: fn(&serde_json::Value) -> usize,
    ) {
        self.example.get_or_insert_with(|| url.to_string());
        let start = Instant::now();
        let answer = client.get(url).await;
        self.latencies.push(start.elapsed().as_secs_f64() * 1000.0);
        match answer {
            Ok((200, body)) => {
                self.ok += 1;
                self.total_results += serde_json::from_slice::<serde_json::Value>(&body)
                    .map(|v| results(&v))
                    .unwrap_or(0);
            }
            Ok((status, body)) => {
                *self.errors.entry(status).or_default() += 1;
                self.first_error.get_or_insert_with(|| {
                    let text = String::from_utf8_lossy(&body);
                    format!(
                        "{url}: {status} {}",
                        text.chars().take(200).collect::<String>()
                    )
                });
            }
            Err(e) => {
                *self.errors.entry(0).or_default() += 1;
                self.first_error.get_or_insert(format!("{url}: {e}"));
            }
        }
    }

    fn stats(mut self, name: &str) -> QueryStats {
        let latencies = &mut self.latencies;
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies[((latencies.len() - 1) as f64 * p).round() as usize]
            }
        };
        QueryStats {
            name: name.to_string(),
            example: self.example.unwrap_or_default(),
            queries: latencies.len(),
            ok: self.ok,
            errors: self.errors,
            first_error: self.first_error,
            mean_results: if self.ok > 0 {
                self.total_results as f64 / self.ok as f64
            } else {
                0.0
            },
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
        }
    }
}
