//! Zipkin v1 thrift (`idl/zipkincore.thrift`): `POST /api/v1/spans` with
//! `application/x-thrift`, a binary-protocol `list<Span>`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::json::{V1, ZipkinError, v1_to_v2};
use super::model::{Annotation, Endpoint, ZipkinSpan};
use crate::thrift::{Protocol, Reader, TType, ThriftError, Writer};

fn err(e: ThriftError) -> ZipkinError {
    ZipkinError::Thrift(e.to_string())
}

/// Decodes a binary-protocol `list<zipkincore.Span>` and converts it to v2 spans.
pub fn decode_v1_thrift(body: &[u8]) -> Result<Vec<ZipkinSpan>, ZipkinError> {
    let mut r = Reader::new(body, Protocol::Binary);
    let spans = r.read_struct_list(read_span).map_err(err)?;
    Ok(spans.into_iter().flat_map(v1_to_v2).collect())
}

fn read_endpoint(r: &mut Reader<'_>) -> Result<Endpoint, ThriftError> {
    let mut e = Endpoint::default();
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I32) => {
                let ip = r.read_i32()? as u32;
                e.ipv4 = (ip != 0).then(|| Ipv4Addr::from(ip));
            }
            (2, TType::I16) => e.port = r.read_i16()? as u16,
            (3, TType::Binary) => e.service_name = r.read_string()?,
            (4, TType::Binary) => {
                e.ipv6 = <[u8; 16]>::try_from(r.read_binary()?)
                    .ok()
                    .map(Ipv6Addr::from);
            }
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    Ok(e)
}

fn read_annotation(r: &mut Reader<'_>) -> Result<(Annotation, Option<Endpoint>), ThriftError> {
    let mut a = Annotation {
        timestamp_us: 0,
        value: String::new(),
    };
    let mut host = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => a.timestamp_us = r.read_i64()?.max(0) as u64,
            (2, TType::Binary) => a.value = r.read_string()?,
            (3, TType::Struct) => host = Some(read_endpoint(r)?),
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    Ok((a, host))
}

type Binary = (String, String, Option<Endpoint>, bool);

fn read_binary_annotation(r: &mut Reader<'_>) -> Result<Binary, ThriftError> {
    let (mut key, mut value, mut kind, mut host) = (String::new(), Vec::new(), 6, None);
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Binary) => key = r.read_string()?,
            (2, TType::Binary) => value = r.read_binary()?.to_vec(),
            (3, TType::I32) => kind = r.read_i32()?,
            (4, TType::Struct) => host = Some(read_endpoint(r)?),
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    let fixed = |n: usize| value.get(..n).map(|b| b.to_vec());
    // AnnotationType: BOOL, BYTES, I16, I32, I64, DOUBLE, STRING (big-endian values).
    let text = match kind {
        0 => Some((value.first() == Some(&1)).to_string()),
        2 => fixed(2).map(|b| i16::from_be_bytes([b[0], b[1]]).to_string()),
        3 => fixed(4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_string()),
        4 => fixed(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b);
            i64::from_be_bytes(a).to_string()
        }),
        5 => fixed(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b);
            spoor_model::attr::format_double(f64::from_be_bytes(a))
        }),
        1 => Some(spoor_model::attr::base64_encode(&value)),
        _ => Some(String::from_utf8_lossy(&value).into_owned()),
    }
    .unwrap_or_default();
    let address = kind == 0 && matches!(key.as_str(), "ca" | "sa" | "ma");
    Ok((key, text, host, address))
}

fn read_span(r: &mut Reader<'_>) -> Result<V1, ThriftError> {
    let (mut low, mut high, mut id, mut parent) = (0i64, 0i64, 0i64, None);
    let mut v1 = V1 {
        trace_id: [0; 16],
        id: [0; 8],
        parent_id: None,
        name: String::new(),
        timestamp_us: 0,
        duration_us: 0,
        annotations: Vec::new(),
        binary: Vec::new(),
        debug: false,
    };
    r.read_struct_begin()?;
    while let Some((t, fid)) = r.read_field_begin()? {
        match (fid, t) {
            (1, TType::I64) => low = r.read_i64()?,
            (3, TType::Binary) => v1.name = r.read_string()?,
            (4, TType::I64) => id = r.read_i64()?,
            (5, TType::I64) => parent = Some(r.read_i64()?),
            (6, TType::List) => v1.annotations = r.read_struct_list(read_annotation)?,
            (8, TType::List) => v1.binary = r.read_struct_list(read_binary_annotation)?,
            (9, TType::Bool) => v1.debug = r.read_bool()?,
            (10, TType::I64) => v1.timestamp_us = r.read_i64()?.max(0) as u64,
            (11, TType::I64) => v1.duration_us = r.read_i64()?.max(0) as u64,
            (12, TType::I64) => high = r.read_i64()?,
            _ => r.skip(t)?,
        }
    }
    r.read_struct_end();
    v1.trace_id = crate::jaeger::model::trace_id_from_halves(high, low);
    v1.id = id.to_be_bytes();
    v1.parent_id = parent.filter(|p| *p != 0).map(i64::to_be_bytes);
    Ok(v1)
}

/// A v1 span to encode (tests and fuzz seeds): `(trace_id, id, parent_id, name, timestamp,
/// duration, [(annotation timestamp, value, service name)])`.
pub type V1ThriftSpan<'a> = (
    i64,
    i64,
    Option<i64>,
    &'a str,
    i64,
    i64,
    Vec<(i64, &'a str, &'a str)>,
);

/// Encodes v1 spans as a binary-protocol `list<Span>`.
pub fn encode_v1_thrift(spans: &[V1ThriftSpan<'_>]) -> Vec<u8> {
    let mut w = Writer::new(Protocol::Binary);
    w.write_list_begin(TType::Struct, spans.len());
    for (trace, id, parent, name, ts, dur, annotations) in spans {
        w.write_struct_begin();
        w.write_field_begin(TType::I64, 1);
        w.write_i64(*trace);
        w.write_field_begin(TType::Binary, 3);
        w.write_binary(name.as_bytes());
        w.write_field_begin(TType::I64, 4);
        w.write_i64(*id);
        if let Some(p) = parent {
            w.write_field_begin(TType::I64, 5);
            w.write_i64(*p);
        }
        w.write_field_begin(TType::List, 6);
        w.write_list_begin(TType::Struct, annotations.len());
        for (ats, value, service) in annotations {
            w.write_struct_begin();
            w.write_field_begin(TType::I64, 1);
            w.write_i64(*ats);
            w.write_field_begin(TType::Binary, 2);
            w.write_binary(value.as_bytes());
            w.write_field_begin(TType::Struct, 3);
            w.write_struct_begin();
            w.write_field_begin(TType::I32, 1);
            w.write_i32(0);
            w.write_field_begin(TType::I16, 2);
            w.write_i16(0);
            w.write_field_begin(TType::Binary, 3);
            w.write_binary(service.as_bytes());
            w.write_field_stop();
            w.write_struct_end();
            w.write_field_stop();
            w.write_struct_end();
        }
        w.write_field_begin(TType::I64, 10);
        w.write_i64(*ts);
        w.write_field_begin(TType::I64, 11);
        w.write_i64(*dur);
        w.write_field_stop();
        w.write_struct_end();
    }
    w.into_bytes()
}
