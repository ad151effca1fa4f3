use std::time::{Duration, Instant};

use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status, attr};

use super::*;

fn resource(service: &str, extra: Vec<KeyValue>) -> Option<Resource> {
    let mut attributes = vec![KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(service.into())),
        }),
        ..Default::default()
    }];
    attributes.extend(extra);
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn span(trace: u8, id: u8, parent: u8, name: &str, millis: u64, error: bool) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_000_000_000 + millis * 1_000_000,
        status: error.then(|| Status {
            code: 2,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn batch(service: &str, extra: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: resource(service, extra),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
}

#[test]
fn spanmetrics_counts_calls_errors_and_durations_weighted_by_sampling() {
    let m = SpanMetrics::new(SpanMetricsConfig::default());
    // a: 10 server spans, 2 of them errors, 5 ms (8 fast) and 300 ms (2 slow).
    let mut a = Vec::new();
    for i in 0..10u8 {
        a.push(span(
            i + 1,
            i + 1,
            0,
            "GET /a",
            if i < 8 { 5 } else { 300 },
            i >= 8,
        ));
    }
    // b: sampled at 10 %, recorded as a resource attribute: 3 spans stand for 30.
    let b: Vec<Span> = (0..3u8)
        .map(|i| span(100 + i, 100 + i, 0, "GET /b", 20, false))
        .collect();
    let input = vec![
        batch("a", vec![], a),
        batch("b", vec![attr::double("sampling.probability", 0.1)], b),
    ];
    let obs = m.prepare(&input);
    m.apply(obs);
    let mut out = String::new();
    m.render(&mut out);
    let ok = "traces_span_metrics_calls_total{service_name=\"a\",span_name=\"GET /a\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} ";
    assert_eq!(line(&out, ok), format!("{ok}8"));
    let err = "traces_span_metrics_calls_total{service_name=\"a\",span_name=\"GET /a\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\"} ";
    assert_eq!(line(&out, err), format!("{err}2"));
    let b = "traces_span_metrics_calls_total{service_name=\"b\",span_name=\"GET /b\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} ";
    assert_eq!(line(&out, b), format!("{b}30"));
    let bucket = "traces_span_metrics_duration_seconds_bucket{service_name=\"a\",span_name=\"GET /a\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\",le=\"0.006\"} ";
    assert_eq!(line(&out, bucket), format!("{bucket}8"));
    let slow = "traces_span_metrics_duration_seconds_bucket{service_name=\"a\",span_name=\"GET /a\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\",le=\"0.2\"} ";
    assert_eq!(line(&out, slow), format!("{slow}0"));
    let slow = "traces_span_metrics_duration_seconds_bucket{service_name=\"a\",span_name=\"GET /a\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\",le=\"0.4\"} ";
    assert_eq!(line(&out, slow), format!("{slow}2"));
    let count = "traces_span_metrics_duration_seconds_count{service_name=\"b\",span_name=\"GET /b\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} ";
    assert_eq!(line(&out, count), format!("{count}30"));
    // OTLP: one resource per service, the Collector's metric names.
    let otlp = m.to_otlp();
    assert_eq!(otlp.len(), 2);
    let names: Vec<_> = otlp[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["traces.span.metrics.calls", "traces.span.metrics.duration"]
    );
}

#[test]
fn spanmetrics_dimensions_take_span_then_resource_attributes_then_default() {
    let config: SpanMetricsConfig = serde_json::from_value(serde_json::json!({
        "dimensions": [{"name": "http.method", "default": "GET"}, {"name": "region"}],
        "namespace": "rm",
    }))
    .expect("config");
    let m = SpanMetrics::new(config);
    let mut s = span(1, 1, 0, "op", 1, false);
    s.attributes = vec![attr::string("http.method", "POST")];
    let input = vec![batch(
        "svc",
        vec![attr::string("region", "eu")],
        vec![s, span(2, 2, 0, "op", 1, false)],
    )];
    m.apply(m.prepare(&input));
    let mut out = String::new();
    m.render(&mut out);
    assert!(out.contains("rm_calls_total{service_name=\"svc\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\",http_method=\"POST\",region=\"eu\"} 1"), "{out}");
    assert!(
        out.contains("http_method=\"GET\",region=\"eu\"} 1"),
        "{out}"
    );
}

#[test]
fn spanmetrics_label_each_tenants_series_and_keep_tenants_apart_for_the_monitor() {
    let m = SpanMetrics::new(SpanMetricsConfig::default());
    let tenant = |t: &str| vec![attr::string(spoor_receivers::tenant::TENANT_ATTRIBUTE, t)];
    let input = vec![
        batch("shop", tenant("a"), vec![span(1, 1, 0, "op", 1, false)]),
        batch(
            "shop",
            tenant("b"),
            vec![span(2, 2, 0, "op", 1, true), span(3, 3, 0, "op", 1, true)],
        ),
        batch("solo", vec![], vec![span(4, 4, 0, "op", 1, false)]),
    ];
    m.apply(m.prepare(&input));
    let mut out = String::new();
    m.render(&mut out);
    let a = "traces_span_metrics_calls_total{service_name=\"shop\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\",tenant=\"a\"} ";
    assert_eq!(line(&out, a), format!("{a}1"));
    let b = "traces_span_metrics_calls_total{service_name=\"shop\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\",tenant=\"b\"} ";
    assert_eq!(line(&out, b), format!("{b}2"));
    // Without the attribute (tenancy off) no tenant label.
    let solo = "traces_span_metrics_calls_total{service_name=\"solo\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} ";
    assert_eq!(line(&out, solo), format!("{solo}1"));
    let (_, mut points) = m.red_points();
    points.sort_by(|x, y| (&x.tenant, &x.service).cmp(&(&y.tenant, &y.service)));
    let seen: Vec<_> = points
        .iter()
        .map(|p| (p.tenant.as_deref(), p.service.as_str(), p.calls, p.errors))
        .collect();
    assert_eq!(
        seen,
        [
            (None, "solo", 1.0, 0.0),
            (Some("a"), "shop", 1.0, 0.0),
            (Some("b"), "shop", 2.0, 2.0)
        ]
    );
}

#[test]
fn spanmetrics_cardinality_limit_sends_new_label_sets_to_the_overflow_series() {
    let config = SpanMetricsConfig {
        aggregation_cardinality_limit: 1000,
        ..SpanMetricsConfig::default()
    };
    let m = SpanMetrics::new(config);
    for chunk in 0..100u32 {
        let spans: Vec<Span> = (0..1000u32)
            .map(|i| span(1, 1, 0, &format!("op-{}", chunk * 1000 + i), 1, false))
            .collect();
        m.apply(m.prepare(&[batch("svc", vec![], spans)]));
    }
    // 1000 named series and the overflow series; memory does not grow with the names.
    assert_eq!(m.series_count(), 1001);
    let mut out = String::new();
    m.render(&mut out);
    assert_eq!(
        line(
            &out,
            "traces_span_metrics_calls_total{otel_metric_overflow=\"true\"}"
        ),
        "traces_span_metrics_calls_total{otel_metric_overflow=\"true\"} 99000"
    );
}

#[test]
fn spanmetrics_config_refuses_what_it_cannot_do() {
    let errors = |v: serde_json::Value| {
        crate::registry::decode(crate::registry::Kind::Connector, "spanmetrics", &v)
            .err()
            .map(|e| format!("{e:?}"))
            .unwrap_or_default()
    };
    assert_eq!(
        errors(serde_json::json!({"histogram": {"exponential": {"max_size": 160}}})),
        ""
    );
    assert!(
        errors(serde_json::json!({"histogram": {"exponential": {"max_size": 1}}}))
            .contains("max_size 1 is less than 2")
    );
    assert!(
        errors(
            serde_json::json!({"histogram": {"exponential": {}, "explicit": {"buckets": ["1s"]}}})
        )
        .contains("exclusive")
    );
    assert!(
        errors(serde_json::json!({"histogram": {"explicit": {"buckets": ["10ms", "5ms"]}}}))
            .contains("increasing")
    );
    assert!(errors(serde_json::json!({"nope": 1})).contains("unknown field"));
    assert_eq!(
        errors(
            serde_json::json!({"histogram": {"explicit": {"buckets": ["5ms", "1s"]}}, "metrics_flush_interval": "15s", "exemplars": {"enabled": true}})
        ),
        ""
    );
}

#[test]
fn trace_metrics_complete_a_trace_after_the_idle_period() {
    let t = TraceMetrics::new(TraceMetricsConfig {
        idle: Duration::from_secs(5),
        ..TraceMetricsConfig::default()
    });
    let t0 = Instant::now();
    // Trace 1: root "GET /" in front (2 s), a failing child in back arriving later.
    let root = span(1, 1, 0, "GET /", 2000, false);
    let mut child = span(1, 2, 1, "query", 100, true);
    child.start_time_unix_nano += 2_500_000_000;
    child.end_time_unix_nano += 2_500_000_000;
    t.apply(t.prepare(&[batch("front", vec![], vec![root])]), t0);
    t.apply(
        t.prepare(&[batch("back", vec![], vec![child])]),
        t0 + Duration::from_secs(3),
    );
    // Trace 2: one root span sampled at 25 % (Jaeger tags), fine.
    let mut sampled = span(2, 1, 0, "GET /", 10, false);
    sampled.attributes = vec![
        attr::string("sampler.type", "probabilistic"),
        attr::double("sampler.param", 0.25),
    ];
    t.apply(t.prepare(&[batch("front", vec![], vec![sampled])]), t0);
    assert_eq!(
        t.sweep(t0 + Duration::from_secs(6)),
        1,
        "trace 1 is still active"
    );
    assert_eq!(t.pending(), 1);
    assert_eq!(t.sweep(t0 + Duration::from_secs(8)), 1);
    let mut out = String::new();
    t.render(
        "spoor_receiver_spans_received_total{receiver=\"otlp\",transport=\"grpc\"} 7\n",
        &mut out,
    );
    let labels = "{service_name=\"front\",operation=\"GET /\"}";
    assert!(
        out.contains(&format!("jaeger_traces_total{labels} 5\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("jaeger_trace_errors_total{labels} 1\n")),
        "{out}"
    );
    // Trace 1 lasted 2.6 s: above 2.5, within 5; trace 2 (×4) within 0.01.
    assert!(out.contains("jaeger_trace_duration_seconds_bucket{service_name=\"front\",operation=\"GET /\",le=\"0.01\"} 4\n"), "{out}");
    assert!(out.contains("jaeger_trace_duration_seconds_bucket{service_name=\"front\",operation=\"GET /\",le=\"2.5\"} 4\n"), "{out}");
    assert!(out.contains("jaeger_trace_duration_seconds_bucket{service_name=\"front\",operation=\"GET /\",le=\"5\"} 5\n"), "{out}");
    assert!(out.contains("jaeger_collector_traces_received_total{sampler_type=\"probabilistic\",svc=\"front\"} 1\n"), "{out}");
    assert!(out.contains("jaeger_collector_traces_received_total{sampler_type=\"unrecognized\",svc=\"front\"} 1\n"), "{out}");
    assert!(
        out.contains(
            "jaeger_collector_spans_received_total{receiver=\"otlp\",transport=\"grpc\"} 7\n"
        ),
        "{out}"
    );
}

#[test]
fn trace_metrics_carry_the_tenant_of_their_root() {
    let t = TraceMetrics::new(TraceMetricsConfig::default());
    let t0 = Instant::now();
    let tenant = |t: &str| vec![attr::string(spoor_receivers::tenant::TENANT_ATTRIBUTE, t)];
    t.apply(
        t.prepare(&[
            batch("shop", tenant("a"), vec![span(1, 1, 0, "op", 10, false)]),
            batch("shop", tenant("b"), vec![span(2, 1, 0, "op", 10, true)]),
            batch("shop", vec![], vec![span(3, 1, 0, "op", 10, false)]),
        ]),
        t0,
    );
    assert_eq!(t.sweep(t0 + Duration::from_secs(6)), 3);
    let mut out = String::new();
    t.render("", &mut out);
    for want in [
        "jaeger_traces_total{service_name=\"shop\",operation=\"op\",tenant=\"a\"} 1\n",
        "jaeger_traces_total{service_name=\"shop\",operation=\"op\",tenant=\"b\"} 1\n",
        "jaeger_trace_errors_total{service_name=\"shop\",operation=\"op\",tenant=\"b\"} 1\n",
        "jaeger_traces_total{service_name=\"shop\",operation=\"op\"} 1\n",
        "jaeger_collector_traces_received_total{sampler_type=\"unrecognized\",svc=\"shop\",tenant=\"a\"} 1\n",
    ] {
        assert!(out.contains(want), "{want} in\n{out}");
    }
}

#[test]
fn trace_metrics_bound_pending_traces() {
    let t = TraceMetrics::new(TraceMetricsConfig {
        max_pending: 10,
        ..TraceMetricsConfig::default()
    });
    let spans: Vec<Span> = (0..20u8).map(|i| span(i, 1, 0, "op", 1, false)).collect();
    t.apply(t.prepare(&[batch("s", vec![], spans)]), Instant::now());
    assert_eq!(t.pending(), 10);
    let mut out = String::new();
    t.render("", &mut out);
    assert!(
        out.contains("spoor_trace_metrics_dropped_spans_total 10\n"),
        "{out}"
    );
}

#[test]
fn servicegraph_pairs_client_and_server_and_names_virtual_nodes() {
    let g = ServiceGraph::new(ServiceGraphConfig::default());
    let t0 = Instant::now();
    // front (server root) → front client → back server; back → postgresql (db client, no server).
    let root = span(1, 1, 0, "GET /", 50, false);
    let mut call = span(1, 2, 1, "GET back", 30, false);
    call.kind = 3;
    let served = span(1, 3, 2, "GET /x", 20, true);
    let mut db = span(1, 4, 3, "SELECT", 5, false);
    db.kind = 3;
    db.attributes = vec![attr::string("db.system", "postgresql")];
    let mut lonely = span(1, 5, 3, "GET ?", 5, false);
    lonely.kind = 3;
    g.apply(g.prepare(&[batch("front", vec![], vec![root, call])]), t0);
    g.apply(
        g.prepare(&[batch("back", vec![], vec![served, db, lonely])]),
        t0 + Duration::from_millis(500),
    );
    assert_eq!(g.edges(), vec![("front".into(), "back".into(), 1, 1)]);
    assert_eq!(g.expire(t0 + Duration::from_secs(1)), 0);
    assert_eq!(g.expire(t0 + Duration::from_secs(3)), 3);
    assert_eq!(
        g.edges(),
        vec![
            ("back".into(), "postgresql".into(), 1, 0),
            ("front".into(), "back".into(), 1, 1),
            ("user".into(), "front".into(), 1, 0),
        ]
    );
    let mut out = String::new();
    g.render(&mut out);
    assert!(out.contains("traces_service_graph_request_total{client=\"back\",server=\"postgresql\",connection_type=\"database\"} 1\n"), "{out}");
    assert!(
        out.contains(
            "traces_service_graph_request_failed_total{client=\"front\",server=\"back\"} 1\n"
        ),
        "{out}"
    );
    assert!(out.contains("traces_service_graph_request_server_seconds_count{client=\"front\",server=\"back\"} 1\n"), "{out}");
    assert!(
        out.contains("traces_service_graph_unpaired_spans_total{side=\"client\"} 1\n"),
        "{out}"
    );
}

#[test]
fn servicegraph_series_carry_the_tenant_of_their_spans() {
    let g = ServiceGraph::new(ServiceGraphConfig::default());
    let t0 = Instant::now();
    let tenant = |t: &str| vec![attr::string(spoor_receivers::tenant::TENANT_ATTRIBUTE, t)];
    for (trace, t) in [(1u8, Some("a")), (2, Some("b")), (3, None)] {
        let mut call = span(trace, 1, 0, "GET back", 30, false);
        call.kind = 3;
        let served = span(trace, 2, 1, "GET /x", 20, false);
        let extra = t.map(tenant).unwrap_or_default();
        g.apply(g.prepare(&[batch("front", extra.clone(), vec![call])]), t0);
        g.apply(g.prepare(&[batch("back", extra, vec![served])]), t0);
    }
    let mut out = String::new();
    g.render(&mut out);
    for labels in [
        "{client=\"front\",server=\"back\",tenant=\"a\"} 1\n",
        "{client=\"front\",server=\"back\",tenant=\"b\"} 1\n",
        "{client=\"front\",server=\"back\"} 1\n",
    ] {
        let want = format!("traces_service_graph_request_total{labels}");
        assert!(out.contains(&want), "{want} in\n{out}");
    }
}

#[test]
fn servicegraph_store_is_bounded() {
    let g = ServiceGraph::new(ServiceGraphConfig {
        max_items: 5,
        ..ServiceGraphConfig::default()
    });
    let spans: Vec<Span> = (1..=20u8)
        .map(|i| {
            let mut s = span(i, i, 0, "call", 1, false);
            s.kind = 3;
            s
        })
        .collect();
    g.apply(g.prepare(&[batch("c", vec![], spans)]), Instant::now());
    let mut out = String::new();
    g.render(&mut out);
    assert!(
        out.contains("traces_service_graph_dropped_spans_total 15\n"),
        "{out}"
    );
}

#[test]
fn servicegraph_counts_edges_per_minute_in_the_dependency_store() {
    use spoor_query::dependencies::DependencyStore;
    let store = std::sync::Arc::new(DependencyStore::new(Duration::from_secs(3600), 100));
    let g = ServiceGraph::new(ServiceGraphConfig::default()).with_dependencies(store.clone());
    let t0 = Instant::now();
    let root = span(1, 1, 0, "GET /", 50, false);
    let mut call = span(1, 2, 1, "GET back", 30, false);
    call.kind = 3;
    call.start_time_unix_nano = 120_000_000_000;
    let served = span(1, 3, 2, "GET /x", 20, false);
    let mut db = span(1, 4, 3, "SELECT", 5, false);
    db.kind = 3;
    db.start_time_unix_nano = 185_000_000_000;
    db.attributes = vec![attr::string("db.system", "postgresql")];
    // Client and server arrive in different batches (different requests, blocks).
    g.apply(g.prepare(&[batch("front", vec![], vec![root, call])]), t0);
    g.apply(g.prepare(&[batch("back", vec![], vec![served, db])]), t0);
    g.expire(t0 + Duration::from_secs(3));
    let link = |p: &str, c: &str| (p.to_string(), c.to_string(), 1);
    let links = |start, end| -> Vec<(String, String, u64)> {
        store
            .links(start, end)
            .into_iter()
            .map(|l| (l.parent, l.child, l.call_count))
            .collect()
    };
    // The `user` edge of the root server span is not a dependency.
    assert_eq!(
        links(0, u64::MAX),
        vec![link("back", "postgresql"), link("front", "back")]
    );
    // Each edge is in the minute its client span started.
    assert_eq!(
        links(120_000_000_000, 179_000_000_000),
        vec![link("front", "back")]
    );
    assert_eq!(
        links(180_000_000_000, 239_000_000_000),
        vec![link("back", "postgresql")]
    );
}

#[test]
fn servicegraph_connector_takes_the_collector_options_and_emits_its_metrics() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let config: ServiceGraphConnectorConfig = serde_json::from_value(serde_json::json!({
        "latency_histogram_buckets": ["10ms", "100ms", "1s"],
        "dimensions": ["deployment.environment"],
        "store": {"ttl": "5s", "max_items": 7},
        "metrics_flush_interval": "15s",
    }))
    .expect("config");
    let gc = config.graph_config();
    assert_eq!(gc.bounds, vec![0.01, 0.1, 1.0]);
    assert_eq!((gc.ttl, gc.max_items), (Duration::from_secs(5), 7));
    assert_eq!(gc.database_name_attribute.as_deref(), Some("db.name"));
    let g = ServiceGraph::new(gc);
    let env = vec![attr::string("deployment.environment", "prod")];
    let mut call = span(1, 2, 1, "GET back", 30, false);
    call.kind = 3;
    let served = span(1, 3, 2, "GET /x", 20, true);
    let mut db = span(1, 4, 3, "SELECT", 5, false);
    db.kind = 3;
    db.attributes = vec![
        attr::string("db.system", "postgresql"),
        attr::string("db.name", "orders"),
    ];
    g.apply(
        g.prepare(&[batch("front", env, vec![call])]),
        Instant::now(),
    );
    g.apply(
        g.prepare(&[batch("back", vec![], vec![served, db])]),
        Instant::now(),
    );
    let out = servicegraph_connector::to_otlp(&g, 1);
    let metrics = &out[0].scope_metrics[0].metrics;
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "traces_service_graph_request_total",
            "traces_service_graph_request_failed_total",
            "traces_service_graph_request_server_seconds",
            "traces_service_graph_request_client_seconds",
        ]
    );
    let Some(Data::Sum(total)) = &metrics[0].data else {
        panic!("not a sum: {:?}", metrics[0]);
    };
    let labels = |kvs: &[KeyValue]| -> Vec<(String, String)> {
        kvs.iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), v)
            })
            .collect()
    };
    let series: Vec<_> = total
        .data_points
        .iter()
        .map(|p| (labels(&p.attributes), p.value))
        .collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    // The db.name client span is an edge at once (database_name_attribute).
    assert_eq!(
        series,
        vec![
            (
                vec![
                    pair("client", "back"),
                    pair("server", "orders"),
                    pair("connection_type", "database")
                ],
                Some(Value::AsInt(1))
            ),
            (
                vec![
                    pair("client", "front"),
                    pair("server", "back"),
                    pair("client_deployment_environment", "prod")
                ],
                Some(Value::AsInt(1))
            ),
        ]
    );
    let Some(Data::Histogram(server)) = &metrics[2].data else {
        panic!("not a histogram");
    };
    assert_eq!(server.data_points.len(), 1);
    assert_eq!(server.data_points[0].explicit_bounds, vec![0.01, 0.1, 1.0]);
    assert_eq!(server.data_points[0].bucket_counts, vec![0, 1, 0, 0]);
    let Some(Data::Sum(failed)) = &metrics[1].data else {
        panic!("not a sum");
    };
    assert_eq!(failed.data_points[1].value, Some(Value::AsInt(1)));
}

#[test]
fn servicegraph_connector_config_refuses_bad_values() {
    use crate::registry::ComponentConfig;
    let config: ServiceGraphConnectorConfig = serde_json::from_value(serde_json::json!({
        "latency_histogram_buckets": ["1s", "10ms"],
        "store": {"ttl": "0s", "max_items": 0},
    }))
    .expect("config");
    let paths: Vec<String> = config.validate().iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        paths,
        ["latency_histogram_buckets", "store.ttl", "store.max_items"]
    );
    assert!(
        serde_json::from_value::<ServiceGraphConnectorConfig>(serde_json::json!({"nope": 1}))
            .is_err()
    );
}

#[test]
fn spanmetrics_exponential_histogram_becomes_an_otlp_exponential_histogram() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let config: SpanMetricsConfig = serde_json::from_value(serde_json::json!({
        "histogram": {"unit": "ms", "exponential": {"max_size": 4}}
    }))
    .expect("config");
    let m = SpanMetrics::new(config);
    // 1 ms, 2 ms and 16 ms (twice): at most 4 buckets, so scale -1 (base 4).
    let spans = [1, 2, 16, 16]
        .iter()
        .enumerate()
        .map(|(i, ms)| span(1, i as u8 + 1, 0, "GET /", *ms, false))
        .collect();
    m.apply(m.prepare(&[batch("shop", vec![], spans)]));
    let out = m.to_otlp();
    let metrics = &out[0].scope_metrics[0].metrics;
    assert_eq!(metrics[1].name, "traces.span.metrics.duration");
    assert_eq!(metrics[1].unit, "ms");
    let Some(Data::ExponentialHistogram(h)) = &metrics[1].data else {
        panic!("not exponential: {:?}", metrics[1].data);
    };
    let p = &h.data_points[0];
    assert_eq!(
        (p.count, p.sum, p.scale, p.zero_count),
        (4, Some(35.0), -1, 0)
    );
    let buckets = p
        .positive
        .as_ref()
        .map(|b| (b.offset, b.bucket_counts.clone()));
    assert_eq!(buckets, Some((-1, vec![1, 1, 2])));
    assert_eq!((p.min, p.max), (Some(1.0), Some(16.0)));
}
