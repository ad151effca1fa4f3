//! Jaeger JSON for whole traces, written in chunks as the body is sent: a trace of 100k spans
//! is never held as one Jaeger model nor as one 70 MB string, and its first bytes leave before
//! its last span is converted. Spans are written from views that borrow the OTLP strings
//! (`view.rs`), the same views the model is made from, so the bytes are exactly what
//! serialising [`Trace::from_otlp`](super::Trace::from_otlp) gives (a test holds both to it).

use std::collections::BTreeMap;

use serde::Serialize;
use spoor_model::ResourceSpans;

use super::Process;
use super::from_otlp::{first_trace_id, processes, span_view};

/// A chunk is handed on once it holds this many bytes (a few hundred spans).
const CHUNK_BYTES: usize = 128 * 1024;

/// The Jaeger JSON of `traces` (each a trace's resource spans) as a comma-separated list of
/// trace objects, in chunks of about 128 KiB; the caller writes the enclosing array.
pub fn json_chunks(traces: Vec<Vec<ResourceSpans>>) -> JsonChunks {
    json_chunks_sized(traces, CHUNK_BYTES)
}

pub(crate) fn json_chunks_sized(traces: Vec<Vec<ResourceSpans>>, chunk_bytes: usize) -> JsonChunks {
    JsonChunks {
        traces: traces.into_iter(),
        current: None,
        wrote_trace: false,
        chunk_bytes: chunk_bytes.max(1),
    }
}

/// The iterator [`json_chunks`] returns; each item is a non-empty piece of the JSON text.
pub struct JsonChunks {
    traces: std::vec::IntoIter<Vec<ResourceSpans>>,
    current: Option<Cursor>,
    wrote_trace: bool,
    chunk_bytes: usize,
}

/// Where the writer is in one trace.
struct Cursor {
    resource_spans: Vec<ResourceSpans>,
    process_ids: Vec<String>,
    processes: BTreeMap<String, Process>,
    /// Resource, scope and span index of the next span.
    at: (usize, usize, usize),
    wrote_span: bool,
}

/// Appends `value` as JSON; our models always serialise, and should one not, `null` keeps the
/// document valid.
fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    let mark = buf.len();
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.truncate(mark);
        buf.extend_from_slice(b"null");
    }
}

impl Cursor {
    /// Writes spans until `buf` holds `limit` bytes; whether spans are left.
    fn write_spans(&mut self, buf: &mut Vec<u8>, limit: usize) -> bool {
        let (mut r, mut s, mut i) = self.at;
        while let Some(rs) = self.resource_spans.get(r) {
            while let Some(ss) = rs.scope_spans.get(s) {
                while let Some(span) = ss.spans.get(i) {
                    if buf.len() >= limit {
                        self.at = (r, s, i);
                        return true;
                    }
                    let process_id = self.process_ids.get(r).map_or("", String::as_str);
                    let span = span_view(span, ss.scope.as_ref(), process_id);
                    if std::mem::replace(&mut self.wrote_span, true) {
                        buf.push(b',');
                    }
                    write_json(buf, &span);
                    i += 1;
                }
                (s, i) = (s + 1, 0);
            }
            (r, s) = (r + 1, 0);
        }
        self.at = (r, s, i);
        false
    }
}

impl Iterator for JsonChunks {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut buf = Vec::with_capacity(self.chunk_bytes + self.chunk_bytes / 4);
        while buf.len() < self.chunk_bytes {
            if self.current.is_none() {
                let Some(resource_spans) = self.traces.next() else {
                    break;
                };
                if std::mem::replace(&mut self.wrote_trace, true) {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"traceID\":");
                write_json(&mut buf, &first_trace_id(&resource_spans));
                buf.extend_from_slice(b",\"spans\":[");
                let (processes, process_ids) = processes(&resource_spans);
                self.current = Some(Cursor {
                    resource_spans,
                    process_ids,
                    processes,
                    at: (0, 0, 0),
                    wrote_span: false,
                });
            }
            let Some(cursor) = self.current.as_mut() else {
                break;
            };
            if cursor.write_spans(&mut buf, self.chunk_bytes) {
                break;
            }
            buf.extend_from_slice(b"],\"processes\":");
            write_json(&mut buf, &cursor.processes);
            buf.extend_from_slice(b",\"warnings\":null}");
            self.current = None;
        }
        (!buf.is_empty()).then_some(buf)
    }
}
