//! TraceQL metrics queries: `{ … } | rate() by (resource.service.name)`,
//! `count_over_time()`, `quantile_over_time(duration, .5, .99)`, `min_over_time(f)`,
//! `max_over_time(f)`, `avg_over_time(f)`, `sum_over_time(f)`, `histogram_over_time(f)`.

use super::lexer::{Tok, lex};
use super::{MAX_QUERY_LEN, ParseError, Parser};
use crate::plan::{Field, Query};

/// The function of a metrics query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFn {
    Rate,
    CountOverTime,
    MinOverTime(Field),
    MaxOverTime(Field),
    AvgOverTime(Field),
    SumOverTime(Field),
    /// Quantiles in `[0, 1]`.
    QuantileOverTime(Field, Vec<f64>),
    /// Spans counted per power-of-two bucket of the field, as Tempo does: one series per
    /// bucket, labelled `__bucket` with the bucket's upper bound (seconds for durations).
    HistogramOverTime(Field),
}

/// A parsed metrics query: the spans to measure, the function, the series' labels.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    pub spans: Query,
    pub function: MetricsFn,
    pub by: Vec<Field>,
}

const FUNCTIONS: [&str; 8] = [
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
];

/// Parses `SPANSET_QUERY | FUNCTION(...) [by (FIELD, ...)]`.
pub fn parse_metrics(text: &str) -> Result<MetricsQuery, ParseError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            MAX_QUERY_LEN,
            format!("query longer than {MAX_QUERY_LEN} bytes"),
        ));
    }
    let tokens = lex(text)?;
    let split = tokens.windows(2).rposition(|w| {
        w[0].0 == Tok::Pipe && matches!(&w[1].0, Tok::Ident(n) if FUNCTIONS.contains(&n.as_str()))
    });
    let Some(split) = split else {
        return Err(ParseError::new(
            text.len(),
            "expected a metrics function after '|': rate(), count_over_time(), quantile_over_time(), histogram_over_time(), min/max/avg/sum_over_time()",
        ));
    };
    let mut head: Vec<(Tok, usize)> = tokens[..split].to_vec();
    head.push((Tok::Eof, tokens[split].1));
    let mut p = Parser {
        tokens: head,
        at: 0,
        depth: 0,
    };
    let expr = p.pipeline()?;
    p.expect(&Tok::Eof, "'|' followed by a metrics function")?;
    let mut p = Parser {
        tokens: tokens[split + 1..].to_vec(),
        at: 0,
        depth: 0,
    };
    let Tok::Ident(name) = p.bump() else {
        return Err(p.error("a metrics function"));
    };
    p.expect(&Tok::LParen, "'('")?;
    let function = match name.as_str() {
        "rate" => MetricsFn::Rate,
        "count_over_time" => MetricsFn::CountOverTime,
        _ => {
            let field = p.field()?;
            match name.as_str() {
                "min_over_time" => MetricsFn::MinOverTime(field),
                "max_over_time" => MetricsFn::MaxOverTime(field),
                "avg_over_time" => MetricsFn::AvgOverTime(field),
                "sum_over_time" => MetricsFn::SumOverTime(field),
                "histogram_over_time" => MetricsFn::HistogramOverTime(field),
                _ => {
                    let mut qs = Vec::new();
                    while p.eat(&Tok::Comma) {
                        let pos = p.pos();
                        let q = match p.bump() {
                            Tok::Float(f) => f,
                            Tok::Int(i) => i as f64,
                            // `.99`, as Tempo's documentation writes quantiles.
                            Tok::Ident(t) if t.starts_with('.') => {
                                format!("0{t}").parse::<f64>().map_err(|_| {
                                    ParseError::new(pos, "expected a quantile between 0 and 1")
                                })?
                            }
                            _ => {
                                return Err(ParseError::new(
                                    pos,
                                    "expected a quantile between 0 and 1",
                                ));
                            }
                        };
                        if !(0.0..=1.0).contains(&q) {
                            return Err(ParseError::new(
                                pos,
                                format!("quantile {q} is not between 0 and 1"),
                            ));
                        }
                        qs.push(q);
                    }
                    if qs.is_empty() {
                        return Err(p.error("',' and at least one quantile"));
                    }
                    MetricsFn::QuantileOverTime(field, qs)
                }
            }
        }
    };
    p.expect(&Tok::RParen, "')'")?;
    let mut by = Vec::new();
    if matches!(p.peek(), Tok::Ident(n) if n == "by") {
        p.bump();
        p.expect(&Tok::LParen, "'('")?;
        by.push(p.field()?);
        while p.eat(&Tok::Comma) {
            by.push(p.field()?);
        }
        p.expect(&Tok::RParen, "',' or ')'")?;
    }
    p.expect(&Tok::Eof, "'by (...)' or end of query")?;
    Ok(MetricsQuery {
        spans: Query { expr },
        function,
        by,
    })
}
