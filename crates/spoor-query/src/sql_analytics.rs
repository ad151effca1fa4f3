//! Analytics SQL over spans, evaluated natively on the [`plan`](crate::plan):
//! `SELECT service.name, quantile(duration, 0.99), count(*) FROM spans WHERE kind = 'server'
//! GROUP BY 1 ORDER BY 2 DESC LIMIT 10`.
//!
//! Each span is a row. `WHERE` takes the conditions of the SQL form (see [`crate::sql`]) and is
//! evaluated span by span. Group keys: `service.name`, `operation.name` (or `name`),
//! `tags.<key>` (span, then resource attribute), `span.<key>`, `resource.<key>`, `status`,
//! `kind`. Aggregates: `count(*)`, `count(x)`, `sum(x)`, `avg(x)`, `min(x)`, `max(x)`,
//! `quantile(x, q)` with `q` in `[0, 1]`; `x` is `duration` (in milliseconds) or a numeric
//! attribute. Quantiles are exact (linear interpolation between the two closest ranks, as
//! `quantile_over_time` computes them), not estimated from a histogram. `GROUP BY` names
//! select items by position or by name; `ORDER BY` takes positions, names or aliases (`AS`),
//! `ASC`/`DESC`; without it rows are ordered by their keys. `LIMIT n`, at most
//! [`MAX_ANALYTICS_ROWS`].
//!
//! Rows come from the newest [`PLAN_CANDIDATE_LIMIT`] traces of the window that storage's
//! pushdown leaves; the answer says when that bound was reached (`truncated`).

use std::collections::HashMap;

use serde::Serialize;
use spoor_storage::ScanRequest;

use crate::metrics::quantile;
use crate::plan::{Field, Intrinsic, Query, Scope, SpanCond, SpansetExpr, TraceContext, Value};
use crate::plan::{evaluate, field_values};
use crate::search::PLAN_CANDIDATE_LIMIT;
use crate::service::{QueryError, QueryService};
use crate::sql::{P, T, scoped_attribute, tokens};
use crate::traceql::{MAX_QUERY_LEN, ParseError};

/// Most rows (and groups) one analytics query returns.
pub const MAX_ANALYTICS_ROWS: usize = 10_000;

/// An aggregate function.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// `count(*)`: spans in the group.
    CountAll,
    /// `count(x)`: spans of the group where `x` has a value.
    Count(Field),
    Sum(Field),
    Avg(Field),
    Min(Field),
    Max(Field),
    Quantile(Field, f64),
}

/// What a select item computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// A group key.
    Key(Field),
    Aggregate(Aggregate),
}

/// One select item and the name its column is reported under (its alias, or its text).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    pub column: Column,
    pub name: String,
    /// The canonical text (`quantile(duration, 0.99)`), which `ORDER BY` may repeat.
    text: String,
}

/// A parsed analytics query.
#[derive(Debug, Clone)]
pub struct AnalyticsQuery {
    pub items: Vec<SelectItem>,
    /// The spans that are rows.
    pub filter: Query,
    /// `(item index, descending)`.
    pub order: Vec<(usize, bool)>,
    pub limit: Option<usize>,
}

/// One column of the answer; `unit` is `ms` for durations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableColumn {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
}

/// The tabular answer: `{"columns":[{"name":"service.name"},…],"rows":[["cart",12.5,40]],…}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub columns: Vec<TableColumn>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Spans that satisfied `WHERE` in the window.
    pub spans_matched: u64,
    /// Traces read.
    pub traces_read: usize,
    /// True when the candidate bound or the group bound was reached: figures cover part of the
    /// window only.
    pub truncated: bool,
}

/// True when `text` is analytics SQL (`SELECT … FROM spans …`) rather than the trace form.
pub fn is_analytics(text: &str) -> bool {
    let Ok(toks) = tokens(text) else {
        return false;
    };
    toks.windows(2).any(|w| {
        matches!((&w[0].0, &w[1].0), (T::Word(f), T::Word(t))
            if f.eq_ignore_ascii_case("from") && t.eq_ignore_ascii_case("spans"))
    })
}

/// The field a select item, group key or aggregate argument names.
fn field_of(name: &str) -> Option<Field> {
    Some(match name.to_ascii_lowercase().as_str() {
        "duration" => Field::Intrinsic(Intrinsic::Duration),
        "service.name" | "service" => Field::Attribute {
            scope: Scope::Resource,
            name: "service.name".into(),
        },
        "operation.name" | "operation" | "name" => Field::Intrinsic(Intrinsic::Name),
        "status" => Field::Intrinsic(Intrinsic::Status),
        "kind" => Field::Intrinsic(Intrinsic::Kind),
        _ => match name.strip_prefix("tags.").filter(|k| !k.is_empty()) {
            Some(key) => Field::Attribute {
                scope: Scope::Unscoped,
                name: key.to_string(),
            },
            None => scoped_attribute(name)?,
        },
    })
}

const FIELDS: &str = "duration, service.name, operation.name, status, kind, tags.<key>, span.<key>, resource.<key>, event.<key>, link.<key> or instrumentation.<key>";

impl P {
    fn field(&mut self) -> Result<(Field, String), ParseError> {
        match self.peek().clone() {
            T::Word(w) => match field_of(&w) {
                Some(f) => {
                    self.at += 1;
                    Ok((f, w.to_ascii_lowercase()))
                }
                None => Err(ParseError::new(
                    self.pos(),
                    format!("unknown field '{w}': expected {FIELDS}"),
                )),
            },
            _ => Err(self.err(&format!("a field ({FIELDS})"))),
        }
    }

    fn expect_tok(&mut self, t: T, what: &str) -> Result<(), ParseError> {
        if *self.peek() == t {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// A select expression: a field, or an aggregate of one.
    fn expression(&mut self) -> Result<(Column, String), ParseError> {
        let is_call = matches!(self.toks.get(self.at + 1), Some((T::LParen, _)));
        let T::Word(name) = self.peek().clone() else {
            return Err(
                self.err("a field or an aggregate (count(*), sum, avg, min, max, quantile)")
            );
        };
        if !is_call {
            let (field, text) = self.field()?;
            return Ok((Column::Key(field), text));
        }
        let fname = name.to_ascii_lowercase();
        let fpos = self.pos();
        self.at += 2;
        let (agg, text) = match fname.as_str() {
            "count" if *self.peek() == T::Star => {
                self.at += 1;
                (Aggregate::CountAll, "count(*)".to_string())
            }
            "count" | "sum" | "avg" | "min" | "max" | "quantile" => {
                let (field, arg) = self.field()?;
                if fname == "quantile" {
                    self.expect_tok(T::Comma, "',' and a quantile between 0 and 1")?;
                    let qpos = self.pos();
                    let T::Num(qt) = self.peek().clone() else {
                        return Err(self.err("a quantile between 0 and 1"));
                    };
                    let q = qt
                        .parse::<f64>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .ok_or_else(|| {
                            ParseError::new(qpos, format!("quantile {qt} is not between 0 and 1"))
                        })?;
                    self.at += 1;
                    (
                        Aggregate::Quantile(field, q),
                        format!("quantile({arg}, {qt})"),
                    )
                } else {
                    let agg = match fname.as_str() {
                        "count" => Aggregate::Count(field),
                        "sum" => Aggregate::Sum(field),
                        "avg" => Aggregate::Avg(field),
                        "min" => Aggregate::Min(field),
                        _ => Aggregate::Max(field),
                    };
                    (agg, format!("{fname}({arg})"))
                }
            }
            _ => {
                return Err(ParseError::new(
                    fpos,
                    format!(
                        "unknown function '{name}': expected count, sum, avg, min, max or quantile"
                    ),
                ));
            }
        };
        self.expect_tok(T::RParen, "')'")?;
        Ok((Column::Aggregate(agg), text))
    }

    /// An item of `GROUP BY` or `ORDER BY`: a 1-based position, an alias or an expression.
    fn item_ref(&mut self, items: &[SelectItem]) -> Result<usize, ParseError> {
        let pos = self.pos();
        if let T::Num(n) = self.peek().clone() {
            self.at += 1;
            return n
                .parse::<usize>()
                .ok()
                .filter(|i| (1..=items.len()).contains(i))
                .map(|i| i - 1)
                .ok_or_else(|| {
                    ParseError::new(
                        pos,
                        format!("position {n} is not between 1 and {}", items.len()),
                    )
                });
        }
        if let T::Word(w) = self.peek().clone()
            && let Some(i) = items.iter().position(|it| it.name == w)
        {
            self.at += 1;
            return Ok(i);
        }
        let (_, text) = self.expression()?;
        items.iter().position(|it| it.text == text).ok_or_else(|| {
            ParseError::new(
                pos,
                format!(
                    "'{text}' is not in the select list: name a selected column or its position"
                ),
            )
        })
    }
}

/// Parses `SELECT items FROM spans [WHERE …] [GROUP BY …] [ORDER BY …] [LIMIT n]`.
pub fn parse_analytics(text: &str) -> Result<AnalyticsQuery, ParseError> {
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
    if *p.peek() == T::Star {
        return Err(p.err("columns (SELECT * is the trace form: SELECT * FROM traces)"));
    }
    let mut items = Vec::new();
    loop {
        let (column, text) = p.expression()?;
        let name = if p.keyword("as") {
            match p.peek().clone() {
                T::Word(w) | T::Str(w) => {
                    p.at += 1;
                    w
                }
                _ => return Err(p.err("an alias")),
            }
        } else {
            text.clone()
        };
        items.push(SelectItem { column, name, text });
        if *p.peek() != T::Comma {
            break;
        }
        p.at += 1;
    }
    p.expect_kw("from")?;
    p.expect_kw("spans")?;
    let cond = if p.keyword("where") {
        p.or()?
    } else {
        SpanCond::Const(true)
    };
    let mut grouped = Vec::new();
    let group_pos = p.pos();
    if p.keyword("group") {
        p.expect_kw("by")?;
        loop {
            grouped.push(p.item_ref(&items)?);
            if *p.peek() != T::Comma {
                break;
            }
            p.at += 1;
        }
    }
    let has_aggregate = items
        .iter()
        .any(|i| matches!(i.column, Column::Aggregate(_)));
    if !has_aggregate && grouped.is_empty() {
        return Err(ParseError::new(
            group_pos,
            "analytics SQL needs an aggregate or GROUP BY (SELECT * FROM traces lists traces)",
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if matches!(item.column, Column::Key(_)) && !grouped.contains(&i) {
            return Err(ParseError::new(
                group_pos,
                format!("'{}' must appear in GROUP BY or be aggregated", item.text),
            ));
        }
    }
    if let Some(&i) = grouped
        .iter()
        .find(|&&i| matches!(items[i].column, Column::Aggregate(_)))
    {
        return Err(ParseError::new(
            group_pos,
            format!("cannot GROUP BY the aggregate '{}'", items[i].text),
        ));
    }
    let mut order = Vec::new();
    if p.keyword("order") {
        p.expect_kw("by")?;
        loop {
            let i = p.item_ref(&items)?;
            let desc = p.keyword("desc");
            if !desc {
                p.keyword("asc");
            }
            order.push((i, desc));
            if *p.peek() != T::Comma {
                break;
            }
            p.at += 1;
        }
    }
    let mut limit = None;
    if p.keyword("limit") {
        let pos = p.pos();
        let T::Num(n) = p.peek().clone() else {
            return Err(p.err("a whole number"));
        };
        let v = n.parse::<usize>().map_err(|_| p.err("a whole number"))?;
        if v > MAX_ANALYTICS_ROWS {
            return Err(ParseError::new(
                pos,
                format!("limit {v} is over the maximum of {MAX_ANALYTICS_ROWS}"),
            ));
        }
        limit = Some(v);
        p.at += 1;
    }
    if *p.peek() != T::End {
        return Err(p.err("WHERE, GROUP BY, ORDER BY, LIMIT or end of query"));
    }
    Ok(AnalyticsQuery {
        items,
        filter: Query {
            expr: SpansetExpr::Filter(cond),
        },
        order,
        limit,
    })
}

/// A value as a number for aggregates: durations in milliseconds.
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Duration(d) => Some(*d as f64 / 1e6),
        other => other.as_f64(),
    }
}

fn cell(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Bool(b) => (*b).into(),
        Value::Float(_) | Value::Duration(_) => number(numeric(v)),
        other => other.to_text().into(),
    }
}

fn number(v: Option<f64>) -> serde_json::Value {
    v.and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Per group: the key cells, then per aggregate item its values (or, for `count(*)`, one 1.0
/// per span).
struct Group {
    keys: Vec<serde_json::Value>,
    values: Vec<Vec<f64>>,
}

fn aggregate_field(a: &Aggregate) -> Option<&Field> {
    match a {
        Aggregate::CountAll => None,
        Aggregate::Count(f)
        | Aggregate::Sum(f)
        | Aggregate::Avg(f)
        | Aggregate::Min(f)
        | Aggregate::Max(f)
        | Aggregate::Quantile(f, _) => Some(f),
    }
}

fn finish(a: &Aggregate, values: &mut [f64]) -> serde_json::Value {
    if let Aggregate::CountAll | Aggregate::Count(_) = a {
        return (values.len() as u64).into();
    }
    if values.is_empty() {
        return serde_json::Value::Null;
    }
    let v = match a {
        Aggregate::Sum(_) => values.iter().sum(),
        Aggregate::Avg(_) => values.iter().sum::<f64>() / values.len() as f64,
        Aggregate::Min(_) => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max(_) => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Quantile(_, q) => {
            values.sort_by(f64::total_cmp);
            quantile(values, *q)
        }
        Aggregate::CountAll | Aggregate::Count(_) => 0.0,
    };
    number(Some(v))
}

/// Orders cells: numbers by value, then strings, nulls last.
fn compare_cells(a: &serde_json::Value, b: &serde_json::Value) -> std::cmp::Ordering {
    use serde_json::Value as J;
    use std::cmp::Ordering;
    match (a, b) {
        (J::Null, J::Null) => Ordering::Equal,
        (J::Null, _) => Ordering::Greater,
        (_, J::Null) => Ordering::Less,
        (J::Number(x), J::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (J::Number(_), _) => Ordering::Less,
        (_, J::Number(_)) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

impl QueryService {
    /// The table of `q` over spans started in `[start, end]` (unix nanoseconds).
    pub async fn sql_analytics(
        &self,
        q: &AnalyticsQuery,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Result<Table, QueryError> {
        let push = q.filter.pushdown();
        let candidates = self
            .scan(&ScanRequest {
                limit: PLAN_CANDIDATE_LIMIT,
                ..crate::search::within(push, start, end)
            })
            .await?;
        let mut truncated = candidates.len() >= PLAN_CANDIDATE_LIMIT;
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut matched = 0u64;
        for trace in &candidates {
            let ctx = TraceContext::new(trace);
            for set in evaluate(&q.filter, &ctx) {
                for i in set.spans {
                    let t = ctx.spans[i].span.start_time_unix_nano;
                    if start.is_some_and(|s| t < s) || end.is_some_and(|e| t > e) {
                        continue;
                    }
                    matched += 1;
                    let mut keys = Vec::new();
                    for item in &q.items {
                        if let Column::Key(f) = &item.column {
                            keys.push(cell(
                                &field_values(f, &ctx, i)
                                    .into_iter()
                                    .next()
                                    .unwrap_or(Value::Nil),
                            ));
                        }
                    }
                    let id = serde_json::Value::Array(keys.clone()).to_string();
                    if !groups.contains_key(&id) && groups.len() >= MAX_ANALYTICS_ROWS {
                        truncated = true;
                        continue;
                    }
                    let group = groups.entry(id).or_insert_with(|| Group {
                        keys,
                        values: vec![Vec::new(); q.items.len()],
                    });
                    for (n, item) in q.items.iter().enumerate() {
                        let Column::Aggregate(a) = &item.column else {
                            continue;
                        };
                        let v = match aggregate_field(a) {
                            None => Some(1.0),
                            Some(f) => field_values(f, &ctx, i).iter().find_map(numeric),
                        };
                        if let Some(v) = v {
                            group.values[n].push(v);
                        }
                    }
                }
            }
        }
        let no_groups = !q.items.iter().any(|i| matches!(i.column, Column::Key(_)));
        if no_groups && groups.is_empty() {
            // Aggregates without GROUP BY give one row, even over no spans.
            groups.insert(
                String::new(),
                Group {
                    keys: Vec::new(),
                    values: vec![Vec::new(); q.items.len()],
                },
            );
        }
        let mut rows: Vec<Vec<serde_json::Value>> = groups
            .into_values()
            .map(|mut g| {
                let mut keys = g.keys.into_iter();
                q.items
                    .iter()
                    .enumerate()
                    .map(|(n, item)| match &item.column {
                        Column::Key(_) => keys.next().unwrap_or(serde_json::Value::Null),
                        Column::Aggregate(a) => finish(a, &mut g.values[n]),
                    })
                    .collect()
            })
            .collect();
        let order: Vec<(usize, bool)> = if q.order.is_empty() {
            (0..q.items.len())
                .filter(|i| matches!(q.items[*i].column, Column::Key(_)))
                .map(|i| (i, false))
                .collect()
        } else {
            q.order.clone()
        };
        rows.sort_by(|a, b| {
            order
                .iter()
                .map(|&(i, desc)| {
                    let o = compare_cells(&a[i], &b[i]);
                    if desc { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                .unwrap_or_else(|| {
                    a.iter()
                        .map(|c| c.to_string())
                        .cmp(b.iter().map(|c| c.to_string()))
                })
        });
        rows.truncate(q.limit.unwrap_or(MAX_ANALYTICS_ROWS));
        let columns = q
            .items
            .iter()
            .map(|item| TableColumn {
                name: item.name.clone(),
                unit: match &item.column {
                    Column::Key(Field::Intrinsic(Intrinsic::Duration)) => Some("ms"),
                    Column::Aggregate(a) => match (a, aggregate_field(a)) {
                        (Aggregate::Count(_), _) => None,
                        (_, Some(Field::Intrinsic(Intrinsic::Duration))) => Some("ms"),
                        _ => None,
                    },
                    _ => None,
                },
            })
            .collect();
        Ok(Table {
            columns,
            rows,
            spans_matched: matched,
            traces_read: candidates.len(),
            truncated,
        })
    }
}
