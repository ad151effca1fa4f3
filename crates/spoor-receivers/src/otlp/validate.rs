use spoor_model::ResourceSpans;

/// What [`drop_invalid_spans`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub spans: u64,
    /// The first reason, for the partial-success message.
    pub first_reason: Option<String>,
}

/// Removes spans whose trace id is not 16 non-zero bytes or whose span id is not 8 non-zero
/// bytes (the OTLP spec calls these invalid), and empty scope/resource groups left behind.
pub fn drop_invalid_spans(batch: &mut Vec<ResourceSpans>) -> Rejected {
    let mut rejected = Rejected::default();
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
                        rejected.spans += 1;
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
        assert_eq!(rejected.spans, 2);
        assert!(rejected.first_reason.expect("reason").contains("trace id"));
        assert_eq!(batch.len(), 1);
        assert_eq!(spoor_model::span_count(&batch), 1);
    }
}
