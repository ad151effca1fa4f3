//! `file`: writes each batch as the Collector's file exporter does: a line of OTLP JSON
//! (`format: json`), or a 4-byte big-endian length and the message (`format: proto`, or any
//! format with `compression: zstd`, each message compressed on its own). Traces, metrics and
//! logs of one exporter go to the same files. Writes are buffered and flushed every
//! `flush_interval`; `rotation` and `group_by` as the Collector documents them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;
use spoor_model::otlp_collector::ExportTraceServiceRequest;

use super::file_writer::{Files, Rotation, WriterSettings};
use super::{ExportError, Exporter};
use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `exporters.file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileExporterConfig {
    /// File to write; created if missing (with its directories).
    pub path: String,
    /// `json` (OTLP JSON, one message a line) or `proto` (length-delimited protobuf).
    pub format: String,
    /// Keep what the file holds (true) or truncate it at start (false, the Collector's default).
    pub append: bool,
    /// `zstd` compresses each message on its own (and frames it by length); empty: none.
    pub compression: String,
    /// How often buffered writes reach the file.
    pub flush_interval: Duration,
    /// Rotation; present (even empty) turns it on with the defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationConfig>,
    /// One file per value of a resource attribute.
    pub group_by: GroupByConfig,
}

impl Default for FileExporterConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            format: "json".to_string(),
            append: false,
            compression: String::new(),
            flush_interval: Duration::from_secs(1),
            rotation: None,
            group_by: GroupByConfig::default(),
        }
    }
}

/// `exporters.file.rotation` (lumberjack's options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// Size in MiB at which the file is rotated.
    pub max_megabytes: u64,
    /// Backups older than this many days are removed (0: kept whatever their age).
    pub max_days: u64,
    /// At most this many backups are kept (0: all).
    pub max_backups: u64,
    /// Backup names in local time instead of UTC.
    pub localtime: bool,
}

impl Default for RotationConfig {
    fn default() -> Self {
        Self {
            max_megabytes: 100,
            max_days: 0,
            max_backups: 100,
            localtime: false,
        }
    }
}

/// `exporters.file.group_by`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupByConfig {
    pub enabled: bool,
    /// Its value replaces the `*` of `path`; resources without it are dropped.
    pub resource_attribute: String,
    /// Files open at once; the oldest is closed beyond it.
    pub max_open_files: usize,
}

impl Default for GroupByConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            resource_attribute: "fileexporter.path_segment".to_string(),
            max_open_files: 100,
        }
    }
}

impl ComponentConfig for FileExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.path.trim().is_empty() {
            errors.push(ConfigError::new("path", "is required"));
        }
        if self.format != "json" && self.format != "proto" {
            errors.push(ConfigError::new(
                "format",
                format!(
                    "unsupported format {:?}; expected json or proto",
                    self.format
                ),
            ));
        }
        if !self.compression.is_empty() && self.compression != "zstd" {
            errors.push(ConfigError::new(
                "compression",
                format!(
                    "unsupported compression {:?}; expected zstd or nothing",
                    self.compression
                ),
            ));
        }
        if self.append && !self.compression.is_empty() {
            errors.push(ConfigError::new(
                "append",
                "append and compression cannot be used together",
            ));
        }
        if self.append && self.rotation.is_some() {
            errors.push(ConfigError::new(
                "append",
                "append and rotation cannot be used together",
            ));
        }
        if self.flush_interval.get().is_zero() {
            errors.push(ConfigError::new("flush_interval", "must be greater than 0"));
        }
        if let Some(r) = &self.rotation
            && r.max_megabytes == 0
        {
            errors.push(ConfigError::new(
                "rotation.max_megabytes",
                "must be greater than 0",
            ));
        }
        if self.group_by.enabled {
            if self.path.matches('*').count() != 1 {
                errors.push(ConfigError::new(
                    "path",
                    "must contain exactly one * when group_by is enabled",
                ));
            } else if self.path.starts_with('*') {
                errors.push(ConfigError::new(
                    "path",
                    "must not start with * when group_by is enabled",
                ));
            }
            if self.group_by.resource_attribute.trim().is_empty() {
                errors.push(ConfigError::new(
                    "group_by.resource_attribute",
                    "must not be empty",
                ));
            }
            if self.group_by.max_open_files == 0 {
                errors.push(ConfigError::new(
                    "group_by.max_open_files",
                    "must be greater than 0",
                ));
            }
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::FileExporter(self)
    }
}

/// The writing side of one `file` exporter, shared by its traces, metrics and logs.
pub struct FileSink {
    config: FileExporterConfig,
    files: Mutex<Files>,
    /// No runtime to flush in the background: flush after every write.
    flush_each_write: bool,
}

/// Open sinks by path, so that the pipelines of every signal write through one.
fn open_sinks() -> &'static Mutex<HashMap<String, Weak<FileSink>>> {
    static SINKS: OnceLock<Mutex<HashMap<String, Weak<FileSink>>>> = OnceLock::new();
    SINKS.get_or_init(Default::default)
}

impl FileSink {
    /// The sink writing `config.path`: the one already open for it, or a new one.
    pub fn shared(config: &FileExporterConfig) -> Result<Arc<Self>, ConfigError> {
        let mut sinks = open_sinks().lock();
        sinks.retain(|_, w| w.strong_count() > 0);
        if let Some(sink) = sinks.get(&config.path).and_then(Weak::upgrade) {
            return Ok(sink);
        }
        let settings = WriterSettings {
            truncate: !config.append && config.rotation.is_none(),
            rotation: config.rotation.as_ref().map(|r| Rotation {
                max_bytes: r.max_megabytes.saturating_mul(1024 * 1024),
                max_age: (r.max_days > 0)
                    .then(|| std::time::Duration::from_secs(r.max_days.saturating_mul(86_400))),
                max_backups: usize::try_from(r.max_backups).unwrap_or(usize::MAX),
                localtime: r.localtime,
            }),
            max_open_files: if config.group_by.enabled {
                config.group_by.max_open_files
            } else {
                1
            },
        };
        let mut files = Files::new(settings);
        if !config.group_by.enabled {
            let path = PathBuf::from(&config.path);
            files.open_now(&path).map_err(|e| {
                ConfigError::new("path", format!("cannot open {}: {e}", path.display()))
            })?;
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        let sink = Arc::new(Self {
            config: config.clone(),
            files: Mutex::new(files),
            flush_each_write: runtime.is_none(),
        });
        if let Some(runtime) = runtime {
            let weak = Arc::downgrade(&sink);
            let every = config.flush_interval.get();
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(sink) = weak.upgrade() else { return };
                    if let Err(e) = sink.files.lock().flush() {
                        tracing::warn!(path = %sink.config.path, "file exporter flush failed: {e}");
                    }
                }
            });
        }
        sinks.insert(config.path.clone(), Arc::downgrade(&sink));
        Ok(sink)
    }

    /// Writes `message` to the file of each group: JSON lines or length-delimited protobuf,
    /// compressed when asked.
    pub fn write<M>(&self, groups: Vec<(PathBuf, M)>) -> Result<(), String>
    where
        M: prost::Message + Serialize,
    {
        let mut framed = Vec::with_capacity(groups.len());
        for (path, message) in groups {
            framed.push((path, self.frame(&message)?));
        }
        let mut files = self.files.lock();
        for (path, bytes) in framed {
            files
                .write(&path, &bytes)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        if self.flush_each_write {
            files.flush().map_err(|e| format!("flushing: {e}"))?;
        }
        Ok(())
    }

    fn frame<M: prost::Message + Serialize>(&self, message: &M) -> Result<Vec<u8>, String> {
        let mut body = if self.config.format == "proto" {
            message.encode_to_vec()
        } else {
            serde_json::to_vec(message).map_err(|e| format!("encoding OTLP JSON: {e}"))?
        };
        if self.config.compression == "zstd" {
            body = zstd::bulk::compress(&body, 3).map_err(|e| format!("zstd: {e}"))?;
        }
        if self.config.format == "proto" || !self.config.compression.is_empty() {
            let len = u32::try_from(body.len()).map_err(|_| "message over 4 GiB".to_string())?;
            let mut out = Vec::with_capacity(body.len() + 4);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&body);
            Ok(out)
        } else {
            body.push(b'\n');
            Ok(body)
        }
    }

    /// Splits resource entries by the file they go to. Without `group_by`: all to `path`.
    /// With it: by the resource attribute's value; entries without it (or with a value that
    /// would leave the directory) are dropped, and their number is returned.
    pub fn route<T>(
        &self,
        items: Vec<T>,
        resource: fn(&T) -> Option<&Resource>,
    ) -> (Vec<(PathBuf, Vec<T>)>, usize) {
        if !self.config.group_by.enabled {
            return (vec![(PathBuf::from(&self.config.path), items)], 0);
        }
        let key = &self.config.group_by.resource_attribute;
        let mut groups: BTreeMap<PathBuf, Vec<T>> = BTreeMap::new();
        let mut dropped = 0;
        for item in items {
            let value = resource(&item)
                .and_then(|r| r.attributes.iter().find(|kv| &kv.key == key))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                });
            match value.and_then(|v| self.grouped_path(&v)) {
                Some(path) => groups.entry(path).or_default().push(item),
                None => dropped += 1,
            }
        }
        (groups.into_iter().collect(), dropped)
    }

    fn grouped_path(&self, segment: &str) -> Option<PathBuf> {
        if segment.is_empty() {
            return None;
        }
        let stays_inside = Path::new(segment)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        stays_inside.then(|| PathBuf::from(self.config.path.replacen('*', segment, 1)))
    }
}

/// The traces side of a `file` exporter.
pub struct FileExporter {
    sink: Arc<FileSink>,
}

impl FileExporter {
    pub fn open(config: &FileExporterConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            sink: FileSink::shared(config)?,
        })
    }
}

#[async_trait::async_trait]
impl Exporter for FileExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        let (groups, dropped) = self.sink.route(batch, |r| r.resource.as_ref());
        if dropped > 0 {
            tracing::debug!(
                dropped,
                "file exporter: resources without the group_by attribute"
            );
        }
        let groups = groups
            .into_iter()
            .map(|(path, resource_spans)| (path, ExportTraceServiceRequest { resource_spans }))
            .collect();
        self.sink.write(groups).map_err(ExportError::permanent)
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
