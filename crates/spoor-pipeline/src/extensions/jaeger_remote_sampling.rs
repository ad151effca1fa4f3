//! `extensions.jaeger_remote_sampling`: the Collector's extension of that name. Serves the
//! sampling strategies of a Jaeger strategies file over HTTP (`/sampling?service=`) and gRPC
//! (`SamplingManager`); the binary runs it with spoor-receivers' `StrategyStore`.

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::config::Duration;
use crate::receivers::resolve_endpoint;
use crate::registry::{ComponentConfig, Spec};

/// `extensions.jaeger_remote_sampling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerRemoteSamplingConfig {
    pub source: SamplingSourceConfig,
    pub http: SamplingEndpointConfig,
    pub grpc: SamplingEndpointConfig,
    /// Jaeger v2's `adaptive` block: adaptive sampling for every service the file does not name
    /// (without a file, for every service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<spoor_receivers::sampling::AdaptiveConfig>,
}

impl Default for JaegerRemoteSamplingConfig {
    fn default() -> Self {
        Self {
            source: SamplingSourceConfig::default(),
            http: SamplingEndpointConfig {
                endpoint: "localhost:5778".to_string(),
            },
            grpc: SamplingEndpointConfig {
                endpoint: "localhost:14250".to_string(),
            },
            adaptive: None,
        }
    }
}

/// Where the strategies come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingSourceConfig {
    /// A Jaeger `sampling.json` (or YAML of the same shape).
    pub file: String,
    /// How often the file is read again; 0s never rereads it.
    pub reload_interval: Duration,
    /// Another sampling server to proxy: not supported (refused with the alternative).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<serde_json::Value>,
}

/// A listener of the extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingEndpointConfig {
    /// Listen address; an empty string turns the listener off.
    pub endpoint: String,
}

impl ComponentConfig for JaegerRemoteSamplingConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.source.remote.is_some() {
            errors.push(ConfigError::new(
                "source.remote",
                "proxying another sampling server is not supported; give `source.file` (a Jaeger strategies file)",
            ));
        }
        if self.source.file.is_empty() && self.source.remote.is_none() && self.adaptive.is_none() {
            errors.push(ConfigError::new(
                "source.file",
                "a strategies file (Jaeger's sampling.json) or `adaptive` is required",
            ));
        }
        if let Some(Err(e)) = self.adaptive.as_ref().map(|a| a.validate()) {
            errors.push(ConfigError::new(format!("adaptive.{}", e.key), e.what));
        }
        for (name, listener) in [("http", &self.http), ("grpc", &self.grpc)] {
            if !listener.endpoint.is_empty()
                && let Err(e) = resolve_endpoint(&listener.endpoint)
            {
                errors.push(ConfigError::new(format!("{name}.endpoint"), e));
            }
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::JaegerRemoteSampling(self)
    }
}
