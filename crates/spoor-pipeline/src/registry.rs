//! The one registry table: every component type Spoor knows, its config struct and how it is
//! built. Nothing registers itself anywhere else; `docs/configuration.md` is checked against
//! this table.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batch::BatchConfig;
use crate::config::Signal;
use crate::exporters::{
    DebugConfig, FileExporterConfig, JaegerExporterConfig, OtlpExporterConfig,
    OtlpHttpExporterConfig, PrometheusConfig, SpoorExporterConfig, ZipkinExporterConfig,
};
use crate::extensions::{
    BasicAuthConfig, BearerTokenAuthConfig, FileStorageConfig, HealthCheckConfig,
    JaegerRemoteSamplingConfig, OidcConfig, PprofConfig, ZpagesConfig,
};
use crate::memory_limiter::MemoryLimiterConfig;
use crate::receivers::{JaegerReceiverConfig, OtlpReceiverConfig, ZipkinReceiverConfig};
use crate::{ConfigError, SpanProcessor};

/// The five sections of a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Connector,
    Extension,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Connector,
        Kind::Extension,
    ];

    /// The top-level key of the section (`receivers`).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Connector => "connectors",
            Kind::Extension => "extensions",
        }
    }

    /// The singular, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Connector => "connector",
            Kind::Extension => "extension",
        }
    }
}

/// How far Spoor implements a component type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Built and run.
    Functional,
    /// Options are validated and accepted, but it does nothing yet; the text says what is missing.
    Accepted(&'static str),
    /// Part of the design but not in this build: a config using it is refused.
    NotInBuild,
    /// Spoor does not have it and will not: a config using it is refused; the text names the
    /// alternative.
    Refused(&'static str),
}

/// A component's typed config, as built by the registry.
#[derive(Clone)]
pub enum Spec {
    OtlpReceiver(OtlpReceiverConfig),
    JaegerReceiver(JaegerReceiverConfig),
    ZipkinReceiver(ZipkinReceiverConfig),
    Batch(BatchConfig),
    MemoryLimiter(MemoryLimiterConfig),
    TailSampling(Box<crate::processors::tail_sampling::TailSamplingConfig>),
    /// A synchronous processor, already built (regexes compiled, conditions parsed).
    SpanProcessor(Arc<dyn SpanProcessor>),
    SpoorExporter(SpoorExporterConfig),
    Debug(DebugConfig),
    OtlpExporter(OtlpExporterConfig),
    LoadBalancing(crate::exporters::LoadBalancingConfig),
    OtlpHttpExporter(OtlpHttpExporterConfig),
    FileExporter(FileExporterConfig),
    JaegerExporter(JaegerExporterConfig),
    ZipkinExporter(ZipkinExporterConfig),
    Prometheus(PrometheusConfig),
    Forward,
    SpanMetrics(Box<crate::connectors::SpanMetricsConfig>),
    ServiceGraph(Box<crate::connectors::ServiceGraphConnectorConfig>),
    HealthCheck(HealthCheckConfig),
    Zpages(ZpagesConfig),
    Pprof(PprofConfig),
    FileStorage(FileStorageConfig),
    JaegerRemoteSampling(JaegerRemoteSamplingConfig),
    BasicAuth(BasicAuthConfig),
    BearerTokenAuth(BearerTokenAuthConfig),
    Oidc(OidcConfig),
    /// Accepted without a runtime ([`Status::Accepted`]).
    Inert,
}

impl Spec {
    /// The signals a component can be used for: a pipeline of another signal naming it is a
    /// configuration error.
    pub fn signals(&self) -> &'static [Signal] {
        match self {
            Spec::OtlpReceiver(_) | Spec::Batch(_) | Spec::MemoryLimiter(_) => &Signal::ALL,
            Spec::Debug(_) | Spec::FileExporter(_) | Spec::Forward | Spec::Inert => &Signal::ALL,
            Spec::SpanMetrics(_) | Spec::ServiceGraph(_) => &[Signal::Traces, Signal::Metrics],
            Spec::OtlpExporter(_) | Spec::OtlpHttpExporter(_) => &Signal::ALL,
            Spec::SpanProcessor(p) => p.signals(),
            Spec::Prometheus(_) => &[Signal::Metrics],
            Spec::JaegerReceiver(_)
            | Spec::ZipkinReceiver(_)
            | Spec::SpoorExporter(_)
            | Spec::LoadBalancing(_)
            | Spec::JaegerExporter(_)
            | Spec::ZipkinExporter(_)
            | Spec::TailSampling(_)
            | Spec::HealthCheck(_)
            | Spec::Zpages(_)
            | Spec::Pprof(_)
            | Spec::FileStorage(_)
            | Spec::JaegerRemoteSampling(_)
            | Spec::BasicAuth(_)
            | Spec::BearerTokenAuth(_)
            | Spec::Oidc(_) => &[Signal::Traces],
        }
    }
}

/// A decoded component: typed config, options after defaults, warnings.
pub type Decoded = (Spec, serde_json::Value, Vec<String>);

/// One row of the table.
pub struct Entry {
    pub kind: Kind,
    pub ty: &'static str,
    pub summary: &'static str,
    pub status: Status,
    decode: fn(&serde_json::Value) -> Result<Decoded, Vec<ConfigError>>,
    /// The options with their defaults, for documentation (`{}` when there are none).
    pub defaults: fn() -> serde_json::Value,
}

/// A config struct that the registry decodes with serde (`deny_unknown_fields`, defaults) and
/// then validates as a whole.
pub(crate) trait ComponentConfig: DeserializeOwned + Serialize + Default {
    /// Problems serde cannot see (ranges, combinations), each with its path in the component.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
    /// Accepted options that do nothing or behave differently from the Collector.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    fn into_spec(self) -> Spec;
}

/// Deserializes a component's options (null → all defaults), naming the path of the first
/// serde error.
pub(crate) fn deserialize<T: DeserializeOwned>(
    v: &serde_json::Value,
) -> Result<T, Vec<ConfigError>> {
    let v = if v.is_null() {
        serde_json::json!({})
    } else {
        v.clone()
    };
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![ConfigError::new(path, e.into_inner().to_string())]
    })
}

fn typed<T: ComponentConfig>(v: &serde_json::Value) -> Result<Decoded, Vec<ConfigError>> {
    let config: T = deserialize(v)?;
    let errors = config.validate();
    if !errors.is_empty() {
        return Err(errors);
    }
    let effective = serde_json::to_value(&config).unwrap_or(serde_json::Value::Null);
    let warnings = config.warnings();
    Ok((config.into_spec(), effective, warnings))
}

fn defaults<T: ComponentConfig>() -> serde_json::Value {
    serde_json::to_value(T::default()).unwrap_or(serde_json::Value::Null)
}

/// The options of a config that is not a [`ComponentConfig`] (the synchronous processors), for
/// `docs_check`: every field of its `Default`, as serialized.
fn config_defaults<T: Default + Serialize>() -> serde_json::Value {
    serde_json::to_value(T::default()).unwrap_or(serde_json::Value::Null)
}

fn no_options() -> serde_json::Value {
    serde_json::json!({})
}

fn unavailable(_: &serde_json::Value) -> Result<Decoded, Vec<ConfigError>> {
    Err(Vec::new())
}

fn forward(v: &serde_json::Value) -> Result<Decoded, Vec<ConfigError>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ForwardConfig {}
    let _: ForwardConfig = deserialize(v)?;
    Ok((Spec::Forward, serde_json::json!({}), Vec::new()))
}

const fn entry(
    kind: Kind,
    ty: &'static str,
    status: Status,
    summary: &'static str,
    decode: fn(&serde_json::Value) -> Result<Decoded, Vec<ConfigError>>,
    defaults: fn() -> serde_json::Value,
) -> Entry {
    Entry {
        kind,
        ty,
        summary,
        status,
        decode,
        defaults,
    }
}

/// A synchronous processor from `processors::<module>`: `$config` is its serde config with
/// `fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError>`. One line per processor.
#[allow(unused_macros)]
macro_rules! span_processor {
    ($ty:literal, $config:path, $summary:literal) => {
        entry(
            Kind::Processor,
            $ty,
            Status::Functional,
            $summary,
            |v| {
                let config: $config = deserialize(v)?;
                let built = config.build().map_err(|e| vec![e])?;
                let effective = if v.is_null() {
                    serde_json::json!({})
                } else {
                    v.clone()
                };
                Ok((Spec::SpanProcessor(Arc::from(built)), effective, Vec::new()))
            },
            config_defaults::<$config>,
        )
    };
}

#[allow(dead_code)] // no entry is NotInBuild at the moment
const NOT_IN_BUILD: Status = Status::NotInBuild;

/// Every component type, by section. Read top to bottom, this is what Spoor can run.
pub static REGISTRY: &[Entry] = &[
    // Receivers.
    entry(
        Kind::Receiver,
        "otlp",
        Status::Functional,
        "OTLP traces, metrics and logs over gRPC (4317) and HTTP (4318).",
        typed::<OtlpReceiverConfig>,
        defaults::<OtlpReceiverConfig>,
    ),
    entry(
        Kind::Receiver,
        "jaeger",
        Status::Functional,
        "Jaeger gRPC (14250), thrift HTTP (14268), agent UDP compact (6831) and binary (6832).",
        typed::<JaegerReceiverConfig>,
        defaults::<JaegerReceiverConfig>,
    ),
    entry(
        Kind::Receiver,
        "zipkin",
        Status::Functional,
        "Zipkin v1 and v2 over HTTP (9411).",
        typed::<ZipkinReceiverConfig>,
        defaults::<ZipkinReceiverConfig>,
    ),
    // Processors.
    entry(
        Kind::Processor,
        "batch",
        Status::Functional,
        "Groups spans into larger batches before the exporters.",
        typed::<BatchConfig>,
        defaults::<BatchConfig>,
    ),
    entry(
        Kind::Processor,
        "memory_limiter",
        Status::Functional,
        "Refuses data (429 / RESOURCE_EXHAUSTED) while the process's resident memory is above the limit.",
        typed::<MemoryLimiterConfig>,
        defaults::<MemoryLimiterConfig>,
    ),
    entry(
        Kind::Processor,
        "tail_sampling",
        Status::Functional,
        "Buffers whole traces for decision_wait and keeps those a policy samples (errors, slow, attributes, rates).",
        typed::<crate::processors::tail_sampling::TailSamplingConfig>,
        defaults::<crate::processors::tail_sampling::TailSamplingConfig>,
    ),
    span_processor!(
        "attributes",
        crate::processors::AttributesConfig,
        "Inserts, updates, deletes, hashes, extracts and converts span attributes."
    ),
    span_processor!(
        "resource",
        crate::processors::ResourceConfig,
        "Rewrites resource attributes."
    ),
    span_processor!(
        "span",
        crate::processors::SpanConfig,
        "Renames spans from attributes, extracts attributes from names, sets status."
    ),
    span_processor!(
        "filter",
        crate::processors::FilterConfig,
        "Drops spans and events matching OTTL conditions."
    ),
    span_processor!(
        "transform",
        crate::processors::TransformConfig,
        "Sets and deletes attributes and renames spans with OTTL statements."
    ),
    span_processor!(
        "redaction",
        crate::processors::RedactionConfig,
        "Removes attributes not allowed and masks values matching blocked patterns."
    ),
    span_processor!(
        "probabilistic_sampler",
        crate::processors::ProbabilisticSamplerConfig,
        "Keeps a fixed percentage of traces, by trace id."
    ),
    // Exporters.
    entry(
        Kind::Exporter,
        "spoor",
        Status::Functional,
        "The embedded store: spans are written to Spoor's own engine and served by its query APIs.",
        typed::<SpoorExporterConfig>,
        defaults::<SpoorExporterConfig>,
    ),
    entry(
        Kind::Exporter,
        "debug",
        Status::Functional,
        "Prints spans to the log: one line per batch, or every span with its attributes.",
        typed::<DebugConfig>,
        defaults::<DebugConfig>,
    ),
    entry(
        Kind::Exporter,
        "logging",
        Status::Functional,
        "The old name of debug (loglevel: debug prints every span).",
        typed::<DebugConfig>,
        defaults::<DebugConfig>,
    ),
    entry(
        Kind::Exporter,
        "otlp",
        Status::Functional,
        "Forwards over OTLP gRPC, with a bounded queue and retries.",
        typed::<OtlpExporterConfig>,
        defaults::<OtlpExporterConfig>,
    ),
    entry(
        Kind::Exporter,
        "loadbalancing",
        Status::Functional,
        "Routes spans by trace id or service over a consistent-hash ring of otlp backends (static list or DNS).",
        typed::<crate::exporters::LoadBalancingConfig>,
        crate::exporters::loadbalancing_defaults,
    ),
    entry(
        Kind::Exporter,
        "otlphttp",
        Status::Functional,
        "Forwards over OTLP HTTP (protobuf), with a bounded queue and retries.",
        typed::<OtlpHttpExporterConfig>,
        defaults::<OtlpHttpExporterConfig>,
    ),
    entry(
        Kind::Exporter,
        "file",
        Status::Functional,
        "Appends OTLP JSON, one ExportTraceServiceRequest per line, to a file.",
        typed::<FileExporterConfig>,
        defaults::<FileExporterConfig>,
    ),
    entry(
        Kind::Exporter,
        "jaeger",
        Status::Functional,
        "Forwards to a Jaeger collector over gRPC (api_v2 PostSpans).",
        typed::<JaegerExporterConfig>,
        defaults::<JaegerExporterConfig>,
    ),
    entry(
        Kind::Exporter,
        "zipkin",
        Status::Functional,
        "Forwards to a Zipkin server (v2 JSON or protobuf), with a bounded queue and retries.",
        typed::<ZipkinExporterConfig>,
        defaults::<ZipkinExporterConfig>,
    ),
    entry(
        Kind::Exporter,
        "prometheus",
        Status::Functional,
        "Serves a metrics pipeline in the Prometheus text format on its endpoint (GET /metrics).",
        typed::<PrometheusConfig>,
        defaults::<PrometheusConfig>,
    ),
    entry(
        Kind::Exporter,
        "elasticsearch",
        Status::Refused(
            "Spoor stores spans itself: use the `spoor` exporter (the embedded store, queried with the Jaeger API and UI on 16686), or forward with `otlp`/`otlphttp` to a backend that writes to Elasticsearch",
        ),
        "Not available.",
        unavailable,
        no_options,
    ),
    // Connectors.
    entry(
        Kind::Connector,
        "forward",
        Status::Functional,
        "Passes a pipeline's output to other pipelines of the same signal.",
        forward,
        no_options,
    ),
    entry(
        Kind::Connector,
        "spanmetrics",
        Status::Functional,
        "Traces in, RED metrics out: calls and a duration histogram per service, span name, kind and status, weighted by 1/sampling probability.",
        typed::<crate::connectors::SpanMetricsConfig>,
        defaults::<crate::connectors::SpanMetricsConfig>,
    ),
    entry(
        Kind::Connector,
        "servicegraph",
        Status::Functional,
        "Traces in, service graph metrics out: client/server and producer/consumer pairs, with virtual nodes for uninstrumented peers (databases, queues).",
        typed::<crate::connectors::ServiceGraphConnectorConfig>,
        defaults::<crate::connectors::ServiceGraphConnectorConfig>,
    ),
    // Extensions.
    entry(
        Kind::Extension,
        "health_check",
        Status::Functional,
        "Answers GET / with 200 and a JSON status while Spoor is ready (13133).",
        typed::<HealthCheckConfig>,
        defaults::<HealthCheckConfig>,
    ),
    entry(
        Kind::Extension,
        "pprof",
        Status::Functional,
        "CPU profiles (pprof protobuf) on its endpoint.",
        typed::<PprofConfig>,
        defaults::<PprofConfig>,
    ),
    entry(
        Kind::Extension,
        "zpages",
        Status::Functional,
        "Pipeline and component status pages (text).",
        typed::<ZpagesConfig>,
        defaults::<ZpagesConfig>,
    ),
    entry(
        Kind::Extension,
        "file_storage",
        Status::Functional,
        "A directory for persistent sending queues (`sending_queue.storage`).",
        typed::<FileStorageConfig>,
        defaults::<FileStorageConfig>,
    ),
    entry(
        Kind::Extension,
        "jaeger_remote_sampling",
        Status::Functional,
        "Serves a Jaeger strategies file to remote samplers over HTTP and gRPC.",
        typed::<JaegerRemoteSamplingConfig>,
        defaults::<JaegerRemoteSamplingConfig>,
    ),
    entry(
        Kind::Extension,
        "basicauth",
        Status::Functional,
        "HTTP Basic authentication (htpasswd file or inline, bcrypt) of receivers and the query API.",
        typed::<BasicAuthConfig>,
        defaults::<BasicAuthConfig>,
    ),
    entry(
        Kind::Extension,
        "bearertokenauth",
        Status::Functional,
        "Static bearer tokens (token, tokens or a file) checked on receivers and the query API.",
        typed::<BearerTokenAuthConfig>,
        defaults::<BearerTokenAuthConfig>,
    ),
    entry(
        Kind::Extension,
        "oidc",
        Status::Functional,
        "JWTs (RS256, ES256) checked against a JWKS file: issuer, audience, expiry; on receivers and the query API.",
        typed::<OidcConfig>,
        defaults::<OidcConfig>,
    ),
];

/// The registry entry for a component type.
pub fn lookup(kind: Kind, ty: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.kind == kind && e.ty == ty)
}

/// Decodes one component's options; errors carry paths relative to the component.
pub fn decode(
    kind: Kind,
    ty: &str,
    options: &serde_json::Value,
) -> Result<Decoded, Vec<ConfigError>> {
    let Some(entry) = lookup(kind, ty) else {
        let known = REGISTRY
            .iter()
            .filter(|e| e.kind == kind && !matches!(e.status, Status::Refused(_)))
            .map(|e| e.ty)
            .collect::<Vec<_>>()
            .join(", ");
        let elsewhere = Kind::ALL
            .into_iter()
            .filter(|k| *k != kind && lookup(*k, ty).is_some())
            .map(|k| format!(" ({ty} is a {})", k.name()))
            .collect::<String>();
        return Err(vec![ConfigError::new(
            "",
            format!(
                "unknown {} type {ty:?}{elsewhere}; known: {known}",
                kind.name()
            ),
        )]);
    };
    match entry.status {
        Status::Refused(alternative) => Err(vec![ConfigError::new(
            "",
            format!(
                "the {ty} {} is not supported by Spoor: {alternative}",
                kind.name()
            ),
        )]),
        Status::NotInBuild => Err(vec![ConfigError::new(
            "",
            format!(
                "the {ty} {} is not available in this build of Spoor",
                kind.name()
            ),
        )]),
        Status::Accepted(missing) => {
            let (spec, effective, mut warnings) = (entry.decode)(options)?;
            warnings.push(format!(
                "the {ty} {} is accepted but does nothing yet: {missing}",
                kind.name()
            ));
            Ok((spec, effective, warnings))
        }
        Status::Functional => (entry.decode)(options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessError;

    /// Stands in for a `processors::<x>::XConfig` of the processors branch.
    #[derive(Default, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct UpperConfig {
        key: String,
    }

    struct Upper;

    impl SpanProcessor for Upper {
        fn process(
            &self,
            batch: Vec<spoor_model::ResourceSpans>,
        ) -> Result<Vec<spoor_model::ResourceSpans>, ProcessError> {
            Ok(batch)
        }
    }

    impl UpperConfig {
        fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
            if self.key.is_empty() {
                return Err(ConfigError::new("key", "must not be empty"));
            }
            Ok(Box::new(Upper))
        }
    }

    static ENTRY: Entry = span_processor!("upper", UpperConfig, "Test processor.");

    #[test]
    fn a_span_processor_is_one_line_in_the_table() {
        let ok = (ENTRY.decode)(&serde_json::json!({"key": "a"}));
        assert!(matches!(ok, Ok((Spec::SpanProcessor(_), _, _))));
        let e = (ENTRY.decode)(&serde_json::json!({"key": ""}))
            .err()
            .expect("build error");
        assert_eq!(e, vec![ConfigError::new("key", "must not be empty")]);
        let e = (ENTRY.decode)(&serde_json::json!({"nope": 1}))
            .err()
            .expect("unknown option");
        assert!(e[0].message.contains("unknown field `nope`"), "{e:?}");
    }
}
