use crate::otlp_common::InstrumentationScope;
use crate::otlp_resource::Resource;
use crate::{ResourceSpans, Span, attr};

/// The `service.name` of a resource, or `"unknown_service"` as the OTel spec prescribes.
pub fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .and_then(|r| attr::find_str(&r.attributes, "service.name"))
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown_service")
}

/// Number of spans in a batch.
pub fn span_count(batch: &[ResourceSpans]) -> usize {
    batch
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum()
}

/// One span with the resource and scope it came with: the unit that stores index and the
/// query layer converts.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub resource: Option<Resource>,
    pub scope: Option<InstrumentationScope>,
    pub span: Span,
}

impl SpanRecord {
    /// Flattens a batch into one record per span (resource and scope cloned per span).
    pub fn flatten(batch: Vec<ResourceSpans>) -> Vec<SpanRecord> {
        let mut out = Vec::with_capacity(span_count(&batch));
        for rs in batch {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    out.push(SpanRecord {
                        resource: rs.resource.clone(),
                        scope: ss.scope.clone(),
                        span,
                    });
                }
            }
        }
        out
    }

    /// Regroups records into OTLP batches, one `ResourceSpans` per distinct resource and one
    /// `ScopeSpans` per distinct scope within it, keeping first-seen order.
    pub fn group(records: Vec<SpanRecord>) -> Vec<ResourceSpans> {
        use crate::ScopeSpans;
        let mut out: Vec<ResourceSpans> = Vec::new();
        for rec in records {
            let rs_idx = match out.iter().position(|rs| rs.resource == rec.resource) {
                Some(i) => i,
                None => {
                    out.push(ResourceSpans {
                        resource: rec.resource,
                        scope_spans: Vec::new(),
                        schema_url: String::new(),
                    });
                    out.len() - 1
                }
            };
            let rs = &mut out[rs_idx];
            match rs.scope_spans.iter_mut().find(|ss| ss.scope == rec.scope) {
                Some(ss) => ss.spans.push(rec.span),
                None => rs.scope_spans.push(ScopeSpans {
                    scope: rec.scope,
                    spans: vec![rec.span],
                    schema_url: String::new(),
                }),
            }
        }
        out
    }

    /// The service name of this span's resource.
    pub fn service(&self) -> &str {
        service_name(self.resource.as_ref())
    }
}

/// The Jaeger name of an OTLP span kind (`server`, `client`, …); empty for unspecified.
pub fn span_kind_name(kind: i32) -> &'static str {
    use crate::otlp_trace::span::SpanKind;
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        _ => "",
    }
}

/// The OTLP span kind for a Jaeger name (case-insensitive); `Unspecified` when unknown.
pub fn span_kind_from_name(name: &str) -> i32 {
    use crate::otlp_trace::span::SpanKind;
    let kind = match name.to_ascii_lowercase().as_str() {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    };
    kind as i32
}
