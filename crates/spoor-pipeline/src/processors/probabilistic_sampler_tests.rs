use super::*;
use crate::processors::common::test_support::{batch, span, spans, yaml};
use spoor_model::attr;

fn build(cfg: &str) -> Box<dyn SpanProcessor> {
    yaml::<ProbabilisticSamplerConfig>(cfg)
        .expect("yaml")
        .build()
        .expect("build")
}

fn trace(i: u32) -> Span {
    let mut s = span("op", vec![]);
    let mut id = [0u8; 16];
    // Spread ids over the whole range, like random ids.
    let x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    id[..8].copy_from_slice(&x.to_be_bytes());
    id[8..].copy_from_slice(&x.rotate_left(29).to_be_bytes());
    s.trace_id = id.to_vec();
    s
}

fn kept(p: &dyn SpanProcessor, n: u32) -> usize {
    let out = p
        .process(batch("svc", (1..=n).map(trace).collect()))
        .expect("process");
    spans(&out).len()
}

#[test]
fn fnv_matches_the_reference_values() {
    // FNV-1a 32 of "" is the offset basis; of "a" is 0xe40c292c.
    let plain = |d: &[u8]| {
        let mut h: u32 = 0x811c_9dc5;
        for b in d {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    };
    assert_eq!(plain(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a_seeded(b"a", 0), plain(&[0, 0, 0, 0, b'a']));
    assert_eq!(fnv1a_seeded(b"", 0x0403_0201), plain(&[1, 2, 3, 4]));
}

#[test]
fn hash_seed_mode_keeps_about_the_percentage_and_is_consistent() {
    let p = build("sampling_percentage: 25\nhash_seed: 22\n");
    let n = 4000;
    let k = kept(p.as_ref(), n);
    assert!((800..1200).contains(&k), "kept {k} of {n}");
    // The decision is the documented formula, per trace id.
    for i in 0..200 {
        let s = trace(i);
        let expect = (fnv1a_seeded(&s.trace_id, 22) & 0x3fff) < (25.0f32 * 163.84f32) as u32;
        let out = p
            .process(batch("svc", vec![s.clone(), s]))
            .expect("process");
        let got = spans(&out).len();
        assert_eq!(
            got,
            if expect { 2 } else { 0 },
            "trace {i}: both spans share the decision"
        );
        if let Some(kept) = spans(&out).first() {
            assert!(
                kept.trace_state.starts_with("ot=rv:"),
                "{}",
                kept.trace_state
            );
            assert!(kept.trace_state.ends_with(";th:c"), "{}", kept.trace_state);
        }
    }
    let other_seed = build("sampling_percentage: 25\nhash_seed: 23\n");
    let differs = (1..400).any(|i| {
        let a = p
            .process(batch("svc", vec![trace(i)]))
            .map(|b| b.len())
            .unwrap_or(0);
        let b = other_seed
            .process(batch("svc", vec![trace(i)]))
            .map(|b| b.len())
            .unwrap_or(0);
        a != b
    });
    assert!(differs, "the seed changes decisions");
}

#[test]
fn zero_and_hundred_percent() {
    assert_eq!(
        kept(
            build("sampling_percentage: 0\nhash_seed: 1\n").as_ref(),
            100
        ),
        0
    );
    assert_eq!(
        kept(
            build("sampling_percentage: 100\nhash_seed: 1\n").as_ref(),
            100
        ),
        100
    );
    assert_eq!(kept(build("sampling_percentage: 0\n").as_ref(), 100), 0);
    assert_eq!(kept(build("sampling_percentage: 150\n").as_ref(), 100), 100);
    let mut zero_id = span("a", vec![]);
    zero_id.trace_id = vec![0; 16];
    let out = build("sampling_percentage: 100\n")
        .process(batch("svc", vec![zero_id]))
        .expect("process");
    assert!(
        out.is_empty(),
        "no randomness in an all-zero trace id: dropped, as the Collector does"
    );
}

#[test]
fn proportional_mode_uses_trace_id_randomness_and_writes_th() {
    let p = build("sampling_percentage: 50\n");
    let k = kept(p.as_ref(), 4000);
    assert!((1800..2200).contains(&k), "kept {k}");
    let mut hi = span("a", vec![]);
    hi.trace_id = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0];
    let mut lo = hi.clone();
    lo.trace_id[9] = 0x7f;
    let out = p.process(batch("svc", vec![hi, lo])).expect("process");
    let s = spans(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].trace_state, "ot=th:8");
    // An arriving 50 % threshold is multiplied: 25 % in total.
    let mut arriving = span("a", vec![]);
    arriving.trace_id = vec![1; 16];
    arriving.trace_state = "ot=rv:f0000000000000;th:8,vendor=x".into();
    let out = p.process(batch("svc", vec![arriving])).expect("process");
    assert_eq!(
        spans(&out)[0].trace_state,
        "ot=rv:f0000000000000;th:c,vendor=x"
    );
}

#[test]
fn equalizing_keeps_the_stricter_threshold() {
    let p = build("sampling_percentage: 50\nmode: equalizing\n");
    let mut s = span("a", vec![]);
    s.trace_state = "ot=rv:f0000000000000;th:c".into();
    let out = p.process(batch("svc", vec![s])).expect("process");
    assert_eq!(spans(&out)[0].trace_state, "ot=rv:f0000000000000;th:c");
}

#[test]
fn sampling_priority_overrides() {
    let p = build("sampling_percentage: 0\n");
    let out = p
        .process(batch(
            "svc",
            vec![
                span("keep", vec![attr::int("sampling.priority", 1)]),
                span("keep2", vec![attr::string("sampling.priority", "2.5")]),
            ],
        ))
        .expect("process");
    assert_eq!(spans(&out).len(), 2);
    let p = build("sampling_percentage: 100\n");
    let out = p
        .process(batch(
            "svc",
            vec![span("drop", vec![attr::double("sampling.priority", 0.0)])],
        ))
        .expect("process");
    assert!(out.is_empty());
}

#[test]
fn thresholds_and_tvalues() {
    assert_eq!(tvalue(threshold_for(0.5, 4)), "8");
    assert_eq!(tvalue(threshold_for(0.25, 4)), "c");
    assert_eq!(tvalue(threshold_for(1.0, 4)), "0");
    assert_eq!(tvalue(threshold_for(1.0 / 3.0, 4)), "aaab");
    assert_eq!(parse_tvalue("8"), Some(1 << 55));
}

#[test]
fn config_errors() {
    assert!(yaml::<ProbabilisticSamplerConfig>("sampling_percentag: 1\n").is_err());
    let err = |s: &str| {
        yaml::<ProbabilisticSamplerConfig>(s)
            .expect("yaml")
            .build()
            .err()
            .expect("error")
    };
    assert_eq!(err("sampling_percentage: -1\n").path, "sampling_percentage");
    assert_eq!(err("sampling_percentage: 1\nmode: random\n").path, "mode");
    assert_eq!(
        err("sampling_percentage: 1\nsampling_precision: 15\n").path,
        "sampling_precision"
    );
}
