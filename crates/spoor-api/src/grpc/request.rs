//! Request fields shared by api_v2 and api_v3: timestamps, durations, the search, windows.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::{Duration, Timestamp};
use spoor_model::TraceId;
use spoor_query::TraceQuery;
use spoor_storage::{OperationQuery, TimeRange};

use crate::error::ApiError;

/// Default search window when `start_time_min` is absent: two days, as the HTTP API.
const DEFAULT_LOOKBACK_NANOS: u64 = 2 * 24 * 3600 * 1_000_000_000;
/// Default dependency window when `start_time` is absent: one day, as the HTTP API.
const DEFAULT_DEPENDENCY_LOOKBACK_NANOS: u64 = 24 * 3600 * 1_000_000_000;
/// Traces returned when `search_depth` is 0, as the HTTP API's default `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `search_depth` honoured, as the HTTP API's largest `limit`.
pub const MAX_LIMIT: usize = spoor_query::MAX_SEARCH_LIMIT;

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A timestamp as unix nanoseconds; `None` when absent or not after the epoch. Jaeger's Go
/// clients always send their time fields, unset ones as Go's zero time (year 1), so anything at
/// or before 1970 means "not given".
pub fn timestamp_nanos(ts: Option<&Timestamp>, field: &str) -> Result<Option<u64>, ApiError> {
    let Some(ts) = ts else { return Ok(None) };
    if ts.seconds < 0 || (ts.seconds == 0 && ts.nanos <= 0) {
        return Ok(None);
    }
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| {
            ApiError::bad_request(format!("{field}: nanos {} out of range", ts.nanos))
        })?;
    u64::try_from(ts.seconds)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|s| s.checked_add(u64::from(nanos)))
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(format!("{field}: {}s is out of range", ts.seconds)))
}

/// A duration in nanoseconds; `None` when absent or zero (Go clients send zero for "not given").
pub fn duration_nanos(d: Option<&Duration>, field: &str) -> Result<Option<u64>, ApiError> {
    let Some(d) = d else { return Ok(None) };
    if d.seconds < 0 || d.nanos < 0 {
        return Err(ApiError::bad_request(format!(
            "{field}: negative duration {}s {}ns",
            d.seconds, d.nanos
        )));
    }
    if d.nanos >= 1_000_000_000 {
        return Err(ApiError::bad_request(format!(
            "{field}: nanos {} out of range",
            d.nanos
        )));
    }
    let total = u64::try_from(d.seconds)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|s| s.checked_add(u64::try_from(d.nanos).unwrap_or(0)))
        .ok_or_else(|| ApiError::bad_request(format!("{field}: {}s is out of range", d.seconds)))?;
    Ok((total > 0).then_some(total))
}

/// Unix nanoseconds as a protobuf timestamp.
pub fn timestamp(nanos: u64) -> Timestamp {
    Timestamp {
        seconds: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos % 1_000_000_000).unwrap_or(0),
    }
}

/// Nanoseconds as a protobuf duration.
pub fn duration(nanos: u64) -> Duration {
    Duration {
        seconds: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos % 1_000_000_000).unwrap_or(0),
    }
}

/// The optional window of a get-trace request: used only when both ends are given.
pub fn trace_window(
    start: Option<&Timestamp>,
    end: Option<&Timestamp>,
) -> Result<Option<TimeRange>, ApiError> {
    match (
        timestamp_nanos(start, "start_time")?,
        timestamp_nanos(end, "end_time")?,
    ) {
        (Some(start), Some(end)) if start > end => Err(ApiError::bad_request(
            "start_time must not be after end_time",
        )),
        (Some(start), Some(end)) => Ok(Some(TimeRange { start, end })),
        _ => Ok(None),
    }
}

/// A binary trace id (api_v2): 1 to 16 bytes, big-endian, shorter ones left-padded; not all zero.
pub fn trace_id_from_bytes(bytes: &[u8]) -> Result<TraceId, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("trace_id is required"));
    }
    let id = TraceId::from_bytes(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed trace_id: {e}")))?;
    if id.is_zero() {
        return Err(ApiError::bad_request("malformed trace_id: all zeros"));
    }
    Ok(id)
}

/// A hex trace id (api_v3): up to 32 hex digits; not all zero.
pub fn trace_id_from_hex(s: &str) -> Result<TraceId, ApiError> {
    if s.is_empty() {
        return Err(ApiError::bad_request("trace_id is required"));
    }
    let id: TraceId = s
        .parse()
        .map_err(|e| ApiError::bad_request(format!("malformed trace_id: {e}")))?;
    if id.is_zero() {
        return Err(ApiError::bad_request(format!(
            "malformed trace_id {s:?}: all zeros"
        )));
    }
    Ok(id)
}

/// The fields api_v2's and api_v3's `TraceQueryParameters` share.
/// The operations query of a gRPC `GetOperations` request (api_v2 and api_v3 alike): the service is
/// required, an empty span kind means every kind.
pub fn operation_query(service: String, span_kind: String) -> Result<OperationQuery, ApiError> {
    if service.is_empty() {
        return Err(ApiError::bad_request("service is required"));
    }
    Ok(OperationQuery {
        service,
        span_kind: (!span_kind.is_empty()).then_some(span_kind),
    })
}

pub struct Search<'a> {
    pub service_name: &'a str,
    pub operation_name: &'a str,
    pub attributes: Vec<(String, String)>,
    pub start_time_min: Option<&'a Timestamp>,
    pub start_time_max: Option<&'a Timestamp>,
    pub duration_min: Option<&'a Duration>,
    pub duration_max: Option<&'a Duration>,
    pub search_depth: i32,
}

impl Search<'_> {
    /// The storage search, with the HTTP API's defaults: window ending now and two days long,
    /// 100 traces, at most 10,000.
    pub fn trace_query(self) -> Result<TraceQuery, ApiError> {
        if self.service_name.is_empty() {
            return Err(ApiError::bad_request("query.service_name is required"));
        }
        let end =
            timestamp_nanos(self.start_time_max, "query.start_time_max")?.unwrap_or_else(now_nanos);
        let start = timestamp_nanos(self.start_time_min, "query.start_time_min")?
            .unwrap_or(end.saturating_sub(DEFAULT_LOOKBACK_NANOS));
        if start > end {
            return Err(ApiError::bad_request(
                "query.start_time_min must not be after query.start_time_max",
            ));
        }
        let duration_min = duration_nanos(self.duration_min, "query.duration_min")?;
        let duration_max = duration_nanos(self.duration_max, "query.duration_max")?;
        if let (Some(min), Some(max)) = (duration_min, duration_max)
            && min > max
        {
            return Err(ApiError::bad_request(
                "query.duration_min must not be greater than query.duration_max",
            ));
        }
        let limit = match usize::try_from(self.search_depth) {
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "query.search_depth must not be negative, got {}",
                    self.search_depth
                )));
            }
            Ok(0) => DEFAULT_LIMIT,
            Ok(n) => n.min(MAX_LIMIT),
        };
        Ok(TraceQuery {
            service: Some(self.service_name.to_string()),
            operation: (!self.operation_name.is_empty()).then(|| self.operation_name.to_string()),
            attributes: self.attributes,
            start_min: Some(start),
            start_max: Some(end),
            duration_min,
            duration_max,
            limit,
        })
    }
}

/// `(end, lookback)` in nanoseconds for a dependencies request: the window ends now and is one
/// day long unless given.
pub fn dependency_window(
    start: Option<&Timestamp>,
    end: Option<&Timestamp>,
) -> Result<(u64, u64), ApiError> {
    let end = timestamp_nanos(end, "end_time")?.unwrap_or_else(now_nanos);
    let start = timestamp_nanos(start, "start_time")?
        .unwrap_or(end.saturating_sub(DEFAULT_DEPENDENCY_LOOKBACK_NANOS));
    if start > end {
        return Err(ApiError::bad_request(
            "start_time must not be after end_time",
        ));
    }
    Ok((end, end - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    #[test]
    fn timestamps_before_the_epoch_mean_absent() {
        assert_eq!(timestamp_nanos(None, "t").expect("ok"), None);
        assert_eq!(timestamp_nanos(Some(&ts(0, 0)), "t").expect("ok"), None);
        // Go's zero time, as Jaeger's Go clients send an unset field.
        let go_zero = ts(-62_135_596_800, 0);
        assert_eq!(timestamp_nanos(Some(&go_zero), "t").expect("ok"), None);
        assert_eq!(
            timestamp_nanos(Some(&ts(2, 5)), "t").expect("ok"),
            Some(2_000_000_005)
        );
        assert!(timestamp_nanos(Some(&ts(1, -1)), "t").is_err());
        assert!(timestamp_nanos(Some(&ts(1, 1_000_000_000)), "t").is_err());
        assert!(timestamp_nanos(Some(&ts(i64::MAX, 0)), "t").is_err());
        assert_eq!(timestamp(2_000_000_005), ts(2, 5));
    }

    #[test]
    fn durations_must_not_be_negative() {
        let d = |seconds, nanos| Duration { seconds, nanos };
        assert_eq!(duration_nanos(Some(&d(0, 0)), "d").expect("ok"), None);
        assert_eq!(
            duration_nanos(Some(&d(1, 500)), "d").expect("ok"),
            Some(1_000_000_500)
        );
        assert!(duration_nanos(Some(&d(-1, 0)), "d").is_err());
        assert!(duration_nanos(Some(&d(0, -1)), "d").is_err());
        assert_eq!(duration(1_000_000_500), d(1, 500));
    }

    #[test]
    fn search_defaults_follow_the_http_api() {
        let search = |search_depth| Search {
            service_name: "svc",
            operation_name: "",
            attributes: vec![],
            start_time_min: None,
            start_time_max: None,
            duration_min: None,
            duration_max: None,
            search_depth,
        };
        let q = search(0).trace_query().expect("valid");
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.operation, None);
        let (start, end) = (q.start_min.expect("start"), q.start_max.expect("end"));
        assert_eq!(end - start, DEFAULT_LOOKBACK_NANOS);
        assert_eq!(
            search(i32::MAX).trace_query().expect("valid").limit,
            MAX_LIMIT
        );
        assert_eq!(search(7).trace_query().expect("valid").limit, 7);
        assert!(search(-1).trace_query().is_err());
        let (end, lookback) = dependency_window(None, Some(&ts(100_000, 0))).expect("valid");
        assert_eq!(
            (end, lookback),
            (100_000_000_000_000, DEFAULT_DEPENDENCY_LOOKBACK_NANOS)
        );
        assert!(dependency_window(Some(&ts(5, 0)), Some(&ts(4, 0))).is_err());
        assert!(trace_window(Some(&ts(5, 0)), Some(&ts(4, 0))).is_err());
        assert_eq!(trace_window(Some(&ts(5, 0)), None).expect("ok"), None);
    }
}
