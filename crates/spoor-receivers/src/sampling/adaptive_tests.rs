//! The adaptive calculator against hand-computed cases, driven by an injected clock.

use std::time::{Duration, Instant};

use spoor_model::otlp_common::{AnyValue, KeyValue, any_value::Value};
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, ScopeSpans, Span};
use spoor_telemetry::Telemetry;

use super::adaptive::{
    Adaptive, AdaptiveConfig, jaeger_tag_probability, next_probability, roots,
    tracestate_probability,
};
use super::{SamplingConfig, StrategyKind, StrategyStore};

fn config() -> AdaptiveConfig {
    AdaptiveConfig {
        calculation_interval: Duration::from_secs(2),
        initial_sampling_probability: 0.05,
        ..AdaptiveConfig::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn within_the_tolerance_the_probability_stays() {
    // target 1/s, tolerance 0.3: 1.25 stored traces/s is close enough.
    assert!(close(
        next_probability(&config(), 1.0, 1.25, 12.5, 0.1),
        0.1
    ));
    assert!(close(next_probability(&config(), 1.0, 0.75, 7.5, 0.1), 0.1));
}

#[test]
fn too_many_traces_move_the_probability_down_in_one_step() {
    // 100 traces/s arriving, sampled at 0.1: 10 stored/s → 1/100.
    assert!(close(
        next_probability(&config(), 1.0, 10.0, 100.0, 0.1),
        0.01
    ));
}

#[test]
fn an_increase_is_capped_at_half_of_the_old_probability() {
    // 5 traces/s at 0.01: 0.05 stored/s wants 0.2, capped at 0.015 (Jaeger's 50 % cap).
    assert!(close(
        next_probability(&config(), 1.0, 0.05, 5.0, 0.01),
        0.015
    ));
    // A small increase is not capped: 0.8 wanted from 0.6.
    let c = AdaptiveConfig {
        delta_tolerance: 0.0,
        ..config()
    };
    assert!(close(next_probability(&c, 1.0, 0.75, 1.25, 0.6), 0.8));
}

#[test]
fn nothing_seen_doubles_and_the_bounds_hold() {
    assert!(close(
        next_probability(&config(), 1.0, 0.0, 0.0, 0.01),
        0.02
    ));
    assert!(close(next_probability(&config(), 1.0, 0.0, 0.0, 0.7), 1.0));
    // A flood asks for less than the minimum.
    assert!(close(
        next_probability(&config(), 1.0, 1e6, 1e9, 0.5),
        config().min_sampling_probability
    ));
}

#[test]
fn the_ot_threshold_gives_the_probability() {
    assert!(close(tracestate_probability("ot=th:8").expect("th"), 0.5));
    assert!(close(tracestate_probability("ot=th:0").expect("th"), 1.0));
    assert!(close(
        tracestate_probability("foo=bar,ot=rv:abcdef01234567;th:c").expect("th"),
        0.25
    ));
    // 10 %: the spec's example threshold e668 (rounded to 4 digits).
    let p = tracestate_probability("ot=th:e668").expect("th");
    assert!(close(p, 1.0 - f64::from(0xe668u32) / 65536.0));
    assert!((p - 0.1).abs() < 1e-4);
    for bad in [
        "",
        "ot=th:",
        "ot=th:xyz",
        "ot=th:123456789abcdef",
        "other=th:8",
        "ot=rv:8",
    ] {
        assert_eq!(tracestate_probability(bad), None, "{bad:?}");
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

#[test]
fn jaeger_sampler_tags_give_the_probability() {
    let tags = |t: &str, p: Value| {
        vec![
            kv("sampler.type", Value::StringValue(t.into())),
            kv("sampler.param", p),
        ]
    };
    assert_eq!(
        jaeger_tag_probability(&tags("probabilistic", Value::DoubleValue(0.25))),
        Some(0.25)
    );
    assert_eq!(
        jaeger_tag_probability(&tags("const", Value::BoolValue(true))),
        Some(1.0)
    );
    assert_eq!(
        jaeger_tag_probability(&tags("ratelimiting", Value::DoubleValue(2.0))),
        None
    );
    assert_eq!(
        jaeger_tag_probability(&tags("probabilistic", Value::DoubleValue(1.5))),
        None
    );
}

fn root(name: &str, trace_state: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_string(),
        trace_state: trace_state.to_string(),
        attributes: attrs,
        ..Span::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", Value::StringValue(service.into()))],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }]
}

#[test]
fn only_root_spans_count_with_their_signal() {
    let mut child = root("child", "ot=th:8", vec![]);
    child.parent_span_id = vec![3; 8];
    let b = batch(
        "svc",
        vec![
            root("a", "ot=th:c", vec![]),
            root(
                "b",
                "",
                vec![
                    kv("sampler.type", Value::StringValue("probabilistic".into())),
                    kv("sampler.param", Value::DoubleValue(0.5)),
                ],
            ),
            root("c", "", vec![]),
            child,
        ],
    );
    let found = roots(&b);
    assert_eq!(
        found,
        vec![
            (None, "svc", "a", Some((0.25, "tracestate"))),
            (None, "svc", "b", Some((0.5, "jaeger_tags"))),
            (None, "svc", "c", None),
        ]
    );
}

/// Two operations at 100 and 5 traces/s whose clients sample at what is served; the calculator
/// runs every 2 s of injected time.
fn simulate(adaptive: &mut Adaptive, intervals: usize, start: Instant) -> Instant {
    let mut now = start;
    let mut carry = [0.0f64; 2];
    for _ in 0..intervals {
        for (i, (op, rate)) in [("fast", 100.0), ("slow", 5.0)].into_iter().enumerate() {
            let p = adaptive
                .probability("svc", op)
                .unwrap_or(adaptive.config().initial_sampling_probability);
            carry[i] += rate * 2.0 * p;
            while carry[i] >= 1.0 {
                carry[i] -= 1.0;
                adaptive.observe("svc", op, p);
            }
        }
        now += Duration::from_secs(2);
        adaptive.tick(now, &|_| 1.0);
    }
    now
}

#[test]
fn two_operations_converge_to_their_targets() {
    let c = AdaptiveConfig {
        delta_tolerance: 0.1,
        ..config()
    };
    let mut adaptive = Adaptive::new(c);
    let start = Instant::now();
    adaptive.start(start);
    simulate(&mut adaptive, 20, start);
    let fast = adaptive.probability("svc", "fast").expect("fast learned");
    let slow = adaptive.probability("svc", "slow").expect("slow learned");
    assert!((fast - 0.01).abs() <= 0.002, "fast {fast}");
    assert!((slow - 0.2).abs() <= 0.04, "slow {slow}");
}

#[test]
fn a_client_that_ignores_the_served_probability_is_learned_from_its_threshold() {
    // The client samples at 0.5 whatever it is told (its tracestate says th:8): 100 traces/s
    // arrive, 50/s are stored, so 1/s needs 0.01 — whatever was served before.
    let mut adaptive = Adaptive::new(config());
    let start = Instant::now();
    adaptive.start(start);
    for _ in 0..100 {
        adaptive.observe("svc", "op", 0.5);
    }
    adaptive.tick(start + Duration::from_secs(2), &|_| 1.0);
    let p = adaptive.probability("svc", "op").expect("learned");
    assert!(close(p, 0.01), "{p}");
}

#[test]
fn weighted_buckets_follow_jaegers_weights() {
    // Two buckets for the calculation: weights 2^4 and 1^4 (newest first), normalised.
    let c = AdaptiveConfig {
        buckets_for_calculation: 2,
        ..config()
    };
    let mut adaptive = Adaptive::new(c);
    let start = Instant::now();
    adaptive.start(start);
    for _ in 0..20 {
        adaptive.observe("svc", "op", 1.0);
    }
    adaptive.tick(start + Duration::from_secs(2), &|_| 1.0);
    // 10/s stored at p=1 → 0.1.
    assert!(close(adaptive.probability("svc", "op").expect("p"), 0.1));
    for _ in 0..4 {
        adaptive.observe("svc", "op", 0.1);
    }
    adaptive.tick(start + Duration::from_secs(4), &|_| 1.0);
    // stored = 16/17·2 + 1/17·10 = 42/17/s; incoming = 16/17·20 + 1/17·10 = 330/17/s.
    let p = adaptive.probability("svc", "op").expect("p");
    assert!(close(p, 17.0 / 330.0), "{p}");
}

#[test]
fn learned_probabilities_survive_a_save_and_restore() {
    let mut adaptive = Adaptive::new(config());
    let start = Instant::now();
    adaptive.start(start);
    simulate(&mut adaptive, 3, start);
    let saved = adaptive.save();
    let mut again = Adaptive::new(config());
    assert_eq!(again.restore(&saved).expect("restores"), 2);
    assert_eq!(
        again.probability("svc", "fast"),
        adaptive.probability("svc", "fast")
    );
    assert!(again.restore("not json").is_err());
}

#[test]
fn options_parse_from_the_flag() {
    let c: AdaptiveConfig =
        "target_samples_per_second=5, calculation_interval=2s,aggregation_buckets=3,initial_sampling_probability=0.05"
            .parse()
            .expect("parses");
    assert_eq!(c.target_samples_per_second, 5.0);
    assert_eq!(c.calculation_interval, Duration::from_secs(2));
    assert_eq!(c.aggregation_buckets, 3);
    assert_eq!(
        "on".parse::<AdaptiveConfig>().expect("on"),
        AdaptiveConfig::default()
    );
    for bad in [
        "target_samples_per_second=0",
        "initial_sampling_probability=1.5",
        "calculation_interval=0s",
        "calculation_interval=soon",
        "buckets_for_calculation=20",
        "nope=1",
        "target_samples_per_second",
    ] {
        let e = bad.parse::<AdaptiveConfig>().expect_err(bad);
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn the_store_serves_learned_probabilities_to_adaptive_services_only() {
    let dir = std::env::temp_dir().join(format!("spoor-adaptive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sampling.json");
    std::fs::write(
        &file,
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
            "service_strategies": [
              {"service": "ada", "type": "adaptive", "max_traces_per_second": 2,
               "operation_strategies": [{"operation": "named", "type": "probabilistic", "param": 0.3}]},
              {"service": "fixed", "type": "probabilistic", "param": 0.1}]}"#,
    )
    .expect("write");
    let state = dir.join("state.json");
    let config = SamplingConfig {
        strategies_file: Some(file),
        adaptive_state_file: Some(state.clone()),
        ..SamplingConfig::default()
    };
    let store = StrategyStore::load(config.clone(), &Telemetry::new()).expect("loads");
    let start = Instant::now();
    store.recalculate(start);
    // 40 roots of `ada` in 2 s at th:8 (0.5): 20/s stored, 40/s arriving; target 2 → 0.05.
    let spans = (0..40).map(|_| root("op", "ot=th:8", vec![])).collect();
    let found = store.adaptive_roots(&batch("ada", spans));
    store.observe(&found);
    let fixed = store.adaptive_roots(&batch("fixed", vec![root("op", "", vec![])]));
    store.observe(&fixed);
    store.recalculate(start + Duration::from_secs(2));
    let served = store.strategy("ada");
    let ops = served.operations.as_ref().expect("per operation");
    assert!(
        ops.per_operation
            .iter()
            .any(|(o, p)| o == "op" && close(*p, 0.05)),
        "{ops:?}"
    );
    assert!(
        ops.per_operation
            .iter()
            .any(|(o, p)| o == "named" && close(*p, 0.3))
    );
    assert_eq!(
        store.strategy("fixed").kind,
        StrategyKind::Probabilistic(0.1)
    );
    assert!(store.strategy("fixed").operations.is_none());
    // A new store over the same data dir serves what was learned.
    let again = StrategyStore::load(config, &Telemetry::new()).expect("loads");
    let ops = again
        .strategy("ada")
        .operations
        .clone()
        .expect("per operation");
    assert!(
        ops.per_operation
            .iter()
            .any(|(o, p)| o == "op" && close(*p, 0.05))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn each_tenant_learns_from_its_own_traffic_under_the_shared_file() {
    let dir = std::env::temp_dir().join(format!("spoor-adaptive-tenants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sampling.json");
    std::fs::write(
        &file,
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
            "service_strategies": [
              {"service": "ada", "type": "adaptive", "max_traces_per_second": 2},
              {"service": "fixed", "type": "probabilistic", "param": 0.1}]}"#,
    )
    .expect("write");
    let config = SamplingConfig {
        strategies_file: Some(file),
        adaptive: Some(config()),
        ..SamplingConfig::default()
    };
    let store = StrategyStore::load(config, &Telemetry::new()).expect("loads");
    let start = Instant::now();
    store.recalculate(start);
    // Tenant a sends 40 roots of `ada` in 2 s at 0.5 (40/s arriving, target 2 → 0.05); b sends none.
    let mut spans = batch(
        "ada",
        (0..40).map(|_| root("op", "ot=th:8", vec![])).collect(),
    );
    crate::tenant::stamp(&mut spans, Some("a"));
    store.observe(&store.adaptive_roots(&spans));
    store.recalculate(start + Duration::from_secs(2));
    let learned = |tenant: Option<&str>| {
        store
            .strategy_of(tenant, "ada")
            .operations
            .as_ref()
            .and_then(|o| {
                o.per_operation
                    .iter()
                    .find(|(n, _)| n == "op")
                    .map(|(_, p)| *p)
            })
    };
    assert!(
        learned(Some("a")).is_some_and(|p| close(p, 0.05)),
        "{:?}",
        learned(Some("a"))
    );
    assert_eq!(learned(Some("b")), None);
    assert_eq!(learned(None), None);
    // The file's fixed strategies are the same for every tenant.
    for t in [Some("a"), Some("b")] {
        assert_eq!(
            store.strategy_of(t, "fixed").kind,
            StrategyKind::Probabilistic(0.1)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn head_probability_is_recorded_on_every_span_of_a_trace_that_states_it() {
    use super::survival::{multiply, record_head, recorded};
    let mut child = root("child", "", vec![]);
    child.parent_span_id = vec![3; 8];
    let mut other = root("other", "", vec![]);
    other.trace_id = vec![9; 16];
    let jaeger_root = root(
        "root",
        "",
        vec![
            kv("sampler.type", Value::StringValue("probabilistic".into())),
            kv("sampler.param", Value::DoubleValue(0.1)),
        ],
    );
    let mut b = batch("svc", vec![jaeger_root, child, other]);
    assert_eq!(record_head(&mut b), 2);
    let spans = &b[0].scope_spans[0].spans;
    assert_eq!(recorded(&spans[0]), Some(0.1));
    // The child has no tags of its own; its trace's root says 0.1.
    assert_eq!(recorded(&spans[1]), Some(0.1));
    // Another trace without any signal records nothing (p = 1).
    assert_eq!(recorded(&spans[2]), None);
    // A tail stage at 50 % multiplies in, the unsampled trace gets the tail's alone.
    multiply(&mut b, 0.5);
    let spans = &b[0].scope_spans[0].spans;
    assert_eq!(recorded(&spans[0]), Some(0.05));
    assert_eq!(recorded(&spans[1]), Some(0.05));
    assert_eq!(recorded(&spans[2]), Some(0.5));
    // Recording again keeps what is there.
    assert_eq!(record_head(&mut b), 0);
    assert_eq!(recorded(&b[0].scope_spans[0].spans[0]), Some(0.05));
}
