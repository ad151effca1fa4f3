//! Where the bytes of the standard workload go (OTLP protobuf), per span and per attribute key.

use std::collections::HashMap;

use prost::Message;
use spoor_loadgen::Workload;

fn main() {
    let mut w = Workload::new(1);
    let (mut total, mut spans, mut attr_bytes, mut attrs, mut event_bytes) = (0, 0, 0, 0, 0);
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for _ in 0..100 {
        let (request, n, _) = w.next_batch(1000);
        total += request.encoded_len();
        spans += n;
        for s in request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            for kv in &s.attributes {
                let len = kv.encoded_len() + 2;
                attr_bytes += len;
                attrs += 1;
                *by_key.entry(kv.key.clone()).or_default() += len;
            }
            event_bytes += s.events.iter().map(|e| e.encoded_len() + 2).sum::<usize>();
        }
    }
    let per = |x: usize| x as f64 / spans as f64;
    println!(
        "bytes/span {:.1}: attributes {:.1} ({:.2} per span, {:.1} B each), events {:.1}, rest {:.1}",
        per(total),
        per(attr_bytes),
        per(attrs),
        attr_bytes as f64 / attrs as f64,
        per(event_bytes),
        per(total - attr_bytes - event_bytes)
    );
    let mut keys: Vec<_> = by_key.into_iter().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.1));
    for (k, b) in keys.iter().take(25) {
        println!("{k:32} {:.1} B/span", per(*b));
    }
}
