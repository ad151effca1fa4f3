use spoor_model::{ResourceSpans, TraceId};

/// A search. Times are unix nanoseconds, durations nanoseconds; `None` means unbounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    /// `service.name` of the matching span's resource.
    pub service: Option<String>,
    /// Name of the matching span.
    pub operation: Option<String>,
    /// Every pair must match one of the span's attributes, its resource's attributes, one of its
    /// events' attributes, or a synthetic tag (see [`crate::synthetic_tag`]); values compare
    /// as their string form.
    pub attributes: Vec<(String, String)>,
    pub start_min: Option<u64>,
    pub start_max: Option<u64>,
    pub duration_min: Option<u64>,
    pub duration_max: Option<u64>,
    /// Maximum traces returned; 0 means the default (20).
    pub limit: usize,
}

impl TraceQuery {
    /// Default number of traces when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 20;

    /// The effective limit.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit
        }
    }
}

/// A time window hint, unix nanoseconds, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: u64,
    pub end: u64,
}

/// A trace as stored: its id and its spans grouped by resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub id: TraceId,
    pub resource_spans: Vec<ResourceSpans>,
}

/// Which operations to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationQuery {
    pub service: String,
    /// Jaeger span kind name (`server`, `client`, `producer`, `consumer`, `internal`); `None` or
    /// empty lists all kinds.
    pub span_kind: Option<String>,
}

/// An operation of a service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub name: String,
    /// Jaeger span kind name; empty when unspecified.
    pub span_kind: String,
}

/// Calls from one service to another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}
