use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use spoor_model::{ErrorKind, ResourceSpans, ScopeSpans, SinkError, Span, TraceSink, span_count};
use spoor_telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use crate::config::{ComponentId, Source, load};
use crate::{BuildContext, Graph};

#[derive(Default)]
struct Store(Mutex<usize>);

#[async_trait::async_trait]
impl TraceSink for Store {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        *self.0.lock() += span_count(&batch);
        Ok(())
    }
}

/// `n` valid spans (the receivers' entry refuses spans with invalid ids).
fn batch(n: usize) -> Vec<ResourceSpans> {
    let valid = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    };
    vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![valid; n],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn graph(yaml: &str, store: Arc<Store>) -> (Graph, Telemetry) {
    let config = load(
        &[Source {
            name: "c".into(),
            text: yaml.into(),
        }],
        &|_| None,
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let telemetry = Telemetry::new();
    let ctx = BuildContext {
        telemetry: telemetry.clone(),
        shutdown: CancellationToken::new(),
        store: Some(store),
        memory: None,
        monitor: None,
        dependencies: None,
        tenant_header: None,
    };
    (
        Graph::build(&config, &ctx).unwrap_or_else(|e| panic!("{e}")),
        telemetry,
    )
}

fn receiver(g: &Graph, id: &str) -> Arc<dyn TraceSink> {
    let id = ComponentId::new(id);
    g.receivers
        .iter()
        .find(|(r, _)| *r == id)
        .map(|(_, s)| s.clone())
        .expect("receiver sink")
}

/// Port 9 (discard) on loopback: nothing listens, every attempt fails fast and is retried.
const DEAD: &str = "127.0.0.1:9";

#[tokio::test]
async fn a_failing_forwarder_does_not_hold_up_the_store() {
    let store = Arc::new(Store::default());
    let yaml = format!(
        "receivers:\n  otlp:\nexporters:\n  spoor:\n  otlp:\n    endpoint: {DEAD}\n    tls:\n      insecure: true\n    retry_on_failure:\n      initial_interval: 50ms\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp, spoor]\n"
    );
    let (g, telemetry) = graph(&yaml, store.clone());
    let sink = receiver(&g, "otlp");
    let started = Instant::now();
    sink.consume(batch(3))
        .await
        .expect("acknowledged by the store");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(*store.0.lock(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = telemetry.render();
    assert!(
        text.contains("spoor_exporter_spans_sent_total{exporter=\"spoor\"} 3"),
        "{text}"
    );
    assert!(
        !text.contains("spoor_exporter_retries_total{exporter=\"otlp\"} 0"),
        "retried: {text}"
    );
}

#[tokio::test]
async fn a_full_queue_refuses_when_no_exporter_is_awaited() {
    let yaml = format!(
        "receivers:\n  otlp:\nexporters:\n  otlp:\n    endpoint: {DEAD}\n    tls:\n      insecure: true\n    sending_queue:\n      queue_size: 1\n      num_consumers: 1\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
    );
    let (g, telemetry) = graph(&yaml, Arc::new(Store::default()));
    let sink = receiver(&g, "otlp");
    let mut refused = None;
    for _ in 0..5 {
        if let Err(e) = sink.consume(batch(1)).await {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("the queue fills up");
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert!(
        telemetry
            .render()
            .contains("spoor_exporter_spans_enqueue_failed_total{exporter=\"otlp\"} 1")
    );
}

#[tokio::test]
async fn a_receiver_in_two_pipelines_feeds_both_and_forward_joins_pipelines() {
    let store = Arc::new(Store::default());
    let yaml = "receivers:\n  otlp:\nconnectors:\n  forward:\nexporters:\n  spoor:\n\
                service:\n  pipelines:\n    traces/a:\n      receivers: [otlp]\n      exporters: [spoor]\n\
                \x20   traces/b:\n      receivers: [otlp]\n      exporters: [forward]\n\
                \x20   traces/c:\n      receivers: [forward]\n      exporters: [spoor]\n";
    let (g, _) = graph(yaml, store.clone());
    receiver(&g, "otlp").consume(batch(2)).await.expect("ok");
    assert_eq!(
        *store.0.lock(),
        4,
        "a copy through traces/a and one through b → forward → c"
    );
}
