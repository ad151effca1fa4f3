//! `extensions.file_storage`: a directory where components keep state across restarts.
//! Exporters use it for a persistent `sending_queue` (`storage: file_storage[/name]`).
//!
//! Each user gets its own subdirectory (`exporter_<name>_traces`), locked by one process at a
//! time; `timeout` is how long start-up waits for that lock.
//! Spoor keeps one file per queued batch and deletes it once sent, so there is nothing to
//! compact: `compaction` is accepted and has no effect.

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `extensions.file_storage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// The storage directory; it must exist unless `create_directory` is set.
    pub directory: String,
    /// How long to wait for the lock of a component's subdirectory.
    pub timeout: Duration,
    /// Sync every write to disk (survives a power loss, not only a crash of Spoor).
    pub fsync: bool,
    /// Create `directory` (with `directory_permissions`) when it is missing.
    pub create_directory: bool,
    /// Octal permissions of a created directory.
    pub directory_permissions: String,
    /// Accepted for compatibility: a damaged item is set aside on its own, never the whole store.
    pub recreate: bool,
    /// Accepted for compatibility; Spoor's layout needs no compaction.
    pub compaction: CompactionConfig,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        Self {
            directory: "/var/lib/otelcol/file_storage".to_string(),
            timeout: Duration::from_secs(1),
            fsync: false,
            create_directory: false,
            directory_permissions: "0750".to_string(),
            recreate: false,
            compaction: CompactionConfig::default(),
        }
    }
}

/// `file_storage.compaction` (accepted, no effect).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    pub on_start: bool,
    pub on_rebound: bool,
    pub directory: String,
    pub rebound_needed_threshold_mib: u64,
    pub rebound_trigger_threshold_mib: u64,
    pub max_transaction_size: u64,
    pub check_interval: Duration,
    pub cleanup_on_start: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            on_start: false,
            on_rebound: false,
            directory: std::env::temp_dir().to_string_lossy().into_owned(),
            rebound_needed_threshold_mib: 100,
            rebound_trigger_threshold_mib: 10,
            max_transaction_size: 65536,
            check_interval: Duration::from_secs(5),
            cleanup_on_start: false,
        }
    }
}

impl FileStorageConfig {
    /// The permissions of a created directory.
    pub fn permissions(&self) -> Result<u32, String> {
        u32::from_str_radix(self.directory_permissions.trim_start_matches("0o"), 8)
            .ok()
            .filter(|p| *p <= 0o7777)
            .ok_or_else(|| {
                format!(
                    "invalid permissions {:?}; expected octal such as 0750",
                    self.directory_permissions
                )
            })
    }
}

impl ComponentConfig for FileStorageConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.directory.trim().is_empty() {
            errors.push(ConfigError::new("directory", "must not be empty"));
        }
        if let Err(e) = self.permissions() {
            errors.push(ConfigError::new("directory_permissions", e));
        }
        errors
    }
    fn warnings(&self) -> Vec<String> {
        let c = &self.compaction;
        if c.on_start || c.on_rebound || c.cleanup_on_start {
            vec![
                "file_storage.compaction has no effect: Spoor keeps one file per queued batch and deletes it once sent"
                    .to_string(),
            ]
        } else {
            Vec::new()
        }
    }
    fn into_spec(self) -> Spec {
        Spec::FileStorage(self)
    }
}
