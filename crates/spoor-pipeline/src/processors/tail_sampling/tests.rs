use std::sync::{Arc, Mutex};

use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::{Span, Status, span::Event};
use spoor_model::{ResourceSpans, ScopeSpans, SinkError, TraceSink, span_count};
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;

use super::policy::{Decision, Now, Policy, TraceData, probability_threshold};
use super::{PolicyConfig, TailSampler, TailSamplingConfig, TailSamplingMetrics};
use crate::registry::{ComponentConfig, deserialize};

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn span(trace: u8, id: u8, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: format!("s{id}"),
        start_time_unix_nano: 1_700_000_000_000_000_000 + start_ms * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + end_ms * 1_000_000,
        ..Default::default()
    }
}

fn trace_of(spans: Vec<Span>, resource: Vec<KeyValue>) -> TraceData {
    let id = spans
        .first()
        .and_then(|s| s.trace_id.as_slice().try_into().ok())
        .unwrap_or([0; 16]);
    let n = spans.len() as i64;
    TraceData {
        id,
        batches: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
        span_count: n,
    }
}

fn policy(yaml: serde_json::Value) -> Policy {
    let c: PolicyConfig = deserialize(&yaml).expect("policy config");
    Policy::build(&c).expect("policy builds")
}

const NOW: Now = Now { secs: 1000.0 };

fn eval(p: &Policy, t: &mut TraceData) -> Decision {
    p.evaluate(t, NOW).expect("evaluates")
}

#[test]
fn always_sample() {
    let p = policy(serde_json::json!({"name": "a", "type": "always_sample"}));
    assert_eq!(
        eval(&p, &mut trace_of(vec![span(1, 1, 0, 1)], vec![])),
        Decision::Sampled
    );
}

#[test]
fn latency_uses_the_spread_of_the_trace() {
    let p = policy(
        serde_json::json!({"name": "l", "type": "latency", "latency": {"threshold_ms": 100}}),
    );
    let mut fast = trace_of(vec![span(1, 1, 0, 50), span(1, 2, 10, 60)], vec![]);
    assert_eq!(eval(&p, &mut fast), Decision::NotSampled);
    // Two short spans 200 ms apart: the trace's spread is what counts.
    let mut slow = trace_of(vec![span(1, 1, 0, 10), span(1, 2, 190, 200)], vec![]);
    assert_eq!(eval(&p, &mut slow), Decision::Sampled);
    let upper = policy(serde_json::json!({"name": "l", "type": "latency",
        "latency": {"threshold_ms": 100, "upper_threshold_ms": 150}}));
    assert_eq!(eval(&upper, &mut slow), Decision::NotSampled);
    let mut mid = trace_of(vec![span(1, 1, 0, 120)], vec![]);
    assert_eq!(eval(&upper, &mut mid), Decision::Sampled);
}

#[test]
fn numeric_attribute_with_and_without_invert() {
    let p = policy(serde_json::json!({"name": "n", "type": "numeric_attribute",
        "numeric_attribute": {"key": "http.status_code", "min_value": 500, "max_value": 599}}));
    let mut s = span(1, 1, 0, 1);
    s.attributes
        .push(kv("http.status_code", Value::IntValue(503)));
    let mut t = trace_of(vec![s.clone(), span(1, 2, 0, 1)], vec![]);
    assert_eq!(eval(&p, &mut t), Decision::Sampled);
    // A string value reads as 0, as pdata's Int() does.
    let mut as_string = span(2, 1, 0, 1);
    as_string
        .attributes
        .push(kv("http.status_code", Value::StringValue("503".into())));
    assert_eq!(
        eval(&p, &mut trace_of(vec![as_string], vec![])),
        Decision::NotSampled
    );
    let inv = policy(serde_json::json!({"name": "n", "type": "numeric_attribute",
        "numeric_attribute": {"key": "http.status_code", "min_value": 500, "max_value": 599, "invert_match": true}}));
    assert_eq!(eval(&inv, &mut t), Decision::NotSampled);
    assert_eq!(
        eval(&inv, &mut trace_of(vec![span(3, 1, 0, 1)], vec![])),
        Decision::Sampled
    );
    let c: PolicyConfig = deserialize(
        &serde_json::json!({"name": "n", "type": "numeric_attribute",
        "numeric_attribute": {"key": "k"}}),
    )
    .expect("config");
    assert!(Policy::build(&c).is_err());
}

#[test]
fn probabilistic_matches_the_collector_hash_and_rate() {
    assert_eq!(probability_threshold(1.0), u64::MAX);
    assert_eq!(probability_threshold(0.0), 0);
    // (2^64 - 1) / 2, truncated, as Go's big.Float gives it.
    assert_eq!(probability_threshold(0.5), (1u64 << 63) - 1);
    // Values printed by the Collector's own `calculateThreshold` and FNV-1a hash (Go 1.x,
    // math/big), so the same trace ids are kept.
    for (ratio, want) in [
        (0.1, 1_844_674_407_370_955_263u64),
        (0.3, 5_534_023_222_112_865_279),
        (0.153, 2_822_351_843_277_561_343),
        (0.999, 18_428_297_329_635_842_047),
        (1e-9, 18_446_744_073),
    ] {
        assert_eq!(probability_threshold(ratio), want, "ratio {ratio}");
    }
    assert_eq!(
        super::policy::fnv1a64(b"default-hash-seed", &[1; 16]),
        4_058_558_143_015_274_573
    );
    let p = policy(serde_json::json!({"name": "p", "type": "probabilistic",
        "probabilistic": {"sampling_percentage": 10}}));
    let mut kept = 0;
    for i in 0..10_000u32 {
        let mut t = trace_of(vec![span(1, 1, 0, 1)], vec![]);
        t.id[..4].copy_from_slice(&i.to_be_bytes());
        t.id[8..12].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
        if eval(&p, &mut t) == Decision::Sampled {
            kept += 1;
        }
    }
    assert!((850..1150).contains(&kept), "{kept} of 10000 kept at 10 %");
}

#[test]
fn status_code() {
    let p = policy(serde_json::json!({"name": "e", "type": "status_code",
        "status_code": {"status_codes": ["ERROR"]}}));
    let mut err = span(1, 2, 0, 1);
    err.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    assert_eq!(
        eval(&p, &mut trace_of(vec![span(1, 1, 0, 1), err], vec![])),
        Decision::Sampled
    );
    assert_eq!(
        eval(&p, &mut trace_of(vec![span(1, 1, 0, 1)], vec![])),
        Decision::NotSampled
    );
    let c: PolicyConfig = deserialize(&serde_json::json!({"name": "e", "type": "status_code",
        "status_code": {"status_codes": ["BAD"]}}))
    .expect("config");
    let e = Policy::build(&c).err().expect("unknown code refused");
    assert_eq!(e.path, "status_code.status_codes[0]");
}

#[test]
fn string_attribute_values_regex_and_invert() {
    let p = policy(serde_json::json!({"name": "s", "type": "string_attribute",
        "string_attribute": {"key": "tier", "values": ["premium"]}}));
    let res = vec![kv("tier", Value::StringValue("premium".into()))];
    assert_eq!(
        eval(&p, &mut trace_of(vec![span(1, 1, 0, 1)], res.clone())),
        Decision::Sampled
    );
    assert_eq!(
        eval(&p, &mut trace_of(vec![span(1, 1, 0, 1)], vec![])),
        Decision::NotSampled
    );
    let re = policy(serde_json::json!({"name": "s", "type": "string_attribute",
        "string_attribute": {"key": "http.route", "values": ["^/api/v[0-9]+/users"], "enabled_regex_matching": true}}));
    let mut s = span(1, 1, 0, 1);
    s.attributes.push(kv(
        "http.route",
        Value::StringValue("/api/v1/users/7".into()),
    ));
    assert_eq!(
        eval(&re, &mut trace_of(vec![s.clone()], vec![])),
        Decision::Sampled
    );
    let inv = policy(serde_json::json!({"name": "s", "type": "string_attribute",
        "string_attribute": {"key": "http.route", "values": ["/health"], "invert_match": true}}));
    let mut health = span(2, 1, 0, 1);
    health
        .attributes
        .push(kv("http.route", Value::StringValue("/health".into())));
    assert_eq!(
        eval(&inv, &mut trace_of(vec![health, span(2, 2, 0, 1)], vec![])),
        Decision::NotSampled
    );
    assert_eq!(
        eval(&inv, &mut trace_of(vec![s], vec![])),
        Decision::Sampled
    );
    let c: PolicyConfig = deserialize(&serde_json::json!({"name": "s", "type": "string_attribute",
        "string_attribute": {"key": "k", "values": ["("], "enabled_regex_matching": true}}))
    .expect("config");
    assert!(
        Policy::build(&c)
            .err()
            .expect("bad regex")
            .message
            .contains("invalid regex")
    );
}

#[test]
fn rate_limiting_refills_per_second() {
    let p = policy(serde_json::json!({"name": "r", "type": "rate_limiting",
        "rate_limiting": {"spans_per_second": 2}}));
    let mut two = trace_of(vec![span(1, 1, 0, 1), span(1, 2, 0, 1)], vec![]);
    let at = |secs| Now { secs };
    // Burst is twice the rate: two traces of two spans, then refused until tokens come back.
    assert_eq!(p.evaluate(&mut two, at(10.0)), Ok(Decision::Sampled));
    assert_eq!(p.evaluate(&mut two, at(10.0)), Ok(Decision::Sampled));
    assert_eq!(p.evaluate(&mut two, at(10.1)), Ok(Decision::NotSampled));
    assert_eq!(p.evaluate(&mut two, at(11.2)), Ok(Decision::Sampled));
}

#[test]
fn span_count_trace_state_and_boolean() {
    let sc = policy(
        serde_json::json!({"name": "c", "type": "span_count", "span_count": {"min_spans": 2, "max_spans": 3}}),
    );
    assert_eq!(
        eval(&sc, &mut trace_of(vec![span(1, 1, 0, 1)], vec![])),
        Decision::NotSampled
    );
    assert_eq!(
        eval(
            &sc,
            &mut trace_of(vec![span(1, 1, 0, 1), span(1, 2, 0, 1)], vec![])
        ),
        Decision::Sampled
    );
    let ts = policy(
        serde_json::json!({"name": "t", "type": "trace_state", "trace_state": {"key": "tier", "values": ["gold"]}}),
    );
    let mut s = span(1, 1, 0, 1);
    s.trace_state = "ot=th:8, tier=gold".into();
    assert_eq!(eval(&ts, &mut trace_of(vec![s], vec![])), Decision::Sampled);
    let b = policy(
        serde_json::json!({"name": "b", "type": "boolean_attribute", "boolean_attribute": {"key": "debug", "value": true}}),
    );
    let mut d = span(1, 1, 0, 1);
    d.attributes.push(kv("debug", Value::BoolValue(true)));
    assert_eq!(
        eval(&b, &mut trace_of(vec![d.clone()], vec![])),
        Decision::Sampled
    );
    let binv = policy(
        serde_json::json!({"name": "b", "type": "boolean_attribute", "boolean_attribute": {"key": "debug", "value": true, "invert_match": true}}),
    );
    assert_eq!(
        eval(&binv, &mut trace_of(vec![d], vec![])),
        Decision::NotSampled
    );
    assert_eq!(
        eval(&binv, &mut trace_of(vec![span(1, 1, 0, 1)], vec![])),
        Decision::Sampled
    );
}

#[test]
fn ottl_condition_on_spans_and_events() {
    let p = policy(
        serde_json::json!({"name": "o", "type": "ottl_condition", "ottl_condition": {
        "span": ["attributes[\"user.tier\"] == \"premium\""],
        "spanevent": ["name == \"exception\""]}}),
    );
    let mut s = span(1, 1, 0, 1);
    s.attributes
        .push(kv("user.tier", Value::StringValue("premium".into())));
    assert_eq!(eval(&p, &mut trace_of(vec![s], vec![])), Decision::Sampled);
    let mut e = span(1, 1, 0, 1);
    e.events.push(Event {
        name: "exception".into(),
        ..Default::default()
    });
    let mut t = trace_of(vec![e], vec![]);
    assert_eq!(eval(&p, &mut t), Decision::Sampled);
    assert_eq!(
        t.batches[0].scope_spans[0].spans[0].events.len(),
        1,
        "events are put back"
    );
    assert_eq!(
        eval(&p, &mut trace_of(vec![span(1, 1, 0, 1)], vec![])),
        Decision::NotSampled
    );
    let c: PolicyConfig = deserialize(&serde_json::json!({"name": "o", "type": "ottl_condition",
        "ottl_condition": {"span": ["name =="]}}))
    .expect("config");
    let err = Policy::build(&c).err().expect("parse error");
    assert_eq!(err.path, "ottl_condition.span[0]");
}

#[test]
fn and_drop_and_composite() {
    let and = policy(
        serde_json::json!({"name": "a", "type": "and", "and": {"and_sub_policy": [
        {"name": "slow", "type": "latency", "latency": {"threshold_ms": 100}},
        {"name": "premium", "type": "string_attribute", "string_attribute": {"key": "tier", "values": ["premium"]}}]}}),
    );
    let premium = vec![kv("tier", Value::StringValue("premium".into()))];
    assert_eq!(
        eval(
            &and,
            &mut trace_of(vec![span(1, 1, 0, 500)], premium.clone())
        ),
        Decision::Sampled
    );
    assert_eq!(
        eval(&and, &mut trace_of(vec![span(1, 1, 0, 5)], premium.clone())),
        Decision::NotSampled
    );
    let drop = policy(
        serde_json::json!({"name": "d", "type": "drop", "drop": {"drop_sub_policy": [
        {"name": "health", "type": "string_attribute", "string_attribute": {"key": "tier", "values": ["premium"]}}]}}),
    );
    assert_eq!(
        eval(&drop, &mut trace_of(vec![span(1, 1, 0, 5)], premium)),
        Decision::Dropped
    );
    assert_eq!(
        eval(&drop, &mut trace_of(vec![span(1, 1, 0, 5)], vec![])),
        Decision::NotSampled
    );
    let composite = policy(
        serde_json::json!({"name": "c", "type": "composite", "composite": {
        "max_total_spans_per_second": 10,
        "policy_order": ["errors", "rest"],
        "composite_sub_policy": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "rest", "type": "always_sample"}],
        "rate_allocation": [{"policy": "errors", "percent": 80}, {"policy": "rest", "percent": 20}]}}),
    );
    // "rest" gets 2 spans per second: the first one-span trace and the second pass, the third not.
    let mut one = trace_of(vec![span(1, 1, 0, 1)], vec![]);
    let at = Now { secs: 50.2 };
    assert_eq!(composite.evaluate(&mut one, at), Ok(Decision::Sampled));
    assert_eq!(composite.evaluate(&mut one, at), Ok(Decision::Sampled));
    assert_eq!(composite.evaluate(&mut one, at), Ok(Decision::NotSampled));
    // Errors have their own 8 spans per second.
    let mut err = span(2, 1, 0, 1);
    err.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    let mut e = trace_of(vec![err], vec![]);
    assert_eq!(composite.evaluate(&mut e, at), Ok(Decision::Sampled));
    // A new second resets the budgets.
    assert_eq!(
        composite.evaluate(&mut one, Now { secs: 51.0 }),
        Ok(Decision::Sampled)
    );
}

#[test]
fn config_errors_have_paths() {
    let c: TailSamplingConfig = deserialize(&serde_json::json!({"policies": [
        {"name": "a", "type": "always_sample"},
        {"name": "a", "type": "nope"}]}))
    .expect("config");
    let errors = c.validate();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["policies[1].name", "policies[1].type"],
        "{errors:?}"
    );
    let nested: TailSamplingConfig = deserialize(&serde_json::json!({"policies": [
        {"name": "x", "type": "and", "and": {"and_sub_policy": [{"name": "y", "type": "latency"}]}}]}))
    .expect("config");
    assert_eq!(
        nested.validate()[0].path,
        "policies[0].and.and_sub_policy[0].latency"
    );
    let unknown = deserialize::<TailSamplingConfig>(
        &serde_json::json!({"policies": [{"name": "x", "type": "always_sample", "bogus": 1}]}),
    );
    assert!(unknown.is_err());
}

#[derive(Default)]
struct Collect(Mutex<Vec<ResourceSpans>>);

#[async_trait::async_trait]
impl TraceSink for Collect {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        if let Ok(mut b) = self.0.lock() {
            b.extend(batch);
        }
        Ok(())
    }
}

impl Collect {
    fn traces(&self) -> std::collections::BTreeSet<u8> {
        self.0
            .lock()
            .map(|b| {
                b.iter()
                    .flat_map(|rs| rs.scope_spans.iter())
                    .flat_map(|ss| ss.spans.iter())
                    .map(|s| s.trace_id[0])
                    .collect()
            })
            .unwrap_or_default()
    }
    fn spans(&self) -> usize {
        self.0.lock().map(|b| span_count(&b)).unwrap_or(0)
    }
}

fn start(
    yaml: serde_json::Value,
    telemetry: &Telemetry,
) -> (TailSampler, Arc<Collect>, tokio::task::JoinHandle<()>) {
    let config: TailSamplingConfig = deserialize(&yaml).expect("config");
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    let policies = config.build_policies().expect("policies");
    let names: Vec<&str> = policies.iter().map(|(n, _)| n.as_str()).collect();
    let counters =
        TailSamplingMetrics::register(telemetry).counters("traces", "tail_sampling", &names);
    let next = Arc::new(Collect::default());
    let (s, task) = TailSampler::start(
        &config,
        policies,
        counters,
        Counter::default(),
        next.clone(),
    );
    (s, next, task)
}

fn batch(spans: Vec<Span>) -> Vec<ResourceSpans> {
    trace_of(spans, vec![]).batches
}

fn errored(mut s: Span) -> Span {
    s.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    s
}

fn metric(t: &Telemetry, parts: &[&str]) -> f64 {
    t.render()
        .lines()
        .filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(start_paused = true)]
async fn waits_for_the_whole_trace_and_late_spans_follow_the_decision() {
    let telemetry = Telemetry::new();
    let (sampler, next, task) = start(
        serde_json::json!({"decision_wait": "1s", "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]}),
        &telemetry,
    );
    // Trace 1's error comes in a later batch than its first span; trace 2 has none.
    sampler
        .consume(batch(vec![span(1, 1, 0, 1), span(2, 1, 0, 1)]))
        .await
        .expect("buffered");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sampler
        .consume(batch(vec![errored(span(1, 2, 0, 1))]))
        .await
        .expect("buffered");
    assert_eq!(next.spans(), 0, "nothing is passed on before decision_wait");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(next.traces(), [1].into_iter().collect());
    assert_eq!(next.spans(), 2);
    // Late spans follow the decision.
    sampler
        .consume(batch(vec![span(1, 3, 0, 1), span(2, 2, 0, 1)]))
        .await
        .expect("late");
    assert_eq!(next.spans(), 3);
    assert_eq!(metric(&telemetry, &["tail_sampling_late_spans_total"]), 2.0);
    assert_eq!(
        metric(
            &telemetry,
            &["tail_sampling_traces_sampled_total", "policy=\"errors\""]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &telemetry,
            &[
                "tail_sampling_traces_not_sampled_total",
                "policy=\"errors\""
            ]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &telemetry,
            &["tail_sampling_decisions_total", "decision=\"sampled\""]
        ),
        1.0
    );
    drop(sampler);
    task.await.expect("task stops once the sampler is dropped");
}

#[tokio::test(start_paused = true)]
async fn memory_is_bounded_by_num_traces_and_shutdown_decides_the_rest() {
    let telemetry = Telemetry::new();
    let (sampler, next, task) = start(
        serde_json::json!({"decision_wait": "60s", "num_traces": 10, "policies": [
            {"name": "all", "type": "always_sample"}]}),
        &telemetry,
    );
    for t in 0..100u8 {
        sampler
            .consume(batch(vec![span(t + 1, 1, 0, 1)]))
            .await
            .expect("buffered");
        assert!(metric(&telemetry, &["tail_sampling_traces_pending"]) <= 10.0);
    }
    assert_eq!(next.spans(), 90, "the oldest traces were decided early");
    assert_eq!(
        metric(&telemetry, &["tail_sampling_traces_decided_early_total"]),
        90.0
    );
    drop(sampler);
    task.await.expect("stops");
    assert_eq!(next.spans(), 100, "pending traces are decided at shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_drop_policy_wins_over_sampling_policies() {
    let telemetry = Telemetry::new();
    let (sampler, next, task) = start(
        serde_json::json!({"decision_wait": "1s", "policies": [
            {"name": "all", "type": "always_sample"},
            {"name": "no-health", "type": "drop", "drop": {"drop_sub_policy": [
                {"name": "health", "type": "ottl_condition", "ottl_condition": {"span": ["name == \"s9\""]}}]}}]}),
        &telemetry,
    );
    sampler
        .consume(batch(vec![span(1, 9, 0, 1), span(2, 1, 0, 1)]))
        .await
        .expect("buffered");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(next.traces(), [2].into_iter().collect());
    assert_eq!(
        metric(
            &telemetry,
            &["tail_sampling_decisions_total", "decision=\"dropped\""]
        ),
        1.0
    );
    drop(sampler);
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn kept_spans_record_the_head_times_the_tail_probability() {
    let telemetry = Telemetry::new();
    let (sampler, next, task) = start(
        serde_json::json!({"decision_wait": "1s", "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "half", "type": "probabilistic", "probabilistic": {"sampling_percentage": 50}}]}),
        &telemetry,
    );
    // Every span head-sampled at 10 % (the OTel SDK's threshold for 0.1); trace 1 has an error.
    let head = |mut s: Span| {
        s.trace_state = "ot=th:e6666666666666".into();
        s
    };
    let mut spans = vec![errored(head(span(1, 1, 0, 1))), head(span(1, 2, 0, 1))];
    for t in 2..=200u8 {
        spans.push(head(span(t, 1, 0, 1)));
        spans.push(head(span(t, 2, 0, 1)));
    }
    sampler.consume(batch(spans)).await.expect("buffered");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let kept = next.0.lock().expect("lock").clone();
    let mut by_trace: std::collections::HashMap<u8, Vec<f64>> = Default::default();
    for s in kept
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
    {
        let p = spoor_receivers::sampling::survival::recorded(s).expect("recorded");
        by_trace.entry(s.trace_id[0]).or_default().push(p);
    }
    // The error trace is kept whatever its hash: only the head's 10 %.
    assert!(
        by_trace[&1].iter().all(|p| (p - 0.1).abs() < 1e-12),
        "{:?}",
        by_trace[&1]
    );
    let others: Vec<f64> = by_trace
        .iter()
        .filter(|(t, _)| **t != 1)
        .flat_map(|(_, ps)| ps.clone())
        .collect();
    assert!(
        others.len() > 100,
        "about half of 199 traces × 2 spans kept: {}",
        others.len()
    );
    assert!(
        others.iter().all(|p| (p - 0.05).abs() < 1e-12),
        "{others:?}"
    );
    drop(sampler);
    task.await.expect("stops");
}
