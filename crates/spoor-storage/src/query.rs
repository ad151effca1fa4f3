use spoor_model::{ResourceSpans, TraceId};

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
