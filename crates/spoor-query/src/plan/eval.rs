//! Evaluates a [`Query`] over one assembled trace.

use std::collections::{BTreeMap, HashMap};

use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{Span, SpanId, service_name};
use spoor_storage::Trace;

use super::{
    Aggregate, CmpOp, Field, Intrinsic, Query, Relation, Scope, SpanCond, SpansetExpr, Stage,
    StatusValue, Value,
};

/// One span of a trace with what it was stored with.
#[derive(Debug, Clone, Copy)]
pub struct SpanRef<'t> {
    pub span: &'t Span,
    pub resource: Option<&'t Resource>,
    pub scope: Option<&'t InstrumentationScope>,
    pub service: &'t str,
}

/// A trace flattened for evaluation: spans, parents, and the trace-level intrinsics.
pub struct TraceContext<'t> {
    pub spans: Vec<SpanRef<'t>>,
    parent: Vec<Option<usize>>,
    pub duration: u64,
    pub start: u64,
    pub root: Option<usize>,
}

impl<'t> TraceContext<'t> {
    pub fn new(trace: &'t Trace) -> Self {
        let mut spans = Vec::new();
        for rs in &trace.resource_spans {
            let service = service_name(rs.resource.as_ref());
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans.push(SpanRef {
                        span,
                        resource: rs.resource.as_ref(),
                        scope: ss.scope.as_ref(),
                        service,
                    });
                }
            }
        }
        let index: HashMap<SpanId, usize> = spans
            .iter()
            .enumerate()
            .filter_map(|(i, s)| SpanId::from_bytes(&s.span.span_id).ok().map(|id| (id, i)))
            .collect();
        let parent: Vec<Option<usize>> = spans
            .iter()
            .map(|s| {
                SpanId::from_bytes(&s.span.parent_span_id)
                    .ok()
                    .filter(|p| !p.is_zero())
                    .and_then(|p| index.get(&p).copied())
            })
            .collect();
        let start = spans
            .iter()
            .map(|s| s.span.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = spans
            .iter()
            .map(|s| s.span.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        let root = (0..spans.len())
            .filter(|i| parent[*i].is_none())
            .min_by_key(|i| spans[*i].span.start_time_unix_nano);
        Self {
            spans,
            parent,
            duration: end.saturating_sub(start),
            start,
            root,
        }
    }

    fn is_ancestor(&self, ancestor: usize, mut of: usize) -> bool {
        // Bounded by the span count so a parent cycle cannot loop forever.
        for _ in 0..self.spans.len() {
            match self.parent[of] {
                Some(p) if p == ancestor => return true,
                Some(p) => of = p,
                None => return false,
            }
        }
        false
    }
}

/// Spans of one trace that matched together, with the `by()` values that grouped them and the
/// fields `select()` asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spanset {
    /// Indexes into [`TraceContext::spans`], ascending.
    pub spans: Vec<usize>,
    pub by: Vec<(String, Value)>,
    pub select: Vec<Field>,
}

/// The non-empty spansets `query` leaves of the trace.
pub fn evaluate(query: &Query, ctx: &TraceContext<'_>) -> Vec<Spanset> {
    eval_expr(&query.expr, ctx)
        .into_iter()
        .filter(|s| !s.spans.is_empty())
        .collect()
}

fn union(sets: &[Spanset]) -> Vec<usize> {
    let mut all: Vec<usize> = sets.iter().flat_map(|s| s.spans.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn single(spans: Vec<usize>) -> Vec<Spanset> {
    vec![Spanset {
        spans,
        ..Spanset::default()
    }]
}

fn eval_expr(expr: &SpansetExpr, ctx: &TraceContext<'_>) -> Vec<Spanset> {
    match expr {
        SpansetExpr::Filter(cond) => single(
            (0..ctx.spans.len())
                .filter(|i| eval_cond(cond, ctx, *i))
                .collect(),
        ),
        SpansetExpr::And(a, b) => {
            let (a, b) = (union(&eval_expr(a, ctx)), union(&eval_expr(b, ctx)));
            if a.is_empty() || b.is_empty() {
                return Vec::new();
            }
            let mut all = a;
            all.extend(b);
            all.sort_unstable();
            all.dedup();
            single(all)
        }
        SpansetExpr::Or(a, b) => {
            let mut sets = eval_expr(a, ctx);
            sets.extend(eval_expr(b, ctx));
            single(union(&sets))
        }
        SpansetExpr::Structural(a, rel, b) => {
            let lhs = union(&eval_expr(a, ctx));
            let rhs = union(&eval_expr(b, ctx));
            let keep = |r: usize| {
                lhs.iter().any(|&l| match rel {
                    Relation::Descendant => ctx.is_ancestor(l, r),
                    Relation::Child => ctx.parent[r] == Some(l),
                    Relation::Ancestor => ctx.is_ancestor(r, l),
                    Relation::Parent => ctx.parent[l] == Some(r),
                    Relation::Sibling => {
                        l != r && ctx.parent[l].is_some() && ctx.parent[l] == ctx.parent[r]
                    }
                })
            };
            single(rhs.into_iter().filter(|r| keep(*r)).collect())
        }
        SpansetExpr::Pipeline(inner, stages) => {
            let mut sets = eval_expr(inner, ctx);
            for stage in stages {
                sets.retain(|s| !s.spans.is_empty());
                sets = apply_stage(stage, sets, ctx);
            }
            sets
        }
    }
}

fn apply_stage(stage: &Stage, sets: Vec<Spanset>, ctx: &TraceContext<'_>) -> Vec<Spanset> {
    match stage {
        Stage::Filter(cond) => sets
            .into_iter()
            .map(|mut s| {
                s.spans.retain(|i| eval_cond(cond, ctx, *i));
                s
            })
            .filter(|s| !s.spans.is_empty())
            .collect(),
        Stage::Aggregate {
            aggregate,
            field,
            op,
            value,
        } => sets
            .into_iter()
            .filter(|s| {
                aggregate_value(*aggregate, field.as_ref(), s, ctx)
                    .is_some_and(|v| compare(&v, *op, value, None))
            })
            .collect(),
        Stage::By(fields) => {
            let mut out = Vec::new();
            for set in sets {
                let mut groups: BTreeMap<String, Spanset> = BTreeMap::new();
                for &i in &set.spans {
                    let values: Vec<(String, Value)> = fields
                        .iter()
                        .map(|f| {
                            let v = field_values(f, ctx, i)
                                .into_iter()
                                .next()
                                .unwrap_or(Value::Nil);
                            (f.label(), v)
                        })
                        .collect();
                    let key = format!("{values:?}");
                    let group = groups.entry(key).or_insert_with(|| Spanset {
                        spans: Vec::new(),
                        by: set.by.iter().cloned().chain(values).collect(),
                        select: set.select.clone(),
                    });
                    group.spans.push(i);
                }
                out.extend(groups.into_values());
            }
            out
        }
        Stage::Select(fields) => sets
            .into_iter()
            .map(|mut s| {
                s.select.extend(fields.iter().cloned());
                s
            })
            .collect(),
        Stage::Coalesce => {
            let select = sets.iter().flat_map(|s| s.select.clone()).collect();
            vec![Spanset {
                spans: union(&sets),
                by: Vec::new(),
                select,
            }]
        }
    }
}

fn aggregate_value(
    aggregate: Aggregate,
    field: Option<&Field>,
    set: &Spanset,
    ctx: &TraceContext<'_>,
) -> Option<Value> {
    if aggregate == Aggregate::Count {
        return Some(Value::Int(set.spans.len() as i64));
    }
    let field = field?;
    let values: Vec<Value> = set
        .spans
        .iter()
        .filter_map(|&i| {
            field_values(field, ctx, i)
                .into_iter()
                .find(|v| v.as_f64().is_some())
        })
        .collect();
    let first = values.first()?;
    let nums: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
    let result = match aggregate {
        Aggregate::Avg => nums.iter().sum::<f64>() / nums.len() as f64,
        Aggregate::Sum => nums.iter().sum(),
        Aggregate::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Count => nums.len() as f64,
    };
    Some(match first {
        Value::Duration(_) => Value::Duration(result.max(0.0) as u64),
        _ => Value::Float(result),
    })
}

fn eval_cond(cond: &SpanCond, ctx: &TraceContext<'_>, i: usize) -> bool {
    match cond {
        SpanCond::Const(b) => *b,
        SpanCond::And(a, b) => eval_cond(a, ctx, i) && eval_cond(b, ctx, i),
        SpanCond::Or(a, b) => eval_cond(a, ctx, i) || eval_cond(b, ctx, i),
        SpanCond::Not(a) => !eval_cond(a, ctx, i),
        SpanCond::Predicate(p) => {
            let s = &ctx.spans[i];
            p.matches_parts(s.resource, s.scope, s.span)
        }
        SpanCond::Cmp {
            field,
            op,
            value,
            regex,
        } => {
            let values = field_values(field, ctx, i);
            if *value == Value::Nil {
                return match op {
                    CmpOp::Eq => values.is_empty(),
                    CmpOp::Ne => !values.is_empty(),
                    _ => false,
                };
            }
            values
                .iter()
                .any(|v| compare(v, *op, value, regex.as_ref()))
        }
    }
}

/// `lhs op rhs` under TraceQL's typing: numbers (ints, floats, durations) compare by value,
/// strings by text, status and kind by equality; other pairs never match.
pub(crate) fn compare(lhs: &Value, op: CmpOp, rhs: &Value, regex: Option<&regex::Regex>) -> bool {
    use std::cmp::Ordering;
    if let (CmpOp::Re | CmpOp::NotRe, Value::Str(s), Some(re)) = (op, lhs, regex) {
        return re.is_match(s) == (op == CmpOp::Re);
    }
    let ordering: Option<Ordering> = match (lhs, rhs) {
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Status(a), Value::Status(b)) => (a == b).then_some(Ordering::Equal),
        (Value::Kind(a), Value::Kind(b)) => (a == b).then_some(Ordering::Equal),
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => return false,
        },
    };
    let equal_only = matches!(
        (lhs, rhs),
        (Value::Status(_), Value::Status(_)) | (Value::Kind(_), Value::Kind(_))
    );
    match (op, ordering) {
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Ne, None) => equal_only,
        (_, None) => false,
        (_, Some(_)) if equal_only => false,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Re | CmpOp::NotRe, _) => false,
    }
}

fn any_to_value(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::Str(s.clone()),
        any_value::Value::IntValue(i) => Value::Int(*i),
        any_value::Value::DoubleValue(d) => Value::Float(*d),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        _ => Value::Str(spoor_model::attr::value_to_string(Some(v))),
    })
}

fn attr_values(attrs: &[KeyValue], name: &str, out: &mut Vec<Value>) {
    out.extend(
        attrs
            .iter()
            .filter(|kv| kv.key == name)
            .filter_map(|kv| kv.value.as_ref().and_then(any_to_value)),
    );
}

/// Every value `field` has on span `i` (events and links may give several).
pub fn field_values(field: &Field, ctx: &TraceContext<'_>, i: usize) -> Vec<Value> {
    let s = ctx.spans[i];
    let span = s.span;
    let mut out = Vec::new();
    match field {
        Field::Attribute { scope, name } => match scope {
            Scope::Span => attr_values(&span.attributes, name, &mut out),
            Scope::Resource => {
                if let Some(r) = s.resource {
                    attr_values(&r.attributes, name, &mut out);
                }
            }
            Scope::Unscoped => {
                attr_values(&span.attributes, name, &mut out);
                if let Some(r) = s.resource {
                    attr_values(&r.attributes, name, &mut out);
                }
            }
            Scope::Event => {
                for e in &span.events {
                    attr_values(&e.attributes, name, &mut out);
                }
            }
            Scope::Link => {
                for l in &span.links {
                    attr_values(&l.attributes, name, &mut out);
                }
            }
            Scope::Instrumentation => {
                if let Some(sc) = s.scope {
                    attr_values(&sc.attributes, name, &mut out);
                }
            }
        },
        Field::Intrinsic(intrinsic) => {
            let code = span.status.as_ref().map(|st| st.code).unwrap_or(0);
            match intrinsic {
                Intrinsic::Name => out.push(Value::Str(span.name.clone())),
                Intrinsic::Status => out.push(Value::Status(match StatusCode::try_from(code) {
                    Ok(StatusCode::Ok) => StatusValue::Ok,
                    Ok(StatusCode::Error) => StatusValue::Error,
                    _ => StatusValue::Unset,
                })),
                Intrinsic::StatusMessage => out.push(Value::Str(
                    span.status
                        .as_ref()
                        .map(|st| st.message.clone())
                        .unwrap_or_default(),
                )),
                Intrinsic::Kind => out.push(Value::Kind(span.kind)),
                Intrinsic::Duration => out.push(Value::Duration(
                    span.end_time_unix_nano
                        .saturating_sub(span.start_time_unix_nano),
                )),
                Intrinsic::SpanId => out.push(Value::Str(hex(&span.span_id))),
                Intrinsic::ParentId => {
                    if !span.parent_span_id.iter().all(|b| *b == 0) {
                        out.push(Value::Str(hex(&span.parent_span_id)));
                    }
                }
                Intrinsic::StartTime => out.push(Value::Duration(span.start_time_unix_nano)),
                Intrinsic::TraceId => out.push(Value::Str(hex(&span.trace_id))),
                Intrinsic::TraceDuration => out.push(Value::Duration(ctx.duration)),
                Intrinsic::RootName => {
                    if let Some(r) = ctx.root {
                        out.push(Value::Str(ctx.spans[r].span.name.clone()));
                    }
                }
                Intrinsic::RootService => {
                    if let Some(r) = ctx.root {
                        out.push(Value::Str(ctx.spans[r].service.to_string()));
                    }
                }
                Intrinsic::EventName => {
                    out.extend(span.events.iter().map(|e| Value::Str(e.name.clone())));
                }
                Intrinsic::LinkTraceId => {
                    out.extend(span.links.iter().map(|l| Value::Str(hex(&l.trace_id))));
                }
                Intrinsic::LinkSpanId => {
                    out.extend(span.links.iter().map(|l| Value::Str(hex(&l.span_id))));
                }
                Intrinsic::InstrumentationName => {
                    if let Some(sc) = s.scope {
                        out.push(Value::Str(sc.name.clone()));
                    }
                }
                Intrinsic::InstrumentationVersion => {
                    if let Some(sc) = s.scope {
                        out.push(Value::Str(sc.version.clone()));
                    }
                }
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
