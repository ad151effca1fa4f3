//! Extension configs: `health_check`, `zpages` and `pprof` (served by the binary; `pprof`'s
//! routes are in `pprof.rs`),
//! `file_storage` (the directory of persistent sending queues), `jaeger_remote_sampling` (served
//! by the binary), `basicauth`, `bearertokenauth` and `oidc` (authenticators of receivers and the query
//! API, referenced as `auth: {authenticator: …}`).

mod basicauth;
mod bearertokenauth;
mod file_storage;
mod jaeger_remote_sampling;
mod oidc;
mod oidc_keys;
mod pprof;
mod reload;

pub use basicauth::{BasicAuthConfig, ClientAuthConfig, HtpasswdConfig};
pub use bearertokenauth::BearerTokenAuthConfig;
pub use oidc::OidcConfig;
pub use reload::ReloadMetrics;

pub use file_storage::{CompactionConfig, FileStorageConfig};
pub use jaeger_remote_sampling::{
    JaegerRemoteSamplingConfig, SamplingEndpointConfig, SamplingSourceConfig,
};
pub use pprof::pprof_router;

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
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = resolve_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        for (option, set) in [
            ("block_profile_fraction", self.block_profile_fraction != 0),
            ("mutex_profile_fraction", self.mutex_profile_fraction != 0),
            ("save_to_file", !self.save_to_file.is_empty()),
        ] {
            if set {
                errors.push(ConfigError::new(
                    option,
                    "not available in this build: Spoor serves CPU profiles only (/debug/pprof/profile)",
                ));
            }
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::Pprof(self)
    }
}

/// `extensions.zpages`: `/debug/servicez`, `/debug/pipelinez`, `/debug/extensionz` as text.
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
    fn validate(&self) -> Vec<ConfigError> {
        match resolve_endpoint(&self.endpoint) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ConfigError::new("endpoint", e)],
        }
    }
    fn into_spec(self) -> Spec {
        Spec::Zpages(self)
    }
}

/// The `zpages` extension's pages, as plain text: `servicez` (every component, its type and how
/// far Spoor implements it) and `pipelinez` (each pipeline's receivers, processors, exporters).
pub fn zpage(config: &crate::config::Config, page: &str) -> Option<String> {
    use std::fmt::Write as _;

    use crate::registry::{Kind, Status, lookup};
    let mut out = String::new();
    match page {
        "servicez" => {
            let _ = writeln!(out, "spoor {}", env!("CARGO_PKG_VERSION"));
            for kind in Kind::ALL {
                for c in config.section(kind) {
                    let status = match lookup(kind, &c.id.ty).map(|e| e.status) {
                        Some(Status::Functional) => "running".to_string(),
                        Some(Status::Accepted(why)) => format!("accepted, inactive: {why}"),
                        _ => "unknown".to_string(),
                    };
                    let _ = writeln!(out, "{} {}: {status}", kind.name(), c.id);
                }
            }
        }
        "pipelinez" => {
            for p in &config.service.pipelines {
                let ids = |v: &[crate::config::ComponentId]| {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = writeln!(out, "pipeline {}", p.id);
                let _ = writeln!(out, "  receivers: {}", ids(&p.receivers));
                let _ = writeln!(out, "  processors: {}", ids(&p.processors));
                let _ = writeln!(out, "  exporters: {}", ids(&p.exporters));
            }
        }
        "extensionz" => {
            for id in &config.service.extensions {
                let _ = writeln!(out, "extension {id}");
            }
        }
        _ => return None,
    }
    Some(out)
}

/// The authenticators of the enabled `basicauth`, `bearertokenauth` and `oidc` extensions, by id
/// (files read now, so a missing htpasswd or token file stops start-up; read again when they
/// change, counted in `metrics`).
pub fn authenticators(
    config: &crate::config::Config,
    metrics: &ReloadMetrics,
) -> Result<std::collections::HashMap<String, spoor_receivers::auth::Auth>, ConfigError> {
    use crate::registry::Kind;
    let mut out = std::collections::HashMap::new();
    for id in &config.service.extensions {
        let Some(component) = config.component(Kind::Extension, id) else {
            continue;
        };
        let built = match &component.spec {
            Spec::BasicAuth(c) => c.authenticator_with(&id.to_string(), metrics),
            Spec::BearerTokenAuth(c) => c.authenticator_with(&id.to_string(), metrics),
            Spec::Oidc(c) => c.authenticator_with(&id.to_string(), metrics),
            _ => continue,
        };
        let inner =
            built.map_err(|e| ConfigError::new(format!("extensions.{id}"), e.to_string()))?;
        out.insert(
            id.to_string(),
            spoor_receivers::auth::Auth::new(id.to_string(), inner),
        );
    }
    Ok(out)
}
