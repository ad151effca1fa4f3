//! Helpers that turn lower-level errors into [`StorageError`]s.

use std::path::Path;

use spoor_storage::StorageError;

pub(crate) fn io(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn store(what: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => {
            StorageError::Unavailable(format!("{what}: object not found: {e}"))
        }
        other => StorageError::Unavailable(format!("{what}: {other}")),
    }
}

pub(crate) fn corrupt(location: impl Into<String>, detail: impl ToString) -> StorageError {
    StorageError::Corrupt {
        location: location.into(),
        detail: detail.to_string(),
    }
}

pub(crate) fn internal(detail: impl ToString) -> StorageError {
    StorageError::Internal(detail.to_string())
}
