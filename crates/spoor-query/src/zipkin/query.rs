//! Zipkin's `/api/v2/traces` search semantics (`zipkin2.storage.QueryRequest`), evaluated on a
//! trace's spans in the Zipkin model.

use std::collections::BTreeMap;

use super::ZipkinSpan;

/// A malformed Zipkin query parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipkinQueryError {
    #[error("malformed annotationQuery {0:?}: empty term")]
    EmptyTerm(String),
    #[error("malformed annotationQuery {0:?}: empty key in {1:?}")]
    EmptyKey(String, String),
}

/// `annotationQuery`: terms joined by ` and `; `key` matches a span with that tag key (any
/// value) or an annotation with that value, `key=value` a tag with that value. Keys and values
/// are compared exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnotationQuery(pub BTreeMap<String, String>);

impl AnnotationQuery {
    pub fn parse(query: &str) -> Result<Self, ZipkinQueryError> {
        let mut terms = BTreeMap::new();
        if query.trim().is_empty() {
            return Ok(Self(terms));
        }
        for term in query.split(" and ") {
            let term = term.trim();
            if term.is_empty() {
                return Err(ZipkinQueryError::EmptyTerm(query.to_string()));
            }
            let (key, value) = match term.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (term, ""),
            };
            if key.is_empty() {
                return Err(ZipkinQueryError::EmptyKey(
                    query.to_string(),
                    term.to_string(),
                ));
            }
            terms.insert(key.to_string(), value.to_string());
        }
        Ok(Self(terms))
    }
}

/// A Zipkin trace search. Service, remote service and span names compare lower-cased, as
/// Zipkin stores them; durations are microseconds, `end_ts`/`lookback` milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipkinQuery {
    pub service: Option<String>,
    pub remote_service: Option<String>,
    pub span_name: Option<String>,
    pub annotations: AnnotationQuery,
    pub min_duration: Option<u64>,
    pub max_duration: Option<u64>,
    pub end_ts: u64,
    pub lookback: u64,
    pub limit: usize,
}

/// The trace's timestamp as Zipkin takes it: its root span's, else its earliest; 0 if none.
pub fn trace_timestamp(spans: &[ZipkinSpan]) -> u64 {
    let mut ts = 0;
    for span in spans.iter().filter(|s| s.timestamp != 0) {
        if span.parent_id.is_none() {
            return span.timestamp;
        }
        if ts == 0 || span.timestamp < ts {
            ts = span.timestamp;
        }
    }
    ts
}

fn lower_eq(stored: Option<&str>, wanted: &str) -> bool {
    stored.is_some_and(|s| s.to_lowercase() == wanted)
}

impl ZipkinQuery {
    /// Whether the trace matches, as `QueryRequest.test` decides: its timestamp is in the
    /// window, and among the spans of `service` (every span when absent) one has the span name,
    /// one the remote service, one a duration in range, and each annotation term is met by one.
    pub fn matches(&self, spans: &[ZipkinSpan]) -> bool {
        let ts = trace_timestamp(spans);
        let end_us = self.end_ts.saturating_mul(1000);
        let start_us = self
            .end_ts
            .saturating_sub(self.lookback)
            .saturating_mul(1000);
        if ts == 0 || ts < start_us || ts > end_us {
            return false;
        }
        let service = self.service.as_ref().map(|s| s.to_lowercase());
        let mut span_name = self.span_name.as_ref().map(|s| s.to_lowercase());
        let mut remote = self.remote_service.as_ref().map(|s| s.to_lowercase());
        let mut service_seen = service.is_none();
        let mut duration_ok = self.min_duration.is_none() && self.max_duration.is_none();
        let mut remaining = self.annotations.0.clone();
        for span in spans {
            let local = span.local.as_ref().map(|e| e.service_name.as_str());
            if let Some(service) = &service
                && !lower_eq(local, service)
            {
                continue;
            }
            service_seen = true;
            for (_, value) in &span.annotations {
                if remaining.get(value).is_some_and(String::is_empty) {
                    remaining.remove(value);
                }
            }
            for (key, value) in &span.tags {
                if remaining
                    .get(key)
                    .is_some_and(|want| want.is_empty() || want == value)
                {
                    remaining.remove(key);
                }
            }
            if let Some(r) = &remote
                && lower_eq(span.remote.as_ref().map(|e| e.service_name.as_str()), r)
            {
                remote = None;
            }
            if let Some(n) = &span_name
                && span.name.to_lowercase() == *n
            {
                span_name = None;
            }
            if !duration_ok {
                duration_ok = self.min_duration.is_none_or(|min| span.duration >= min)
                    && self.max_duration.is_none_or(|max| span.duration <= max);
            }
        }
        service_seen
            && span_name.is_none()
            && remote.is_none()
            && remaining.is_empty()
            && duration_ok
    }
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;
    use super::*;

    fn span(service: &str, name: &str, ts: u64, duration: u64) -> ZipkinSpan {
        ZipkinSpan {
            trace_id: [1; 16],
            id: [2; 8],
            parent_id: None,
            name: name.into(),
            kind: Some("SERVER"),
            timestamp: ts,
            duration,
            local: Some(Endpoint {
                service_name: service.into(),
                ..Default::default()
            }),
            remote: None,
            annotations: vec![(ts, "wr".into())],
            tags: BTreeMap::from([
                ("http.method".into(), "GET".into()),
                ("error".into(), "true".into()),
            ]),
        }
    }

    fn query(annotations: &str) -> ZipkinQuery {
        ZipkinQuery {
            annotations: AnnotationQuery::parse(annotations).expect("valid"),
            end_ts: 2_000,
            lookback: 1_000,
            limit: 10,
            ..ZipkinQuery::default()
        }
    }

    #[test]
    fn parses_annotation_queries() {
        let q = AnnotationQuery::parse("error and http.method=GET").expect("valid");
        assert_eq!(q.0.get("error").map(String::as_str), Some(""));
        assert_eq!(q.0.get("http.method").map(String::as_str), Some("GET"));
        assert!(AnnotationQuery::parse("error and ").is_err());
        assert!(AnnotationQuery::parse("=GET").is_err());
        assert!(AnnotationQuery::parse("").expect("empty").0.is_empty());
    }

    #[test]
    fn matches_as_zipkin_does() {
        let spans = vec![span("Front", "GET /a", 1_500_000, 300)];
        assert!(query("error and http.method=GET").matches(&spans));
        assert!(query("wr").matches(&spans));
        assert!(!query("http.method=POST").matches(&spans));
        assert!(!query("missing").matches(&spans));
        let mut q = query("");
        q.service = Some("front".into());
        q.span_name = Some("get /a".into());
        assert!(q.matches(&spans));
        q.min_duration = Some(301);
        assert!(!q.matches(&spans));
        q.min_duration = Some(300);
        q.max_duration = Some(300);
        assert!(q.matches(&spans));
        q.service = Some("other".into());
        assert!(!q.matches(&spans));
        // Outside [endTs - lookback, endTs].
        assert!(!query("").matches(&[span("front", "x", 500_000, 1)]));
        assert!(!query("").matches(&[span("front", "x", 2_000_001, 1)]));
    }
}
