//! Attribute names and values for autocompletion (Tempo's `/api/search/tags` and
//! `/api/search/tag/{t}/values`), read from the newest traces of a window.

use std::collections::BTreeSet;

use crate::TraceQuery;

use crate::plan::{Field, TraceContext, Value, field_values};
use crate::service::{QueryError, QueryService};

/// Traces read to list tag names or values.
pub const TAG_SAMPLE_TRACES: usize = 1_000;
/// Most distinct values listed for one tag.
pub const MAX_TAG_VALUES: usize = 1_000;

/// Attribute keys seen, per scope, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagNames {
    pub span: BTreeSet<String>,
    pub resource: BTreeSet<String>,
    pub event: BTreeSet<String>,
    pub link: BTreeSet<String>,
    pub instrumentation: BTreeSet<String>,
}

impl QueryService {
    async fn sample(
        &self,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Result<Vec<spoor_storage::Trace>, QueryError> {
        self.find_traces(&TraceQuery {
            start_min: start,
            start_max: end,
            limit: TAG_SAMPLE_TRACES,
            ..TraceQuery::default()
        })
        .await
    }

    /// The attribute keys of the newest [`TAG_SAMPLE_TRACES`] traces started in the window.
    pub async fn tag_names(
        &self,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Result<TagNames, QueryError> {
        let mut names = TagNames::default();
        for trace in self.sample(start, end).await? {
            for rs in &trace.resource_spans {
                if let Some(r) = &rs.resource {
                    names
                        .resource
                        .extend(r.attributes.iter().map(|kv| kv.key.clone()));
                }
                for ss in &rs.scope_spans {
                    if let Some(sc) = &ss.scope {
                        names
                            .instrumentation
                            .extend(sc.attributes.iter().map(|kv| kv.key.clone()));
                    }
                    for span in &ss.spans {
                        names
                            .span
                            .extend(span.attributes.iter().map(|kv| kv.key.clone()));
                        for e in &span.events {
                            names
                                .event
                                .extend(e.attributes.iter().map(|kv| kv.key.clone()));
                        }
                        for l in &span.links {
                            names
                                .link
                                .extend(l.attributes.iter().map(|kv| kv.key.clone()));
                        }
                    }
                }
            }
        }
        Ok(names)
    }

    /// Distinct values of `field` in the newest [`TAG_SAMPLE_TRACES`] traces of the window, at
    /// most [`MAX_TAG_VALUES`], sorted by their text.
    pub async fn tag_values(
        &self,
        field: &Field,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Result<Vec<Value>, QueryError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        'traces: for trace in self.sample(start, end).await? {
            let ctx = TraceContext::new(&trace);
            for i in 0..ctx.spans.len() {
                for v in field_values(field, &ctx, i) {
                    if seen.insert((format!("{:?}", std::mem::discriminant(&v)), v.to_text())) {
                        out.push(v);
                        if out.len() >= MAX_TAG_VALUES {
                            break 'traces;
                        }
                    }
                }
            }
        }
        out.sort_by_key(Value::to_text);
        Ok(out)
    }
}
