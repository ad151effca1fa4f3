//! Query-string parsing for the Jaeger search API.

use std::time::{SystemTime, UNIX_EPOCH};

use spoor_model::TraceId;
use spoor_query::TraceQuery;

use crate::duration::parse_go_duration;
use crate::error::ApiError;

/// Jaeger's default window when neither `start` nor `lookback` is given: two days.
const DEFAULT_LOOKBACK_NANOS: u64 = 2 * 24 * 3600 * 1_000_000_000;
/// Jaeger's default number of traces.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `limit` honoured; larger ones are capped (as the query layer caps every search).
pub const MAX_LIMIT: usize = spoor_query::MAX_SEARCH_LIMIT;

/// The decoded pairs of a query string, repeated keys kept.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first of `names` that is present: api_v3 parameters have a JSON
    /// (camelCase) name and a proto (snake_case) name, and both are accepted.
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| self.get(name))
    }

    /// A boolean parameter (`true`/`false`/`1`/`0`), by any of `names`.
    pub fn flag(&self, names: &[&str]) -> Result<Option<bool>, ApiError> {
        let Some(name) = names.iter().find(|n| self.get(n).is_some()) else {
            return Ok(None);
        };
        match self.get(name) {
            Some("true" | "1" | "True" | "TRUE") => Ok(Some(true)),
            Some("false" | "0" | "False" | "FALSE") => Ok(Some(false)),
            other => Err(ApiError::bad_request(format!(
                "parameter {name:?} must be true or false, got {:?}",
                other.unwrap_or_default()
            ))),
        }
    }

    /// `prettyPrint=true`: indent the JSON answer, as Jaeger's query service does.
    pub fn pretty(&self) -> bool {
        matches!(self.get("prettyPrint"), Some("true" | "1"))
    }

    /// Every non-empty value of `key`, in order.
    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Pairs whose key starts with `prefix`, the prefix removed from the key.
    pub fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|k| (k, v.as_str())))
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "parameter {key:?} must be an unsigned integer, got {v:?}"
                    ))
                })
            })
            .transpose()
    }

    pub fn duration(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| {
                parse_go_duration(v)
                    .map_err(|e| ApiError::bad_request(format!("parameter {key:?}: {e}")))
            })
            .transpose()
    }
}

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Parses a trace id from a URL, as Jaeger does (hex, up to 32 digits).
pub fn parse_trace_id(s: &str) -> Result<TraceId, ApiError> {
    let id: TraceId = s
        .parse()
        .map_err(|e| ApiError::bad_request(format!("malformed trace id: {e}")))?;
    if id.is_zero() {
        return Err(ApiError::bad_request(format!(
            "malformed trace id {s:?}: all zeros"
        )));
    }
    Ok(id)
}

/// The ids of `traceID=` parameters.
pub fn trace_ids(params: &Params) -> Result<Vec<TraceId>, ApiError> {
    params.all("traceID").map(parse_trace_id).collect()
}

/// Reads one `tags` value: a JSON object (`{"error":"true"}`, as the Jaeger UI sends), or, as a
/// convenience Jaeger does not offer, `key:value` pairs separated by spaces or commas
/// (`error:true http.status_code:500`).
fn parse_tags(tags: &str, attributes: &mut Vec<(String, String)>) -> Result<(), ApiError> {
    if !tags.trim_start().starts_with('{') {
        for pair in tags.split(|c: char| c == ',' || c.is_whitespace()) {
            if pair.is_empty() {
                continue;
            }
            match pair.split_once(':') {
                Some((k, v)) if !k.is_empty() => attributes.push((k.to_string(), v.to_string())),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "malformed 'tags' parameter {tags:?}: expected a JSON object or key:value pairs, got {pair:?}"
                    )));
                }
            }
        }
        return Ok(());
    }
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(tags)
        .map_err(|e| ApiError::bad_request(format!("malformed 'tags' parameter {tags:?}: {e}")))?;
    for (k, v) in map {
        let value = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "malformed 'tags' parameter: value of {k:?} is {other}"
                )));
            }
        };
        attributes.push((k, value));
    }
    Ok(())
}

/// Builds a search from Jaeger's `/api/traces` parameters: `service` (optional: all services),
/// `operation`, `tags` (JSON object, or `key:value` pairs) and repeated `tag=key:value`, `start`/`end` (µs), `lookback` (Go duration or
/// `custom`), `minDuration`/`maxDuration` (Go durations), `limit`.
pub fn trace_query(params: &Params) -> Result<TraceQuery, ApiError> {
    // Unlike Jaeger, a search across all services is allowed; an operation needs its service.
    let service = params.get("service").map(str::to_string);
    if service.is_none() && params.get("operation").is_some() {
        return Err(ApiError::bad_request(
            "parameter 'service' is required with 'operation'",
        ));
    }
    let mut attributes = Vec::new();
    for tags in params.all("tags") {
        parse_tags(tags, &mut attributes)?;
    }
    for tag in params.all("tag") {
        let Some((k, v)) = tag.split_once(':') else {
            return Err(ApiError::bad_request(format!(
                "malformed 'tag' parameter {tag:?}: expected key:value"
            )));
        };
        attributes.push((k.to_string(), v.to_string()));
    }
    let end = match params.u64("end")? {
        Some(us) => us.saturating_mul(1000),
        None => now_nanos(),
    };
    let start = match params.u64("start")? {
        Some(us) => us.saturating_mul(1000),
        None => {
            let lookback = match params.get("lookback") {
                Some("custom") | None => DEFAULT_LOOKBACK_NANOS,
                Some(_) => params
                    .duration("lookback")?
                    .unwrap_or(DEFAULT_LOOKBACK_NANOS),
            };
            end.saturating_sub(lookback)
        }
    };
    if start > end {
        return Err(ApiError::bad_request(
            "parameter 'start' must not be after 'end'",
        ));
    }
    let duration_min = params.duration("minDuration")?;
    let duration_max = params.duration("maxDuration")?;
    if let (Some(min), Some(max)) = (duration_min, duration_max)
        && min > max
    {
        return Err(ApiError::bad_request(
            "'minDuration' must not be greater than 'maxDuration'",
        ));
    }
    let limit = match params.u64("limit")? {
        Some(0) | None => DEFAULT_LIMIT,
        Some(n) => (n as usize).min(MAX_LIMIT),
    };
    Ok(TraceQuery {
        service,
        operation: params.get("operation").map(str::to_string),
        attributes,
        start_min: Some(start),
        start_max: Some(end),
        duration_min,
        duration_max,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<TraceQuery, ApiError> {
        trace_query(&Params::parse(Some(s)))
    }

    #[test]
    fn parses_a_full_search() {
        let query = q("service=svc&operation=GET%20%2F&tags=%7B%22error%22%3A%22true%22%2C%22n%22%3A5%7D&tag=http.method:GET&start=1000&end=2000&minDuration=1.5ms&maxDuration=1s&limit=7")
            .expect("valid");
        assert_eq!(query.service.as_deref(), Some("svc"));
        assert_eq!(query.operation.as_deref(), Some("GET /"));
        assert_eq!(
            query.attributes,
            vec![
                ("error".to_string(), "true".to_string()),
                ("n".to_string(), "5".to_string()),
                ("http.method".to_string(), "GET".to_string())
            ]
        );
        assert_eq!(query.start_min, Some(1_000_000));
        assert_eq!(query.start_max, Some(2_000_000));
        assert_eq!(query.duration_min, Some(1_500_000));
        assert_eq!(query.limit, 7);
    }

    #[test]
    fn reads_key_value_tags() {
        let query = q("service=svc&tags=error:true").expect("valid");
        assert_eq!(query.attributes, vec![("error".into(), "true".into())]);
        let query = q("service=svc&tags=http.status_code:500,%20error:true%20url:http://x/y")
            .expect("valid");
        assert_eq!(
            query.attributes,
            vec![
                ("http.status_code".into(), "500".into()),
                ("error".into(), "true".into()),
                ("url".into(), "http://x/y".into())
            ]
        );
        let json = q("service=svc&tags=%7B%22error%22%3Atrue%7D").expect("valid");
        assert_eq!(json.attributes, vec![("error".into(), "true".into())]);
    }

    #[test]
    fn applies_lookback_and_defaults() {
        let query = q("service=svc&end=7200000000&lookback=1h").expect("valid");
        assert_eq!(query.start_min, Some(3_600_000_000_000));
        assert_eq!(query.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn rejects_bad_parameters() {
        for bad in [
            "operation=x",
            "service=s&minDuration=abc",
            "service=s&tags=notjson",
            "service=s&tags=%7B",
            "service=s&tags=a:1,:2",
            "service=s&tag=nocolon",
            "service=s&limit=-1",
            "service=s&start=5&end=1",
            "service=s&minDuration=2s&maxDuration=1s",
        ] {
            let err = q(bad).expect_err(bad);
            assert_eq!(err.kind, spoor_model::ErrorKind::InvalidInput, "{bad}");
        }
        assert!(parse_trace_id("zz").is_err());
        assert!(parse_trace_id("0").is_err());
        assert!(parse_trace_id("abc").is_ok());
    }
}
