//! Bounds on what one OTLP request may decode into, checked on the encoded bytes before any
//! span is decoded.
//!
//! Decoding a protobuf request allocates a struct for every message in it, whatever the message
//! holds: 14 MB of empty spans decode to gigabytes. [`prescan_protobuf`] walks the wire format of
//! an `ExportTraceServiceRequest` without allocating, counts spans and estimates the decoded size
//! (struct sizes of every message plus its string and byte fields); [`prescan_json`] does the same
//! for OTLP/JSON by scanning its structure. A request over a bound is refused before decoding.

use std::mem::size_of;

use spoor_model::otlp_common as common;
use spoor_model::otlp_common::KeyValue;
use spoor_model::otlp_trace as trace;
use spoor_model::otlp_trace::Span;

use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::metrics::v1 as metrics;

use crate::jaeger::proto::api_v2 as jaeger;
use crate::zipkin::proto::proto3 as zipkin;

/// How much one request may decode into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeBudget {
    /// Most spans in one request.
    pub max_spans: usize,
    /// Most bytes the decoded request may take in memory (estimated).
    pub max_decoded_bytes: usize,
}

/// Decoded size allowed per byte of request body: typical OTLP decodes to about 3× its
/// protobuf size; 8× leaves room for small attributes without letting empty messages blow up.
pub const DECODED_BYTES_PER_BODY_BYTE: usize = 8;

impl DecodeBudget {
    /// The budget for requests of at most `max_body_bytes` carrying at most `max_spans` spans.
    pub fn new(max_body_bytes: usize, max_spans: usize) -> Self {
        Self {
            max_spans,
            max_decoded_bytes: max_body_bytes.saturating_mul(DECODED_BYTES_PER_BODY_BYTE),
        }
    }
}

/// Why a request was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrescanError {
    #[error("request carries more than {limit} spans")]
    TooManySpans { limit: usize },
    #[error("request would decode to more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("invalid protobuf: {0}")]
    Malformed(&'static str),
}

impl PrescanError {
    /// What the client is told: too large (413 / RESOURCE_EXHAUSTED) or invalid input.
    pub fn kind(&self) -> spoor_model::ErrorKind {
        match self {
            PrescanError::Malformed(_) => spoor_model::ErrorKind::InvalidInput,
            PrescanError::TooManySpans { .. } | PrescanError::TooLarge { .. } => {
                spoor_model::ErrorKind::TooLarge
            }
        }
    }

    /// Short label for the `reason` metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            PrescanError::TooManySpans { .. } => "too_many_spans",
            PrescanError::TooLarge { .. } => "decoded_too_large",
            PrescanError::Malformed(_) => "decode",
        }
    }
}

/// What a prescan found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prescan {
    pub spans: usize,
    pub decoded_bytes: usize,
}

/// Nesting deeper than prost accepts; the scan refuses it rather than recursing further.
const MAX_NESTING: usize = 100;

struct Scanner {
    budget: DecodeBudget,
    found: Prescan,
}

impl Scanner {
    fn cost(&mut self, bytes: usize) -> Result<(), PrescanError> {
        self.found.decoded_bytes = self.found.decoded_bytes.saturating_add(bytes);
        if self.found.decoded_bytes > self.budget.max_decoded_bytes {
            return Err(PrescanError::TooLarge {
                limit: self.budget.max_decoded_bytes,
            });
        }
        Ok(())
    }

    fn span(&mut self, size: usize) -> Result<(), PrescanError> {
        self.found.spans += 1;
        if self.found.spans > self.budget.max_spans {
            return Err(PrescanError::TooManySpans {
                limit: self.budget.max_spans,
            });
        }
        self.cost(size)
    }
}

/// Which message a length-delimited field holds, by (message, field number).
#[derive(Clone, Copy)]
enum Msg {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    // Zipkin v2 `ListOfSpans`.
    ZipkinList,
    ZipkinSpan,
    ZipkinEndpoint,
    ZipkinAnnotation,
    ZipkinTag,
    // Jaeger api_v2 `PostSpansRequest`.
    JaegerRequest,
    JaegerBatch,
    JaegerSpan,
    JaegerProcess,
    JaegerKeyValue,
    JaegerLog,
    JaegerRef,
    JaegerTime,
    // OTLP `ExportMetricsServiceRequest` (data points count as items).
    MetricsRequest,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    /// Gauge, Sum or Summary: field 1 holds the data points.
    MetricData,
    /// Histogram: field 1 holds its data points.
    HistMetricData,
    /// ExponentialHistogram: field 1 holds its data points.
    ExpMetricData,
    /// Number or summary data point: attributes are field 7, exemplars field 5.
    DataPoint,
    /// Histogram data point: attributes are field 9, exemplars field 8 (7 is packed bounds).
    HistDataPoint,
    ExpDataPoint,
    ExpBuckets,
    Exemplar,
    // OTLP `ExportLogsServiceRequest` (log records count as items).
    LogsRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
}

impl Msg {
    /// The message type of field `field` of `self`, if it is a message the scan descends into.
    fn child(self, field: u64) -> Option<Msg> {
        use Msg::*;
        Some(match (self, field) {
            (Request, 1) => ResourceSpans,
            (ResourceSpans, 1) => Resource,
            (ResourceSpans, 2) => ScopeSpans,
            (Resource, 1) => KeyValue,
            (ScopeSpans, 1) => Scope,
            (ScopeSpans, 2) => Span,
            (Scope, 3) => KeyValue,
            (Span, 9) | (Event, 3) | (Link, 4) | (KeyValueList, 1) => KeyValue,
            (Span, 11) => Event,
            (Span, 13) => Link,
            (KeyValue, 2) | (ArrayValue, 1) => AnyValue,
            (AnyValue, 5) => ArrayValue,
            (AnyValue, 6) => KeyValueList,
            (ZipkinList, 1) => ZipkinSpan,
            (ZipkinSpan, 8) | (ZipkinSpan, 9) => ZipkinEndpoint,
            (ZipkinSpan, 10) => ZipkinAnnotation,
            (ZipkinSpan, 11) => ZipkinTag,
            (JaegerRequest, 1) => JaegerBatch,
            (JaegerBatch, 1) => JaegerSpan,
            (JaegerBatch, 2) | (JaegerSpan, 10) => JaegerProcess,
            (JaegerSpan, 4) => JaegerRef,
            (JaegerSpan, 6) | (JaegerSpan, 7) | (JaegerLog, 1) => JaegerTime,
            (JaegerSpan, 8) | (JaegerProcess, 2) | (JaegerLog, 2) => JaegerKeyValue,
            (JaegerSpan, 9) => JaegerLog,
            (MetricsRequest, 1) => ResourceMetrics,
            (ResourceMetrics, 1) | (ResourceLogs, 1) => Resource,
            (ResourceMetrics, 2) => ScopeMetrics,
            (ScopeMetrics, 1) | (ScopeLogs, 1) => Scope,
            (ScopeMetrics, 2) => Metric,
            (Metric, 5 | 7 | 11) => MetricData,
            (Metric, 9) => HistMetricData,
            (Metric, 10) => ExpMetricData,
            (Metric, 12) | (DataPoint, 7) | (HistDataPoint, 9) | (ExpDataPoint, 1) => KeyValue,
            (Exemplar, 7) => KeyValue,
            (MetricData, 1) => DataPoint,
            (HistMetricData, 1) => HistDataPoint,
            (ExpMetricData, 1) => ExpDataPoint,
            (DataPoint, 5) | (HistDataPoint, 8) | (ExpDataPoint, 11) => Exemplar,
            (ExpDataPoint, 8 | 9) => ExpBuckets,
            (LogsRequest, 1) => ResourceLogs,
            (ResourceLogs, 2) => ScopeLogs,
            (ScopeLogs, 2) => LogRecord,
            (LogRecord, 5) => AnyValue,
            (LogRecord, 6) => KeyValue,
            _ => return None,
        })
    }

    /// Bytes the decoded message takes beyond its parent's struct.
    fn struct_size(self) -> usize {
        use Msg::*;
        match self {
            Request | ArrayValue | KeyValueList | ZipkinList | JaegerRequest => 0,
            JaegerTime => 0,                     // inline in its parent
            Span | ZipkinSpan | JaegerSpan => 0, // counted by Scanner::span
            ResourceSpans => size_of::<trace::ResourceSpans>(),
            Resource => size_of::<spoor_model::otlp_resource::Resource>(),
            ScopeSpans => size_of::<trace::ScopeSpans>(),
            Scope => size_of::<common::InstrumentationScope>(),
            Event => size_of::<trace::span::Event>(),
            Link => size_of::<trace::span::Link>(),
            KeyValue => size_of::<common::KeyValue>(),
            AnyValue => size_of::<common::AnyValue>(),
            ZipkinEndpoint => size_of::<zipkin::Endpoint>(),
            ZipkinAnnotation => size_of::<zipkin::Annotation>(),
            // A map entry: two strings plus the hash table's share.
            ZipkinTag => 2 * size_of::<String>() + 16,
            JaegerBatch => size_of::<jaeger::Batch>(),
            JaegerProcess => size_of::<jaeger::Process>(),
            JaegerKeyValue => size_of::<jaeger::KeyValue>(),
            JaegerLog => size_of::<jaeger::Log>(),
            JaegerRef => size_of::<jaeger::SpanRef>(),
            MetricsRequest | LogsRequest => 0,
            DataPoint | HistDataPoint | ExpDataPoint | LogRecord => 0, // counted by Scanner::span
            ResourceMetrics => size_of::<metrics::ResourceMetrics>(),
            ScopeMetrics => size_of::<metrics::ScopeMetrics>(),
            Metric => size_of::<metrics::Metric>(),
            MetricData | HistMetricData | ExpMetricData => size_of::<metrics::Histogram>(),
            ExpBuckets => size_of::<metrics::exponential_histogram_data_point::Buckets>(),
            Exemplar => size_of::<metrics::Exemplar>(),
            ResourceLogs => size_of::<logs::ResourceLogs>(),
            ScopeLogs => size_of::<logs::ScopeLogs>(),
        }
    }

    /// Decoded size of one span of this message type.
    fn span_size(self) -> usize {
        match self {
            Msg::ZipkinSpan => size_of::<zipkin::Span>(),
            Msg::JaegerSpan => size_of::<jaeger::Span>(),
            Msg::DataPoint => size_of::<metrics::NumberDataPoint>(),
            // Its packed bounds and counts are weighed as bytes by the scan.
            Msg::HistDataPoint => size_of::<metrics::HistogramDataPoint>(),
            Msg::ExpDataPoint => size_of::<metrics::ExponentialHistogramDataPoint>(),
            Msg::LogRecord => size_of::<logs::LogRecord>(),
            _ => size_of::<Span>(),
        }
    }
}

/// Counts spans and estimates the decoded size of a protobuf `ExportTraceServiceRequest`,
/// refusing it as soon as it exceeds `budget`. Malformed input is refused too (the decoder would
/// refuse it as well).
pub fn prescan_protobuf(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
    prescan_message(buf, budget, Msg::Request)
}

/// [`prescan_protobuf`] for an OTLP `ExportMetricsServiceRequest`: data points count against
/// `max_spans`.
pub fn prescan_metrics_protobuf(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
    prescan_message(buf, budget, Msg::MetricsRequest)
}

/// [`prescan_protobuf`] for an OTLP `ExportLogsServiceRequest`: log records count against
/// `max_spans`.
pub fn prescan_logs_protobuf(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
    prescan_message(buf, budget, Msg::LogsRequest)
}

/// [`prescan_protobuf`] for a Zipkin v2 `ListOfSpans`.
pub(crate) fn prescan_zipkin_proto(
    buf: &[u8],
    budget: DecodeBudget,
) -> Result<Prescan, PrescanError> {
    prescan_message(buf, budget, Msg::ZipkinList)
}

/// [`prescan_protobuf`] for a Jaeger api_v2 `PostSpansRequest`.
pub(crate) fn prescan_jaeger_proto(
    buf: &[u8],
    budget: DecodeBudget,
) -> Result<Prescan, PrescanError> {
    prescan_message(buf, budget, Msg::JaegerRequest)
}

fn prescan_message(buf: &[u8], budget: DecodeBudget, root: Msg) -> Result<Prescan, PrescanError> {
    let mut scanner = Scanner {
        budget,
        found: Prescan::default(),
    };
    scan(&mut scanner, buf, root, 0)?;
    Ok(scanner.found)
}

fn scan(s: &mut Scanner, mut buf: &[u8], msg: Msg, depth: usize) -> Result<(), PrescanError> {
    if depth > MAX_NESTING {
        return Err(PrescanError::Malformed("nested too deep"));
    }
    if matches!(
        msg,
        Msg::Span
            | Msg::ZipkinSpan
            | Msg::JaegerSpan
            | Msg::DataPoint
            | Msg::HistDataPoint
            | Msg::ExpDataPoint
            | Msg::LogRecord
    ) {
        s.span(msg.span_size())?;
    } else {
        s.cost(msg.struct_size())?;
    }
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = key >> 3;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            1 => {
                buf = buf
                    .get(8..)
                    .ok_or(PrescanError::Malformed("truncated fixed64"))?
            }
            5 => {
                buf = buf
                    .get(4..)
                    .ok_or(PrescanError::Malformed("truncated fixed32"))?
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?)
                    .map_err(|_| PrescanError::Malformed("length overflow"))?;
                if len > buf.len() {
                    return Err(PrescanError::Malformed("truncated length-delimited field"));
                }
                let (value, rest) = buf.split_at(len);
                buf = rest;
                match msg.child(field) {
                    Some(child) => scan(s, value, child, depth + 1)?,
                    // Packed varint bucket counts: up to 8 decoded bytes per wire byte.
                    None if matches!(msg, Msg::ExpBuckets) => s.cost(len.saturating_mul(8))?,
                    None => s.cost(len)?,
                }
            }
            _ => return Err(PrescanError::Malformed("unsupported wire type")),
        }
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Result<u64, PrescanError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf
            .split_first()
            .ok_or(PrescanError::Malformed("truncated varint"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(PrescanError::Malformed("varint too long"))
}

/// The same bounds for OTLP/JSON: counts the objects at the place spans sit
/// (`resourceSpans[].scopeSpans[].spans[]`, an object inside three arrays) and weighs every other
/// object as an attribute, without allocating. Malformed JSON is left to the decoder.
pub fn prescan_json(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
    // Span objects: the path from the root is object, array, object, array, object, array
    // (bits 0..6, arrays at odd places).
    let spans = JsonSpans {
        depth: 6,
        path: 0b10_1010,
        size: size_of::<Span>(),
    };
    prescan_json_spans(buf, budget, spans)
}

/// [`prescan_json`] for OTLP/JSON metrics: data points sit at
/// `resourceMetrics[].scopeMetrics[].metrics[].<type>.dataPoints[]`.
pub fn prescan_metrics_json(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
    let points = JsonSpans {
        depth: 9,
        path: 0b1_0010_1010,
        size: size_of::<metrics::ExponentialHistogramDataPoint>(),
    };
    prescan_json_spans(buf, budget, points)
}

/// [`prescan_json`] for OTLP/JSON logs: records sit at `resourceLogs[].scopeLogs[].logRecords[]`.
pub fn prescan_logs_json(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
    let records = JsonSpans {
        depth: 6,
        path: 0b10_1010,
        size: size_of::<logs::LogRecord>(),
    };
    prescan_json_spans(buf, budget, records)
}

/// [`prescan_json`] for Zipkin v1 and v2 JSON: spans are the objects of the top-level array.
pub(crate) fn prescan_zipkin_json(
    buf: &[u8],
    budget: DecodeBudget,
) -> Result<Prescan, PrescanError> {
    let spans = JsonSpans {
        depth: 1,
        path: 0b1,
        size: size_of::<crate::zipkin::ZipkinSpan>(),
    };
    prescan_json_spans(buf, budget, spans)
}

/// Where spans sit in a JSON document: objects opened at `depth` whose enclosing containers,
/// one bit per level from the root (1 = array), are `path`; each decodes to `size` bytes.
struct JsonSpans {
    depth: usize,
    path: u64,
    size: usize,
}

fn prescan_json_spans(
    buf: &[u8],
    budget: DecodeBudget,
    spans: JsonSpans,
) -> Result<Prescan, PrescanError> {
    let mask = (1u64 << spans.depth) - 1;
    let mut scanner = Scanner {
        budget,
        found: Prescan::default(),
    };
    scanner.cost(buf.len())?;
    // Open containers as a bit stack (1 = array) with its depth; deeper than 64 levels only the
    // depth is tracked (serde_json refuses beyond 128 anyway).
    let mut stack: u64 = 0;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in buf {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if b == b'{' {
                    if depth == spans.depth && stack & mask == spans.path {
                        scanner.span(spans.size)?;
                    } else {
                        scanner.cost(size_of::<KeyValue>())?;
                    }
                }
                if depth < 64 {
                    stack = (stack & !(1 << depth)) | (u64::from(b == b'[') << depth);
                }
                depth += 1;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(scanner.found)
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use spoor_model::attr;
    use spoor_model::otlp_collector::ExportTraceServiceRequest;
    use spoor_model::otlp_resource::Resource;
    use spoor_model::otlp_trace::span::Event;
    use spoor_model::otlp_trace::{ResourceSpans, ScopeSpans};

    use super::*;

    const ROOMY: DecodeBudget = DecodeBudget {
        max_spans: 1_000_000,
        max_decoded_bytes: usize::MAX,
    };

    fn request(spans: usize) -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "op".into(),
            attributes: vec![attr::string("k", "v"), attr::int("n", 3)],
            events: vec![Event::default()],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![attr::string("service.name", "svc")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn counts_spans_and_estimates_the_decoded_size() {
        let req = request(3);
        let bytes = req.encode_to_vec();
        let found = prescan_protobuf(&bytes, ROOMY).expect("fits");
        assert_eq!(found.spans, 3);
        assert!(found.decoded_bytes >= 3 * (size_of::<Span>() + 2 * size_of::<KeyValue>()));
        let json = serde_json::to_vec(&req).expect("json");
        let found = prescan_json(&json, ROOMY).expect("fits");
        assert_eq!(found.spans, 3);
    }

    #[test]
    fn refuses_millions_of_empty_spans_before_decoding() {
        // 1 M empty spans: two bytes each on the wire, hundreds of bytes each once decoded.
        let mut scope = Vec::new();
        for _ in 0..1_000_000 {
            scope.extend_from_slice(&[0x12, 0x00]);
        }
        let mut body = Vec::new();
        let mut rs = vec![0x12];
        push_len(&mut rs, scope.len());
        rs.extend_from_slice(&scope);
        body.push(0x0a);
        push_len(&mut body, rs.len());
        body.extend_from_slice(&rs);
        let budget = DecodeBudget::new(16 << 20, 200_000);
        let err = prescan_protobuf(&body, budget).expect_err("too many");
        assert_eq!(err, PrescanError::TooManySpans { limit: 200_000 });
        let err = prescan_protobuf(&body, DecodeBudget::new(body.len(), usize::MAX))
            .expect_err("too large");
        assert_eq!(err.reason(), "decoded_too_large");
        let json = format!(
            "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{}{{}}]}}]}}]}}",
            "{},".repeat(300_000)
        );
        let err = prescan_json(json.as_bytes(), budget).expect_err("too many");
        assert_eq!(err.reason(), "too_many_spans");
        let zipkin = format!(
            "[{}{{}}]",
            r#"{"traceId":"1","id":"1","tags":{"a":"[{"}},"#.repeat(10)
        );
        let found = prescan_zipkin_json(zipkin.as_bytes(), ROOMY).expect("fits");
        assert_eq!(found.spans, 11);
    }

    #[test]
    fn counts_zipkin_and_jaeger_spans() {
        use crate::jaeger::proto::api_v2 as jaeger;
        use crate::zipkin::proto::proto3 as zipkin;
        let list = zipkin::ListOfSpans {
            spans: vec![zipkin::Span::default(); 5],
        };
        let found = prescan_zipkin_proto(&list.encode_to_vec(), ROOMY).expect("fits");
        assert_eq!(found.spans, 5);
        let request = jaeger::PostSpansRequest {
            batch: Some(jaeger::Batch {
                spans: vec![jaeger::Span::default(); 4],
                ..Default::default()
            }),
        };
        let budget = DecodeBudget {
            max_spans: 3,
            max_decoded_bytes: usize::MAX,
        };
        let err = prescan_jaeger_proto(&request.encode_to_vec(), budget).expect_err("4 > 3");
        assert_eq!(err, PrescanError::TooManySpans { limit: 3 });
    }

    #[test]
    fn refuses_malformed_protobuf() {
        assert!(prescan_protobuf(&[0x0a, 0x05, 0x01], ROOMY).is_err());
        assert!(prescan_protobuf(&[0x0b], ROOMY).is_err());
        assert_eq!(prescan_protobuf(&[], ROOMY), Ok(Prescan::default()));
    }

    fn push_len(out: &mut Vec<u8>, mut len: usize) {
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
    }
}
