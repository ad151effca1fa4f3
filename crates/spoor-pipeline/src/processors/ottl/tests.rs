use super::*;
use crate::processors::common::test_support::span;
use spoor_model::attr;
use spoor_model::otlp_common::InstrumentationScope;
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::Event;
use spoor_model::{Span, Status};

fn sample() -> (Resource, Span) {
    let mut s = span(
        "GET /health",
        vec![
            attr::string("http.route", "/health"),
            attr::int("http.status_code", 503),
            attr::double("ratio", 0.5),
            attr::bool("ok", false),
        ],
    );
    s.kind = 2;
    s.status = Some(Status {
        code: 2,
        message: "boom".into(),
    });
    let r = Resource {
        attributes: vec![attr::string("service.name", "frontend")],
        ..Default::default()
    };
    (r, s)
}

fn check(cond: &str) -> bool {
    let (mut r, mut s) = sample();
    let scope = InstrumentationScope {
        name: "lib".into(),
        ..Default::default()
    };
    let c = Condition::parse(cond, Context::Span).unwrap_or_else(|e| panic!("{cond}: {e}"));
    let ctx = EvalCtx {
        resource: Some(&mut r),
        scope: Some(&scope),
        span: Some(&mut s),
        event: None,
    };
    c.eval(&ctx).unwrap_or_else(|e| panic!("{cond}: {e}"))
}

#[test]
fn conditions_over_span_paths() {
    let yes = [
        r#"attributes["http.route"] == "/health""#,
        r#"span.attributes["http.route"] == "/health""#,
        r#"IsMatch(name, "^GET")"#,
        r#"IsMatch(name, "^GET\s/\w+$")"#,
        r#"IsMatch(name, "^GET\\s")"#,
        r#"Concat(["a\"b", "c"], "") == "a\"bc""#,
        "status.code == STATUS_CODE_ERROR",
        "kind == SPAN_KIND_SERVER",
        r#"resource.attributes["service.name"] == "frontend""#,
        r#"attributes["missing"] == nil"#,
        r#"attributes["http.status_code"] >= 500 and attributes["http.status_code"] < 600"#,
        r#"attributes["ratio"] < 1"#,
        r#"not (attributes["ok"] == true) or false"#,
        "end_time_unix_nano - start_time_unix_nano == 4000",
        "duration > 3999",
        "trace_id == 0x01010101010101010101010101010101",
        r#"span_id.string == "0202020202020202""#,
        r#"status.message != "fine""#,
        r#"instrumentation_scope.name == "lib""#,
        r#"Concat([name, "x"], "-") == "GET /health-x""#,
        r#"attributes["http.status_code"] != "503""#,
        r#"name > "A""#,
        "1 + 2 * 3 == 7",
        "-1.5 < 0",
        r#"ToLowerCase(name) == "get /health""#,
        r#"ToUpperCase(name) == "GET /HEALTH""#,
        "Len(name) == 11",
        "Len(attributes) == 4",
        r#"Int("42") == 42"#,
        r#"Int("x") == nil"#,
        "Double(attributes[\"http.status_code\"]) == 503.0",
        r#"SHA256("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb""#,
        r#"Substring(name, 4, 7) == "/health""#,
    ];
    for c in yes {
        assert!(check(c), "{c}");
    }
    let no = [
        r#"attributes["http.route"] == "/api""#,
        r#"IsMatch(attributes["missing"], ".*")"#,
        r#"attributes["http.status_code"] == "503""#,
        r#"attributes["http.status_code"] > "5""#,
        "kind == SPAN_KIND_CLIENT and true",
        r#"attributes["ok"] < true"#,
    ];
    for c in no {
        assert!(!check(c), "{c}");
    }
}

#[test]
fn evaluation_errors_are_reported() {
    let (mut r, mut s) = sample();
    let ctx = EvalCtx {
        resource: Some(&mut r),
        scope: None,
        span: Some(&mut s),
        event: None,
    };
    let c = Condition::parse(r#"name + 1 == 2"#, Context::Span).expect("parse");
    assert!(c.eval(&ctx).is_err());
}

#[test]
fn parse_errors_point_at_the_column() {
    let cases = [
        (r#"attributes["a"] = "b""#, 17),
        (r#"IsMatch(name, "(")"#, 15),
        (r#"nme == "x""#, 1),
        (r#"name == "x" and"#, 16),
        (r#"name == "unterminated"#, 9),
        ("STATUS_CODE_BAD == 1", 1),
        (r#"attributes["a"]"#, 1),
        (r#"Nope(name) == 1"#, 1),
        (r#"name == "x" )"#, 13),
        ("kind == 0x1", 9),
        ("Substring(name, -1, 2) == nil", 17),
        ("Len(name, 2) == 1", 1),
    ];
    for (src, col) in cases {
        let e = Condition::parse(src, Context::Span).expect_err(src);
        assert_eq!(e.col, col, "{src}: {e}");
    }
    let e = Statement::parse(r#"set(attributes["a"], "b") where nme == 1"#, Context::Span)
        .expect_err("path");
    assert_eq!(e.col, 33, "{e}");
    let e = Statement::parse(r#"frobnicate(name)"#, Context::Span).expect_err("editor");
    assert_eq!(e.col, 1);
    let e = Statement::parse(r#"delete_key(name, "a")"#, Context::Span).expect_err("map");
    assert_eq!(e.col, 12);
    let e = Statement::parse(r#"set(name)"#, Context::Span).expect_err("arity");
    assert!(e.message.contains("2 arguments"), "{e}");
    let e =
        Condition::parse(r#"name == "x""#, Context::Resource).expect_err("resource has no name");
    assert!(e.message.contains("resource context"), "{e}");
}

fn run(stmts: &[&str], ctx_kind: Context) -> (Resource, Span) {
    let (mut r, mut s) = sample();
    for src in stmts {
        let st = Statement::parse(src, ctx_kind).unwrap_or_else(|e| panic!("{src}: {e}"));
        let mut ctx = EvalCtx {
            resource: Some(&mut r),
            scope: None,
            span: if ctx_kind == Context::Span {
                Some(&mut s)
            } else {
                None
            },
            event: None,
        };
        st.execute(&mut ctx)
            .unwrap_or_else(|e| panic!("{src}: {e}"));
    }
    (r, s)
}

#[test]
fn editors_change_the_span() {
    let (r, s) = run(
        &[
            r#"set(attributes["env"], "prod")"#,
            r#"set(name, "health") where attributes["http.route"] == "/health""#,
            r#"set(name, "never") where kind == SPAN_KIND_CLIENT"#,
            r#"set(status.code, STATUS_CODE_OK)"#,
            r#"set(attributes["copy"], resource.attributes["service.name"])"#,
            r#"set(resource.attributes["team"], "web")"#,
            r#"delete_key(attributes, "ratio")"#,
            r#"delete_matching_keys(attributes, "^http\\.status")"#,
            r#"replace_pattern(attributes["http.route"], "^/(\\w+)$", "/x/$1")"#,
            r#"set(attributes["missing_copy"], attributes["missing"])"#,
        ],
        Context::Span,
    );
    assert_eq!(s.name, "health");
    assert_eq!(s.status.as_ref().map(|s| s.code), Some(1));
    assert_eq!(attr::find_str(&s.attributes, "env"), Some("prod"));
    assert_eq!(attr::find_str(&s.attributes, "copy"), Some("frontend"));
    assert_eq!(
        attr::find_str(&s.attributes, "http.route"),
        Some("/x/health")
    );
    assert!(attr::find(&s.attributes, "ratio").is_none());
    assert!(attr::find(&s.attributes, "http.status_code").is_none());
    assert!(
        attr::find(&s.attributes, "missing_copy").is_none(),
        "set to nil does nothing"
    );
    assert_eq!(attr::find_str(&r.attributes, "team"), Some("web"));
}

#[test]
fn map_editors() {
    let (_, s) = run(
        &[r#"keep_keys(attributes, ["http.route", "ok"])"#],
        Context::Span,
    );
    assert_eq!(s.attributes.len(), 2);
    let (_, s) = run(&[r#"truncate_all(attributes, 3)"#], Context::Span);
    assert_eq!(attr::find_str(&s.attributes, "http.route"), Some("/he"));
    let (_, s) = run(&[r#"limit(attributes, 2, ["ok"])"#], Context::Span);
    let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, vec!["http.route", "ok"]);
    let (_, s) = run(
        &[r#"replace_all_patterns(attributes, "key", "^http\\.", "h.")"#],
        Context::Span,
    );
    assert!(attr::find(&s.attributes, "h.route").is_some());
    let (_, s) = run(
        &[r#"replace_all_patterns(attributes, "value", "health", "x")"#],
        Context::Span,
    );
    assert_eq!(attr::find_str(&s.attributes, "http.route"), Some("/x"));
    let (r, _) = run(
        &[r#"set(attributes["k"], 1) where attributes["service.name"] == "frontend""#],
        Context::Resource,
    );
    assert_eq!(
        attr::find(&r.attributes, "k"),
        attr::int("k", 1).value.as_ref()
    );
}

#[test]
fn span_event_context_sees_the_span() {
    let (mut r, mut s) = sample();
    let mut e = Event {
        name: "exception".into(),
        attributes: vec![attr::string("exception.type", "IOError")],
        ..Default::default()
    };
    let c = Condition::parse(
        r#"name == "exception" and span.name == "GET /health" and attributes["exception.type"] == "IOError""#,
        Context::SpanEvent,
    )
    .expect("parse");
    let ctx = EvalCtx {
        resource: Some(&mut r),
        scope: None,
        span: Some(&mut s),
        event: Some(&mut e),
    };
    assert!(c.eval(&ctx).expect("eval"));
}

#[test]
fn infers_flat_statement_contexts() {
    assert_eq!(
        infer_context(r#"set(resource.attributes["a"], "b")"#),
        Context::Resource
    );
    assert_eq!(infer_context(r#"set(span.name, "b")"#), Context::Span);
    assert_eq!(
        infer_context(r#"set(spanevent.name, "b")"#),
        Context::SpanEvent
    );
}
