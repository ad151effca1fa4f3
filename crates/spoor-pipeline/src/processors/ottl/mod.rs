//! A subset of the OpenTelemetry Transformation Language (OTTL) for the `filter` and
//! `transform` processors: parsed once at build time (errors carry the 1-based column),
//! evaluated per span, span event or resource.
//!
//! Supported:
//! - Contexts: `span`, `spanevent`, `resource`. Paths may carry the context prefix of the newer
//!   Collector syntax (`span.name`, `spanevent.name`, `resource.attributes["k"]`).
//! - Span paths: `name`, `kind`, `status.code`, `status.message`, `attributes`,
//!   `attributes["k"]`, `trace_id`, `span_id`, `parent_span_id` (bytes; compare with `0x…`
//!   literals) and their `.string` forms (hex), `trace_state`, `start_time_unix_nano`,
//!   `end_time_unix_nano`, `dropped_attributes_count`, `resource.attributes["k"]`,
//!   `instrumentation_scope.name` / `.version`. `duration` (end − start in ns) is a Spoor
//!   extension; the portable form is `end_time_unix_nano - start_time_unix_nano`.
//! - Span event paths: `name`, `attributes`, `attributes["k"]`, `time_unix_nano`, and every
//!   span path prefixed by `span.`.
//! - Resource paths: `attributes`, `attributes["k"]`.
//! - Literals: strings (`"…"`; `\"`, `\\`, `\n`, `\t`, `\r` are escapes, any other backslash
//!   is kept so `"\d+"` and `"\\d+"` are the same regex), ints, floats, `true`, `false`, `nil`, bytes
//!   (`0x…`), lists (`["a", "b"]`), and the enums `STATUS_CODE_UNSET|OK|ERROR` and
//!   `SPAN_KIND_UNSPECIFIED|INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER`.
//! - Operators: `==`, `!=`, `<`, `<=`, `>`, `>=`, `and`, `or`, `not`, parentheses, and
//!   `+ - * /` on two ints or two floats. Values of different types are never equal and never
//!   ordered (as in OTTL); a missing attribute is `nil`.
//! - Converters: `IsMatch(target, "regex")` (unanchored; false for nil), `Concat([…], "sep")`,
//!   `ToLowerCase`, `ToUpperCase`, `Len` (characters, list or map entries), `Int`, `Double`
//!   (nil when a string does not parse), `SHA256` (hex), `Substring(s, start, length)`.
//! - Editors (transform statements): `set(target, value)`, `delete_key(map, "k")`,
//!   `delete_matching_keys(map, "regex")`, `keep_keys(map, ["k", …])`,
//!   `replace_pattern(target, "regex", "replacement")` (`$1`, `${name}`),
//!   `replace_all_patterns(map, "key"|"value", "regex", "replacement")`,
//!   `truncate_all(map, limit)`, `limit(map, limit, ["priority", …])`; each optionally followed
//!   by `where <condition>`.

mod eval;
mod lexer;
mod parser;

pub use eval::EvalCtx;

/// Where statements and conditions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Span,
    SpanEvent,
    Resource,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Span => "span",
            Context::SpanEvent => "spanevent",
            Context::Resource => "resource",
        }
    }
}

/// A syntax or validation error at a 1-based column of the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {col}: {message}")]
pub struct ParseError {
    pub col: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(col: usize, message: impl Into<String>) -> Self {
        Self {
            col,
            message: message.into(),
        }
    }
}

/// A parsed boolean condition.
#[derive(Debug, Clone)]
pub struct Condition(parser::Expr);

impl Condition {
    pub fn parse(src: &str, ctx: Context) -> Result<Self, ParseError> {
        parser::parse_condition(src, ctx).map(Condition)
    }

    /// Whether the condition holds; an error when a value has the wrong type.
    pub fn eval(&self, ctx: &EvalCtx<'_>) -> Result<bool, String> {
        eval::truth(ctx, &self.0)
    }
}

/// A parsed editor statement with its optional `where` condition.
#[derive(Debug, Clone)]
pub struct Statement {
    editor: parser::Editor,
    condition: Option<parser::Expr>,
}

impl Statement {
    pub fn parse(src: &str, ctx: Context) -> Result<Self, ParseError> {
        parser::parse_statement(src, ctx).map(|(editor, condition)| Statement { editor, condition })
    }

    /// Runs the editor if the condition holds.
    pub fn execute(&self, ctx: &mut EvalCtx<'_>) -> Result<(), String> {
        if let Some(c) = &self.condition
            && !eval::truth(ctx, c)?
        {
            return Ok(());
        }
        eval::execute(ctx, &self.editor)
    }
}

/// The context a flat statement names through its path prefixes (`spanevent.` → spanevent,
/// `span.` → span, only `resource.` → resource; no prefix → span), for the flat
/// `trace_statements` form. Prefixes inside strings do not count.
pub fn infer_context(src: &str) -> Context {
    let Ok(toks) = lexer::lex(src) else {
        return Context::Span;
    };
    let mut found = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let after_dot = i > 0 && toks[i - 1].tok == lexer::Tok::Dot;
        let before_dot = toks.get(i + 1).is_some_and(|n| n.tok == lexer::Tok::Dot);
        if let lexer::Tok::Ident(name) = &t.tok
            && before_dot
            && !after_dot
        {
            found.push(name.as_str());
        }
    }
    if found.contains(&"spanevent") {
        Context::SpanEvent
    } else if found.contains(&"span") {
        Context::Span
    } else if found.contains(&"resource") {
        Context::Resource
    } else {
        Context::Span
    }
}

#[cfg(test)]
mod tests;
