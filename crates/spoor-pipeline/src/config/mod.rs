//! The Collector-shaped configuration: files parsed into a positioned tree ([`tree`]), merged,
//! `${env:VAR}` substituted, then validated into a typed [`Config`] in one pass that reports
//! every error at once with its YAML path and line.

mod duration;
mod implicit;
mod service;
pub(crate) mod tree;

use std::fmt;

pub use duration::Duration;
pub use implicit::implicit;
pub use service::{PipelineId, PipelineSpec, Service, Signal};
use tree::{Node, Pos, Value};

use crate::ConfigError;
use crate::registry::{self, Kind, Spec};

/// A component id as written in the config: `type` or `type/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    pub ty: String,
    pub name: Option<String>,
}

impl ComponentId {
    pub fn new(ty: &str) -> Self {
        Self {
            ty: ty.to_string(),
            name: None,
        }
    }

    /// Parses `type[/name]`; the type is lower-case letters, digits and `_`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ty, name) = match s.split_once('/') {
            Some((t, n)) => (t.trim(), Some(n.trim())),
            None => (s.trim(), None),
        };
        let valid_type =
            !ty.is_empty() && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_type {
            return Err(format!(
                "invalid component id {s:?}: expected type[/name] with a type of letters, digits and _"
            ));
        }
        if name.is_some_and(|n| n.is_empty() || n.contains('/')) {
            return Err(format!(
                "invalid component id {s:?}: the name after / must be one non-empty word"
            ));
        }
        Ok(Self {
            ty: ty.to_string(),
            name: name.map(str::to_string),
        })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.ty, n),
            None => f.write_str(&self.ty),
        }
    }
}

/// One problem in a config, with its YAML path and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Dotted path from the document root (`processors.batch.timeout`).
    pub path: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.file.is_empty() {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}: {}: {}", self.pos, self.path, self.message)
        }
    }
}

/// Everything wrong with a config (errors) and everything worth knowing (warnings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl Diagnostics {
    fn error(&mut self, path: impl Into<String>, pos: &Pos, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            path: path.into(),
            pos: pos.clone(),
            message: message.into(),
        });
    }
    fn warn(&mut self, path: impl Into<String>, pos: &Pos, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            path: path.into(),
            pos: pos.clone(),
            message: message.into(),
        });
    }
}

/// One configured component: its id, its typed config, and its options after defaults (for
/// `print-config`).
#[derive(Clone)]
pub struct Component {
    pub id: ComponentId,
    pub spec: Spec,
    pub effective: serde_json::Value,
}

/// A validated configuration.
#[derive(Clone)]
pub struct Config {
    pub receivers: Vec<Component>,
    pub processors: Vec<Component>,
    pub exporters: Vec<Component>,
    pub connectors: Vec<Component>,
    pub extensions: Vec<Component>,
    pub service: Service,
    /// Warnings found while validating; start-up logs them.
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    pub fn section(&self, kind: Kind) -> &[Component] {
        match kind {
            Kind::Receiver => &self.receivers,
            Kind::Processor => &self.processors,
            Kind::Exporter => &self.exporters,
            Kind::Connector => &self.connectors,
            Kind::Extension => &self.extensions,
        }
    }

    pub fn section_mut(&mut self, kind: Kind) -> &mut Vec<Component> {
        match kind {
            Kind::Receiver => &mut self.receivers,
            Kind::Processor => &mut self.processors,
            Kind::Exporter => &mut self.exporters,
            Kind::Connector => &mut self.connectors,
            Kind::Extension => &mut self.extensions,
        }
    }

    pub fn component(&self, kind: Kind, id: &ComponentId) -> Option<&Component> {
        self.section(kind).iter().find(|c| &c.id == id)
    }

    /// The effective configuration as a JSON value in the Collector's shape (defaults filled).
    pub fn effective(&self) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for kind in Kind::ALL {
            let section: serde_json::Map<String, serde_json::Value> = self
                .section(kind)
                .iter()
                .map(|c| (c.id.to_string(), c.effective.clone()))
                .collect();
            if !section.is_empty() {
                root.insert(kind.section().to_string(), section.into());
            }
        }
        root.insert("service".to_string(), self.service.effective());
        root.into()
    }
}

/// A config source: a name for messages (the file path) and its text.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Parses, merges (later sources over earlier ones), substitutes and validates. `env` looks up
/// environment variables. On success the warnings are in [`Config::warnings`].
pub fn load(
    sources: &[Source],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut root: Option<Node> = None;
    for source in sources {
        match tree::parse(&source.name, &source.text) {
            Ok(node) => match &mut root {
                Some(r) => r.merge(node),
                None => root = Some(node),
            },
            Err(e) => diags.error(
                "",
                &e.pos,
                format!("invalid YAML (column {}): {}", e.column, e.message),
            ),
        }
    }
    let Some(mut root) = root else {
        if diags.errors.is_empty() {
            diags.error("", &Pos::default(), "no configuration given");
        }
        return Err(diags);
    };
    if !diags.errors.is_empty() {
        return Err(diags);
    }
    let mut missing = Vec::new();
    root.substitute(env, &mut missing);
    for (var, pos) in missing {
        diags.warn(
            "",
            &pos,
            format!("environment variable {var} is not set; substituted an empty string"),
        );
    }
    validate(&root, diags)
}

fn validate(root: &Node, mut diags: Diagnostics) -> Result<Config, Diagnostics> {
    let Some(top) = root.map() else {
        diags.error(
            "",
            &root.pos,
            "the configuration must be a mapping with receivers, processors, exporters, service, …",
        );
        return Err(diags);
    };
    let mut config = Config {
        receivers: Vec::new(),
        processors: Vec::new(),
        exporters: Vec::new(),
        connectors: Vec::new(),
        extensions: Vec::new(),
        service: Service::default(),
        warnings: Vec::new(),
    };
    for (key, node) in top {
        if key == "service" {
            continue;
        }
        let Some(kind) = Kind::ALL.into_iter().find(|k| k.section() == key) else {
            diags.error(
                key.clone(),
                &node.pos,
                "unknown top-level key; expected receivers, processors, exporters, connectors, extensions or service",
            );
            continue;
        };
        let entries = match &node.value {
            Value::Map(m) => m.as_slice(),
            Value::Null => &[],
            _ => {
                diags.error(
                    key.clone(),
                    &node.pos,
                    "must be a mapping of component ids to their options",
                );
                continue;
            }
        };
        for (id_text, options) in entries {
            let path = format!("{key}.{id_text}");
            let id = match ComponentId::parse(id_text) {
                Ok(id) => id,
                Err(e) => {
                    diags.error(path, &options.pos, e);
                    continue;
                }
            };
            match registry::decode(kind, &id.ty, &options.to_json()) {
                Ok((spec, effective, warnings)) => {
                    for w in warnings {
                        diags.warn(path.clone(), &options.pos, w);
                    }
                    config.section_mut(kind).push(Component {
                        id,
                        spec,
                        effective,
                    });
                }
                Err(errors) => {
                    // Still defined, so pipelines naming it do not add a second error.
                    config.section_mut(kind).push(Component {
                        id,
                        spec: Spec::Inert,
                        effective: serde_json::Value::Null,
                    });
                    for ConfigError { path: sub, message } in errors {
                        let full = if sub.is_empty() {
                            path.clone()
                        } else {
                            format!("{path}.{sub}")
                        };
                        diags.error(full, options.pos_at(&sub), message);
                    }
                }
            }
        }
    }
    let service_node = root.get("service");
    config.service = service::validate(service_node, &config, &mut diags);
    if diags.errors.is_empty() {
        config.warnings = diags.warnings;
        Ok(config)
    } else {
        Err(diags)
    }
}

/// Warnings for environment variables of Jaeger-era deployments that Spoor does not read.
pub fn legacy_env_warnings(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = env("SPAN_STORAGE_TYPE") {
        out.push(format!(
            "SPAN_STORAGE_TYPE={v} is a Jaeger setting and is ignored: Spoor stores spans in its own engine \
             (--storage disk|memory, --data-dir, --storage-url for object storage)"
        ));
    }
    for var in [
        "ES_SERVER_URLS",
        "ES_USERNAME",
        "ES_PASSWORD",
        "ES_INDEX_PREFIX",
    ] {
        if env(var).is_some() {
            out.push(format!(
                "{var} is a Jaeger Elasticsearch setting and is ignored: Spoor has no Elasticsearch storage; \
                 it keeps spans in its own engine (--data-dir, --storage-url) and serves the Jaeger query API itself"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
