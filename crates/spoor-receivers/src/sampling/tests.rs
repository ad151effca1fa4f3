use std::path::PathBuf;

use super::strategies::{StrategyKind, StrategyResponse, parse};

const D: f64 = super::DEFAULT_SAMPLING_PROBABILITY;

fn conformance(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/jaeger/sampling")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(_) => {
            eprintln!("skipping: {} is absent", path.display());
            None
        }
    }
}

fn ops(r: &StrategyResponse) -> (f64, Vec<(&str, f64)>) {
    let o = r.operations.as_ref().expect("per-operation strategies");
    (
        o.default_probability,
        o.per_operation
            .iter()
            .map(|(n, p)| (n.as_str(), *p))
            .collect(),
    )
}

#[test]
fn operation_strategies_merge_with_the_default_ones_as_jaeger_does() {
    let Some(text) = conformance("operation_strategies.json") else {
        return;
    };
    let parsed = parse(&text, D).expect("parses");
    let s = parsed.strategies;
    assert_eq!(s.default.kind, StrategyKind::Probabilistic(0.5));
    assert_eq!(
        ops(&s.default),
        (0.5, vec![("op0", 0.2), ("op6", 0.0), ("op7", 1.0)])
    );
    let foo = s.for_service("foo");
    assert_eq!(foo.kind, StrategyKind::Probabilistic(0.8));
    assert_eq!(
        ops(&foo),
        (
            0.8,
            vec![("op6", 0.5), ("op1", 0.2), ("op0", 0.2), ("op7", 1.0)]
        )
    );
    let bar = s.for_service("bar");
    assert_eq!(bar.kind, StrategyKind::RateLimiting(5));
    assert_eq!(
        ops(&bar),
        (
            D,
            vec![
                ("op3", 0.3),
                ("op5", 0.4),
                ("op0", 0.2),
                ("op6", 0.0),
                ("op7", 1.0)
            ]
        )
    );
    assert_eq!(s.for_service("nobody"), s.default);
    // The rate-limited operations were skipped with a warning each.
    assert_eq!(
        parsed
            .warnings
            .iter()
            .filter(|w| w.contains("can only be probabilistic"))
            .count(),
        3,
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn a_service_without_operations_takes_the_defaults_with_its_own_probability() {
    let Some(text) = conformance("service_no_per_operation.json") else {
        return;
    };
    let s = parse(&text, D).expect("parses").strategies;
    assert_eq!(
        ops(&s.for_service("ServiceA")),
        (1.0, vec![("/health", 0.1)])
    );
    let b = s.for_service("ServiceB");
    assert_eq!(b.kind, StrategyKind::RateLimiting(3));
    assert_eq!(ops(&b), (0.2, vec![("/health", 0.1)]));
}

#[test]
fn entries_without_a_type_get_the_default_probability_and_a_warning() {
    let Some(text) = conformance("missing-service-types.json") else {
        return;
    };
    let parsed = parse(&text, D).expect("parses");
    let foo = parsed.strategies.for_service("foo");
    assert_eq!(foo.kind, StrategyKind::Probabilistic(D));
    assert_eq!(ops(&foo), (D, vec![("op1", 0.2)]));
    assert!(parsed.warnings.iter().any(|w| w.contains("(missing)")));
}

#[test]
fn a_file_that_is_not_strategies_is_refused() {
    if let Some(text) = conformance("bad_strategies.json") {
        assert!(parse(&text, D).is_err());
    }
    assert!(parse("\"nonsense\"", D).is_err());
    assert!(parse("{\"service_strategies\": 3}", D).is_err());
}

#[test]
fn invalid_probabilities_and_rates_are_refused_with_their_place() {
    let e = parse(
        r#"{"service_strategies":[{"service":"a","type":"probabilistic","param":1.5}]}"#,
        D,
    )
    .expect_err("refused")
    .to_string();
    assert!(
        e.contains("service_strategies[0]") && e.contains("1.5"),
        "{e}"
    );
    let e = parse(
        r#"{"default_strategy":{"type":"ratelimiting","param":-1}}"#,
        D,
    )
    .expect_err("refused")
    .to_string();
    assert!(e.contains("default_strategy"), "{e}");
    let e = parse(
        r#"{"service_strategies":[{"type":"probabilistic","param":0.5}]}"#,
        D,
    )
    .expect_err("refused")
    .to_string();
    assert!(e.contains("no `service`"), "{e}");
}

#[test]
fn the_seeds_sampling_json_loads_as_is() {
    let text = r#"{
      "service_strategies": [
        {"service": "edtech-api", "type": "probabilistic", "param": 0.1, "max_traces_per_second": 100},
        {"service": "user-service", "type": "adaptive", "max_traces_per_second": 50,
         "operation_strategies": [{"operation": "expensive-operation", "type": "probabilistic", "param": 0.01}]}
      ],
      "default_strategy": {"type": "probabilistic", "param": 0.05, "max_traces_per_second": 200}
    }"#;
    let parsed = parse(text, D).expect("parses");
    let s = &parsed.strategies;
    assert_eq!(
        s.for_service("edtech-api").kind,
        StrategyKind::Probabilistic(0.1)
    );
    assert_eq!(s.default.kind, StrategyKind::Probabilistic(0.05));
    assert_eq!(s.adaptive, vec!["user-service".to_string()]);
    assert_eq!(
        ops(&s.for_service("user-service")).1,
        vec![("expensive-operation", 0.01)]
    );
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("max_traces_per_second")),
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn the_yaml_spelling_of_the_seeds_loads() {
    let text = "sampling:\n  default_strategy:\n    type: probabilistic\n    param: 0.2\n  per_service_strategies:\n    - service: api-gateway\n      type: probabilistic\n      param: 0.1\n    - service: video-ingestion\n      type: rate_limiting\n      max_traces_per_second: 20\n";
    let s = parse(text, D).expect("parses").strategies;
    assert_eq!(
        s.for_service("api-gateway").kind,
        StrategyKind::Probabilistic(0.1)
    );
    assert_eq!(
        s.for_service("video-ingestion").kind,
        StrategyKind::RateLimiting(20)
    );
    assert_eq!(s.default.kind, StrategyKind::Probabilistic(0.2));
}

#[test]
fn json_answers_have_jaegers_shape() {
    let r = StrategyResponse::probabilistic(0.8);
    assert_eq!(
        r.to_json(),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8}}"#
    );
    let r = StrategyResponse {
        kind: StrategyKind::RateLimiting(5),
        operations: Some(super::OperationSampling {
            default_probability: 0.001,
            default_lower_bound_traces_per_second: 0.0,
            default_upper_bound_traces_per_second: 0.0,
            per_operation: vec![("op3".into(), 0.3)],
        }),
    };
    assert_eq!(
        r.to_json(),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5},"operationSampling":{"defaultSamplingProbability":0.001,"defaultLowerBoundTracesPerSecond":0.0,"perOperationStrategies":[{"operation":"op3","probabilisticSampling":{"samplingRate":0.3}}],"defaultUpperBoundTracesPerSecond":0.0}}"#
    );
    let p = super::to_proto(&r);
    assert_eq!(p.strategy_type, 1);
    assert_eq!(
        p.rate_limiting_sampling.map(|r| r.max_traces_per_second),
        Some(5)
    );
}
