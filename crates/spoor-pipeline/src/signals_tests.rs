use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use spoor_model::attr;
use spoor_receivers::SignalBatch;
use spoor_telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use crate::config::{ComponentId, Source, load};
use crate::{BuildContext, Graph};

fn config(yaml: &str) -> Result<crate::config::Config, String> {
    load(
        &[Source {
            name: "c.yaml".into(),
            text: yaml.into(),
        }],
        &|_| None,
    )
    .map_err(|d| d.to_string())
}

fn graph(yaml: &str) -> Graph {
    let config = config(yaml).unwrap_or_else(|e| panic!("{e}"));
    let ctx = BuildContext {
        telemetry: Telemetry::new(),
        shutdown: CancellationToken::new(),
        store: None,
        memory: None,
        monitor: None,
        dependencies: None,
        tenant_header: None,
    };
    Graph::build(&config, &ctx).unwrap_or_else(|e| panic!("{e}"))
}

fn metrics() -> SignalBatch {
    SignalBatch::Metrics(vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![attr::string("service.name", "svc")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "queue.depth".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint {
                        attributes: vec![attr::string("queue", "a")],
                        value: Some(Value::AsInt(4)),
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn logs() -> SignalBatch {
    SignalBatch::Logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                severity_text: "WARN".into(),
                body: Some(
                    attr::string("b", "disk almost full")
                        .value
                        .unwrap_or_default(),
                ),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

#[tokio::test]
async fn metrics_and_logs_flow_through_resource_and_attributes_to_the_file_exporter() {
    let dir = std::env::temp_dir().join(format!("spoor-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("out.json");
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n\
         processors:\n  batch:\n  memory_limiter:\n    limit_mib: 100000\n  resource:\n    attributes: [{{key: environment, value: production, action: upsert}}]\n\
         \x20 attributes:\n    actions: [{{key: team, value: core, action: insert}}]\n\
         exporters:\n  file:\n    path: {}\n  debug:\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [memory_limiter, resource, attributes, batch]\n      exporters: [file, debug]\n\
         \x20   logs:\n      receivers: [otlp]\n      processors: [resource]\n      exporters: [file]\n",
        path.display()
    );
    let g = graph(&yaml);
    let sinks = g.signal_sinks(&ComponentId::new("otlp"));
    let m = sinks.metrics.expect("a metrics sink");
    let l = sinks.logs.expect("a logs sink");
    m.consume(metrics()).await.expect("metrics");
    l.consume(logs()).await.expect("logs");
    assert_eq!(
        g.receivers.len(),
        1,
        "the receiver is started for its signals"
    );
    // The file exporter buffers until its flush_interval or until it is dropped.
    drop((m, l, g));
    let text = std::fs::read_to_string(&path).expect("file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let metric: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    let resource = &metric["resourceMetrics"][0]["resource"]["attributes"];
    assert!(resource.to_string().contains("production"), "{metric}");
    let point =
        &metric["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0];
    assert!(
        point["attributes"].to_string().contains("\"team\""),
        "{metric}"
    );
    let log: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
    assert!(
        log["resourceLogs"][0]["resource"]
            .to_string()
            .contains("production"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pipeline_naming_a_component_that_cannot_take_its_signal_is_an_error_with_its_path() {
    let e = config(
        "receivers:\n  otlp:\n  jaeger:\n    protocols:\n      grpc:\n\
         processors:\n  filter:\n    traces:\n      span: ['name == \"x\"']\n\
         exporters:\n  jaeger:\n    endpoint: localhost:14250\n    tls: {insecure: true}\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp, jaeger]\n      processors: [filter]\n      exporters: [jaeger]\n\
         \x20   traces:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
    )
    .err()
    .expect("errors");
    for expected in [
        "service.pipelines.metrics.receivers: the receiver jaeger cannot take metrics: it takes traces",
        "service.pipelines.metrics.processors: the processor filter cannot take metrics: it takes traces",
        "service.pipelines.metrics.exporters: the exporter jaeger cannot take metrics: it takes traces",
        "service.pipelines.traces.exporters: the exporter prometheus cannot take traces: it takes metrics",
    ] {
        assert!(e.contains(expected), "missing {expected:?} in\n{e}");
    }
}

#[test]
fn the_prometheus_exporter_requires_an_endpoint() {
    let e = config(
        "receivers:\n  otlp:\nexporters:\n  prometheus:\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
    )
    .err()
    .expect("errors");
    assert!(e.contains("exporters.prometheus.endpoint: required"), "{e}");
}

#[tokio::test]
async fn the_prometheus_exporter_serves_what_the_pipeline_received() {
    let g = graph(
        "receivers:\n  otlp:\nexporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n    const_labels: {cluster: eu}\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
    );
    let sink = g
        .signal_sinks(&ComponentId::new("otlp"))
        .metrics
        .expect("sink");
    sink.consume(metrics()).await.expect("consume");
    let (name, addr) = g.endpoints[0].clone();
    assert_eq!(name, "prometheus");
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text().await.expect("body");
    assert!(
        text.contains("queue_depth{cluster=\"eu\",job=\"svc\",queue=\"a\"} 4\n"),
        "{text}"
    );
}
