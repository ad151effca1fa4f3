//! `debug` (and its old name `logging`): prints what passes to standard output.

use std::fmt::Write as _;
use std::io::Write as _;

use serde::{Deserialize, Serialize};
use spoor_model::{ResourceSpans, SpanId, TraceId, attr, span_count, span_kind_name};

use super::{ExportError, Exporter};
use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// `exporters.debug`: `verbosity: basic` prints one line per batch, `normal` one line per span,
/// `detailed` every span with its resource, attributes and events. `exporters.logging` takes
/// the old `loglevel` instead (`debug` → detailed, `info` → basic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    pub verbosity: String,
    /// The `logging` exporter's option; when set it decides the verbosity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loglevel: Option<String>,
}

impl Default for DebugConfig {
    fn default() -> Self {
        Self {
            verbosity: "basic".to_string(),
            loglevel: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Basic,
    Normal,
    Detailed,
}

impl DebugConfig {
    pub fn effective_verbosity(&self) -> Verbosity {
        match self.loglevel.as_deref() {
            Some("debug") => Verbosity::Detailed,
            Some(_) => Verbosity::Basic,
            None => match self.verbosity.as_str() {
                "detailed" => Verbosity::Detailed,
                "normal" => Verbosity::Normal,
                _ => Verbosity::Basic,
            },
        }
    }
}

impl ComponentConfig for DebugConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !["basic", "normal", "detailed"].contains(&self.verbosity.as_str()) {
            errors.push(ConfigError::new(
                "verbosity",
                format!(
                    "unknown verbosity {:?}; expected basic, normal or detailed",
                    self.verbosity
                ),
            ));
        }
        if let Some(l) = &self.loglevel
            && !["debug", "info", "warn", "error"].contains(&l.as_str())
        {
            errors.push(ConfigError::new(
                "loglevel",
                format!("unknown loglevel {l:?}; expected debug, info, warn or error"),
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::Debug(self)
    }
}

/// The running exporter.
pub struct DebugExporter {
    name: String,
    verbosity: Verbosity,
}

impl DebugExporter {
    pub fn new(name: String, config: &DebugConfig) -> Self {
        Self {
            name,
            verbosity: config.effective_verbosity(),
        }
    }
}

/// The text the exporter prints for a batch.
pub fn render(name: &str, verbosity: Verbosity, batch: &[ResourceSpans]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{name}: {} spans in {} resources",
        span_count(batch),
        batch.len()
    );
    if verbosity == Verbosity::Basic {
        return out;
    }
    for (ri, rs) in batch.iter().enumerate() {
        let resource_attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        if verbosity == Verbosity::Detailed {
            let _ = writeln!(out, "ResourceSpans #{ri}");
            let _ = writeln!(out, "Resource attributes:");
            for kv in resource_attrs {
                let _ = writeln!(
                    out,
                    "     -> {}: {}",
                    kv.key,
                    attr::value_to_string(kv.value.as_ref())
                );
            }
        }
        for (si, ss) in rs.scope_spans.iter().enumerate() {
            if verbosity == Verbosity::Detailed {
                let scope = ss.scope.as_ref().map(|s| s.name.as_str()).unwrap_or("");
                let _ = writeln!(out, "ScopeSpans #{si}: {scope}");
            }
            for (i, span) in ss.spans.iter().enumerate() {
                let trace = TraceId::from_bytes(&span.trace_id)
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                let id = SpanId::from_bytes(&span.span_id)
                    .map(|s| s.to_hex())
                    .unwrap_or_default();
                if verbosity == Verbosity::Normal {
                    let attrs = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            format!("{}={}", kv.key, attr::value_to_string(kv.value.as_ref()))
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    let _ = writeln!(out, "{} {trace} {id} {attrs}", span.name);
                    continue;
                }
                let parent = SpanId::from_bytes(&span.parent_span_id)
                    .map(|s| s.to_hex())
                    .unwrap_or_default();
                let status = span.status.as_ref().map(|s| s.code).unwrap_or(0);
                let _ = writeln!(out, "Span #{i}");
                let _ = writeln!(out, "    Trace ID       : {trace}");
                let _ = writeln!(out, "    Parent ID      : {parent}");
                let _ = writeln!(out, "    ID             : {id}");
                let _ = writeln!(out, "    Name           : {}", span.name);
                let _ = writeln!(out, "    Kind           : {}", span_kind_name(span.kind));
                let _ = writeln!(out, "    Start time     : {}", span.start_time_unix_nano);
                let _ = writeln!(out, "    End time       : {}", span.end_time_unix_nano);
                let _ = writeln!(out, "    Status code    : {status}");
                let _ = writeln!(out, "Attributes:");
                for kv in &span.attributes {
                    let _ = writeln!(
                        out,
                        "     -> {}: {}",
                        kv.key,
                        attr::value_to_string(kv.value.as_ref())
                    );
                }
                for ev in &span.events {
                    let _ = writeln!(out, "Event: {} at {}", ev.name, ev.time_unix_nano);
                    for kv in &ev.attributes {
                        let _ = writeln!(
                            out,
                            "     -> {}: {}",
                            kv.key,
                            attr::value_to_string(kv.value.as_ref())
                        );
                    }
                }
            }
        }
    }
    out
}

#[async_trait::async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        let text = render(&self.name, self.verbosity, &batch);
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| ExportError::permanent(format!("writing to stdout: {e}")))
    }
}
