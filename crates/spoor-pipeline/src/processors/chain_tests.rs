//! Processors chained as a pipeline runs them: the issue's chain, and a rough throughput check
//! (`cargo test --release -p spoor-pipeline throughput -- --ignored --nocapture`).

use std::time::Instant;

use spoor_model::attr;

use super::common::test_support::{batch, span, yaml};
use super::*;
use crate::SpanProcessor;

#[test]
#[ignore = "timing; run by hand in release"]
fn throughput_of_a_typical_chain() {
    let chain: Vec<Box<dyn SpanProcessor>> = vec![
        yaml::<AttributesConfig>(
            "actions:\n  - {key: env, value: prod, action: insert}\n  - {key: http.url, pattern: '^/api/v1/users/(?P<user_id>\\d+)$', action: extract}\n",
        )
        .and_then(|c| c.build().map_err(|e| e.to_string()))
        .expect("attributes"),
        yaml::<RedactionConfig>(
            "allow_all_keys: true\nbuiltin_patterns: [card_number, email, bearer_token, sql_literals]\n",
        )
        .and_then(|c| c.build().map_err(|e| e.to_string()))
        .expect("redaction"),
        yaml::<FilterConfig>("traces:\n  span: ['attributes[\"http.route\"] == \"/health\"']\n")
            .and_then(|c| c.build().map_err(|e| e.to_string()))
            .expect("filter"),
        yaml::<TransformConfig>(
            "trace_statements:\n  - context: span\n    statements: ['set(attributes[\"svc\"], resource.attributes[\"service.name\"]) where kind == SPAN_KIND_SERVER']\n",
        )
        .and_then(|c| c.build().map_err(|e| e.to_string()))
        .expect("transform"),
        yaml::<ProbabilisticSamplerConfig>("sampling_percentage: 100\n")
            .and_then(|c| c.build().map_err(|e| e.to_string()))
            .expect("sampler"),
    ];
    let make = || {
        let spans = (0..10_000u32)
            .map(|i| {
                let mut s = span(
                    "GET /api/v1/users/{id}",
                    vec![
                        attr::string("http.url", format!("/api/v1/users/{i}")),
                        attr::string("http.route", "/api/v1/users/{id}"),
                        attr::string("user.email", "jane@example.com"),
                        attr::int("http.status_code", 200),
                        attr::string("db.statement", "SELECT * FROM users WHERE id = 42"),
                    ],
                );
                s.kind = 2;
                s.trace_id = (i as u128 + 1).to_be_bytes().to_vec();
                s
            })
            .collect();
        batch("svc", spans)
    };
    let rounds = 5;
    let names = [
        "attributes",
        "redaction",
        "filter",
        "transform",
        "probabilistic_sampler",
    ];
    let mut each = [std::time::Duration::ZERO; 5];
    let mut total = std::time::Duration::ZERO;
    for _ in 0..rounds {
        let mut b = make();
        for (i, p) in chain.iter().enumerate() {
            let start = Instant::now();
            b = p.process(b).expect("process");
            let took = start.elapsed();
            each[i] += took;
            total += took;
        }
        assert_eq!(spoor_model::span_count(&b), 10_000);
    }
    for (name, d) in names.iter().zip(each) {
        println!("{name}: {:?} per span", d / (rounds * 10_000));
    }
    let per_span = total / (rounds * 10_000);
    println!(
        "chain of 5 processors: {:?} per span, {:.0} spans/s",
        per_span,
        f64::from(rounds * 10_000) / total.as_secs_f64()
    );
}

/// The processor part of the issue's two-Spoor chain: attributes insert, redaction, span
/// to_attributes, in that order, configured from one YAML document per processor.
#[test]
fn the_issue_chain_inserts_redacts_and_extracts() {
    let chain: Vec<Box<dyn SpanProcessor>> = vec![
        yaml::<AttributesConfig>(
            "actions:\n  - key: deployment.environment\n    value: staging\n    action: insert\n",
        )
        .and_then(|c| c.build().map_err(|e| e.to_string()))
        .expect("attributes"),
        yaml::<RedactionConfig>(
            "allow_all_keys: true\nbuiltin_patterns: [card_number, email]\nsummary: debug\n",
        )
        .and_then(|c| c.build().map_err(|e| e.to_string()))
        .expect("redaction"),
        yaml::<SpanConfig>(
            "name:\n  to_attributes:\n    rules: ['^/api/v1/users/(?P<user_id>\\d+)$']\n",
        )
        .and_then(|c| c.build().map_err(|e| e.to_string()))
        .expect("span"),
    ];
    let mut b = batch(
        "shop",
        vec![span(
            "/api/v1/users/123",
            vec![
                attr::string("payment.card", "4111 1111 1111 1111"),
                attr::string("user.email", "jane.doe@example.com"),
            ],
        )],
    );
    for p in &chain {
        b = p.process(b).expect("process");
    }
    let s = &b[0].scope_spans[0].spans[0];
    assert_eq!(s.name, "/api/v1/users/{user_id}");
    let a = &s.attributes;
    assert_eq!(attr::find_str(a, "deployment.environment"), Some("staging"));
    assert_eq!(attr::find_str(a, "payment.card"), Some("****"));
    assert_eq!(attr::find_str(a, "user.email"), Some("****"));
    assert_eq!(attr::find_str(a, "user_id"), Some("123"));
    assert_eq!(
        attr::find_str(a, "redaction.masked.keys"),
        Some("payment.card,user.email")
    );
}
