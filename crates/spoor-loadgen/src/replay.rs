//! Replaying a pool of encoded requests with fresh identities, so sending costs a copy and a few
//! patches instead of generating and encoding (which runs at ~180k spans/s on one core here,
//! too slow to saturate a receiver sharing a 2-core machine).
//!
//! Round 0 of the pool is the workload exactly as [`Workload`](crate::Workload) generates it.
//! Round `r > 0` XORs every trace id with a 16-byte salt and every span and parent span id with
//! an 8-byte salt derived from the seed and `r` (so parent links survive), and on the wall clock
//! shifts every timestamp to the time of sending.

/// Where the fields to patch sit in one encoded `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Patches {
    /// Offsets of 16-byte trace ids.
    trace_ids: Vec<u32>,
    /// Offsets of 8-byte span ids and parent span ids.
    span_ids: Vec<u32>,
    /// Offsets of little-endian fixed64 timestamps (span start/end, event time).
    times: Vec<u32>,
}

/// Reads a varint at `*pos`, advancing it.
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Visits the fields of the message in `buf[start..end]`: `f(field, wire_type, value_start,
/// value_end)`; for length-delimited fields the value range excludes the length prefix.
fn fields(
    buf: &[u8],
    start: usize,
    end: usize,
    mut f: impl FnMut(u64, u8, usize, usize) -> Option<()>,
) -> Option<()> {
    let mut pos = start;
    while pos < end {
        let key = varint(buf, &mut pos)?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        let value_start;
        match wire {
            0 => {
                value_start = pos;
                varint(buf, &mut pos)?;
            }
            1 => {
                value_start = pos;
                pos += 8;
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                value_start = pos;
                pos = pos.checked_add(len)?;
            }
            5 => {
                value_start = pos;
                pos += 4;
            }
            _ => return None,
        }
        if pos > end {
            return None;
        }
        f(field, wire, value_start, pos)?;
    }
    Some(())
}

impl Patches {
    /// Finds the patchable fields; `None` if `buf` is not a well-formed export request.
    pub(crate) fn find(buf: &[u8]) -> Option<Self> {
        let mut p = Patches::default();
        let at = |x: usize| u32::try_from(x).ok();
        // ExportTraceServiceRequest.resource_spans = 1
        fields(buf, 0, buf.len(), |f, w, s, e| {
            if f != 1 || w != 2 {
                return Some(());
            }
            // ResourceSpans.scope_spans = 2
            fields(buf, s, e, |f, w, s, e| {
                if f != 2 || w != 2 {
                    return Some(());
                }
                // ScopeSpans.spans = 2
                fields(buf, s, e, |f, w, s, e| {
                    if f != 2 || w != 2 {
                        return Some(());
                    }
                    fields(buf, s, e, |f, w, s, e| {
                        match (f, w, e - s) {
                            (1, 2, 16) => p.trace_ids.push(at(s)?),
                            (2 | 4, 2, 8) => p.span_ids.push(at(s)?),
                            (7 | 8, 1, 8) => p.times.push(at(s)?),
                            // Span.events = 11, Event.time_unix_nano = 1
                            (11, 2, _) => fields(buf, s, e, |f, w, s, _| {
                                if f == 1 && w == 1 {
                                    p.times.push(at(s)?);
                                }
                                Some(())
                            })?,
                            _ => {}
                        }
                        Some(())
                    })
                })
            })
        })?;
        Some(p)
    }

    /// Applies salts and a time shift to a copy of the request.
    pub(crate) fn apply(
        &self,
        buf: &mut [u8],
        trace_salt: &[u8; 16],
        span_salt: &[u8; 8],
        shift_ns: i64,
    ) {
        let xor = |buf: &mut [u8], at: u32, salt: &[u8]| {
            let at = at as usize;
            if let Some(dst) = buf.get_mut(at..at + salt.len()) {
                for (d, s) in dst.iter_mut().zip(salt) {
                    *d ^= s;
                }
            }
        };
        if trace_salt != &[0; 16] {
            for at in &self.trace_ids {
                xor(buf, *at, trace_salt);
            }
        }
        if span_salt != &[0; 8] {
            for at in &self.span_ids {
                xor(buf, *at, span_salt);
            }
        }
        if shift_ns != 0 {
            for at in &self.times {
                let at = *at as usize;
                if let Some(dst) = buf.get_mut(at..at + 8) {
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(dst);
                    let t = u64::from_le_bytes(raw).saturating_add_signed(shift_ns);
                    dst.copy_from_slice(&t.to_le_bytes());
                }
            }
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The salts of one replay round; zero for round 0.
pub(crate) fn salts(seed: u64, round: u64) -> ([u8; 16], [u8; 8]) {
    if round == 0 {
        return ([0; 16], [0; 8]);
    }
    let a = splitmix(seed ^ splitmix(round));
    let b = splitmix(a);
    let c = splitmix(b);
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&a.to_le_bytes());
    trace[8..].copy_from_slice(&b.to_le_bytes());
    (trace, c.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use spoor_model::otlp_collector::ExportTraceServiceRequest;

    use super::*;
    use crate::Workload;

    #[test]
    fn patches_ids_and_times_in_place() {
        let (request, spans, ids) = Workload::new(4).next_batch(300);
        let bytes = request.encode_to_vec();
        let p = Patches::find(&bytes).expect("well-formed");
        assert_eq!(p.trace_ids.len(), spans);
        let (trace_salt, span_salt) = salts(4, 3);
        let mut copy = bytes.clone();
        p.apply(&mut copy, &trace_salt, &span_salt, 1_000);
        let patched = ExportTraceServiceRequest::decode(&copy[..]).expect("still decodes");
        let before = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
        let after = patched.resource_spans.iter().flat_map(|r| &r.scope_spans);
        for (a, b) in before
            .flat_map(|s| &s.spans)
            .zip(after.flat_map(|s| &s.spans))
        {
            let want: Vec<u8> = a
                .trace_id
                .iter()
                .zip(trace_salt)
                .map(|(x, s)| x ^ s)
                .collect();
            assert_eq!(b.trace_id, want);
            assert_ne!(a.span_id, b.span_id);
            assert_eq!(b.start_time_unix_nano, a.start_time_unix_nano + 1_000);
            assert_eq!(b.end_time_unix_nano, a.end_time_unix_nano + 1_000);
            for (ea, eb) in a.events.iter().zip(&b.events) {
                assert_eq!(eb.time_unix_nano, ea.time_unix_nano + 1_000);
            }
            if !a.parent_span_id.is_empty() {
                let want: Vec<u8> = a
                    .parent_span_id
                    .iter()
                    .zip(span_salt)
                    .map(|(x, s)| x ^ s)
                    .collect();
                assert_eq!(b.parent_span_id, want);
            }
        }
        assert!(ids.len() > 1);
        assert!(Patches::find(&[0xff, 0xff]).is_none());
    }
}
