//! The storage conformance suite: Jaeger's storage integration fixtures (OTLP JSON traces and
//! search queries with the fixtures each must return), run against any [`SpanStore`].
//!
//! Enabled by the `conformance` feature. The data lives outside the repository, in
//! `shared/conformance/jaeger/storage/` beside the project root; [`Fixtures::load`] returns
//! `Ok(None)` when it is absent so a test can print a skip message and pass.
//!
//! ```no_run
//! # async fn demo(store: &impl spoor_storage::SpanStore) {
//! use spoor_storage::conformance::Fixtures;
//! let Some(fixtures) = Fixtures::load().expect("fixtures parse") else {
//!     eprintln!("conformance data absent, skipping");
//!     return;
//! };
//! fixtures.write_all(store).await.expect("write");
//! let failures = fixtures.check_queries(store).await.expect("queries");
//! assert!(failures.is_empty(), "{failures:#?}");
//! # }
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde_json::Value;
use spoor_model::{ResourceSpans, TraceId};

use crate::{ScanRequest, SpanPredicate, SpanReader, SpanStore, SpanWriter, StorageError};

/// One fixture trace: its file stem and its spans.
#[derive(Debug, Clone)]
pub struct FixtureTrace {
    pub name: String,
    pub batch: Vec<ResourceSpans>,
    /// Distinct trace ids in the file.
    pub trace_ids: BTreeSet<TraceId>,
}

/// One search and the fixtures whose traces it must return, exactly.
#[derive(Debug, Clone)]
pub struct FixtureQuery {
    pub caption: String,
    /// The search as a scan: each of Jaeger's tags in the fixture is an attribute with that
    /// text in any scope (the fixtures use no tag Jaeger derives from span fields).
    pub query: ScanRequest,
    /// The fixture's tags as written (key, text of the value), for query layers' own tests.
    pub tags: Vec<(String, String)>,
    pub expected: Vec<String>,
}

/// All fixture traces and queries.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub traces: Vec<FixtureTrace>,
    pub queries: Vec<FixtureQuery>,
}

/// `shared/conformance/jaeger/storage` relative to the workspace root, if it exists.
pub fn storage_dir() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/jaeger/storage");
    dir.join("queries.json").is_file().then_some(dir)
}

impl Fixtures {
    /// Loads the fixtures from [`storage_dir`]; `Ok(None)` when the folder is absent.
    pub fn load() -> Result<Option<Fixtures>, String> {
        match storage_dir() {
            Some(dir) => Self::load_from(&dir).map(Some),
            None => Ok(None),
        }
    }

    /// Loads `traces/*.json` and `queries.json` from `dir`.
    pub fn load_from(dir: &Path) -> Result<Fixtures, String> {
        let mut traces = Vec::new();
        let entries = std::fs::read_dir(dir.join("traces"))
            .map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let data: TracesData = serde_json::from_str(&text)
                .map_err(|e| format!("parsing {}: {e}", path.display()))?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trace_ids = data
                .resource_spans
                .iter()
                .flat_map(|rs| rs.scope_spans.iter())
                .flat_map(|ss| ss.spans.iter())
                .filter_map(|s| TraceId::from_bytes(&s.trace_id).ok())
                .collect();
            traces.push(FixtureTrace {
                name,
                batch: data.resource_spans,
                trace_ids,
            });
        }
        let path = dir.join("queries.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let raw: Vec<Value> =
            serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
        let queries = raw.iter().map(parse_query).collect::<Result<_, _>>()?;
        Ok(Fixtures { traces, queries })
    }

    /// Writes every fixture trace, one `write` per file.
    pub async fn write_all(&self, store: &(impl SpanWriter + ?Sized)) -> Result<(), StorageError> {
        for t in &self.traces {
            store.write(t.batch.clone()).await?;
        }
        Ok(())
    }

    /// Runs every query; returns one line per query whose trace ids differ from the expected
    /// fixtures' (empty when all pass). Checks both `scan_ids` and `scan`.
    pub async fn check_queries(
        &self,
        store: &(impl SpanReader + ?Sized),
    ) -> Result<Vec<String>, StorageError> {
        let mut failures = Vec::new();
        for q in &self.queries {
            let mut expected = BTreeSet::new();
            for name in &q.expected {
                match self.traces.iter().find(|t| &t.name == name) {
                    Some(t) => expected.extend(t.trace_ids.iter().copied()),
                    None => failures.push(format!("{}: unknown fixture {name}", q.caption)),
                }
            }
            let ids: BTreeSet<TraceId> = store.scan_ids(&q.query).await?.into_iter().collect();
            if ids != expected {
                failures.push(format!(
                    "{}: scan_ids returned {ids:?}, expected {expected:?}",
                    q.caption
                ));
            }
            let traces: BTreeSet<TraceId> = store
                .scan(&q.query)
                .await?
                .into_iter()
                .map(|t| t.id)
                .collect();
            if traces != expected {
                failures.push(format!(
                    "{}: scan returned {traces:?}, expected {expected:?}",
                    q.caption
                ));
            }
        }
        Ok(failures)
    }

    /// Checks that every fixture trace comes back by id with all its spans.
    pub async fn check_get_trace(
        &self,
        store: &(impl SpanReader + ?Sized),
    ) -> Result<Vec<String>, StorageError> {
        let mut failures = Vec::new();
        for t in &self.traces {
            for id in &t.trace_ids {
                let want = count_spans(&t.batch, id);
                match store.get_trace(*id, None).await? {
                    None => failures.push(format!("{}: trace {id} not found", t.name)),
                    Some(got) => {
                        let n = count_spans(&got.resource_spans, id);
                        if n != want {
                            failures
                                .push(format!("{}: trace {id} has {n} spans, want {want}", t.name));
                        }
                    }
                }
            }
        }
        Ok(failures)
    }

    /// Writes the fixtures and runs every check; returns all failures.
    pub async fn run(
        &self,
        store: &(impl SpanStore + ?Sized),
    ) -> Result<Vec<String>, StorageError> {
        self.write_all(store).await?;
        let mut failures = self.check_queries(store).await?;
        failures.extend(self.check_get_trace(store).await?);
        Ok(failures)
    }
}

fn count_spans(batch: &[ResourceSpans], id: &TraceId) -> usize {
    batch
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .filter(|s| TraceId::from_bytes(&s.trace_id).ok().as_ref() == Some(id))
        .count()
}

fn parse_query(v: &Value) -> Result<FixtureQuery, String> {
    let caption = v["Caption"].as_str().unwrap_or_default().to_string();
    let q = &v["Query"];
    let text = |key: &str| {
        q[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let time = |key: &str| -> Result<Option<u64>, String> {
        match q[key].as_str().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_rfc3339_nanos(s)
                .map(Some)
                .ok_or_else(|| format!("{caption}: bad time {s:?} in {key}")),
        }
    };
    let duration = |key: &str| q[key].as_u64().filter(|d| *d > 0);
    let mut attributes = Vec::new();
    if let Some(tags) = q["Tags"].as_object() {
        for (k, val) in tags {
            let s = match val {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            attributes.push((k.clone(), s));
        }
    }
    let expected = v["ExpectedFixtures"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(FixtureQuery {
        query: ScanRequest {
            service: text("ServiceName"),
            span_name: text("OperationName"),
            predicates: attributes
                .iter()
                .map(|(k, v)| SpanPredicate::text_anywhere(k.clone(), v.clone()))
                .collect(),
            trace_ids: None,
            start_min: time("StartTimeMin")?,
            start_max: time("StartTimeMax")?,
            duration_min: duration("DurationMin"),
            duration_max: duration("DurationMax"),
            limit: q["NumTraces"].as_u64().unwrap_or(0) as usize,
        },
        tags: attributes,
        caption,
        expected,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` into unix nanoseconds.
pub fn parse_rfc3339_nanos(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1_000_000_000 + nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[test]
    fn parses_times() {
        assert_eq!(
            parse_rfc3339_nanos("2017-01-26T15:46:31.639875Z"),
            Some(1_485_445_591_639_875_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(parse_rfc3339_nanos("garbage"), None);
    }

    #[tokio::test]
    async fn memory_store_passes_conformance() {
        let Some(fixtures) = Fixtures::load().expect("fixtures parse") else {
            eprintln!("skipping: shared/conformance/jaeger/storage not found beside the project");
            return;
        };
        let store = MemoryStore::new(10_000);
        let failures = fixtures.run(&store).await.expect("run");
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
