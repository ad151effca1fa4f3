//! Evaluation of parsed OTTL expressions and editors against one span, event or resource.

use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::Event;
use spoor_model::{Span, Status};

use sha2::Digest;

use super::parser::{ArithOp, CmpOp, Editor, Expr, Field, Lit, Unary};
use crate::processors::common;

/// What a statement or condition sees: the resource, the scope, and (by context) the span and
/// the span event.
pub struct EvalCtx<'a> {
    pub resource: Option<&'a mut Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub span: Option<&'a mut Span>,
    pub event: Option<&'a mut Event>,
}

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// A map or array value, or a whole attribute map.
    Other(AnyValue),
    List(Vec<Val>),
}

impl Val {
    fn from_any(v: Option<&AnyValue>) -> Val {
        match v.and_then(|v| v.value.as_ref()) {
            None => Val::Nil,
            Some(Value::StringValue(s)) => Val::Str(s.clone()),
            Some(Value::BoolValue(b)) => Val::Bool(*b),
            Some(Value::IntValue(i)) => Val::Int(*i),
            Some(Value::DoubleValue(d)) => Val::Float(*d),
            Some(Value::BytesValue(b)) => Val::Bytes(b.clone()),
            Some(_) => v.cloned().map(Val::Other).unwrap_or(Val::Nil),
        }
    }

    fn into_any(self) -> Option<AnyValue> {
        let v = match self {
            Val::Nil => return None,
            Val::Bool(b) => Value::BoolValue(b),
            Val::Int(i) => Value::IntValue(i),
            Val::Float(f) => Value::DoubleValue(f),
            Val::Str(s) => Value::StringValue(s),
            Val::Bytes(b) => Value::BytesValue(b),
            Val::Other(a) => return Some(a),
            Val::List(items) => Value::ArrayValue(spoor_model::otlp_common::ArrayValue {
                values: items.into_iter().filter_map(Val::into_any).collect(),
            }),
        };
        Some(AnyValue { value: Some(v) })
    }

    fn as_text(&self) -> Option<String> {
        match self {
            Val::Nil | Val::List(_) => None,
            Val::Str(s) => Some(s.clone()),
            Val::Bool(b) => Some(b.to_string()),
            Val::Int(i) => Some(i.to_string()),
            Val::Float(f) => Some(spoor_model::attr::format_double(*f)),
            Val::Bytes(b) => Some(common::hex(b)),
            Val::Other(a) => Some(common::as_string(a)),
        }
    }
}

fn map_of<'c>(ctx: &'c EvalCtx<'_>, f: &Field) -> Option<&'c [KeyValue]> {
    match f {
        Field::Attributes(_) => ctx.span.as_deref().map(|s| s.attributes.as_slice()),
        Field::ResourceAttributes(_) => ctx.resource.as_deref().map(|r| r.attributes.as_slice()),
        Field::EventAttributes(_) => ctx.event.as_deref().map(|e| e.attributes.as_slice()),
        _ => None,
    }
}

fn map_of_mut<'c>(ctx: &'c mut EvalCtx<'_>, f: &Field) -> Option<&'c mut Vec<KeyValue>> {
    match f {
        Field::Attributes(_) => ctx.span.as_deref_mut().map(|s| &mut s.attributes),
        Field::ResourceAttributes(_) => ctx.resource.as_deref_mut().map(|r| &mut r.attributes),
        Field::EventAttributes(_) => ctx.event.as_deref_mut().map(|e| &mut e.attributes),
        _ => None,
    }
}

fn map_key(f: &Field) -> Option<&str> {
    match f {
        Field::Attributes(k) | Field::ResourceAttributes(k) | Field::EventAttributes(k) => {
            k.as_deref()
        }
        _ => None,
    }
}

fn int_u64(v: u64) -> Val {
    i64::try_from(v).map(Val::Int).unwrap_or(Val::Nil)
}

pub fn get(ctx: &EvalCtx<'_>, f: &Field) -> Val {
    if matches!(
        f,
        Field::Attributes(_) | Field::ResourceAttributes(_) | Field::EventAttributes(_)
    ) {
        let Some(map) = map_of(ctx, f) else {
            return Val::Nil;
        };
        return match map_key(f) {
            Some(k) => Val::from_any(common::get(map, k)),
            None => Val::Other(AnyValue {
                value: Some(Value::KvlistValue(spoor_model::otlp_common::KeyValueList {
                    values: map.to_vec(),
                })),
            }),
        };
    }
    if let Some(scope_field) = match f {
        Field::ScopeName => Some(ctx.scope.map(|s| s.name.clone())),
        Field::ScopeVersion => Some(ctx.scope.map(|s| s.version.clone())),
        _ => None,
    } {
        return Val::Str(scope_field.unwrap_or_default());
    }
    if let Some(e) = ctx.event.as_deref() {
        match f {
            Field::EventName => return Val::Str(e.name.clone()),
            Field::EventTime => return int_u64(e.time_unix_nano),
            _ => {}
        }
    }
    let Some(s) = ctx.span.as_deref() else {
        return Val::Nil;
    };
    match f {
        Field::Name => Val::Str(s.name.clone()),
        Field::Kind => Val::Int(i64::from(s.kind)),
        Field::StatusCode => Val::Int(i64::from(s.status.as_ref().map(|st| st.code).unwrap_or(0))),
        Field::StatusMessage => Val::Str(
            s.status
                .as_ref()
                .map(|st| st.message.clone())
                .unwrap_or_default(),
        ),
        Field::TraceId => Val::Bytes(s.trace_id.clone()),
        Field::SpanId => Val::Bytes(s.span_id.clone()),
        Field::ParentSpanId => Val::Bytes(s.parent_span_id.clone()),
        Field::TraceIdString => Val::Str(common::hex(&s.trace_id)),
        Field::SpanIdString => Val::Str(common::hex(&s.span_id)),
        Field::ParentSpanIdString => Val::Str(common::hex(&s.parent_span_id)),
        Field::TraceState => Val::Str(s.trace_state.clone()),
        Field::StartTime => int_u64(s.start_time_unix_nano),
        Field::EndTime => int_u64(s.end_time_unix_nano),
        Field::Duration => Val::Int(
            i64::try_from(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano))
                .unwrap_or(i64::MAX),
        ),
        Field::DroppedAttributesCount => Val::Int(i64::from(s.dropped_attributes_count)),
        _ => Val::Nil,
    }
}

pub fn eval(ctx: &EvalCtx<'_>, e: &Expr) -> Result<Val, String> {
    Ok(match e {
        Expr::Lit(l) => match l {
            Lit::Nil => Val::Nil,
            Lit::Bool(b) => Val::Bool(*b),
            Lit::Int(i) => Val::Int(*i),
            Lit::Float(f) => Val::Float(*f),
            Lit::Str(s) => Val::Str(s.clone()),
            Lit::Bytes(b) => Val::Bytes(b.clone()),
        },
        Expr::Path(f) => get(ctx, f),
        Expr::List(items) => Val::List(
            items
                .iter()
                .map(|i| eval(ctx, i))
                .collect::<Result<_, _>>()?,
        ),
        Expr::IsMatch(target, re) => match eval(ctx, target)? {
            Val::Nil => Val::Bool(false),
            v => match v.as_text() {
                Some(t) => Val::Bool(re.is_match(&t)),
                None => return Err("IsMatch: the target is not a string".into()),
            },
        },
        Expr::Concat(items, sep) => {
            let mut parts = Vec::with_capacity(items.len());
            for i in items {
                match eval(ctx, i)? {
                    Val::Nil => parts.push(String::new()),
                    v => parts.push(v.as_text().unwrap_or_default()),
                }
            }
            Val::Str(parts.join(sep))
        }
        Expr::Unary(op, arg) => unary(*op, eval(ctx, arg)?)?,
        Expr::Substring(arg, start, len) => match eval(ctx, arg)? {
            Val::Str(s) => {
                let (start, len) = (
                    usize::try_from(*start).unwrap_or(usize::MAX),
                    usize::try_from(*len).unwrap_or(usize::MAX),
                );
                match start.checked_add(len).and_then(|end| s.get(start..end)) {
                    Some(sub) => Val::Str(sub.to_string()),
                    None => return Err(format!("Substring: {start}+{len} is outside {s:?}")),
                }
            }
            Val::Nil => Val::Nil,
            other => return Err(format!("Substring: {other:?} is not a string")),
        },
        Expr::Not(inner) => Val::Bool(!truth(ctx, inner)?),
        Expr::And(a, b) => Val::Bool(truth(ctx, a)? && truth(ctx, b)?),
        Expr::Or(a, b) => Val::Bool(truth(ctx, a)? || truth(ctx, b)?),
        Expr::Cmp(op, a, b) => Val::Bool(compare(*op, &eval(ctx, a)?, &eval(ctx, b)?)),
        Expr::Arith(op, a, b) => arith(*op, eval(ctx, a)?, eval(ctx, b)?)?,
    })
}

/// Evaluates a condition.
pub fn truth(ctx: &EvalCtx<'_>, e: &Expr) -> Result<bool, String> {
    match eval(ctx, e)? {
        Val::Bool(b) => Ok(b),
        other => Err(format!("condition evaluated to {other:?}, not a boolean")),
    }
}

fn unary(op: Unary, v: Val) -> Result<Val, String> {
    Ok(match (op, v) {
        (_, Val::Nil) => Val::Nil,
        (Unary::ToLowerCase, Val::Str(s)) => Val::Str(s.to_lowercase()),
        (Unary::ToUpperCase, Val::Str(s)) => Val::Str(s.to_uppercase()),
        (Unary::Len, Val::Str(s)) => Val::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX)),
        (Unary::Len, Val::List(l)) => Val::Int(i64::try_from(l.len()).unwrap_or(i64::MAX)),
        (Unary::Len, Val::Bytes(b)) => Val::Int(i64::try_from(b.len()).unwrap_or(i64::MAX)),
        (
            Unary::Len,
            Val::Other(AnyValue {
                value: Some(Value::KvlistValue(m)),
            }),
        ) => Val::Int(i64::try_from(m.values.len()).unwrap_or(i64::MAX)),
        (
            Unary::Len,
            Val::Other(AnyValue {
                value: Some(Value::ArrayValue(a)),
            }),
        ) => Val::Int(i64::try_from(a.values.len()).unwrap_or(i64::MAX)),
        (Unary::Int, Val::Int(i)) => Val::Int(i),
        (Unary::Int, Val::Float(f)) => Val::Int(f as i64),
        (Unary::Int, Val::Bool(b)) => Val::Int(i64::from(b)),
        (Unary::Int, Val::Str(s)) => s.trim().parse().map(Val::Int).unwrap_or(Val::Nil),
        (Unary::Double, Val::Float(f)) => Val::Float(f),
        (Unary::Double, Val::Int(i)) => Val::Float(i as f64),
        (Unary::Double, Val::Bool(b)) => Val::Float(if b { 1.0 } else { 0.0 }),
        (Unary::Double, Val::Str(s)) => s.trim().parse().map(Val::Float).unwrap_or(Val::Nil),
        (Unary::Sha256, Val::Str(s)) => Val::Str(common::hex(&sha2::Sha256::digest(s.as_bytes()))),
        (op, v) => return Err(format!("{op:?}: unsupported value {v:?}")),
    })
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Val::Nil, Val::Nil) => Some(Ordering::Equal),
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        (Val::Int(x), Val::Float(y)) => (*x as f64).partial_cmp(y),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bytes(x), Val::Bytes(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => {
            return match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                _ => false,
            };
        }
        (x, y) => {
            return match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                _ => false,
            };
        }
    };
    let Some(ord) = ord else {
        return op == CmpOp::Ne;
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    }
}

fn arith(op: ArithOp, a: Val, b: Val) -> Result<Val, String> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            let r = match op {
                ArithOp::Add => x.checked_add(y),
                ArithOp::Sub => x.checked_sub(y),
                ArithOp::Mul => x.checked_mul(y),
                ArithOp::Div => x.checked_div(y),
            };
            r.map(Val::Int)
                .ok_or_else(|| "integer overflow or division by zero".to_string())
        }
        (Val::Float(x), Val::Float(y)) => Ok(Val::Float(match op {
            ArithOp::Add => x + y,
            ArithOp::Sub => x - y,
            ArithOp::Mul => x * y,
            ArithOp::Div => x / y,
        })),
        (x, y) => Err(format!("cannot do arithmetic on {x:?} and {y:?}")),
    }
}

fn set(ctx: &mut EvalCtx<'_>, f: &Field, v: Val) {
    if let Some(key) = map_key(f) {
        if let (Some(map), Some(any)) = (map_of_mut(ctx, f), v.into_any()) {
            common::put(map, key, any);
        }
        return;
    }
    if f.is_map() {
        if let (
            Some(map),
            Val::Other(AnyValue {
                value: Some(Value::KvlistValue(kvs)),
            }),
        ) = (map_of_mut(ctx, f), v)
        {
            *map = kvs.values;
        }
        return;
    }
    if let Some(e) = ctx.event.as_deref_mut() {
        match (f, &v) {
            (Field::EventName, Val::Str(s)) => return e.name = s.clone(),
            (Field::EventTime, Val::Int(i)) => {
                return e.time_unix_nano = u64::try_from(*i).unwrap_or(0);
            }
            _ => {}
        }
    }
    let Some(s) = ctx.span.as_deref_mut() else {
        return;
    };
    match (f, v) {
        (Field::Name, Val::Str(n)) => s.name = n,
        (Field::Kind, Val::Int(k)) => s.kind = i32::try_from(k).unwrap_or(0),
        (Field::StatusCode, Val::Int(c)) => {
            s.status.get_or_insert_with(Status::default).code = i32::try_from(c).unwrap_or(0)
        }
        (Field::StatusMessage, Val::Str(m)) => {
            s.status.get_or_insert_with(Status::default).message = m
        }
        (Field::TraceId, Val::Bytes(b)) if b.len() == 16 => s.trace_id = b,
        (Field::SpanId, Val::Bytes(b)) if b.len() == 8 => s.span_id = b,
        (Field::ParentSpanId, Val::Bytes(b)) if b.len() == 8 || b.is_empty() => {
            s.parent_span_id = b
        }
        (Field::TraceState, Val::Str(t)) => s.trace_state = t,
        (Field::StartTime, Val::Int(t)) => s.start_time_unix_nano = u64::try_from(t).unwrap_or(0),
        (Field::EndTime, Val::Int(t)) => s.end_time_unix_nano = u64::try_from(t).unwrap_or(0),
        (Field::DroppedAttributesCount, Val::Int(c)) => {
            s.dropped_attributes_count = u32::try_from(c).unwrap_or(0)
        }
        _ => {}
    }
}

fn truncate(s: &mut String, limit: usize) {
    if s.len() > limit {
        let mut cut = limit;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

pub fn execute(ctx: &mut EvalCtx<'_>, editor: &Editor) -> Result<(), String> {
    match editor {
        Editor::Set(f, value) => {
            let v = eval(ctx, value)?;
            set(ctx, f, v);
        }
        Editor::DeleteKey(f, k) => {
            if let Some(m) = map_of_mut(ctx, f) {
                common::remove(m, k);
            }
        }
        Editor::DeleteMatchingKeys(f, re) => {
            if let Some(m) = map_of_mut(ctx, f) {
                m.retain(|kv| !re.is_match(&kv.key));
            }
        }
        Editor::KeepKeys(f, keys) => {
            if let Some(m) = map_of_mut(ctx, f) {
                m.retain(|kv| keys.contains(&kv.key));
            }
        }
        Editor::ReplacePattern(f, re, repl) => {
            if let Val::Str(s) = get(ctx, f) {
                let new = re.replace_all(&s, repl.as_str()).into_owned();
                if new != s {
                    set(ctx, f, Val::Str(new));
                }
            }
        }
        Editor::ReplaceAllPatterns(f, keys, re, repl) => {
            if let Some(m) = map_of_mut(ctx, f) {
                for kv in m.iter_mut() {
                    if *keys {
                        kv.key = re.replace_all(&kv.key, repl.as_str()).into_owned();
                    } else if let Some(AnyValue {
                        value: Some(Value::StringValue(s)),
                    }) = kv.value.as_mut()
                    {
                        *s = re.replace_all(s, repl.as_str()).into_owned();
                    }
                }
            }
        }
        Editor::TruncateAll(f, limit) => {
            if let Some(m) = map_of_mut(ctx, f) {
                for kv in m.iter_mut() {
                    if let Some(AnyValue {
                        value: Some(Value::StringValue(s)),
                    }) = kv.value.as_mut()
                    {
                        truncate(s, *limit);
                    }
                }
            }
        }
        Editor::Limit(f, limit, priority) => {
            if let Some(m) = map_of_mut(ctx, f)
                && m.len() > *limit
            {
                let mut keep = Vec::with_capacity(*limit);
                for kv in m.iter() {
                    if keep.len() < *limit && priority.contains(&kv.key) {
                        keep.push(kv.key.clone());
                    }
                }
                for kv in m.iter() {
                    if keep.len() < *limit && !keep.contains(&kv.key) {
                        keep.push(kv.key.clone());
                    }
                }
                m.retain(|kv| keep.contains(&kv.key));
            }
        }
    }
    Ok(())
}
