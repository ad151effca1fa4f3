//! `jaeger.thrift` `Batch` and `agent.thrift` `Agent.emitBatch` over the binary and compact
//! protocols (field ids from `idl/jaeger.thrift`, `idl/agent.thrift`).

use super::model::{
    JaegerBatch, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTag, RefType, TagValue,
    trace_id_from_halves,
};
use crate::thrift::{MESSAGE_CALL, MESSAGE_ONEWAY, Protocol, Reader, TType, ThriftError, Writer};

/// Decodes a bare `Batch` struct (the HTTP collector's `application/x-thrift` body).
pub fn decode_batch(bytes: &[u8], protocol: Protocol) -> Result<JaegerBatch, ThriftError> {
    let mut r = Reader::new(bytes, protocol);
    read_batch(&mut r)
}

/// [`decode_batch`], refusing a batch whose spans, tags, logs and references would take more
/// than `max_decoded_bytes` once decoded ([`ThriftError::TooLarge`]).
pub(crate) fn decode_batch_within(
    bytes: &[u8],
    protocol: Protocol,
    max_decoded_bytes: usize,
) -> Result<JaegerBatch, ThriftError> {
    let mut r = Reader::with_decoded_limit(bytes, protocol, max_decoded_bytes);
    read_batch(&mut r)
}

/// Decodes an `Agent.emitBatch` oneway message (a UDP datagram to the agent ports).
pub fn decode_agent_message(bytes: &[u8], protocol: Protocol) -> Result<JaegerBatch, ThriftError> {
    let mut r = Reader::new(bytes, protocol);
    let (name, kind, _seq) = r.read_message_begin()?;
    if kind != MESSAGE_ONEWAY && kind != MESSAGE_CALL {
        return Err(invalid(&r, format!("message type {kind}")));
    }
    if name != "emitBatch" {
        return Err(invalid(&r, format!("unsupported method {name:?}")));
    }
    let mut batch = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Struct) => batch = Some(read_batch(&mut r)?),
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    batch.ok_or_else(|| invalid(&r, "emitBatch without a batch"))
}

fn invalid(r: &Reader<'_>, detail: impl Into<String>) -> ThriftError {
    ThriftError::Invalid {
        pos: r.position(),
        detail: detail.into(),
    }
}

fn read_batch(r: &mut Reader<'_>) -> Result<JaegerBatch, ThriftError> {
    let mut batch = JaegerBatch::default();
    let mut has_spans = false;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Struct) => batch.process = Some(read_process(r)?),
            (2, TType::List) => {
                batch.spans = r.read_struct_list(read_span)?;
                has_spans = true;
            }
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    if !has_spans {
        return Err(invalid(r, "batch without the required spans field"));
    }
    Ok(batch)
}

fn read_process(r: &mut Reader<'_>) -> Result<JaegerProcess, ThriftError> {
    let mut p = JaegerProcess::default();
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Binary) => p.service_name = r.read_string()?,
            (2, TType::List) => p.tags = r.read_struct_list(read_tag)?,
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    Ok(p)
}

fn read_tag(r: &mut Reader<'_>) -> Result<JaegerTag, ThriftError> {
    let mut key = String::new();
    let mut v_type = 0;
    let (mut s, mut d, mut b, mut l, mut bin) = (None, None, None, None, None);
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Binary) => key = r.read_string()?,
            (2, TType::I32) => v_type = r.read_i32()?,
            (3, TType::Binary) => s = Some(r.read_string()?),
            (4, TType::Double) => d = Some(r.read_double()?),
            (5, TType::Bool) => b = Some(r.read_bool()?),
            (6, TType::I64) => l = Some(r.read_i64()?),
            (7, TType::Binary) => bin = Some(r.read_binary()?.to_vec()),
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    // TagType: STRING=0, DOUBLE=1, BOOL=2, LONG=3, BINARY=4; a missing value reads as its zero.
    let value = match v_type {
        0 => TagValue::Str(s.unwrap_or_default()),
        1 => TagValue::Double(d.unwrap_or_default()),
        2 => TagValue::Bool(b.unwrap_or_default()),
        3 => TagValue::Long(l.unwrap_or_default()),
        4 => TagValue::Binary(bin.unwrap_or_default()),
        other => TagValue::Str(format!("<Unknown Jaeger TagType \"{other}\">")),
    };
    Ok(JaegerTag { key, value })
}

fn read_log(r: &mut Reader<'_>) -> Result<JaegerLog, ThriftError> {
    let mut log = JaegerLog {
        timestamp_unix_nano: 0,
        fields: Vec::new(),
    };
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => log.timestamp_unix_nano = micros_to_nanos(r.read_i64()?),
            (2, TType::List) => log.fields = r.read_struct_list(read_tag)?,
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    Ok(log)
}

fn read_ref(r: &mut Reader<'_>) -> Result<JaegerRef, ThriftError> {
    let (mut kind, mut low, mut high, mut span) = (0, 0, 0, 0);
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I32) => kind = r.read_i32()?,
            (2, TType::I64) => low = r.read_i64()?,
            (3, TType::I64) => high = r.read_i64()?,
            (4, TType::I64) => span = r.read_i64()?,
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    Ok(JaegerRef {
        ref_type: if kind == 1 {
            RefType::FollowsFrom
        } else {
            RefType::ChildOf
        },
        trace_id: trace_id_from_halves(high, low),
        span_id: span.to_be_bytes(),
    })
}

/// Thrift times are microseconds since the epoch; OTLP wants nanoseconds.
fn micros_to_nanos(us: i64) -> u64 {
    (us as u64).wrapping_mul(1000)
}

fn read_span(r: &mut Reader<'_>) -> Result<JaegerSpan, ThriftError> {
    let mut s = JaegerSpan::default();
    let (mut low, mut high) = (0i64, 0i64);
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => low = r.read_i64()?,
            (2, TType::I64) => high = r.read_i64()?,
            (3, TType::I64) => s.span_id = r.read_i64()?.to_be_bytes(),
            (4, TType::I64) => s.parent_span_id = r.read_i64()?.to_be_bytes(),
            (5, TType::Binary) => s.operation_name = r.read_string()?,
            (6, TType::List) => s.references = r.read_struct_list(read_ref)?,
            (7, TType::I32) => s.flags = r.read_i32()? as u32,
            (8, TType::I64) => s.start_unix_nano = micros_to_nanos(r.read_i64()?),
            (9, TType::I64) => s.duration_nano = micros_to_nanos(r.read_i64()?),
            (10, TType::List) => s.tags = r.read_struct_list(read_tag)?,
            (11, TType::List) => s.logs = r.read_struct_list(read_log)?,
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    s.trace_id = trace_id_from_halves(high, low);
    Ok(s)
}

// ---- writing (tests, benches, fuzz seeds) ----

/// Encodes a batch as a bare `Batch` struct.
pub fn encode_batch(batch: &JaegerBatch, protocol: Protocol) -> Vec<u8> {
    let mut w = Writer::new(protocol);
    write_batch(&mut w, batch);
    w.into_bytes()
}

/// Encodes a batch as an `Agent.emitBatch` oneway message, as clients send to the agent ports.
pub fn encode_agent_message(batch: &JaegerBatch, protocol: Protocol, seq: i32) -> Vec<u8> {
    let mut w = Writer::new(protocol);
    w.write_message_begin("emitBatch", MESSAGE_ONEWAY, seq);
    w.write_struct_begin();
    w.write_field_begin(TType::Struct, 1);
    write_batch(&mut w, batch);
    w.write_field_stop();
    w.write_struct_end();
    w.into_bytes()
}

fn halves(id: &[u8; 16]) -> (i64, i64) {
    let mut high = [0u8; 8];
    let mut low = [0u8; 8];
    high.copy_from_slice(&id[..8]);
    low.copy_from_slice(&id[8..]);
    (i64::from_be_bytes(high), i64::from_be_bytes(low))
}

fn write_batch(w: &mut Writer, b: &JaegerBatch) {
    w.write_struct_begin();
    let empty = JaegerProcess::default();
    w.write_field_begin(TType::Struct, 1);
    write_process(w, b.process.as_ref().unwrap_or(&empty));
    w.write_field_begin(TType::List, 2);
    w.write_list_begin(TType::Struct, b.spans.len());
    for s in &b.spans {
        write_span(w, s);
    }
    w.write_field_stop();
    w.write_struct_end();
}

fn write_process(w: &mut Writer, p: &JaegerProcess) {
    w.write_struct_begin();
    w.write_field_begin(TType::Binary, 1);
    w.write_binary(p.service_name.as_bytes());
    if !p.tags.is_empty() {
        w.write_field_begin(TType::List, 2);
        write_tags(w, &p.tags);
    }
    w.write_field_stop();
    w.write_struct_end();
}

fn write_tags(w: &mut Writer, tags: &[JaegerTag]) {
    w.write_list_begin(TType::Struct, tags.len());
    for t in tags {
        w.write_struct_begin();
        w.write_field_begin(TType::Binary, 1);
        w.write_binary(t.key.as_bytes());
        w.write_field_begin(TType::I32, 2);
        match &t.value {
            TagValue::Str(s) => {
                w.write_i32(0);
                w.write_field_begin(TType::Binary, 3);
                w.write_binary(s.as_bytes());
            }
            TagValue::Double(d) => {
                w.write_i32(1);
                w.write_field_begin(TType::Double, 4);
                w.write_double(*d);
            }
            TagValue::Bool(b) => {
                w.write_i32(2);
                w.write_field_begin(TType::Bool, 5);
                w.write_bool(*b);
            }
            TagValue::Long(n) => {
                w.write_i32(3);
                w.write_field_begin(TType::I64, 6);
                w.write_i64(*n);
            }
            TagValue::Binary(b) => {
                w.write_i32(4);
                w.write_field_begin(TType::Binary, 7);
                w.write_binary(b);
            }
        }
        w.write_field_stop();
        w.write_struct_end();
    }
}

fn write_span(w: &mut Writer, s: &JaegerSpan) {
    let (high, low) = halves(&s.trace_id);
    w.write_struct_begin();
    for (id, v) in [
        (1, low),
        (2, high),
        (3, i64::from_be_bytes(s.span_id)),
        (4, i64::from_be_bytes(s.parent_span_id)),
    ] {
        w.write_field_begin(TType::I64, id);
        w.write_i64(v);
    }
    w.write_field_begin(TType::Binary, 5);
    w.write_binary(s.operation_name.as_bytes());
    if !s.references.is_empty() {
        w.write_field_begin(TType::List, 6);
        w.write_list_begin(TType::Struct, s.references.len());
        for r in &s.references {
            let (high, low) = halves(&r.trace_id);
            w.write_struct_begin();
            w.write_field_begin(TType::I32, 1);
            w.write_i32(i32::from(r.ref_type == RefType::FollowsFrom));
            for (id, v) in [(2, low), (3, high), (4, i64::from_be_bytes(r.span_id))] {
                w.write_field_begin(TType::I64, id);
                w.write_i64(v);
            }
            w.write_field_stop();
            w.write_struct_end();
        }
    }
    w.write_field_begin(TType::I32, 7);
    w.write_i32(s.flags as i32);
    w.write_field_begin(TType::I64, 8);
    w.write_i64((s.start_unix_nano / 1000) as i64);
    w.write_field_begin(TType::I64, 9);
    w.write_i64((s.duration_nano / 1000) as i64);
    if !s.tags.is_empty() {
        w.write_field_begin(TType::List, 10);
        write_tags(w, &s.tags);
    }
    if !s.logs.is_empty() {
        w.write_field_begin(TType::List, 11);
        w.write_list_begin(TType::Struct, s.logs.len());
        for l in &s.logs {
            w.write_struct_begin();
            w.write_field_begin(TType::I64, 1);
            w.write_i64((l.timestamp_unix_nano / 1000) as i64);
            w.write_field_begin(TType::List, 2);
            write_tags(w, &l.fields);
            w.write_field_stop();
            w.write_struct_end();
        }
    }
    w.write_field_stop();
    w.write_struct_end();
}
