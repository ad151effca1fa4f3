//! Tokens of the OTTL subset, each with its 1-based column.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub col: usize,
}

pub fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let single = |t: Tok| Token { tok: t, col };
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '(' => out.push(single(Tok::LParen)),
            ')' => out.push(single(Tok::RParen)),
            '[' => out.push(single(Tok::LBracket)),
            ']' => out.push(single(Tok::RBracket)),
            ',' => out.push(single(Tok::Comma)),
            '.' => out.push(single(Tok::Dot)),
            '+' => out.push(single(Tok::Plus)),
            '-' => out.push(single(Tok::Minus)),
            '*' => out.push(single(Tok::Star)),
            '/' => out.push(single(Tok::Slash)),
            '=' | '!' | '<' | '>' => {
                let next_eq = chars.get(i + 1) == Some(&'=');
                let tok = match (c, next_eq) {
                    ('=', true) => Tok::Eq,
                    ('!', true) => Tok::Ne,
                    ('<', true) => Tok::Le,
                    ('>', true) => Tok::Ge,
                    ('<', false) => Tok::Lt,
                    ('>', false) => Tok::Gt,
                    _ => {
                        return Err(ParseError::new(
                            col,
                            format!("unexpected {c:?}; comparisons are written == and !="),
                        ));
                    }
                };
                out.push(single(tok));
                i += if next_eq { 2 } else { 1 };
                continue;
            }
            '"' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(ParseError::new(col, "unterminated string")),
                        Some('"') => break,
                        Some('\\') => {
                            let esc = chars
                                .get(j + 1)
                                .ok_or_else(|| ParseError::new(j + 1, "unterminated string"))?;
                            match esc {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                '"' | '\\' => s.push(*esc),
                                // Kept as written, so regexes like "\d+" need no doubling.
                                other => {
                                    s.push('\\');
                                    s.push(*other);
                                }
                            }
                            j += 2;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            j += 1;
                        }
                    }
                }
                out.push(single(Tok::Str(s)));
                i = j + 1;
                continue;
            }
            c if c.is_ascii_digit() => {
                let start = i;
                if c == '0' && matches!(chars.get(i + 1), Some('x' | 'X')) {
                    let mut j = i + 2;
                    while chars.get(j).is_some_and(|c| c.is_ascii_hexdigit()) {
                        j += 1;
                    }
                    let hex: String = chars[i + 2..j].iter().collect();
                    if hex.is_empty() || !hex.len().is_multiple_of(2) {
                        return Err(ParseError::new(
                            col,
                            "bytes literal needs an even number of hex digits",
                        ));
                    }
                    let bytes = (0..hex.len())
                        .step_by(2)
                        .map(|k| u8::from_str_radix(&hex[k..k + 2], 16))
                        .collect::<Result<Vec<u8>, _>>()
                        .map_err(|e| ParseError::new(col, e.to_string()))?;
                    out.push(single(Tok::Bytes(bytes)));
                    i = j;
                    continue;
                }
                let mut j = i;
                let mut float = false;
                while let Some(&d) = chars.get(j) {
                    if d.is_ascii_digit() {
                        j += 1;
                    } else if d == '.'
                        && !float
                        && chars.get(j + 1).is_some_and(char::is_ascii_digit)
                    {
                        float = true;
                        j += 1;
                    } else {
                        break;
                    }
                }
                let text: String = chars[start..j].iter().collect();
                let tok = if float {
                    Tok::Float(
                        text.parse()
                            .map_err(|_| ParseError::new(col, "invalid number"))?,
                    )
                } else {
                    Tok::Int(
                        text.parse()
                            .map_err(|_| ParseError::new(col, "integer out of range"))?,
                    )
                };
                out.push(single(tok));
                i = j;
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while chars
                    .get(j)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    j += 1;
                }
                out.push(single(Tok::Ident(chars[i..j].iter().collect())));
                i = j;
                continue;
            }
            other => {
                return Err(ParseError::new(
                    col,
                    format!("unexpected character {other:?}"),
                ));
            }
        }
        i += 1;
    }
    out.push(Token {
        tok: Tok::Eof,
        col: chars.len() + 1,
    });
    Ok(out)
}
