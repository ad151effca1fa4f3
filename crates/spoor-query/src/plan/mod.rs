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
/// without limit, which the caller adds (and a time window, which the caller narrows).
pub type Pushdown = ScanRequest;

/// A plan's pushdown and how much of the plan it expresses.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPlan {
    pub request: Pushdown,
    /// Every condition of the plan is in `request`, and no pipeline stage drops spansets, so
    /// storage's newest traces are (up to a rare over-approximation) the plan's newest traces:
    /// a search reads exactly its limit of candidates, as the Jaeger form does.
    /// Each pushed test still selects a superset of the typed comparison (a string compared as
    /// text also accepts an int with that text), so the plan re-checks every candidate and a
    /// search reads on while candidates it rejects leave it short of its limit.
    pub complete: bool,
}

impl Query {
    /// Conditions every matching trace must have one span satisfying together, so storage can
    /// prune by them: only a single span filter (optionally followed by a pipeline) qualifies.
    /// The request selects a superset of the matching traces; the plan decides exactly.
    pub fn pushdown(&self) -> Pushdown {
        self.scan_plan().request
    }

    /// [`Query::pushdown`] and whether it expresses the whole plan ([`ScanPlan::complete`]).
    pub fn scan_plan(&self) -> ScanPlan {
        let mut request = Pushdown::default();
        let (cond, stages) = match &self.expr {
            SpansetExpr::Filter(c) => (c, &[][..]),
            SpansetExpr::Pipeline(inner, stages) => match inner.as_ref() {
                SpansetExpr::Filter(c) => (c, stages.as_slice()),
                _ => {
                    return ScanPlan {
                        request,
                        complete: false,
                    };
                }
            },
            _ => {
                return ScanPlan {
                    request,
                    complete: false,
                };
            }
        };
        let pushed = collect_pushdown(cond, &mut request);
        // `by`, `select` and `coalesce` regroup or annotate spansets but never empty a trace.
        let keeps_all = stages
            .iter()
            .all(|s| matches!(s, Stage::By(_) | Stage::Select(_) | Stage::Coalesce));
        ScanPlan {
            request,
            complete: pushed && keeps_all,
        }
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

fn tighter_min(bound: &mut Option<u64>, v: u64) {
    *bound = Some(bound.map_or(v, |b| b.max(v)));
}

fn tighter_max(bound: &mut Option<u64>, v: u64) {
    *bound = Some(bound.map_or(v, |b| b.min(v)));
}

/// Adds what `cond` lets storage prune by to `out`; true when all of `cond` was added (as a
/// superset test, see [`ScanPlan::complete`]).
fn collect_pushdown(cond: &SpanCond, out: &mut Pushdown) -> bool {
    match cond {
        SpanCond::Const(b) => *b,
        SpanCond::And(a, b) => {
            let a = collect_pushdown(a, out);
            collect_pushdown(b, out) && a
        }
        SpanCond::Predicate(p) => {
            out.predicates.push(p.clone());
            true
        }
        SpanCond::Or(..) => match predicate_of(cond) {
            Some(p) => {
                out.predicates.push(p);
                true
            }
            None => false,
        },
        SpanCond::Not(_) => false,
        SpanCond::Cmp {
            field, op, value, ..
        } => match (field, op, value) {
            (Field::Intrinsic(Intrinsic::Name), CmpOp::Eq, Value::Str(s)) => {
                // A second name condition stays with the plan (the request holds one name).
                if out.span_name.is_some() {
                    return false;
                }
                out.span_name = Some(s.clone());
                true
            }
            (Field::Attribute { scope, name }, CmpOp::Eq, Value::Str(s))
                if *scope == Scope::Resource && name == "service.name" && !s.is_empty() =>
            {
                if out.service.is_some() {
                    return false;
                }
                out.service = Some(s.clone());
                true
            }
            (Field::Intrinsic(Intrinsic::Duration), op, Value::Duration(d)) => {
                let (min, max) = (&mut out.duration_min, &mut out.duration_max);
                match op {
                    CmpOp::Gt => tighter_min(min, d.saturating_add(1)),
                    CmpOp::Ge => tighter_min(min, *d),
                    CmpOp::Lt => tighter_max(max, d.saturating_sub(1)),
                    CmpOp::Le => tighter_max(max, *d),
                    CmpOp::Eq => {
                        tighter_min(min, *d);
                        tighter_max(max, *d);
                    }
                    _ => return false,
                }
                true
            }
            (Field::Intrinsic(Intrinsic::StartTime), op, Value::Duration(t)) => {
                match op {
                    CmpOp::Ge => tighter_min(&mut out.start_min, *t),
                    CmpOp::Le => tighter_max(&mut out.start_max, *t),
                    _ => return false,
                }
                true
            }
            _ => match predicate_of(cond) {
                Some(p) => {
                    out.predicates.push(p);
                    true
                }
                None => false,
            },
        },
    }
}

/// `cond` as one neutral predicate selecting a superset of the spans it accepts, if the scan
/// contract can say it: status, kind, status message, scope name and version, attribute tests
/// in the condition's scopes, and `||` of those ([`SpanPredicate::AnyOf`]).
fn predicate_of(cond: &SpanCond) -> Option<SpanPredicate> {
    let (field, op, value, regex) = match cond {
        SpanCond::Predicate(p) => return Some(p.clone()),
        SpanCond::Or(a, b) => {
            let mut any = Vec::new();
            for side in [a, b] {
                match predicate_of(side)? {
                    SpanPredicate::AnyOf(inner) => any.extend(inner),
                    p => any.push(p),
                }
            }
            return Some(SpanPredicate::AnyOf(any));
        }
        SpanCond::Cmp {
            field,
            op,
            value,
            regex,
        } => (field, op, value, regex),
        _ => return None,
    };
    match (field, op, value) {
        (Field::Intrinsic(Intrinsic::Status), CmpOp::Eq, Value::Status(s)) => {
            Some(SpanPredicate::Status(match s {
                StatusValue::Unset => 0,
                StatusValue::Ok => 1,
                StatusValue::Error => 2,
            }))
        }
        (Field::Intrinsic(Intrinsic::Kind), CmpOp::Eq, Value::Kind(k)) => {
            Some(SpanPredicate::Kind(*k))
        }
        (Field::Intrinsic(Intrinsic::StatusMessage), CmpOp::Eq, Value::Str(m)) => {
            Some(SpanPredicate::StatusMessage(m.clone()))
        }
        (Field::Intrinsic(Intrinsic::InstrumentationName), CmpOp::Eq, Value::Str(n)) => {
            Some(SpanPredicate::ScopeName(n.clone()))
        }
        (Field::Intrinsic(Intrinsic::InstrumentationVersion), CmpOp::Eq, Value::Str(v)) => {
            Some(SpanPredicate::ScopeVersion(v.clone()))
        }
        (Field::Attribute { scope, name }, op, v) => {
            // Each test selects a superset of what the plan's typed comparison accepts:
            // strings and booleans by text, numbers by range, regexes on the text.
            let test = match (op, v) {
                (CmpOp::Eq, Value::Str(_) | Value::Bool(_)) => ValueMatch::Text(v.to_text()),
                (CmpOp::Re, Value::Str(_)) => ValueMatch::Regex(regex.clone()?),
                (CmpOp::Eq | CmpOp::Ge | CmpOp::Gt | CmpOp::Le | CmpOp::Lt, _) => {
                    let n = v.as_f64().filter(|_| !matches!(v, Value::Duration(_)))?;
                    let (min, max) = match op {
                        CmpOp::Eq => (Some(n), Some(n)),
                        CmpOp::Ge | CmpOp::Gt => (Some(n), None),
                        _ => (None, Some(n)),
                    };
                    ValueMatch::Range { min, max }
                }
                _ => return None,
            };
            Some(SpanPredicate::Attribute {
                scopes: scan_scopes(*scope),
                key: name.clone(),
                value: test,
            })
        }
        _ => None,
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
