//! Opening the object store that holds blocks and manifests.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use spoor_storage::StorageError;

use crate::config::EngineConfig;
use crate::error::io;

/// The opened store.
pub(crate) struct OpenedStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The prefix under which `blocks/`, `manifest/` and `quarantine/` live.
    pub(crate) prefix: Path,
    /// The directory behind the store when it is local disk (for fsync).
    pub(crate) local: Option<PathBuf>,
}

/// Opens the store `config` names. For `s3://`, `gs://` and `az://` (also `abfs://`,
/// `azure://`) the provider's environment variables are read first (e.g. `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`/`AWS_ENDPOINT_URL`,
/// `AWS_ALLOW_HTTP`; `GOOGLE_SERVICE_ACCOUNT`; `AZURE_STORAGE_ACCOUNT_NAME`, …), then the
/// URL, then `storage_options` (keys as `object_store` names them, e.g. `aws_endpoint`,
/// `endpoint`, `region`, `allow_http`, `virtual_hosted_style_request`), later ones winning.
pub(crate) fn open_store(config: &EngineConfig) -> Result<OpenedStore, StorageError> {
    let invalid = |detail: String| StorageError::InvalidQuery(detail);
    match config.storage_url.as_deref() {
        None | Some("") => {
            let dir = config.data_dir.join("store");
            local(&dir)
        }
        Some(u) if u.starts_with("memory://") => Ok(OpenedStore {
            store: Arc::new(InMemory::new()),
            prefix: Path::default(),
            local: None,
        }),
        Some(u) if u.starts_with("file://") => {
            let url = url::Url::parse(u).map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
            let dir = url
                .to_file_path()
                .map_err(|_| invalid(format!("storage url {u:?} is not a local path")))?;
            local(&dir)
        }
        Some(u) => {
            let url = url::Url::parse(u).map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
            let opts = &config.storage_options;
            let bad = |e: object_store::Error| invalid(format!("storage url {u:?}: {e}"));
            let bad_key = |k: &str| {
                invalid(format!(
                    "storage option {k:?} is not an option of the {} store",
                    url.scheme()
                ))
            };
            let store: Arc<dyn ObjectStore> = match url.scheme() {
                "s3" | "s3a" => {
                    let mut b = AmazonS3Builder::from_env().with_url(u);
                    for (k, v) in opts {
                        let key: AmazonS3ConfigKey = k.parse().map_err(|_| bad_key(k))?;
                        b = b.with_config(key, v);
                    }
                    Arc::new(b.build().map_err(bad)?)
                }
                "gs" => {
                    let mut b = GoogleCloudStorageBuilder::from_env().with_url(u);
                    for (k, v) in opts {
                        let key: GoogleConfigKey = k.parse().map_err(|_| bad_key(k))?;
                        b = b.with_config(key, v);
                    }
                    Arc::new(b.build().map_err(bad)?)
                }
                "az" | "abfs" | "abfss" | "azure" | "adl" => {
                    let mut b = MicrosoftAzureBuilder::from_env().with_url(u);
                    for (k, v) in opts {
                        let key: AzureConfigKey = k.parse().map_err(|_| bad_key(k))?;
                        b = b.with_config(key, v);
                    }
                    Arc::new(b.build().map_err(bad)?)
                }
                _ => {
                    let (store, _) = object_store::parse_url_opts(&url, opts.clone())
                        .map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
                    Arc::from(store)
                }
            };
            // The bucket (container) is the host; the path is the prefix.
            let prefix = Path::from_url_path(url.path())
                .map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
            Ok(OpenedStore {
                store,
                prefix,
                local: None,
            })
        }
    }
}

fn local(dir: &std::path::Path) -> Result<OpenedStore, StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let fs = LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| StorageError::Unavailable(format!("opening {}: {e}", dir.display())))?;
    Ok(OpenedStore {
        store: Arc::new(fs),
        prefix: Path::default(),
        local: Some(dir.to_path_buf()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_storage_options_are_refused_with_their_name() {
        let config = EngineConfig {
            storage_url: Some("s3://bucket/prefix".into()),
            storage_options: vec![("no_such_option".into(), "x".into())],
            ..EngineConfig::default()
        };
        let err = open_store(&config).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("no_such_option")),
            "{err:?}"
        );
    }

    #[test]
    fn the_url_path_is_the_prefix() {
        let config = EngineConfig {
            storage_url: Some("s3://bucket/some/prefix".into()),
            storage_options: vec![
                ("aws_region".into(), "us-east-1".into()),
                ("aws_access_key_id".into(), "k".into()),
                ("aws_secret_access_key".into(), "s".into()),
            ],
            ..EngineConfig::default()
        };
        let opened = open_store(&config).expect("open");
        assert_eq!(opened.prefix.as_ref(), "some/prefix");
    }
}
