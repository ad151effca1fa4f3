//! Opening the object store that holds blocks and manifests.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use spoor_storage::StorageError;

use crate::config::EngineConfig;
use crate::error::io;

/// The store and the prefix under which `blocks/`, `manifest/` and `quarantine/` live.
pub(crate) fn open_store(
    config: &EngineConfig,
) -> Result<(Arc<dyn ObjectStore>, Path), StorageError> {
    let invalid = |detail: String| StorageError::InvalidQuery(detail);
    match config.storage_url.as_deref() {
        None | Some("") => {
            let dir = config.data_dir.join("store");
            local(&dir)
        }
        Some(u) if u.starts_with("memory://") => Ok((Arc::new(InMemory::new()), Path::default())),
        Some(u) if u.starts_with("file://") => {
            let url = url::Url::parse(u).map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
            let dir = url
                .to_file_path()
                .map_err(|_| invalid(format!("storage url {u:?} is not a local path")))?;
            local(&dir)
        }
        Some(u) => {
            let url = url::Url::parse(u).map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
            let (store, prefix) =
                object_store::parse_url_opts(&url, config.storage_options.clone())
                    .map_err(|e| invalid(format!("storage url {u:?}: {e}")))?;
            Ok((Arc::from(store), prefix))
        }
    }
}

fn local(dir: &std::path::Path) -> Result<(Arc<dyn ObjectStore>, Path), StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let fs = LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| StorageError::Unavailable(format!("opening {}: {e}", dir.display())))?;
    Ok((Arc::new(fs), Path::default()))
}
