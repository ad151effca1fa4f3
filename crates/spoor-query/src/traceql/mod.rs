//! TraceQL, parsed by hand (recursive descent) into the query [`plan`](crate::plan).
//!
//! Hand-written rather than a parser crate: the grammar is small, errors must carry the byte
//! position and what was expected, and depth must be bounded (a 10,000-deep nesting is an error,
//! not a stack overflow), which is simplest to guarantee in our own descent.
//! Bounds: [`MAX_QUERY_LEN`] bytes, [`MAX_DEPTH`] nested groups, [`MAX_REGEX_SIZE`] compiled regex.

mod lexer;
mod metrics;

pub use metrics::{MetricsFn, MetricsQuery, parse_metrics};

use regex::RegexBuilder;

use crate::plan::{
    Aggregate, CmpOp, Field, Intrinsic, Query, Relation, Scope, SpanCond, SpansetExpr, Stage,
    StatusValue, Value,
};
use lexer::{Tok, lex};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 64 * 1024;
/// Deepest nesting of parentheses and braces accepted.
pub const MAX_DEPTH: usize = 64;
/// Largest compiled regex (bytes of regex program), so no pattern can exhaust memory.
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// A query that does not parse: where (byte offset) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at position {position}: {message}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// Parses a TraceQL query.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            MAX_QUERY_LEN,
            format!(
                "query is {} bytes, longer than the limit of {MAX_QUERY_LEN}",
                query.len()
            ),
        ));
    }
    let tokens = lex(query)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let expr = p.pipeline()?;
    p.expect(
        &Tok::Eof,
        "'|', '&&', '||', a structural operator or end of query",
    )?;
    Ok(Query { expr })
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
}

const FIELD_HELP: &str = "an intrinsic (name, status, statusMessage, kind, duration, span:*, trace:duration, trace:rootName, trace:rootService, event:name, ...) or an attribute (span.x, resource.x, event.x, link.x, instrumentation.x, .x)";

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens
            .get(self.at)
            .map(|(t, _)| t)
            .unwrap_or(&Tok::Eof)
    }

    fn pos(&self) -> usize {
        self.tokens.get(self.at).map(|(_, p)| *p).unwrap_or(0)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, expected: &str) -> ParseError {
        ParseError::new(
            self.pos(),
            format!("expected {expected}, found {}", self.peek().describe()),
        )
    }

    fn expect(&mut self, t: &Tok, expected: &str) -> Result<(), ParseError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                self.pos(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn pipeline(&mut self) -> Result<SpansetExpr, ParseError> {
        let first = self.spanset_or()?;
        let mut stages = Vec::new();
        while self.eat(&Tok::Pipe) {
            stages.push(self.stage()?);
        }
        Ok(if stages.is_empty() {
            first
        } else {
            SpansetExpr::Pipeline(Box::new(first), stages)
        })
    }

    fn spanset_or(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_and()?;
        while self.eat(&Tok::OrOr) {
            lhs = SpansetExpr::Or(Box::new(lhs), Box::new(self.spanset_and()?));
        }
        Ok(lhs)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.structural()?;
        while self.eat(&Tok::AndAnd) {
            lhs = SpansetExpr::And(Box::new(lhs), Box::new(self.structural()?));
        }
        Ok(lhs)
    }

    fn structural(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_primary()?;
        loop {
            let rel = match self.peek() {
                Tok::Descendant => Relation::Descendant,
                Tok::Gt => Relation::Child,
                Tok::Ancestor => Relation::Ancestor,
                Tok::Lt => Relation::Parent,
                Tok::Tilde => Relation::Sibling,
                _ => return Ok(lhs),
            };
            self.bump();
            lhs = SpansetExpr::Structural(Box::new(lhs), rel, Box::new(self.spanset_primary()?));
        }
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, ParseError> {
        self.enter()?;
        let out = match self.peek() {
            Tok::LBrace => Ok(SpansetExpr::Filter(self.braced_cond()?)),
            Tok::LParen => {
                self.bump();
                let inner = self.pipeline()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(inner)
            }
            _ => Err(self.error("a spanset filter '{ ... }' or '('")),
        };
        self.depth -= 1;
        out
    }

    fn braced_cond(&mut self) -> Result<SpanCond, ParseError> {
        self.expect(&Tok::LBrace, "'{'")?;
        if self.eat(&Tok::RBrace) {
            return Ok(SpanCond::Const(true));
        }
        let cond = self.cond_or()?;
        self.expect(&Tok::RBrace, "'}', '&&' or '||'")?;
        Ok(cond)
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        if *self.peek() == Tok::LBrace {
            return Ok(Stage::Filter(self.braced_cond()?));
        }
        let name = match self.peek() {
            Tok::Ident(n) => n.clone(),
            _ => {
                return Err(self.error(
                    "a pipeline stage: '{ ... }', count(), avg(), min(), max(), sum(), by(), select() or coalesce()",
                ));
            }
        };
        let aggregate = match name.as_str() {
            "count" => Some(Aggregate::Count),
            "avg" => Some(Aggregate::Avg),
            "min" => Some(Aggregate::Min),
            "max" => Some(Aggregate::Max),
            "sum" => Some(Aggregate::Sum),
            "by" | "select" | "coalesce" => None,
            _ => {
                return Err(self.error(
                    "a pipeline stage: '{ ... }', count(), avg(), min(), max(), sum(), by(), select() or coalesce()",
                ));
            }
        };
        self.bump();
        self.expect(&Tok::LParen, "'('")?;
        if let Some(aggregate) = aggregate {
            let field = if aggregate == Aggregate::Count {
                None
            } else {
                Some(self.field()?)
            };
            self.expect(&Tok::RParen, "')'")?;
            let op = self.cmp_op()?;
            let value = self.value()?;
            return Ok(Stage::Aggregate {
                aggregate,
                field,
                op,
                value,
            });
        }
        if name == "coalesce" {
            self.expect(&Tok::RParen, "')'")?;
            return Ok(Stage::Coalesce);
        }
        let mut fields = vec![self.field()?];
        while self.eat(&Tok::Comma) {
            fields.push(self.field()?);
        }
        self.expect(&Tok::RParen, "',' or ')'")?;
        Ok(if name == "by" {
            Stage::By(fields)
        } else {
            Stage::Select(fields)
        })
    }

    fn cond_or(&mut self) -> Result<SpanCond, ParseError> {
        let mut lhs = self.cond_and()?;
        while self.eat(&Tok::OrOr) {
            lhs = SpanCond::Or(Box::new(lhs), Box::new(self.cond_and()?));
        }
        Ok(lhs)
    }

    fn cond_and(&mut self) -> Result<SpanCond, ParseError> {
        let mut lhs = self.cond_unary()?;
        while self.eat(&Tok::AndAnd) {
            lhs = SpanCond::And(Box::new(lhs), Box::new(self.cond_unary()?));
        }
        Ok(lhs)
    }

    fn cond_unary(&mut self) -> Result<SpanCond, ParseError> {
        self.enter()?;
        let out = self.cond_unary_inner();
        self.depth -= 1;
        out
    }

    fn cond_unary_inner(&mut self) -> Result<SpanCond, ParseError> {
        match self.peek().clone() {
            Tok::Not => {
                self.bump();
                Ok(SpanCond::Not(Box::new(self.cond_unary()?)))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.cond_or()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(inner)
            }
            Tok::Ident(t) if t == "true" || t == "false" => {
                self.bump();
                Ok(SpanCond::Const(t == "true"))
            }
            _ => {
                let field = self.field()?;
                let op_pos = self.pos();
                let op = self.cmp_op()?;
                let value_pos = self.pos();
                let value = self.value()?;
                let regex = match (op, &value) {
                    (CmpOp::Re | CmpOp::NotRe, Value::Str(pattern)) => Some(
                        RegexBuilder::new(&format!("^(?:{pattern})$"))
                            .size_limit(MAX_REGEX_SIZE)
                            .dfa_size_limit(MAX_REGEX_SIZE)
                            .build()
                            .map_err(|e| {
                                ParseError::new(value_pos, format!("invalid regex: {e}"))
                            })?,
                    ),
                    (CmpOp::Re | CmpOp::NotRe, _) => {
                        return Err(ParseError::new(
                            value_pos,
                            "expected a string after '=~' or '!~'",
                        ));
                    }
                    (CmpOp::Eq | CmpOp::Ne, _)
                    | (_, Value::Int(_) | Value::Float(_) | Value::Duration(_) | Value::Str(_)) => {
                        None
                    }
                    _ => {
                        return Err(ParseError::new(
                            op_pos,
                            format!("{} can only be compared with '=' or '!='", value.to_text()),
                        ));
                    }
                };
                Ok(SpanCond::Cmp {
                    field,
                    op,
                    value,
                    regex,
                })
            }
        }
    }

    fn cmp_op(&mut self) -> Result<CmpOp, ParseError> {
        let op = match self.peek() {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Re => CmpOp::Re,
            Tok::NotRe => CmpOp::NotRe,
            _ => return Err(self.error("a comparison (=, !=, >, >=, <, <=, =~, !~)")),
        };
        self.bump();
        Ok(op)
    }

    fn field(&mut self) -> Result<Field, ParseError> {
        let Tok::Ident(name) = self.peek().clone() else {
            return Err(self.error(FIELD_HELP));
        };
        let field = resolve_field(&name).ok_or_else(|| {
            ParseError::new(
                self.pos(),
                format!("unknown intrinsic or attribute '{name}': expected {FIELD_HELP}"),
            )
        })?;
        self.bump();
        Ok(field)
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        let value = match self.peek() {
            Tok::Str(s) => Value::Str(s.clone()),
            Tok::Int(i) => Value::Int(*i),
            Tok::Float(f) => Value::Float(*f),
            Tok::Duration(d) => Value::Duration(*d),
            Tok::Ident(word) => match word.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "nil" => Value::Nil,
                "error" => Value::Status(StatusValue::Error),
                "ok" => Value::Status(StatusValue::Ok),
                "unset" => Value::Status(StatusValue::Unset),
                "unspecified" => Value::Kind(0),
                "internal" => Value::Kind(1),
                "server" => Value::Kind(2),
                "client" => Value::Kind(3),
                "producer" => Value::Kind(4),
                "consumer" => Value::Kind(5),
                _ => return Err(self.error(VALUE_HELP)),
            },
            _ => return Err(self.error(VALUE_HELP)),
        };
        self.bump();
        Ok(value)
    }
}

const VALUE_HELP: &str = "a value (a \"string\", a number, a duration such as 100ms, true, false, nil, a status error/ok/unset or a kind server/client/producer/consumer/internal/unspecified)";

/// The field an identifier names, if any.
pub fn resolve_field(name: &str) -> Option<Field> {
    use Intrinsic as I;
    let intrinsic = match name {
        "name" | "span:name" => Some(I::Name),
        "status" | "span:status" => Some(I::Status),
        "statusMessage" | "span:statusMessage" => Some(I::StatusMessage),
        "kind" | "span:kind" => Some(I::Kind),
        "duration" | "span:duration" => Some(I::Duration),
        "span:id" => Some(I::SpanId),
        "span:parentID" => Some(I::ParentId),
        "trace:id" => Some(I::TraceId),
        "trace:duration" | "traceDuration" => Some(I::TraceDuration),
        "trace:rootName" | "rootName" => Some(I::RootName),
        "trace:rootService" | "rootServiceName" => Some(I::RootService),
        "event:name" => Some(I::EventName),
        "link:traceID" => Some(I::LinkTraceId),
        "link:spanID" => Some(I::LinkSpanId),
        "instrumentation:name" => Some(I::InstrumentationName),
        "instrumentation:version" => Some(I::InstrumentationVersion),
        _ => None,
    };
    if let Some(i) = intrinsic {
        return Some(Field::Intrinsic(i));
    }
    let scoped = [
        ("span.", Scope::Span),
        ("resource.", Scope::Resource),
        ("event.", Scope::Event),
        ("link.", Scope::Link),
        ("instrumentation.", Scope::Instrumentation),
        (".", Scope::Unscoped),
    ];
    scoped.iter().find_map(|(prefix, scope)| {
        name.strip_prefix(prefix)
            .filter(|rest| !rest.is_empty())
            .map(|rest| Field::Attribute {
                scope: *scope,
                name: rest.to_string(),
            })
    })
}

#[cfg(test)]
mod tests;
