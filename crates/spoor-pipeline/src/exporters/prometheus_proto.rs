//! The Prometheus protobuf exposition format: length-delimited `io.prometheus.client.MetricFamily`
//! messages (prometheus/client_model `metrics.proto`), the only format that carries native
//! histograms. Served when a scrape's `Accept` asks for it, as Prometheus does with native
//! histograms enabled.

use prost::Message;

use super::prometheus_state::{Accumulator, Labels, Native, Type, Value};

/// The content type of the format, as Prometheus names it in `Accept`.
pub(crate) const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Whether an `Accept` header asks for the protobuf format (listed, with a q above 0).
pub(crate) fn accepts(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        if !media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
            return false;
        }
        let mut proto_ok = false;
        let mut delimited = false;
        let mut q = 1.0f64;
        for p in params {
            match p.split_once('=') {
                Some(("proto", v)) => proto_ok = v == "io.prometheus.client.MetricFamily",
                Some(("encoding", v)) => delimited = v == "delimited",
                Some(("q", v)) => q = v.parse().unwrap_or(0.0),
                _ => {}
            }
        }
        proto_ok && delimited && q > 0.0
    })
}

/// Every family with a series, each message preceded by its length as a varint.
pub(crate) fn render(acc: &Accumulator, send_timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, family) in acc.families() {
        let Some(ty) = family.ty else { continue };
        let mut mf = proto::MetricFamily {
            name: name.clone(),
            help: family.help.clone(),
            r#type: match ty {
                Type::Counter => proto::COUNTER,
                Type::Gauge => proto::GAUGE,
                Type::Summary => proto::SUMMARY,
                Type::Histogram => proto::HISTOGRAM,
            },
            metric: Vec::new(),
        };
        for (labels, series) in &family.series {
            let mut m = proto::Metric {
                label: label_pairs(labels),
                timestamp_ms: if send_timestamps {
                    series.timestamp_ms.max(0)
                } else {
                    0
                },
                ..Default::default()
            };
            match (&series.value, ty) {
                (Value::Number(v), Type::Counter) => {
                    m.counter = Some(proto::Counter { value: *v });
                }
                (Value::Number(v), _) => m.gauge = Some(proto::Gauge { value: *v }),
                (
                    Value::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    },
                    _,
                ) => {
                    let mut cumulative = 0u64;
                    let bucket = bounds
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            cumulative =
                                cumulative.saturating_add(counts.get(i).copied().unwrap_or(0));
                            proto::Bucket {
                                cumulative_count: cumulative,
                                upper_bound: *b,
                            }
                        })
                        .collect();
                    m.histogram = Some(proto::Histogram {
                        sample_count: *count,
                        sample_sum: *sum,
                        bucket,
                        ..Default::default()
                    });
                }
                (Value::Native(n), _) => m.histogram = Some(native(n)),
                (
                    Value::Summary {
                        quantiles,
                        sum,
                        count,
                    },
                    _,
                ) => {
                    m.summary = Some(proto::Summary {
                        sample_count: *count,
                        sample_sum: *sum,
                        quantile: quantiles
                            .iter()
                            .map(|(q, v)| proto::Quantile {
                                quantile: *q,
                                value: *v,
                            })
                            .collect(),
                    });
                }
            }
            mf.metric.push(m);
        }
        // Writing into a Vec cannot fail.
        let _ = mf.encode_length_delimited(&mut out);
    }
    out
}

fn label_pairs(labels: &Labels) -> Vec<proto::LabelPair> {
    labels
        .iter()
        .map(|(name, value)| proto::LabelPair {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn native(n: &Native) -> proto::Histogram {
    let (positive_span, positive_delta) = spans(&n.positive);
    let (negative_span, negative_delta) = spans(&n.negative);
    proto::Histogram {
        sample_count: n.count,
        sample_sum: n.sum,
        schema: n.schema,
        zero_threshold: n.zero_threshold,
        zero_count: n.zero_count,
        positive_span,
        positive_delta,
        negative_span,
        negative_delta,
        ..Default::default()
    }
}

/// Sparse buckets as spans (the first offset absolute, the others the gap after the previous
/// span) and counts as deltas from the previous bucket's.
fn spans(buckets: &std::collections::BTreeMap<i32, u64>) -> (Vec<proto::BucketSpan>, Vec<i64>) {
    let mut spans: Vec<proto::BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous_index: Option<i32> = None;
    let mut previous_count = 0i64;
    for (&index, &count) in buckets.iter().filter(|(_, c)| **c > 0) {
        match (previous_index, spans.last_mut()) {
            (Some(p), Some(span)) if index == p + 1 => span.length += 1,
            (Some(p), _) => spans.push(proto::BucketSpan {
                offset: index - p - 1,
                length: 1,
            }),
            (None, _) => spans.push(proto::BucketSpan {
                offset: index,
                length: 1,
            }),
        }
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        deltas.push(count - previous_count);
        previous_count = count;
        previous_index = Some(index);
    }
    (spans, deltas)
}

/// The messages of prometheus/client_model `metrics.proto` that Spoor writes.
pub(crate) mod proto {
    pub const COUNTER: i32 = 0;
    pub const GAUGE: i32 = 1;
    pub const SUMMARY: i32 = 2;
    pub const HISTOGRAM: i32 = 4;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub help: String,
        #[prost(int32, tag = "3")]
        pub r#type: i32,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "2")]
        pub gauge: Option<Gauge>,
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Counter>,
        #[prost(message, optional, tag = "4")]
        pub summary: Option<Summary>,
        #[prost(int64, tag = "6")]
        pub timestamp_ms: i64,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Counter {
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Quantile {
        #[prost(double, tag = "1")]
        pub quantile: f64,
        #[prost(double, tag = "2")]
        pub value: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        #[prost(uint64, tag = "1")]
        pub sample_count: u64,
        #[prost(double, tag = "2")]
        pub sample_sum: f64,
        #[prost(message, repeated, tag = "3")]
        pub quantile: Vec<Quantile>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        #[prost(uint64, tag = "1")]
        pub cumulative_count: u64,
        #[prost(double, tag = "2")]
        pub upper_bound: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, tag = "1")]
        pub sample_count: u64,
        #[prost(double, tag = "2")]
        pub sample_sum: f64,
        #[prost(message, repeated, tag = "3")]
        pub bucket: Vec<Bucket>,
        #[prost(sint32, tag = "5")]
        pub schema: i32,
        #[prost(double, tag = "6")]
        pub zero_threshold: f64,
        #[prost(uint64, tag = "7")]
        pub zero_count: u64,
        #[prost(message, repeated, tag = "9")]
        pub negative_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "10")]
        pub negative_delta: Vec<i64>,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
    }
}
