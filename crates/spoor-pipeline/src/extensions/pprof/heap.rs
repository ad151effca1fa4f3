//! `/debug/pprof/heap`: the samples of `spoor_heap`'s sampling allocator as pprof's heap profile,
//! with Go's sample types (`alloc_objects`, `alloc_space`, `inuse_objects`, `inuse_space`; the last
//! is what `go tool pprof` shows by default) and the sampling rate as the period.

use std::collections::HashMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Strings, proto};

/// The gzipped pprof heap profile of what was sampled so far.
pub(super) fn heap_profile() -> std::io::Result<Vec<u8>> {
    let profile = encode(&spoor_heap::snapshot(), spoor_heap::sample_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&prost::Message::encode_to_vec(&profile))?;
    gz.finish()
}

fn encode(sites: &[spoor_heap::Site], rate: u64) -> proto::Profile {
    let mut strings = Strings::default();
    let value_type = |strings: &mut Strings, t: &str, unit: &str| proto::ValueType {
        r#type: strings.id(t),
        unit: strings.id(unit),
    };
    let mut profile = proto::Profile {
        sample_type: vec![
            value_type(&mut strings, "alloc_objects", "count"),
            value_type(&mut strings, "alloc_space", "bytes"),
            value_type(&mut strings, "inuse_objects", "count"),
            value_type(&mut strings, "inuse_space", "bytes"),
        ],
        period_type: Some(value_type(&mut strings, "space", "bytes")),
        period: i64::try_from(rate).unwrap_or(i64::MAX),
        time_nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0),
        ..Default::default()
    };
    let mut functions: HashMap<(String, String), u64> = HashMap::new();
    // One location per instruction pointer; `None` for the profiler's own frames.
    let mut locations: HashMap<usize, Option<u64>> = HashMap::new();
    for site in sites {
        let mut location_id = Vec::new();
        for &ip in &site.frames {
            let id = *locations.entry(ip).or_insert_with(|| {
                let frames = spoor_heap::resolve(ip);
                if frames.iter().all(spoor_heap::is_profiler_frame) {
                    return None;
                }
                let mut lines = Vec::new();
                for f in frames {
                    let next = functions.len() as u64 + 1;
                    let function_id = *functions
                        .entry((f.function.clone(), f.file.clone()))
                        .or_insert_with(|| {
                            profile.function.push(proto::Function {
                                id: next,
                                name: strings.id(&f.function),
                                system_name: strings.id(&f.function),
                                filename: strings.id(&f.file),
                                start_line: 0,
                            });
                            next
                        });
                    lines.push(proto::Line {
                        function_id,
                        line: i64::from(f.line),
                    });
                }
                let id = profile.location.len() as u64 + 1;
                profile.location.push(proto::Location {
                    id,
                    address: ip as u64,
                    line: lines,
                    ..Default::default()
                });
                Some(id)
            });
            location_id.extend(id);
        }
        profile.sample.push(proto::Sample {
            location_id,
            value: vec![
                site.alloc_objects.round() as i64,
                site.alloc_bytes.round() as i64,
                site.inuse_objects.round() as i64,
                site.inuse_bytes.round() as i64,
            ],
            label: Vec::new(),
        });
    }
    profile.string_table = strings.table;
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_become_samples_with_the_four_heap_values() {
        let ip = sites_become_samples_with_the_four_heap_values as *const () as usize + 1;
        let sites = vec![spoor_heap::Site {
            frames: vec![ip, ip],
            alloc_objects: 3.0,
            alloc_bytes: 3072.0,
            inuse_objects: 1.0,
            inuse_bytes: 1024.4,
        }];
        let p = encode(&sites, 524_288);
        let name = |i: i64| p.string_table[i as usize].as_str();
        let types: Vec<&str> = p.sample_type.iter().map(|t| name(t.r#type)).collect();
        assert_eq!(
            types,
            [
                "alloc_objects",
                "alloc_space",
                "inuse_objects",
                "inuse_space"
            ]
        );
        assert_eq!(p.period, 524_288);
        assert_eq!(p.sample[0].value, vec![3, 3072, 1, 1024]);
        // The same address is one location, referenced twice.
        assert_eq!(p.location.len(), 1);
        assert_eq!(p.sample[0].location_id, vec![1, 1]);
        assert_eq!(p.location[0].address, ip as u64);
        let function = &p.function[p.location[0].line[0].function_id as usize - 1];
        assert!(!name(function.name).is_empty());
    }
}
