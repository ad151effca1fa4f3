//! The query plan: the one IR every query surface (TraceQL, the SQL form, Tempo's search
//! parameters) compiles to, and its evaluator over assembled traces ([`eval`]).
//!
//! A [`Query`] is a [`SpansetExpr`]: span filters (`{ cond }`) combined with `&&`, `||` and the
//! structural relations, then pipeline [`Stage`]s (filters, aggregates, `by`, `select`).
//! Evaluating it over one trace gives zero or more spansets; a trace matches when one is left.

mod eval;
mod jaeger;

pub use eval::{SpanRef, Spanset, TraceContext, evaluate, field_values};
pub use jaeger::{TraceQuery, tag_predicate};

use regex::Regex;
use spoor_storage::{AttrScope, ScanRequest, SpanPredicate, ValueMatch};

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
    /// `.attr`: the span's attributes, then its resource's.
    Unscoped,
}

/// Values computed from the span's fields rather than its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    SpanId,
    ParentId,
    TraceId,
    TraceDuration,
    RootName,
    RootService,
    EventName,
    LinkTraceId,
    LinkSpanId,
    InstrumentationName,
    InstrumentationVersion,
    /// The span's start, unix nanoseconds (Jaeger's time window; not a TraceQL name).
    StartTime,
}

/// What a condition reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Intrinsic(Intrinsic),
    Attribute { scope: Scope, name: String },
}

impl Field {
    /// The name a result reports the field under (`span.http.method`, `duration`).
    pub fn label(&self) -> String {
        match self {
            Field::Intrinsic(i) => format!("{i:?}").to_lowercase(),
            Field::Attribute { scope, name } => match scope {
                Scope::Unscoped => format!(".{name}"),
                other => format!("{}.{name}", format!("{other:?}").to_lowercase()),
            },
        }
    }
}

/// OTLP status codes as TraceQL names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusValue {
    Unset,
    Ok,
    Error,
}

/// A literal or a field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(u64),
    Status(StatusValue),
    /// OTLP span kind number.
    Kind(i32),
    Nil,
}

impl Value {
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Duration(d) => Some(*d as f64),
            _ => None,
        }
    }

    /// The text Tempo's JSON shows for a value.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => spoor_model::attr::format_double(*f),
            Value::Bool(b) => b.to_string(),
            Value::Duration(d) => format!("{d}ns"),
            Value::Status(s) => format!("{s:?}").to_lowercase(),
            Value::Kind(k) => spoor_model::span_kind_name(*k).to_string(),
            Value::Nil => "nil".to_string(),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
}

/// A condition on one span.
#[derive(Debug, Clone)]
pub enum SpanCond {
    Const(bool),
    Cmp {
        field: Field,
        op: CmpOp,
        value: Value,
        /// Compiled, anchored, for `=~` and `!~`.
        regex: Option<Regex>,
    },
    And(Box<SpanCond>, Box<SpanCond>),
    Or(Box<SpanCond>, Box<SpanCond>),
    Not(Box<SpanCond>),
    /// A condition in storage's neutral terms, evaluated as storage does
    /// ([`SpanPredicate::matches_parts`]) and pushed down as it is: Jaeger's tags compile to
    /// these ([`tag_predicate`]).
    Predicate(SpanPredicate),
}

/// Structural relations between two spansets (`lhs REL rhs` returns spans of `rhs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `>>`: rhs spans with an ancestor in lhs.
    Descendant,
    /// `>`: rhs spans whose parent is in lhs.
    Child,
    /// `<<`: rhs spans that are an ancestor of an lhs span.
    Ancestor,
    /// `<`: rhs spans that are the parent of an lhs span.
    Parent,
    /// `~`: rhs spans with a sibling (same parent, another span) in lhs.
    Sibling,
}

/// Aggregates of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

/// A pipeline stage, applied to each spanset.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `| { cond }`: keep the spans satisfying `cond`; drop emptied spansets.
    Filter(SpanCond),
    /// `| count() > 2`, `| avg(duration) > 1s`: keep spansets whose aggregate satisfies.
    Aggregate {
        aggregate: Aggregate,
        field: Option<Field>,
        op: CmpOp,
        value: Value,
    },
    /// `| by(field, …)`: split each spanset by the fields' values.
    By(Vec<Field>),
    /// `| select(field, …)`: report these fields with each span.
    Select(Vec<Field>),
    /// `| coalesce()`: merge the spansets into one.
    Coalesce,
}

/// A spanset expression.
#[derive(Debug, Clone)]
pub enum SpansetExpr {
    Filter(SpanCond),
    /// Both sides have spans: their union.
    And(Box<SpansetExpr>, Box<SpansetExpr>),
    /// The union of both sides.
    Or(Box<SpansetExpr>, Box<SpansetExpr>),
    Structural(Box<SpansetExpr>, Relation, Box<SpansetExpr>),
    Pipeline(Box<SpansetExpr>, Vec<Stage>),
}

/// A parsed query, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Query {
    pub expr: SpansetExpr,
}

/// What storage may prune by before the query layer evaluates: the scan contract's request
/// without time window and limit, which the caller adds.
pub type Pushdown = ScanRequest;

impl Query {
    /// Conditions every matching trace must have one span satisfying together, so storage can
    /// prune by them: only a single span filter (optionally followed by a pipeline) qualifies.
    /// The request selects a superset of the matching traces; the plan decides exactly.
    pub fn pushdown(&self) -> Pushdown {
        let mut out = Pushdown::default();
        let cond = match &self.expr {
            SpansetExpr::Filter(c) => c,
            SpansetExpr::Pipeline(inner, _) => match inner.as_ref() {
                SpansetExpr::Filter(c) => c,
                _ => return out,
            },
            _ => return out,
        };
        collect_pushdown(cond, &mut out);
        out
    }
}

/// The attribute scopes a TraceQL scope reads (see [`field_values`]).
fn scan_scopes(scope: Scope) -> Vec<AttrScope> {
    match scope {
        Scope::Span => vec![AttrScope::Span],
        Scope::Resource => vec![AttrScope::Resource],
        Scope::Event => vec![AttrScope::Event],
        Scope::Link => vec![AttrScope::Link],
        Scope::Instrumentation => vec![AttrScope::Scope],
        Scope::Unscoped => vec![AttrScope::Span, AttrScope::Resource],
    }
}

fn collect_pushdown(cond: &SpanCond, out: &mut Pushdown) {
    match cond {
        SpanCond::And(a, b) => {
            collect_pushdown(a, out);
            collect_pushdown(b, out);
        }
        SpanCond::Predicate(p) => out.predicates.push(p.clone()),
        SpanCond::Cmp {
            field,
            op,
            value,
            regex,
        } => match (field, op, value) {
            (Field::Intrinsic(Intrinsic::Name), CmpOp::Eq, Value::Str(s)) => {
                out.span_name = Some(s.clone());
            }
            (Field::Intrinsic(Intrinsic::Status), CmpOp::Eq, Value::Status(s)) => {
                out.predicates.push(SpanPredicate::Status(match s {
                    StatusValue::Unset => 0,
                    StatusValue::Ok => 1,
                    StatusValue::Error => 2,
                }));
            }
            (Field::Intrinsic(Intrinsic::Kind), CmpOp::Eq, Value::Kind(k)) => {
                out.predicates.push(SpanPredicate::Kind(*k));
            }
            (Field::Attribute { scope, name }, CmpOp::Eq, Value::Str(s))
                if *scope == Scope::Resource && name == "service.name" =>
            {
                out.service = Some(s.clone());
            }
            (Field::Attribute { scope, name }, op, v) => {
                // Each test selects a superset of what the plan's typed comparison accepts:
                // strings and booleans by text, numbers by range, regexes on the text.
                let test = match (op, v) {
                    (CmpOp::Eq, Value::Str(_) | Value::Bool(_)) => ValueMatch::Text(v.to_text()),
                    (CmpOp::Re, Value::Str(_)) => match regex {
                        Some(re) => ValueMatch::Regex(re.clone()),
                        None => return,
                    },
                    (CmpOp::Eq | CmpOp::Ge | CmpOp::Gt | CmpOp::Le | CmpOp::Lt, _) => {
                        let Some(n) = v.as_f64().filter(|_| !matches!(v, Value::Duration(_)))
                        else {
                            return;
                        };
                        let (min, max) = match op {
                            CmpOp::Eq => (Some(n), Some(n)),
                            CmpOp::Ge | CmpOp::Gt => (Some(n), None),
                            _ => (None, Some(n)),
                        };
                        ValueMatch::Range { min, max }
                    }
                    _ => return,
                };
                out.predicates.push(SpanPredicate::Attribute {
                    scopes: scan_scopes(*scope),
                    key: name.clone(),
                    value: test,
                });
            }
            (Field::Intrinsic(Intrinsic::Duration), op, Value::Duration(d)) => match op {
                CmpOp::Gt => out.duration_min = Some(d.saturating_add(1)),
                CmpOp::Ge => out.duration_min = Some(*d),
                CmpOp::Lt => out.duration_max = Some(d.saturating_sub(1)),
                CmpOp::Le => out.duration_max = Some(*d),
                _ => {}
            },
            _ => {}
        },
        _ => {}
    }
}

impl Query {
    /// The attributes the query's conditions read, in order of appearance, without repeats:
    /// a search reports their values with each matched span, as Tempo does.
    pub fn condition_attributes(&self) -> Vec<Field> {
        let mut out = Vec::new();
        expr_fields(&self.expr, &mut out);
        out
    }
}

fn expr_fields(expr: &SpansetExpr, out: &mut Vec<Field>) {
    match expr {
        SpansetExpr::Filter(c) => cond_fields(c, out),
        SpansetExpr::And(a, b) | SpansetExpr::Or(a, b) | SpansetExpr::Structural(a, _, b) => {
            expr_fields(a, out);
            expr_fields(b, out);
        }
        SpansetExpr::Pipeline(inner, stages) => {
            expr_fields(inner, out);
            for stage in stages {
                if let Stage::Filter(c) = stage {
                    cond_fields(c, out);
                }
            }
        }
    }
}

fn cond_fields(cond: &SpanCond, out: &mut Vec<Field>) {
    match cond {
        SpanCond::Const(_) | SpanCond::Predicate(_) => {}
        SpanCond::And(a, b) | SpanCond::Or(a, b) => {
            cond_fields(a, out);
            cond_fields(b, out);
        }
        SpanCond::Not(a) => cond_fields(a, out),
        SpanCond::Cmp { field, .. } => {
            if matches!(field, Field::Attribute { .. }) && !out.contains(field) {
                out.push(field.clone());
            }
        }
    }
}
