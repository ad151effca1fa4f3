//! `file`: appends each batch as one line of OTLP JSON (an `ExportTraceServiceRequest`).

use std::io::Write;
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;
use spoor_model::otlp_collector::ExportTraceServiceRequest;

use super::{ExportError, Exporter};
use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// `exporters.file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileExporterConfig {
    /// File to write; created if missing.
    pub path: String,
    /// `json` (OTLP JSON lines); `proto` is not available in this build.
    pub format: String,
    /// Keep what the file holds (true) or truncate it at start (false, the Collector's default).
    pub append: bool,
    /// Rotation settings (not available in this build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<serde_json::Value>,
}

impl Default for FileExporterConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            format: "json".to_string(),
            append: false,
            rotation: None,
        }
    }
}

impl ComponentConfig for FileExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.path.trim().is_empty() {
            errors.push(ConfigError::new("path", "is required"));
        }
        if self.format != "json" {
            errors.push(ConfigError::new(
                "format",
                format!(
                    "unsupported format {:?}; only json is available in this build",
                    self.format
                ),
            ));
        }
        if self.rotation.is_some() {
            errors.push(ConfigError::new(
                "rotation",
                "file rotation is not available in this build",
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::FileExporter(self)
    }
}

/// The running exporter: one open file, written a line at a time.
pub struct FileExporter {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl FileExporter {
    pub fn open(config: &FileExporterConfig) -> Result<Self, ConfigError> {
        let path = PathBuf::from(&config.path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(config.append)
            .write(true)
            .truncate(!config.append)
            .open(&path)
            .map_err(|e| {
                ConfigError::new("path", format!("cannot open {}: {e}", path.display()))
            })?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }
}

#[async_trait::async_trait]
impl Exporter for FileExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        let request = ExportTraceServiceRequest {
            resource_spans: batch,
        };
        let mut line = serde_json::to_vec(&request)
            .map_err(|e| ExportError::permanent(format!("encoding OTLP JSON: {e}")))?;
        line.push(b'\n');
        let mut file = self.file.lock();
        file.write_all(&line)
            .and_then(|_| file.flush())
            .map_err(|e| ExportError::permanent(format!("writing {}: {e}", self.path.display())))
    }
}
