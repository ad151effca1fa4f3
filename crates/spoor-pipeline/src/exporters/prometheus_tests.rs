use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use spoor_model::attr;

use super::super::prometheus_names::{NameKind, label_name, metric_name};
use prost::Message;

use super::super::prometheus_proto::{self, proto};
use super::super::prometheus_state::{Accumulator, Native, Options};

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;

fn options() -> Options {
    Options {
        expiration: Duration::from_secs(300),
        add_suffixes: true,
        ..Options::default()
    }
}

fn batch(metrics: Vec<Metric>) -> Vec<ResourceMetrics> {
    vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                attr::string("service.name", "checkout"),
                attr::string("service.namespace", "shop"),
                attr::string("service.instance.id", "pod-1"),
                attr::string("host.name", "node-a"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "app".into(),
                version: "1.0".into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn point(
    v: i64,
    time_s: u64,
    attrs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: time_s * 1_000_000_000,
        value: Some(NumberValue::AsInt(v)),
        ..Default::default()
    }
}

fn counter(name: &str, temporality: i32, monotonic: bool, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: "Requests served".into(),
        unit: "{request}".into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

fn render(batches: &[Vec<ResourceMetrics>]) -> String {
    let mut acc = Accumulator::default();
    let now = Instant::now();
    for b in batches {
        acc.add(b, &options(), now);
    }
    acc.render(false, false)
}

#[test]
fn names_get_unit_and_type_suffixes_like_the_collector() {
    let n = |name, unit, kind| metric_name(name, unit, kind, "", true);
    assert_eq!(
        n("http.server.duration", "ms", NameKind::Other),
        "http_server_duration_milliseconds"
    );
    assert_eq!(
        n("requests", "{request}", NameKind::Counter),
        "requests_total"
    );
    assert_eq!(
        n("requests.total", "1", NameKind::Counter),
        "requests_total"
    );
    assert_eq!(
        n("net.io", "By/s", NameKind::Other),
        "net_io_bytes_per_second"
    );
    assert_eq!(
        n("cpu.utilization", "1", NameKind::Gauge),
        "cpu_utilization_ratio"
    );
    assert_eq!(
        n("latency_seconds", "s", NameKind::Other),
        "latency_seconds"
    );
    assert_eq!(
        n("memory__used", "MiBy", NameKind::Gauge),
        "memory_used_mebibytes"
    );
    assert_eq!(n("2xx.responses", "", NameKind::Gauge), "_2xx_responses");
    assert_eq!(n("temp", "Cel", NameKind::Gauge), "temp_celsius");
    assert_eq!(
        n("odd", "widgets/mo", NameKind::Gauge),
        "odd_widgets_per_month"
    );
    assert_eq!(
        metric_name("http.requests", "ms", NameKind::Counter, "app", true),
        "app_http_requests_milliseconds_total"
    );
    assert_eq!(
        metric_name("http.requests", "ms", NameKind::Counter, "", false),
        "http_requests",
        "without add_metric_suffixes only invalid characters change"
    );
    assert_eq!(
        metric_name("my__name:x", "", NameKind::Gauge, "", false),
        "my__name:x"
    );
}

#[test]
fn label_names_are_sanitised() {
    assert_eq!(label_name("http.method"), "http_method");
    assert_eq!(label_name("0abc"), "key_0abc");
    assert_eq!(label_name("_private"), "key_private");
    assert_eq!(label_name("__reserved"), "__reserved");
    assert_eq!(label_name("ü-x"), "__x");
}

#[test]
fn a_cumulative_counter_becomes_a_total_with_job_instance_scope_and_target_info() {
    let m = counter(
        "http.requests",
        CUMULATIVE,
        true,
        vec![point(5, 10, vec![attr::string("http.route", "/a")])],
    );
    let later = counter(
        "http.requests",
        CUMULATIVE,
        true,
        vec![point(8, 11, vec![attr::string("http.route", "/a")])],
    );
    let text = render(&[batch(vec![m]), batch(vec![later])]);
    assert!(
        text.contains("# HELP http_requests_total Requests served\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_requests_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "http_requests_total{http_route=\"/a\",instance=\"pod-1\",job=\"shop/checkout\",otel_scope_name=\"app\",otel_scope_version=\"1.0\"} 8\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "target_info{host_name=\"node-a\",instance=\"pod-1\",job=\"shop/checkout\"} 1\n"
        ),
        "{text}"
    );
}

#[test]
fn delta_sums_accumulate_and_non_monotonic_deltas_are_dropped() {
    let text = render(&[
        batch(vec![counter(
            "jobs",
            DELTA,
            true,
            vec![point(3, 10, vec![])],
        )]),
        batch(vec![counter(
            "jobs",
            DELTA,
            true,
            vec![point(4, 11, vec![])],
        )]),
        batch(vec![counter(
            "queue",
            DELTA,
            false,
            vec![point(4, 11, vec![])],
        )]),
        batch(vec![counter(
            "in.flight",
            CUMULATIVE,
            false,
            vec![point(-2, 11, vec![])],
        )]),
    ]);
    assert!(text.contains("jobs_total{"), "{text}");
    assert!(text.contains("} 7\n"), "3 + 4 accumulated: {text}");
    assert!(!text.contains("queue"), "{text}");
    assert!(text.contains("# TYPE in_flight gauge\n"), "{text}");
    assert!(text.contains("} -2\n"), "{text}");
}

#[test]
fn an_older_cumulative_point_does_not_replace_a_newer_one() {
    let text = render(&[
        batch(vec![counter(
            "c",
            CUMULATIVE,
            true,
            vec![point(9, 20, vec![])],
        )]),
        batch(vec![counter(
            "c",
            CUMULATIVE,
            true,
            vec![point(4, 10, vec![])],
        )]),
    ]);
    assert!(text.contains("} 9\n"), "{text}");
}

fn histogram(temporality: i32, counts: Vec<u64>, sum: f64) -> Metric {
    Metric {
        name: "http.server.duration".into(),
        unit: "ms".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                count: counts.iter().sum(),
                sum: Some(sum),
                explicit_bounds: vec![5.0, 10.0, 100.0],
                bucket_counts: counts,
                time_unix_nano: 1,
                ..Default::default()
            }],
            aggregation_temporality: temporality,
        })),
        ..Default::default()
    }
}

#[test]
fn histograms_become_cumulative_buckets_and_deltas_add_up() {
    let text = render(&[batch(vec![histogram(CUMULATIVE, vec![1, 2, 3, 4], 500.0)])]);
    let base = "instance=\"pod-1\",job=\"shop/checkout\",otel_scope_name=\"app\",otel_scope_version=\"1.0\"";
    for line in [
        "# TYPE http_server_duration_milliseconds histogram".to_string(),
        format!("http_server_duration_milliseconds_bucket{{{base},le=\"5\"}} 1"),
        format!("http_server_duration_milliseconds_bucket{{{base},le=\"10\"}} 3"),
        format!("http_server_duration_milliseconds_bucket{{{base},le=\"100\"}} 6"),
        format!("http_server_duration_milliseconds_bucket{{{base},le=\"+Inf\"}} 10"),
        format!("http_server_duration_milliseconds_sum{{{base}}} 500"),
        format!("http_server_duration_milliseconds_count{{{base}}} 10"),
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line}: {text}"
        );
    }
    let text = render(&[
        batch(vec![histogram(DELTA, vec![1, 0, 0, 0], 2.0)]),
        batch(vec![histogram(DELTA, vec![0, 1, 0, 1], 300.0)]),
    ]);
    assert!(text.contains("le=\"10\"} 2\n"), "{text}");
    assert!(text.contains("le=\"+Inf\"} 3\n"), "{text}");
    assert!(text.contains("_sum{") && text.contains("} 302\n"), "{text}");
}

fn exp_metric(points: Vec<ExponentialHistogramDataPoint>, temporality: i32) -> Metric {
    Metric {
        name: "size".into(),
        unit: "By".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: points,
            aggregation_temporality: temporality,
        })),
        ..Default::default()
    }
}

/// The one native histogram series of `acc`'s protobuf exposition.
fn native_of(acc: &Accumulator) -> (String, proto::Histogram) {
    let bytes = prometheus_proto::render(acc, false);
    let mut buf = &bytes[..];
    let mut found = None;
    while !buf.is_empty() {
        let mf = proto::MetricFamily::decode_length_delimited(&mut buf).expect("delimited");
        if mf.r#type == proto::HISTOGRAM {
            let h = mf.metric[0].histogram.clone().expect("histogram");
            found = Some((mf.name, h));
        }
    }
    found.expect("a histogram family")
}

#[test]
fn exponential_histograms_become_native_histograms() {
    // Scale 0: base 2; OTLP bucket i holds (2^i, 2^(i+1)], Prometheus bucket i + 1.
    let p = ExponentialHistogramDataPoint {
        scale: 0,
        count: 6,
        sum: Some(30.0),
        zero_count: 1,
        positive: Some(Buckets {
            offset: 1,
            bucket_counts: vec![2, 3],
        }),
        negative: Some(Buckets {
            offset: -1,
            bucket_counts: vec![0, 0, 0],
        }),
        time_unix_nano: 1_000_000_000,
        ..Default::default()
    };
    let n = Native::from_point(&p).expect("scale 0");
    assert_eq!(n.schema, 0);
    assert_eq!(
        n.positive.into_iter().collect::<Vec<_>>(),
        vec![(2, 2), (3, 3)]
    );
    assert_eq!(n.zero_threshold, 1e-128, "the Collector's default");
    let mut acc = Accumulator::default();
    acc.add(
        &batch(vec![exp_metric(vec![p.clone()], CUMULATIVE)]),
        &options(),
        Instant::now(),
    );
    let (name, h) = native_of(&acc);
    assert_eq!(name, "size_bytes");
    assert_eq!((h.sample_count, h.sample_sum, h.zero_count), (6, 30.0, 1));
    assert_eq!(
        h.positive_span,
        vec![proto::BucketSpan {
            offset: 2,
            length: 2
        }]
    );
    assert_eq!(h.positive_delta, vec![2, 1]);
    assert!(h.negative_span.is_empty() && h.bucket.is_empty());
    // The text format: what client_golang writes for a histogram without classic buckets.
    let text = acc.render(false, false);
    assert!(text.contains("# TYPE size_bytes histogram\n"), "{text}");
    assert!(text.contains("le=\"+Inf\"} 6\n"), "{text}");
    assert!(
        text.contains("size_bytes_sum{") && text.contains("} 30\n"),
        "{text}"
    );
    assert_eq!(text.matches("size_bytes_bucket{").count(), 1, "{text}");
    assert!(!text.contains("le=\"4\""), "{text}");

    // A delta point at a finer scale is added at the coarser schema.
    let finer = ExponentialHistogramDataPoint {
        scale: 1,
        count: 2,
        sum: Some(10.0),
        positive: Some(Buckets {
            // OTLP index 3 at scale 1 is (2^1.5, 2^2], inside Prometheus bucket 2 at schema 0.
            offset: 3,
            bucket_counts: vec![1, 0, 1],
        }),
        time_unix_nano: 2_000_000_000,
        ..Default::default()
    };
    let mut acc = Accumulator::default();
    acc.add(
        &batch(vec![exp_metric(vec![p.clone()], DELTA)]),
        &options(),
        Instant::now(),
    );
    acc.add(
        &batch(vec![exp_metric(vec![finer], DELTA)]),
        &options(),
        Instant::now(),
    );
    let (_, h) = native_of(&acc);
    assert_eq!((h.schema, h.sample_count, h.sample_sum), (0, 8, 40.0));
    // Buckets 2 (2 + 1) and 3 (3 + 1).
    assert_eq!(
        h.positive_span,
        vec![proto::BucketSpan {
            offset: 2,
            length: 2
        }]
    );
    assert_eq!(h.positive_delta, vec![3, 1]);

    // Above schema 8 the buckets merge down; below -4 the point is dropped.
    let fine = ExponentialHistogramDataPoint {
        scale: 10,
        count: 2,
        positive: Some(Buckets {
            offset: 4,
            bucket_counts: vec![1, 1],
        }),
        negative: Some(Buckets {
            offset: -9,
            bucket_counts: vec![1],
        }),
        ..Default::default()
    };
    let n = Native::from_point(&fine).expect("downscaled");
    assert_eq!(n.schema, 8);
    assert_eq!(n.positive.into_iter().collect::<Vec<_>>(), vec![(2, 2)]);
    assert_eq!(n.negative.into_iter().collect::<Vec<_>>(), vec![(-2, 1)]);
    let coarse = ExponentialHistogramDataPoint { scale: -5, ..fine };
    assert!(Native::from_point(&coarse).is_none());
    let mut acc = Accumulator::default();
    acc.add(
        &batch(vec![exp_metric(vec![coarse], CUMULATIVE)]),
        &options(),
        Instant::now(),
    );
    assert_eq!(acc.dropped, 1);
}

#[test]
fn protobuf_exposition_is_negotiated_and_carries_every_type() {
    assert!(prometheus_proto::accepts(
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,text/plain;q=0.1"
    ));
    assert!(!prometheus_proto::accepts(
        "text/plain;version=0.0.4;q=1,*/*;q=0.1"
    ));
    assert!(!prometheus_proto::accepts(
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0"
    ));
    let mut acc = Accumulator::default();
    acc.add(
        &batch(vec![counter(
            "hits",
            CUMULATIVE,
            true,
            vec![point(2, 10, vec![])],
        )]),
        &options(),
        Instant::now(),
    );
    let bytes = prometheus_proto::render(&acc, false);
    let mut buf = &bytes[..];
    let mut names = Vec::new();
    while !buf.is_empty() {
        let mf = proto::MetricFamily::decode_length_delimited(&mut buf).expect("delimited");
        if mf.name == "hits_total" {
            assert_eq!(mf.r#type, proto::COUNTER);
            assert_eq!(mf.metric[0].counter.as_ref().map(|c| c.value), Some(2.0));
            assert!(
                mf.metric[0]
                    .label
                    .iter()
                    .any(|l| l.name == "job" && l.value == "shop/checkout")
            );
        }
        names.push(mf.name);
    }
    assert_eq!(names, vec!["hits_total", "target_info"]);
}

#[test]
fn idle_series_expire_and_stale_points_remove_their_series() {
    let mut acc = Accumulator::default();
    let t0 = Instant::now();
    let gauge = |v: i64, flags: u32| Metric {
        name: "temperature".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                flags,
                ..point(v, 10, vec![])
            }],
        })),
        ..Default::default()
    };
    acc.add(&batch(vec![gauge(21, 0)]), &options(), t0);
    assert_eq!(acc.series(), 2, "the gauge and target_info");
    acc.expire(Duration::from_secs(300), t0 + Duration::from_secs(299));
    assert_eq!(acc.series(), 2);
    acc.expire(Duration::from_secs(300), t0 + Duration::from_secs(301));
    assert_eq!(acc.series(), 0);
    assert_eq!(acc.render(false, false), "");
    acc.add(&batch(vec![gauge(21, 0)]), &options(), t0);
    acc.add(&batch(vec![gauge(0, 1)]), &options(), t0);
    assert!(!acc.render(false, false).contains("temperature"));
}

#[test]
fn namespace_const_labels_resource_labels_timestamps_and_open_metrics() {
    let mut acc = Accumulator::default();
    let o = Options {
        namespace: "app".into(),
        const_labels: vec![("cluster".into(), "eu-1".into())],
        send_timestamps: true,
        resource_to_telemetry: true,
        ..options()
    };
    acc.add(
        &batch(vec![counter(
            "hits",
            CUMULATIVE,
            true,
            vec![point(2, 10, vec![])],
        )]),
        &o,
        Instant::now(),
    );
    let text = acc.render(true, false);
    assert!(
        text.contains("app_hits_total{cluster=\"eu-1\",host_name=\"node-a\",instance=\"pod-1\",job=\"shop/checkout\",otel_scope_name=\"app\",otel_scope_version=\"1.0\",service_instance_id=\"pod-1\",service_name=\"checkout\",service_namespace=\"shop\"} 2 10000\n"),
        "{text}"
    );
    let om = acc.render(false, true);
    assert!(om.contains("# TYPE app_hits counter\n"), "{om}");
    assert!(om.contains("# TYPE target info\n"), "{om}");
    assert!(om.ends_with("# EOF\n"), "{om}");
}
