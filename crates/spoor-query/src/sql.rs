//! The SQL form of the seeds (`SELECT * FROM traces WHERE duration > 1000ms AND tags.error =
//! true ORDER BY duration DESC LIMIT 10`), compiled to the same [`plan`](crate::plan) as
//! TraceQL.
//!
//! `WHERE` has Jaeger's search semantics: a trace matches when one span satisfies the whole
//! condition. Fields: `duration` (the span's), `service.name`, `operation.name`, `tags.<key>`
//! (span or resource attribute; `tags.error = true` also matches spans with an error status, as
//! Jaeger's synthetic `error` tag does); `span.<key>`, `resource.<key>`, `event.<key>`,
//! `link.<key>`, `instrumentation.<key>` (an attribute of that scope only, typed as in TraceQL).
//! `AND`, `OR`, `NOT`, parentheses, `= != <> > >= < <=`.
//! `ORDER BY duration [ASC|DESC]` orders by the trace's duration, `ORDER BY start_time` by its
//! start; `LIMIT n`.

use crate::plan::{
    CmpOp, Field, Intrinsic, Query, Scope, SpanCond, SpansetExpr, StatusValue, Value,
};
use crate::traceql::{MAX_DEPTH, MAX_QUERY_LEN, ParseError};

/// How matched traces are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TraceOrder {
    /// Newest first (the default of every search).
    #[default]
    Newest,
    Oldest,
    LongestFirst,
    ShortestFirst,
}

/// A parsed SQL-form query.
#[derive(Debug, Clone)]
pub struct SqlQuery {
    pub query: Query,
    pub order: TraceOrder,
    pub limit: Option<usize>,
}

/// True when `text` is in the SQL form rather than TraceQL.
pub fn is_sql(text: &str) -> bool {
    text.trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("select"))
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum T {
    Word(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Star,
    Comma,
    End,
}

pub(crate) fn tokens(q: &str) -> Result<Vec<(T, usize)>, ParseError> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = q.get(i..i + 2).unwrap_or("");
        let op = ["!=", "<>", ">=", "<="]
            .into_iter()
            .find(|o| *o == two)
            .or_else(|| ["=", ">", "<"].into_iter().find(|o| o.as_bytes()[0] == c));
        if let Some(op) = op {
            out.push((T::Op(if op == "<>" { "!=" } else { op }), start));
            i += op.len();
            continue;
        }
        match c {
            b'(' | b')' | b'*' | b',' | b';' => {
                i += 1;
                if c == b';' {
                    continue;
                }
                out.push((
                    match c {
                        b'(' => T::LParen,
                        b')' => T::RParen,
                        b',' => T::Comma,
                        _ => T::Star,
                    },
                    start,
                ));
            }
            b'"' | b'\'' => {
                let end = q[i + 1..].find(c as char).ok_or_else(|| {
                    ParseError::new(
                        start,
                        format!("unterminated string: expected a closing {}", c as char),
                    )
                })?;
                out.push((T::Str(q[i + 1..i + 1 + end].to_string()), start));
                i += end + 2;
            }
            b'0'..=b'9' | b'-' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                out.push((T::Num(q[start..i].to_string()), start));
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_.-:/".contains(&b[i])) {
                    i += 1;
                }
                out.push((T::Word(q[start..i].to_string()), start));
            }
            _ => {
                return Err(ParseError::new(
                    start,
                    format!(
                        "unexpected character {:?}",
                        q[start..].chars().next().unwrap_or(' ')
                    ),
                ));
            }
        }
    }
    out.push((T::End, q.len()));
    Ok(out)
}

pub(crate) struct P {
    pub(crate) toks: Vec<(T, usize)>,
    pub(crate) at: usize,
    pub(crate) depth: usize,
}

impl P {
    pub(crate) fn peek(&self) -> &T {
        self.toks.get(self.at).map(|(t, _)| t).unwrap_or(&T::End)
    }
    pub(crate) fn pos(&self) -> usize {
        self.toks.get(self.at).map(|(_, p)| *p).unwrap_or(0)
    }
    pub(crate) fn err(&self, expected: &str) -> ParseError {
        let found = match self.peek() {
            T::Word(w) => format!("'{w}'"),
            T::Str(s) => format!("string {s:?}"),
            T::Num(n) => format!("number {n}"),
            T::Op(o) => format!("'{o}'"),
            T::LParen => "'('".into(),
            T::RParen => "')'".into(),
            T::Star => "'*'".into(),
            T::Comma => "','".into(),
            T::End => "end of query".into(),
        };
        ParseError::new(self.pos(), format!("expected {expected}, found {found}"))
    }
    pub(crate) fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), T::Word(w) if w.eq_ignore_ascii_case(kw)) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    pub(crate) fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.err(kw))
        }
    }

    pub(crate) fn or(&mut self) -> Result<SpanCond, ParseError> {
        let mut lhs = self.and()?;
        while self.keyword("or") {
            lhs = SpanCond::Or(Box::new(lhs), Box::new(self.and()?));
        }
        Ok(lhs)
    }
    fn and(&mut self) -> Result<SpanCond, ParseError> {
        let mut lhs = self.unary()?;
        while self.keyword("and") {
            lhs = SpanCond::And(Box::new(lhs), Box::new(self.unary()?));
        }
        Ok(lhs)
    }
    fn unary(&mut self) -> Result<SpanCond, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                self.pos(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let out = if self.keyword("not") {
            self.unary().map(|c| SpanCond::Not(Box::new(c)))
        } else if *self.peek() == T::LParen {
            self.at += 1;
            let inner = self.or()?;
            if *self.peek() != T::RParen {
                return Err(self.err("')'"));
            }
            self.at += 1;
            Ok(inner)
        } else {
            self.comparison()
        };
        self.depth -= 1;
        out
    }

    fn comparison(&mut self) -> Result<SpanCond, ParseError> {
        let T::Word(name) = self.peek().clone() else {
            return Err(self.err("a field (duration, service.name, operation.name or tags.<key>)"));
        };
        let field_pos = self.pos();
        self.at += 1;
        let op = match self.peek() {
            T::Op("=") => CmpOp::Eq,
            T::Op("!=") => CmpOp::Ne,
            T::Op(">") => CmpOp::Gt,
            T::Op(">=") => CmpOp::Ge,
            T::Op("<") => CmpOp::Lt,
            T::Op("<=") => CmpOp::Le,
            _ => return Err(self.err("a comparison (=, !=, <>, >, >=, <, <=)")),
        };
        self.at += 1;
        let value_pos = self.pos();
        let value =
            match self.peek().clone() {
                T::Str(s) => Value::Str(s),
                T::Num(n) => number(&n)
                    .ok_or_else(|| ParseError::new(value_pos, format!("malformed number {n:?}")))?,
                T::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
                T::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
                _ => return Err(self.err(
                    "a value (a quoted string, a number, a duration such as 100ms, true or false)",
                )),
            };
        self.at += 1;
        let cmp = |field: Field, value: Value| SpanCond::Cmp {
            field,
            op,
            value,
            regex: None,
        };
        let lower = name.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "duration" => match value {
                Value::Duration(_) => cmp(Field::Intrinsic(Intrinsic::Duration), value),
                Value::Int(us) if us >= 0 => cmp(
                    Field::Intrinsic(Intrinsic::Duration),
                    Value::Duration((us as u64).saturating_mul(1_000)),
                ),
                _ => {
                    return Err(ParseError::new(
                        value_pos,
                        "duration compares with a duration such as 1000ms (a bare number is microseconds)",
                    ));
                }
            },
            "service.name" | "service" => cmp(
                Field::Attribute {
                    scope: Scope::Resource,
                    name: "service.name".into(),
                },
                value,
            ),
            "operation.name" | "operation" | "name" => {
                cmp(Field::Intrinsic(Intrinsic::Name), value)
            }
            "status" => {
                let status = match &value {
                    Value::Str(s) => match s.to_ascii_lowercase().as_str() {
                        "error" => Some(StatusValue::Error),
                        "ok" => Some(StatusValue::Ok),
                        "unset" => Some(StatusValue::Unset),
                        _ => None,
                    },
                    _ => None,
                };
                let Some(status) = status else {
                    return Err(ParseError::new(
                        value_pos,
                        "status compares with 'error', 'ok' or 'unset'",
                    ));
                };
                cmp(Field::Intrinsic(Intrinsic::Status), Value::Status(status))
            }
            "kind" => {
                let kind = match &value {
                    Value::Str(s) => spoor_model::span_kind_from_name(s),
                    _ => 0,
                };
                if kind == 0 {
                    return Err(ParseError::new(
                        value_pos,
                        "kind compares with 'server', 'client', 'producer', 'consumer' or 'internal'",
                    ));
                }
                cmp(Field::Intrinsic(Intrinsic::Kind), Value::Kind(kind))
            }
            _ => {
                if let Some(field) = scoped_attribute(&name) {
                    return Ok(cmp(field, value));
                }
                let Some(key) = name.strip_prefix("tags.").filter(|k| !k.is_empty()) else {
                    return Err(ParseError::new(
                        field_pos,
                        format!(
                            "unknown field '{name}': expected duration, service.name, operation.name, status, kind, tags.<key>, span.<key>, resource.<key>, event.<key>, link.<key> or instrumentation.<key>"
                        ),
                    ));
                };
                tag_condition(key, op, value)
            }
        })
    }
}

/// `span.<key>`, `resource.<key>`, `event.<key>`, `link.<key>` or `instrumentation.<key>`: an
/// attribute of that scope only (TraceQL's scopes).
pub(crate) fn scoped_attribute(name: &str) -> Option<Field> {
    let (scope, key) = [
        ("span.", Scope::Span),
        ("resource.", Scope::Resource),
        ("event.", Scope::Event),
        ("link.", Scope::Link),
        ("instrumentation.", Scope::Instrumentation),
    ]
    .into_iter()
    .find_map(|(prefix, scope)| name.strip_prefix(prefix).map(|k| (scope, k)))?;
    (!key.is_empty()).then(|| Field::Attribute {
        scope,
        name: key.to_string(),
    })
}

/// A tag condition with Jaeger's semantics: the value compares as typed or as its text, and
/// `error`/`span.kind` are also read from the span's status and kind.
fn tag_condition(key: &str, op: CmpOp, value: Value) -> SpanCond {
    let attr = |v: Value| SpanCond::Cmp {
        field: Field::Attribute {
            scope: Scope::Unscoped,
            name: key.to_string(),
        },
        op,
        value: v,
        regex: None,
    };
    let text = match &value {
        Value::Str(_) => None,
        other => Some(Value::Str(other.to_text())),
    };
    let mut cond = attr(value.clone());
    if let (Some(t), CmpOp::Eq | CmpOp::Ne) = (text, op) {
        let both = if op == CmpOp::Eq {
            SpanCond::Or
        } else {
            SpanCond::And
        };
        cond = both(Box::new(cond), Box::new(attr(t)));
    }
    let synthetic = match (key, &value) {
        ("error", Value::Bool(true)) => {
            Some((Intrinsic::Status, Value::Status(StatusValue::Error)))
        }
        ("error", Value::Str(s)) if s == "true" => {
            Some((Intrinsic::Status, Value::Status(StatusValue::Error)))
        }
        ("span.kind", Value::Str(s)) => {
            let k = spoor_model::span_kind_from_name(s);
            (k != 0).then_some((Intrinsic::Kind, Value::Kind(k)))
        }
        _ => None,
    };
    match (synthetic, op) {
        (Some((i, v)), CmpOp::Eq) => SpanCond::Or(
            Box::new(cond),
            Box::new(SpanCond::Cmp {
                field: Field::Intrinsic(i),
                op,
                value: v,
                regex: None,
            }),
        ),
        _ => cond,
    }
}

pub(crate) fn number(n: &str) -> Option<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Value::Int(i));
    }
    if let Ok(f) = n.parse::<f64>() {
        return Some(Value::Float(f));
    }
    let split = n.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = n.split_at(split);
    let factor: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0 && v * factor < u64::MAX as f64).then_some(Value::Duration((v * factor) as u64))
}

/// Parses `SELECT * FROM traces [WHERE …] [ORDER BY …] [LIMIT n]`.
pub fn parse_sql(text: &str) -> Result<SqlQuery, ParseError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            MAX_QUERY_LEN,
            format!("query longer than {MAX_QUERY_LEN} bytes"),
        ));
    }
    let mut p = P {
        toks: tokens(text)?,
        at: 0,
        depth: 0,
    };
    p.expect_kw("select")?;
    if *p.peek() != T::Star {
        return Err(p.err("'*' (the SQL form selects whole traces)"));
    }
    p.at += 1;
    p.expect_kw("from")?;
    p.expect_kw("traces")?;
    let cond = if p.keyword("where") {
        p.or()?
    } else {
        SpanCond::Const(true)
    };
    let mut order = TraceOrder::Newest;
    if p.keyword("order") {
        p.expect_kw("by")?;
        let by_duration = if p.keyword("duration") {
            true
        } else if p.keyword("start_time") || p.keyword("start") {
            false
        } else {
            return Err(p.err("duration or start_time"));
        };
        let desc = if p.keyword("desc") {
            true
        } else {
            p.keyword("asc");
            false
        };
        order = match (by_duration, desc) {
            (true, true) => TraceOrder::LongestFirst,
            (true, false) => TraceOrder::ShortestFirst,
            (false, true) => TraceOrder::Newest,
            (false, false) => TraceOrder::Oldest,
        };
    }
    let mut limit = None;
    if p.keyword("limit") {
        match p.peek().clone() {
            T::Num(n) => {
                let v = n.parse::<usize>().map_err(|_| p.err("a whole number"))?;
                limit = Some(v);
                p.at += 1;
            }
            _ => return Err(p.err("a whole number")),
        }
    }
    if *p.peek() != T::End {
        return Err(p.err("WHERE, AND, OR, ORDER BY, LIMIT or end of query"));
    }
    Ok(SqlQuery {
        query: Query {
            expr: SpansetExpr::Filter(cond),
        },
        order,
        limit,
    })
}
