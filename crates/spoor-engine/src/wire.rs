//! A protobuf wire-format walker for the few messages the head reads without decoding them:
//! an `ExportTraceServiceRequest` is split into its resources, scopes and span byte ranges,
//! and a span's index fields (ids, name, kind, times) are read in place. The head keeps spans
//! as these bytes and decodes a span only when a reader needs all of it.
//!
//! Payloads are written by Spoor (prost), where every singular message field occurs once; if
//! one occurs more than once, the last occurrence is used (scalars follow the protobuf rule).

/// The bytes are not a well-formed protobuf message of the expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf: {0}")]
pub(crate) struct WireError(&'static str);

impl WireError {
    pub(crate) fn new(what: &'static str) -> Self {
        Self(what)
    }
}

/// One field's value, borrowed from the message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32,
}

/// Iterates over the top-level fields of one message: `(field number, value)`.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(crate) fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, pos: 0 }
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in 0..10 {
        let b = *buf.get(*pos).ok_or(WireError("truncated varint"))?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError("varint longer than 10 bytes"))
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], WireError> {
    let end = pos.checked_add(n).ok_or(WireError("length overflow"))?;
    let out = buf
        .get(*pos..end)
        .ok_or(WireError("field runs past its message"))?;
    *pos = end;
    Ok(out)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let item = (|| {
            let key = varint(self.buf, &mut self.pos)?;
            let number =
                u32::try_from(key >> 3).map_err(|_| WireError("field number too large"))?;
            if number == 0 {
                return Err(WireError("field number 0"));
            }
            let value = match key & 7 {
                0 => Field::Varint(varint(self.buf, &mut self.pos)?),
                1 => {
                    let b = take(self.buf, &mut self.pos, 8)?;
                    Field::Fixed64(u64::from_le_bytes(
                        b.try_into().map_err(|_| WireError("fixed64"))?,
                    ))
                }
                2 => {
                    let n = varint(self.buf, &mut self.pos)?;
                    let n = usize::try_from(n).map_err(|_| WireError("length too large"))?;
                    Field::Len(take(self.buf, &mut self.pos, n)?)
                }
                5 => {
                    take(self.buf, &mut self.pos, 4)?;
                    Field::Fixed32
                }
                _ => return Err(WireError("unsupported wire type")),
            };
            Ok((number, value))
        })();
        if item.is_err() {
            // Stop after the first error.
            self.pos = self.buf.len();
        }
        Some(item)
    }
}

/// The last length-delimited occurrence of field `number` in `msg`.
fn last_len(msg: &[u8], number: u32) -> Result<Option<&[u8]>, WireError> {
    let mut out = None;
    for f in fields(msg) {
        if let (n, Field::Len(b)) = f?
            && n == number
        {
            out = Some(b);
        }
    }
    Ok(out)
}

/// Calls `f(resource, scope, span)` with the encoded bytes of every span of an encoded
/// `ExportTraceServiceRequest`, in order, and returns how many there were. Checks the framing
/// of the request, its resource and scope groups and each span's top-level fields.
pub(crate) fn walk_request<'a>(
    payload: &'a [u8],
    mut f: impl FnMut(Option<&'a [u8]>, Option<&'a [u8]>, &'a [u8]),
) -> Result<usize, WireError> {
    let mut n = 0;
    for field in fields(payload) {
        let (1, Field::Len(rs)) = field? else {
            continue;
        };
        let resource = last_len(rs, 1)?;
        for field in fields(rs) {
            let (2, Field::Len(ss)) = field? else {
                continue;
            };
            let scope = last_len(ss, 1)?;
            for field in fields(ss) {
                let (2, Field::Len(span)) = field? else {
                    continue;
                };
                peek_span(span)?;
                f(resource, scope, span);
                n += 1;
            }
        }
    }
    Ok(n)
}

/// A span's index fields, read without decoding the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SpanPeek<'a> {
    pub(crate) trace_id: &'a [u8],
    pub(crate) span_id: &'a [u8],
    pub(crate) parent_span_id: &'a [u8],
    pub(crate) name: &'a str,
    pub(crate) kind: i32,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// Reads the index fields of an encoded `Span`.
pub(crate) fn peek_span(span: &[u8]) -> Result<SpanPeek<'_>, WireError> {
    let mut p = SpanPeek::default();
    for field in fields(span) {
        match field? {
            (1, Field::Len(b)) => p.trace_id = b,
            (2, Field::Len(b)) => p.span_id = b,
            (4, Field::Len(b)) => p.parent_span_id = b,
            (5, Field::Len(b)) => {
                p.name = std::str::from_utf8(b).map_err(|_| WireError("span name is not utf-8"))?;
            }
            // An enum: negative values are sign-extended to 64 bits.
            (6, Field::Varint(v)) => p.kind = v as i64 as i32,
            (7, Field::Fixed64(v)) => p.start = v,
            (8, Field::Fixed64(v)) => p.end = v,
            _ => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use spoor_model::otlp_collector::ExportTraceServiceRequest;
    use spoor_model::otlp_common::InstrumentationScope;
    use spoor_model::otlp_resource::Resource;
    use spoor_model::{ResourceSpans, ScopeSpans, Span};

    fn span(n: u8) -> Span {
        Span {
            trace_id: vec![n; 16],
            span_id: vec![n; 8],
            parent_span_id: vec![n + 1; 8],
            name: format!("op-{n}"),
            kind: 2,
            start_time_unix_nano: 1_000 + u64::from(n),
            end_time_unix_nano: 2_000 + u64::from(n),
            attributes: vec![spoor_model::attr::string("k", "v")],
            ..Default::default()
        }
    }

    fn request() -> ExportTraceServiceRequest {
        let resource = |s: &str| Resource {
            attributes: vec![spoor_model::attr::string("service.name", s)],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(resource("a")),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "lib".into(),
                                ..Default::default()
                            }),
                            spans: vec![span(1), span(2)],
                            ..Default::default()
                        },
                        ScopeSpans {
                            scope: None,
                            spans: vec![span(3)],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: None,
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(4)],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn walks_every_span_with_its_resource_and_scope() {
        let req = request();
        let payload = req.encode_to_vec();
        let mut seen = Vec::new();
        let n = walk_request(&payload, |r, s, span| {
            let r = r.map(|b| Resource::decode(b).expect("resource"));
            let s = s.map(|b| InstrumentationScope::decode(b).expect("scope"));
            seen.push((r, s, Span::decode(span).expect("span")));
        })
        .expect("walk");
        assert_eq!(n, 4);
        let mut expected = Vec::new();
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for sp in ss.spans {
                    expected.push((rs.resource.clone(), ss.scope.clone(), sp));
                }
            }
        }
        assert_eq!(seen, expected);
    }

    #[test]
    fn peeks_the_index_fields() {
        let s = span(7);
        let bytes = s.encode_to_vec();
        let p = peek_span(&bytes).expect("peek");
        assert_eq!(p.trace_id, &s.trace_id[..]);
        assert_eq!(p.span_id, &s.span_id[..]);
        assert_eq!(p.parent_span_id, &s.parent_span_id[..]);
        assert_eq!(p.name, "op-7");
        assert_eq!((p.kind, p.start, p.end), (2, 1_007, 2_007));
        let negative = Span {
            kind: -3,
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(peek_span(&negative).expect("peek").kind, -3);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let payload = request().encode_to_vec();
        // Every truncation of a valid request either walks or fails cleanly.
        let mut failures = 0;
        for cut in 0..payload.len() {
            if walk_request(&payload[..cut], |_, _, _| {}).is_err() {
                failures += 1;
            }
        }
        assert!(failures > payload.len() / 2, "{failures}");
        assert!(walk_request(&[0x0a, 0xff], |_, _, _| {}).is_err());
        assert!(walk_request(&[0x0b], |_, _, _| {}).is_err(), "wire type 3");
        assert!(
            peek_span(&[0x2a, 0x02, 0xff, 0xfe]).is_err(),
            "name not utf-8"
        );
    }
}
