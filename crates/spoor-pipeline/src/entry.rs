//! The pipeline's entry: the one place where a batch from any receiver is validated before the
//! pipelines see it. Spans with invalid ids are refused, attribute values over
//! [`spoor_model::attr_limits`] are dropped, and what was removed is reported back to the
//! receiver ([`Ingested`]), which counts it under its own `{receiver,transport}` labels and answers
//! OTLP clients with a partial success. [`crate::Graph`] puts an [`Entry`] in front of every
//! receiver's pipelines, so every receiver built from a config takes this path.

use std::sync::Arc;

use spoor_model::attr_limits::limit_attributes;
use spoor_model::{Ingested, ResourceSpans, SinkError, TraceSink};

/// The sink a receiver hands its batches to: validates, then passes the rest on.
pub(crate) struct Entry(pub(crate) Arc<dyn TraceSink>);

#[async_trait::async_trait]
impl TraceSink for Entry {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        self.ingest(batch).await.1
    }

    async fn ingest(&self, mut batch: Vec<ResourceSpans>) -> (Ingested, Result<(), SinkError>) {
        let mut ingested = drop_invalid_spans(&mut batch);
        ingested.attributes_dropped = limit_attributes(&mut batch);
        if batch.is_empty() {
            return (ingested, Ok(()));
        }
        (ingested, self.0.consume(batch).await)
    }
}

/// Removes spans whose trace id is not 16 non-zero bytes or whose span id is not 8 non-zero
/// bytes (the OTLP spec calls these invalid), and empty scope/resource groups left behind.
fn drop_invalid_spans(batch: &mut Vec<ResourceSpans>) -> Ingested {
    let mut rejected = Ingested::default();
    for rs in batch.iter_mut() {
        for ss in rs.scope_spans.iter_mut() {
            ss.spans.retain(|span| {
                let reason = if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
                    Some(format!(
                        "span {:?} has an invalid trace id ({} bytes)",
                        span.name,
                        span.trace_id.len()
                    ))
                } else if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
                    Some(format!(
                        "span {:?} has an invalid span id ({} bytes)",
                        span.name,
                        span.span_id.len()
                    ))
                } else {
                    None
                };
                match reason {
                    None => true,
                    Some(r) => {
                        rejected.rejected_spans += 1;
                        rejected.first_reason.get_or_insert(r);
                        false
                    }
                }
            });
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    batch.retain(|rs| !rs.scope_spans.is_empty());
    rejected
}

#[cfg(test)]
mod tests {
    use spoor_model::{ScopeSpans, Span};

    use super::*;

    #[derive(Default)]
    struct Collect(std::sync::Mutex<Vec<ResourceSpans>>);

    #[async_trait::async_trait]
    impl TraceSink for Collect {
        async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
            if let Ok(mut b) = self.0.lock() {
                b.extend(batch);
            }
            Ok(())
        }
    }

    fn batch_of(spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[tokio::test]
    async fn the_entry_validates_reports_and_passes_the_rest_on() {
        use spoor_model::otlp_common::{AnyValue, KeyValue, any_value::Value};
        // A value nested deeper than attr_limits allows.
        let mut deep = AnyValue {
            value: Some(Value::StringValue("leaf".into())),
        };
        for _ in 0..40 {
            deep = AnyValue {
                value: Some(Value::ArrayValue(spoor_model::otlp_common::ArrayValue {
                    values: vec![deep],
                })),
            };
        }
        let good = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            attributes: vec![KeyValue {
                key: "deep".into(),
                value: Some(deep),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bad = Span {
            trace_id: vec![1; 16],
            span_id: vec![0; 8],
            ..Default::default()
        };
        let next = Arc::new(Collect::default());
        let entry = Entry(next.clone());
        let (ingested, result) = entry.ingest(batch_of(vec![good, bad])).await;
        assert!(result.is_ok());
        assert_eq!(ingested.rejected_spans, 1);
        assert!(ingested.first_reason.expect("reason").contains("span id"));
        assert_eq!(ingested.attributes_dropped.too_deep, 1);
        let got = next.0.lock().map(|b| b.clone()).unwrap_or_default();
        assert_eq!(spoor_model::span_count(&got), 1);
        assert!(got[0].scope_spans[0].spans[0].attributes.is_empty());

        // Nothing valid left: the next sink is not called.
        let (ingested, result) = entry.ingest(batch_of(vec![Span::default()])).await;
        assert!(result.is_ok());
        assert_eq!(ingested.rejected_spans, 1);
        assert_eq!(next.0.lock().map(|b| b.len()).unwrap_or(0), 1);
    }

    #[test]
    fn drops_only_invalid_spans() {
        let good = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "good".into(),
            ..Default::default()
        };
        let zero_trace = Span {
            trace_id: vec![0; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        let short_span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 4],
            ..Default::default()
        };
        let mut batch = vec![
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![good, zero_trace],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![short_span],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        let rejected = drop_invalid_spans(&mut batch);
        assert_eq!(rejected.rejected_spans, 2);
        assert!(rejected.first_reason.expect("reason").contains("trace id"));
        assert_eq!(batch.len(), 1);
        assert_eq!(spoor_model::span_count(&batch), 1);
    }
}
