//! Parser of the OTTL subset: conditions and editor statements, resolved against a context.

use regex::Regex;

use super::lexer::{Tok, Token, lex};
use super::{Context, ParseError};

/// A field a path names, resolved for the context.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    TraceId,
    SpanId,
    ParentSpanId,
    TraceIdString,
    SpanIdString,
    ParentSpanIdString,
    TraceState,
    StartTime,
    EndTime,
    Duration,
    DroppedAttributesCount,
    /// Span attributes, the whole map or one key.
    Attributes(Option<String>),
    ResourceAttributes(Option<String>),
    ScopeName,
    ScopeVersion,
    EventName,
    EventTime,
    EventAttributes(Option<String>),
}

impl Field {
    /// The map a map-valued field names, if it is one (no key).
    pub fn is_map(&self) -> bool {
        matches!(
            self,
            Field::Attributes(None)
                | Field::ResourceAttributes(None)
                | Field::EventAttributes(None)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    ToLowerCase,
    ToUpperCase,
    Len,
    Int,
    Double,
    Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub enum Expr {
    Lit(Lit),
    Path(Field),
    List(Vec<Expr>),
    IsMatch(Box<Expr>, Regex),
    Concat(Vec<Expr>, String),
    /// A one-argument converter: `ToLowerCase`, `ToUpperCase`, `Len`, `Int`, `Double`, `SHA256`.
    Unary(Unary, Box<Expr>),
    Substring(Box<Expr>, i64, i64),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
}

/// An editor with validated arguments.
#[derive(Debug, Clone)]
pub enum Editor {
    Set(Field, Expr),
    DeleteKey(Field, String),
    DeleteMatchingKeys(Field, Regex),
    KeepKeys(Field, Vec<String>),
    ReplacePattern(Field, Regex, String),
    ReplaceAllPatterns(Field, bool, Regex, String),
    TruncateAll(Field, usize),
    Limit(Field, usize, Vec<String>),
}

/// Raw call or argument before validation, with its column.
#[derive(Debug, Clone)]
struct Arg {
    expr: Expr,
    col: usize,
}

const ENUMS: [(&str, i64); 9] = [
    ("STATUS_CODE_UNSET", 0),
    ("STATUS_CODE_OK", 1),
    ("STATUS_CODE_ERROR", 2),
    ("SPAN_KIND_UNSPECIFIED", 0),
    ("SPAN_KIND_INTERNAL", 1),
    ("SPAN_KIND_SERVER", 2),
    ("SPAN_KIND_CLIENT", 3),
    ("SPAN_KIND_PRODUCER", 4),
    ("SPAN_KIND_CONSUMER", 5),
];

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    ctx: Context,
}

pub fn parse_condition(src: &str, ctx: Context) -> Result<Expr, ParseError> {
    let mut p = Parser::new(src, ctx)?;
    let col = p.col();
    let e = p.or()?;
    p.expect_eof()?;
    check_boolean(&e, col)?;
    Ok(e)
}

pub fn parse_statement(src: &str, ctx: Context) -> Result<(Editor, Option<Expr>), ParseError> {
    let mut p = Parser::new(src, ctx)?;
    let col = p.col();
    let name = match p.next().tok {
        Tok::Ident(n) => n,
        _ => {
            return Err(ParseError::new(
                col,
                "a statement starts with an editor such as set(...)",
            ));
        }
    };
    p.expect(&Tok::LParen, "(")?;
    let args = p.args(Tok::RParen)?;
    let editor = build_editor(&name, col, args)?;
    let cond = match p.peek() {
        Tok::Ident(w) if w == "where" => {
            p.pos += 1;
            let ccol = p.col();
            let e = p.or()?;
            check_boolean(&e, ccol)?;
            Some(e)
        }
        _ => None,
    };
    p.expect_eof()?;
    Ok((editor, cond))
}

fn check_boolean(e: &Expr, col: usize) -> Result<(), ParseError> {
    match e {
        Expr::Lit(Lit::Bool(_))
        | Expr::Not(_)
        | Expr::And(..)
        | Expr::Or(..)
        | Expr::Cmp(..)
        | Expr::IsMatch(..) => Ok(()),
        _ => Err(ParseError::new(
            col,
            "a condition must be a comparison, a boolean converter, true/false, or a combination with and/or/not",
        )),
    }
}

impl Parser {
    fn new(src: &str, ctx: Context) -> Result<Self, ParseError> {
        Ok(Self {
            toks: lex(src)?,
            pos: 0,
            ctx,
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn col(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].col
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ParseError> {
        if self.peek() == tok {
            self.pos += 1;
            Ok(())
        } else {
            Err(ParseError::new(
                self.col(),
                format!("expected {what}, found {}", describe(self.peek())),
            ))
        }
    }

    fn expect_eof(&self) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Eof => Ok(()),
            t => Err(ParseError::new(
                self.col(),
                format!("unexpected {}", describe(t)),
            )),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Tok::Ident(w) if w == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not()?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.keyword("not") {
            let col = self.col();
            let e = self.not()?;
            check_boolean(&e, col)?;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, ParseError> {
        let left = self.add()?;
        let op = match self.peek() {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.add()?;
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn add(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.mul()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => ArithOp::Add,
                Tok::Minus => ArithOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Arith(op, Box::new(left), Box::new(self.mul()?));
        }
    }

    fn mul(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.primary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => ArithOp::Mul,
                Tok::Slash => ArithOp::Div,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Arith(op, Box::new(left), Box::new(self.primary()?));
        }
    }

    fn args(&mut self, close: Tok) -> Result<Vec<Arg>, ParseError> {
        let mut args = Vec::new();
        if *self.peek() == close {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            let col = self.col();
            args.push(Arg {
                expr: self.or()?,
                col,
            });
            match self.next() {
                Token {
                    tok: Tok::Comma, ..
                } => continue,
                Token { tok, .. } if tok == close => return Ok(args),
                Token { tok, col } => {
                    return Err(ParseError::new(
                        col,
                        format!(
                            "expected , or {}, found {}",
                            describe(&close),
                            describe(&tok)
                        ),
                    ));
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let Token { tok, col } = self.next();
        Ok(match tok {
            Tok::Str(s) => Expr::Lit(Lit::Str(s)),
            Tok::Int(i) => Expr::Lit(Lit::Int(i)),
            Tok::Float(f) => Expr::Lit(Lit::Float(f)),
            Tok::Bytes(b) => Expr::Lit(Lit::Bytes(b)),
            Tok::Minus => match self.next().tok {
                Tok::Int(i) => Expr::Lit(Lit::Int(-i)),
                Tok::Float(f) => Expr::Lit(Lit::Float(-f)),
                _ => return Err(ParseError::new(col, "- must be followed by a number")),
            },
            Tok::LParen => {
                let e = self.or()?;
                self.expect(&Tok::RParen, ")")?;
                e
            }
            Tok::LBracket => Expr::List(
                self.args(Tok::RBracket)?
                    .into_iter()
                    .map(|a| a.expr)
                    .collect(),
            ),
            Tok::Ident(name) => match name.as_str() {
                "true" => Expr::Lit(Lit::Bool(true)),
                "false" => Expr::Lit(Lit::Bool(false)),
                "nil" => Expr::Lit(Lit::Nil),
                _ if *self.peek() == Tok::LParen => {
                    self.pos += 1;
                    let args = self.args(Tok::RParen)?;
                    converter(&name, col, args)?
                }
                _ if name.chars().next().is_some_and(char::is_uppercase) => {
                    match ENUMS.iter().find(|(n, _)| *n == name) {
                        Some((_, v)) => Expr::Lit(Lit::Int(*v)),
                        None => return Err(ParseError::new(col, format!("unknown enum {name}"))),
                    }
                }
                _ => Expr::Path(self.path(name, col)?),
            },
            other => {
                return Err(ParseError::new(
                    col,
                    format!("unexpected {}", describe(&other)),
                ));
            }
        })
    }

    fn path(&mut self, first: String, col: usize) -> Result<Field, ParseError> {
        let mut parts = vec![first];
        while *self.peek() == Tok::Dot {
            self.pos += 1;
            match self.next() {
                Token {
                    tok: Tok::Ident(n), ..
                } => parts.push(n),
                Token { col, .. } => return Err(ParseError::new(col, "expected a name after .")),
            }
        }
        let mut key = None;
        if *self.peek() == Tok::LBracket {
            self.pos += 1;
            match self.next() {
                Token {
                    tok: Tok::Str(k), ..
                } => key = Some(k),
                Token { col, .. } => {
                    return Err(ParseError::new(col, "expected a string key in [...]"));
                }
            }
            self.expect(&Tok::RBracket, "]")?;
            if *self.peek() == Tok::LBracket {
                return Err(ParseError::new(self.col(), "nested keys are not supported"));
            }
        }
        let joined = parts.join(".");
        resolve(self.ctx, &joined, key).ok_or_else(|| {
            ParseError::new(
                col,
                format!("unknown path {joined:?} in the {} context", self.ctx.name()),
            )
        })
    }
}

fn resolve(ctx: Context, path: &str, key: Option<String>) -> Option<Field> {
    let keyed = |f: fn(Option<String>) -> Field| Some(f(key.clone()));
    let plain = |f: Field| if key.is_some() { None } else { Some(f) };
    if let Some(rest) = path.strip_prefix("resource.") {
        return match rest {
            "attributes" => keyed(Field::ResourceAttributes),
            _ => None,
        };
    }
    if let Some(rest) = path
        .strip_prefix("instrumentation_scope.")
        .or_else(|| path.strip_prefix("scope."))
    {
        return match rest {
            "name" => plain(Field::ScopeName),
            "version" => plain(Field::ScopeVersion),
            _ => None,
        };
    }
    let span_field = |p: &str| -> Option<Field> {
        match p {
            "attributes" => keyed(Field::Attributes),
            "name" => plain(Field::Name),
            "kind" => plain(Field::Kind),
            "status.code" => plain(Field::StatusCode),
            "status.message" => plain(Field::StatusMessage),
            "trace_id" => plain(Field::TraceId),
            "span_id" => plain(Field::SpanId),
            "parent_span_id" => plain(Field::ParentSpanId),
            "trace_id.string" => plain(Field::TraceIdString),
            "span_id.string" => plain(Field::SpanIdString),
            "parent_span_id.string" => plain(Field::ParentSpanIdString),
            "trace_state" => plain(Field::TraceState),
            "start_time_unix_nano" => plain(Field::StartTime),
            "end_time_unix_nano" => plain(Field::EndTime),
            "duration" => plain(Field::Duration),
            "dropped_attributes_count" => plain(Field::DroppedAttributesCount),
            _ => None,
        }
    };
    match ctx {
        Context::Resource => match path {
            "attributes" => keyed(Field::ResourceAttributes),
            _ => None,
        },
        Context::Span => span_field(path.strip_prefix("span.").unwrap_or(path)),
        Context::SpanEvent => {
            if let Some(rest) = path.strip_prefix("span.") {
                return span_field(rest);
            }
            match path.strip_prefix("spanevent.").unwrap_or(path) {
                "name" => plain(Field::EventName),
                "attributes" => keyed(Field::EventAttributes),
                "time_unix_nano" => plain(Field::EventTime),
                _ => None,
            }
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(n) => format!("{n:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => format!("number {i}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Bytes(_) => "bytes literal".into(),
        Tok::Eof => "end of input".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::Comma => ",".into(),
        Tok::Dot => ".".into(),
        Tok::Eq => "==".into(),
        Tok::Ne => "!=".into(),
        Tok::Lt => "<".into(),
        Tok::Le => "<=".into(),
        Tok::Gt => ">".into(),
        Tok::Ge => ">=".into(),
        Tok::Plus => "+".into(),
        Tok::Minus => "-".into(),
        Tok::Star => "*".into(),
        Tok::Slash => "/".into(),
    }
}

fn arity(
    name: &str,
    col: usize,
    args: &[Arg],
    n: std::ops::RangeInclusive<usize>,
) -> Result<(), ParseError> {
    if n.contains(&args.len()) {
        Ok(())
    } else {
        Err(ParseError::new(
            col,
            format!(
                "{name} takes {} arguments, got {}",
                if n.start() == n.end() {
                    n.start().to_string()
                } else {
                    format!("{}-{}", n.start(), n.end())
                },
                args.len()
            ),
        ))
    }
}

fn string_arg(a: &Arg, what: &str) -> Result<String, ParseError> {
    match &a.expr {
        Expr::Lit(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(ParseError::new(
            a.col,
            format!("{what} must be a string literal"),
        )),
    }
}

fn regex_arg(a: &Arg) -> Result<Regex, ParseError> {
    let s = string_arg(a, "the pattern")?;
    Regex::new(&s).map_err(|e| {
        ParseError::new(
            a.col,
            format!(
                "invalid regex {s:?}: {}",
                e.to_string().lines().last().unwrap_or_default().trim()
            ),
        )
    })
}

fn int_arg(a: &Arg, what: &str) -> Result<usize, ParseError> {
    match &a.expr {
        Expr::Lit(Lit::Int(i)) if *i >= 0 => {
            usize::try_from(*i).map_err(|_| ParseError::new(a.col, "too large"))
        }
        _ => Err(ParseError::new(
            a.col,
            format!("{what} must be a non-negative integer"),
        )),
    }
}

fn strings_arg(a: &Arg, what: &str) -> Result<Vec<String>, ParseError> {
    match &a.expr {
        Expr::List(items) => items
            .iter()
            .map(|e| match e {
                Expr::Lit(Lit::Str(s)) => Ok(s.clone()),
                _ => Err(ParseError::new(
                    a.col,
                    format!("{what} must be a list of strings"),
                )),
            })
            .collect(),
        _ => Err(ParseError::new(
            a.col,
            format!("{what} must be a list of strings"),
        )),
    }
}

fn target_arg(a: &Arg) -> Result<Field, ParseError> {
    match &a.expr {
        Expr::Path(f) => Ok(f.clone()),
        _ => Err(ParseError::new(
            a.col,
            "the target must be a path such as attributes[\"key\"]",
        )),
    }
}

fn map_arg(a: &Arg) -> Result<Field, ParseError> {
    let f = target_arg(a)?;
    if f.is_map() {
        Ok(f)
    } else {
        Err(ParseError::new(
            a.col,
            "the target must be a map such as attributes",
        ))
    }
}

fn converter(name: &str, col: usize, mut args: Vec<Arg>) -> Result<Expr, ParseError> {
    match name {
        "IsMatch" => {
            arity(name, col, &args, 2..=2)?;
            let re = regex_arg(&args[1])?;
            let target = args.swap_remove(0).expr;
            Ok(Expr::IsMatch(Box::new(target), re))
        }
        "Concat" => {
            arity(name, col, &args, 2..=2)?;
            let sep = string_arg(&args[1], "the delimiter")?;
            match args.swap_remove(0).expr {
                Expr::List(items) => Ok(Expr::Concat(items, sep)),
                _ => Err(ParseError::new(col, "Concat takes a list of values")),
            }
        }
        "ToLowerCase" | "ToUpperCase" | "Len" | "Int" | "Double" | "SHA256" => {
            arity(name, col, &args, 1..=1)?;
            let op = match name {
                "ToLowerCase" => Unary::ToLowerCase,
                "ToUpperCase" => Unary::ToUpperCase,
                "Len" => Unary::Len,
                "Int" => Unary::Int,
                "Double" => Unary::Double,
                _ => Unary::Sha256,
            };
            Ok(Expr::Unary(op, Box::new(args.swap_remove(0).expr)))
        }
        "Substring" => {
            arity(name, col, &args, 3..=3)?;
            let num = |a: &Arg| match a.expr {
                Expr::Lit(Lit::Int(i)) if i >= 0 => Ok(i),
                _ => Err(ParseError::new(a.col, "must be a non-negative integer")),
            };
            let (start, len) = (num(&args[1])?, num(&args[2])?);
            Ok(Expr::Substring(
                Box::new(args.swap_remove(0).expr),
                start,
                len,
            ))
        }
        _ if name.chars().next().is_some_and(char::is_lowercase) => Err(ParseError::new(
            col,
            format!("editor {name} cannot be used as a value"),
        )),
        _ => Err(ParseError::new(
            col,
            format!(
                "unknown converter {name}; supported: IsMatch, Concat, ToLowerCase, ToUpperCase, Len, Int, Double, SHA256, Substring"
            ),
        )),
    }
}

fn build_editor(name: &str, col: usize, mut args: Vec<Arg>) -> Result<Editor, ParseError> {
    Ok(match name {
        "set" => {
            arity(name, col, &args, 2..=2)?;
            let target = target_arg(&args[0])?;
            if matches!(
                target,
                Field::Duration
                    | Field::TraceIdString
                    | Field::SpanIdString
                    | Field::ParentSpanIdString
                    | Field::ScopeName
                    | Field::ScopeVersion
            ) {
                return Err(ParseError::new(args[0].col, "this path cannot be set"));
            }
            Editor::Set(target, args.swap_remove(1).expr)
        }
        "delete_key" => {
            arity(name, col, &args, 2..=2)?;
            Editor::DeleteKey(map_arg(&args[0])?, string_arg(&args[1], "the key")?)
        }
        "delete_matching_keys" => {
            arity(name, col, &args, 2..=2)?;
            Editor::DeleteMatchingKeys(map_arg(&args[0])?, regex_arg(&args[1])?)
        }
        "keep_keys" => {
            arity(name, col, &args, 2..=2)?;
            Editor::KeepKeys(map_arg(&args[0])?, strings_arg(&args[1], "the keys")?)
        }
        "replace_pattern" => {
            arity(name, col, &args, 3..=3)?;
            Editor::ReplacePattern(
                target_arg(&args[0])?,
                regex_arg(&args[1])?,
                string_arg(&args[2], "the replacement")?,
            )
        }
        "replace_all_patterns" => {
            arity(name, col, &args, 4..=4)?;
            let mode = string_arg(&args[1], "the mode")?;
            let keys = match mode.as_str() {
                "key" => true,
                "value" => false,
                _ => {
                    return Err(ParseError::new(
                        args[1].col,
                        "the mode must be \"key\" or \"value\"",
                    ));
                }
            };
            Editor::ReplaceAllPatterns(
                map_arg(&args[0])?,
                keys,
                regex_arg(&args[2])?,
                string_arg(&args[3], "the replacement")?,
            )
        }
        "truncate_all" => {
            arity(name, col, &args, 2..=2)?;
            Editor::TruncateAll(map_arg(&args[0])?, int_arg(&args[1], "the limit")?)
        }
        "limit" => {
            arity(name, col, &args, 2..=3)?;
            let keys = match args.get(2) {
                Some(a) => strings_arg(a, "the priority keys")?,
                None => Vec::new(),
            };
            Editor::Limit(map_arg(&args[0])?, int_arg(&args[1], "the limit")?, keys)
        }
        _ => {
            return Err(ParseError::new(
                col,
                format!(
                    "unknown editor {name}; supported: set, delete_key, delete_matching_keys, keep_keys, replace_pattern, replace_all_patterns, truncate_all, limit"
                ),
            ));
        }
    })
}
