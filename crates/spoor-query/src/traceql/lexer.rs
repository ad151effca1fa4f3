//! TraceQL tokens, each with its byte offset in the query.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    AndAnd,
    OrOr,
    Not,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
    Descendant,
    Ancestor,
    Tilde,
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Duration(u64),
    Eof,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Duration(d) => format!("duration {d}ns"),
            Tok::Eof => "end of query".to_string(),
            other => format!("'{}'", symbol(other)),
        }
    }
}

fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Pipe => "|",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        Tok::Not => "!",
        Tok::Eq => "=",
        Tok::Ne => "!=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Re => "=~",
        Tok::NotRe => "!~",
        Tok::Descendant => ">>",
        Tok::Ancestor => "<<",
        Tok::Tilde => "~",
        _ => "?",
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/')
}

/// Splits `q` into tokens; the last is always [`Tok::Eof`].
pub(super) fn lex(q: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = q.char_indices().collect();
    let mut i = 0;
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    let pos = |i: usize| chars.get(i).map(|(p, _)| *p).unwrap_or(q.len());
    while let Some(c) = at(i) {
        let start = pos(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = (c, at(i + 1));
        let (tok, len) = match two {
            ('&', Some('&')) => (Tok::AndAnd, 2),
            ('|', Some('|')) => (Tok::OrOr, 2),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('!', Some('~')) => (Tok::NotRe, 2),
            ('=', Some('~')) => (Tok::Re, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('>', Some('>')) => (Tok::Descendant, 2),
            ('<', Some('<')) => (Tok::Ancestor, 2),
            ('{', _) => (Tok::LBrace, 1),
            ('}', _) => (Tok::RBrace, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('|', _) => (Tok::Pipe, 1),
            ('!', _) => (Tok::Not, 1),
            ('=', _) => (Tok::Eq, 1),
            ('>', _) => (Tok::Gt, 1),
            ('<', _) => (Tok::Lt, 1),
            ('~', _) => (Tok::Tilde, 1),
            _ => (Tok::Eof, 0),
        };
        if len > 0 {
            out.push((tok, start));
            i += len;
            continue;
        }
        if c == '"' || c == '`' {
            let (s, next) = string(&chars, i, q.len())?;
            out.push((Tok::Str(s), start));
            i = next;
            continue;
        }
        if c.is_ascii_digit() || (c == '-' && at(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let (tok, next) = number(&chars, i, q)?;
            out.push((tok, start));
            i = next;
            continue;
        }
        if is_ident_char(c) {
            let mut name = String::new();
            while let Some(c) = at(i) {
                if is_ident_char(c) {
                    name.push(c);
                    i += 1;
                } else if c == '"' && name.ends_with('.') {
                    // span."attribute with spaces"
                    let (s, next) = string(&chars, i, q.len())?;
                    name.push_str(&s);
                    i = next;
                } else {
                    break;
                }
            }
            out.push((Tok::Ident(name), start));
            continue;
        }
        return Err(ParseError::new(
            start,
            format!("unexpected character {c:?}"),
        ));
    }
    out.push((Tok::Eof, q.len()));
    Ok(out)
}

fn string(chars: &[(usize, char)], open: usize, len: usize) -> Result<(String, usize), ParseError> {
    let (start, quote) = chars[open];
    let mut s = String::new();
    let mut i = open + 1;
    while let Some(&(_, c)) = chars.get(i) {
        if c == quote {
            return Ok((s, i + 1));
        }
        if c == '\\' && quote == '"' {
            i += 1;
            match chars.get(i).map(|(_, c)| *c) {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some(other) => s.push(other),
                None => break,
            }
        } else {
            s.push(c);
        }
        i += 1;
    }
    let _ = len;
    Err(ParseError::new(
        start,
        format!("unterminated string: expected a closing {quote}"),
    ))
}

const UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

fn number(chars: &[(usize, char)], mut i: usize, q: &str) -> Result<(Tok, usize), ParseError> {
    let start = chars[i].0;
    let end_of = |i: usize| chars.get(i).map(|(p, _)| *p).unwrap_or(q.len());
    let mut total_ns: Option<f64> = None;
    loop {
        let num_start = i;
        if chars.get(i).is_some_and(|(_, c)| *c == '-') {
            i += 1;
        }
        while chars
            .get(i)
            .is_some_and(|(_, c)| c.is_ascii_digit() || *c == '.')
        {
            i += 1;
        }
        let text = &q[end_of(num_start)..end_of(i)];
        let unit_start = i;
        while chars.get(i).is_some_and(|(_, c)| c.is_alphabetic()) {
            i += 1;
        }
        let unit = &q[end_of(unit_start)..end_of(i)];
        if unit.is_empty() {
            if total_ns.is_some() {
                return Err(ParseError::new(start, "expected a duration unit"));
            }
            let tok =
                match text.parse::<i64>() {
                    Ok(n) => Tok::Int(n),
                    Err(_) => Tok::Float(text.parse::<f64>().map_err(|_| {
                        ParseError::new(start, format!("malformed number {text:?}"))
                    })?),
                };
            return Ok((tok, i));
        }
        let factor = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                ParseError::new(
                    end_of(unit_start),
                    format!("unknown duration unit {unit:?}: expected ns, us, ms, s, m or h"),
                )
            })?;
        let n: f64 = text
            .parse()
            .map_err(|_| ParseError::new(start, format!("malformed number {text:?}")))?;
        if n < 0.0 {
            return Err(ParseError::new(start, "a duration cannot be negative"));
        }
        total_ns = Some(total_ns.unwrap_or(0.0) + n * factor as f64);
        if !chars.get(i).is_some_and(|(_, c)| c.is_ascii_digit()) {
            break;
        }
    }
    let ns = total_ns.unwrap_or(0.0);
    if ns > u64::MAX as f64 {
        return Err(ParseError::new(start, "duration too large"));
    }
    Ok((Tok::Duration(ns as u64), i))
}
