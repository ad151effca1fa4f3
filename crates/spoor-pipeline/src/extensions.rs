//! Extension configs: `health_check` (served by the binary), `pprof` and `zpages` (accepted).

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::receivers::resolve_endpoint;
use crate::registry::{ComponentConfig, Spec};

/// `extensions.health_check`: `GET /` answers 200 with a JSON status while Spoor is ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    pub endpoint: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            endpoint: "0.0.0.0:13133".to_string(),
        }
    }
}

impl ComponentConfig for HealthCheckConfig {
    fn validate(&self) -> Vec<ConfigError> {
        match resolve_endpoint(&self.endpoint) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ConfigError::new("endpoint", e)],
        }
    }
    fn into_spec(self) -> Spec {
        Spec::HealthCheck(self)
    }
}

/// `extensions.pprof`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PprofConfig {
    pub endpoint: String,
    pub block_profile_fraction: u32,
    pub mutex_profile_fraction: u32,
    pub save_to_file: String,
}

impl Default for PprofConfig {
    fn default() -> Self {
        Self {
            endpoint: "localhost:1777".to_string(),
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: String::new(),
        }
    }
}

impl ComponentConfig for PprofConfig {
    fn into_spec(self) -> Spec {
        Spec::Inert
    }
}

/// `extensions.zpages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZpagesConfig {
    pub endpoint: String,
}

impl Default for ZpagesConfig {
    fn default() -> Self {
        Self {
            endpoint: "localhost:55679".to_string(),
        }
    }
}

impl ComponentConfig for ZpagesConfig {
    fn into_spec(self) -> Spec {
        Spec::Inert
    }
}
