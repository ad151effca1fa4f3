use super::*;
use crate::processors::common::test_support::{batch, span, spans, yaml};
use spoor_model::attr;
use spoor_model::otlp_trace::span::Event;

fn run(cfg: &str, attrs: Vec<KeyValue>) -> (Vec<KeyValue>, Vec<KeyValue>) {
    let cfg: RedactionConfig = yaml(cfg).expect("yaml");
    let out = cfg
        .build()
        .expect("build")
        .process(batch("svc", vec![span("a", attrs)]))
        .expect("process");
    let res = out[0].resource.clone().unwrap_or_default().attributes;
    (spans(&out)[0].attributes.clone(), res)
}

#[test]
fn removes_keys_not_allowed_everywhere_and_fails_closed() {
    let (span_attrs, res) = run(
        "summary: debug\n",
        vec![attr::string("a", "1"), attr::string("b", "2")],
    );
    assert_eq!(
        span_attrs,
        vec![
            attr::string("redaction.redacted.keys", "a,b"),
            attr::int("redaction.redacted.count", 2),
        ]
    );
    assert_eq!(
        res.len(),
        2,
        "resource service.name removed too, summary added"
    );
    let (span_attrs, _) = run(
        "allowed_keys: [a]\nignored_keys: [i]\nsummary: info\n",
        vec![
            attr::string("a", "1"),
            attr::string("b", "2"),
            attr::string("i", "x"),
        ],
    );
    assert_eq!(
        span_attrs,
        vec![
            attr::string("a", "1"),
            attr::string("i", "x"),
            attr::int("redaction.redacted.count", 1),
            attr::int("redaction.ignored.count", 1),
        ]
    );
}

#[test]
fn masks_blocked_values_and_keys_with_allowed_values_winning() {
    let (a, _) = run(
        "allow_all_keys: true\nblocked_values: ['4[0-9]{12}(?:[0-9]{3})?']\nblocked_key_patterns: ['.*token.*']\nallowed_values: ['.+@mycompany\\.com']\nsummary: debug\n",
        vec![
            attr::string("note", "card 4111111111111111 used"),
            attr::string("api_token", "abc"),
            attr::string("mail", "4111111111111111 x@mycompany.com"),
            attr::int("num", 4111111111111111),
        ],
    );
    assert_eq!(attr::find_str(&a, "note"), Some("card **** used"));
    assert_eq!(attr::find_str(&a, "api_token"), Some("****"));
    assert_eq!(
        attr::find_str(&a, "mail"),
        Some("4111111111111111 x@mycompany.com")
    );
    assert!(
        matches!(
            attr::find(&a, "num").and_then(|v| v.value.as_ref()),
            Some(Value::IntValue(_))
        ),
        "ints skipped without redact_all_types"
    );
    assert_eq!(
        attr::find_str(&a, "redaction.masked.keys"),
        Some("api_token,note")
    );
    assert_eq!(attr::find_str(&a, "redaction.allowed.keys"), Some("mail"));
    let (a, _) = run(
        "allow_all_keys: true\nredact_all_types: true\nblocked_values: ['4[0-9]{15}']\n",
        vec![attr::int("num", 4111111111111111)],
    );
    assert_eq!(attr::find_str(&a, "num"), Some("****"));
}

#[test]
fn hash_functions_replace_matches_by_digests() {
    for (name, digest) in [
        ("md5", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "sha3",
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
        ),
    ] {
        let (a, _) = run(
            &format!("allow_all_keys: true\nblocked_values: [abc]\nhash_function: {name}\n"),
            vec![attr::string("k", "x abc y")],
        );
        assert_eq!(
            attr::find_str(&a, "k"),
            Some(format!("x {digest} y").as_str()),
            "{name}"
        );
    }
}

#[test]
fn builtin_patterns_mask_cards_emails_tokens_and_sql() {
    let (a, _) = run(
        "allow_all_keys: true\nbuiltin_patterns: [card_number, email, bearer_token, sql_literals]\nsummary: info\n",
        vec![
            attr::string("card", "paid with 4111 1111 1111 1111 today"),
            attr::string("not_card", "order 4111111111111112"),
            attr::string("user", "mail jane.doe@example.co.uk now"),
            attr::string(
                "http.request.header.authorization",
                "Bearer eyJhbGciOi.abc-def",
            ),
            attr::string(
                "db.statement",
                "SELECT * FROM t2 WHERE name = 'O''Brien' AND age > 42",
            ),
            attr::string("other", "name = 'x' AND age > 42"),
        ],
    );
    assert_eq!(attr::find_str(&a, "card"), Some("paid with **** today"));
    assert_eq!(
        attr::find_str(&a, "not_card"),
        Some("order 4111111111111112"),
        "fails Luhn"
    );
    assert_eq!(attr::find_str(&a, "user"), Some("mail **** now"));
    assert_eq!(
        attr::find_str(&a, "http.request.header.authorization"),
        Some("Bearer ****")
    );
    assert_eq!(
        attr::find_str(&a, "db.statement"),
        Some("SELECT * FROM t2 WHERE name = ? AND age > ?")
    );
    assert_eq!(attr::find_str(&a, "other"), Some("name = 'x' AND age > 42"));
    assert_eq!(
        attr::find(&a, "redaction.masked.count"),
        Some(&AnyValue {
            value: Some(Value::IntValue(4))
        })
    );
}

#[test]
fn luhn_check() {
    assert!(luhn_valid("4111111111111111"));
    assert!(luhn_valid("5500-0000-0000-0004"));
    assert!(!luhn_valid("4111111111111112"));
    assert!(!luhn_valid("411111"));
}

#[test]
fn span_events_and_summary_accumulate() {
    let cfg: RedactionConfig = yaml("allowed_keys: [a]\nsummary: debug\n").expect("yaml");
    let p = cfg.build().expect("build");
    let mut s = span(
        "a",
        vec![
            attr::string("b", "1"),
            attr::string("redaction.redacted.keys", "z"),
            attr::int("redaction.redacted.count", 1),
        ],
    );
    s.events.push(Event {
        name: "e".into(),
        attributes: vec![attr::string("secret", "x")],
        ..Default::default()
    });
    let out = p.process(batch("svc", vec![s])).expect("process");
    let s = spans(&out)[0];
    assert_eq!(
        attr::find_str(&s.attributes, "redaction.redacted.keys"),
        Some("b,z")
    );
    assert_eq!(
        attr::find(&s.attributes, "redaction.redacted.count"),
        Some(&AnyValue {
            value: Some(Value::IntValue(2))
        })
    );
    assert_eq!(
        attr::find_str(&s.events[0].attributes, "redaction.redacted.keys"),
        Some("secret")
    );
}

#[test]
fn config_errors_have_paths() {
    assert!(yaml::<RedactionConfig>("url_sanitizer: {enabled: true}\n").is_err());
    let err = |s: &str| {
        yaml::<RedactionConfig>(s)
            .expect("yaml")
            .build()
            .err()
            .expect("error")
    };
    assert_eq!(err("blocked_values: [a, '(']\n").path, "blocked_values[1]");
    assert_eq!(
        err("blocked_key_patterns: ['[']\n").path,
        "blocked_key_patterns[0]"
    );
    assert_eq!(err("allowed_values: ['[']\n").path, "allowed_values[0]");
    assert_eq!(
        err("ignored_key_patterns: ['[']\n").path,
        "ignored_key_patterns[0]"
    );
    assert_eq!(err("hash_function: sha512\n").path, "hash_function");
    assert_eq!(err("summary: loud\n").path, "summary");
    assert_eq!(err("builtin_patterns: [ssn]\n").path, "builtin_patterns[0]");
}
