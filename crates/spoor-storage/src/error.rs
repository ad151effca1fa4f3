use spoor_model::ErrorKind;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("store is full: {0}")]
    Full(String),
    #[error("store is unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt data in {location}: {detail}")]
    Corrupt { location: String, detail: String },
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl StorageError {
    /// What the caller should do.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::InvalidQuery(_) => ErrorKind::InvalidInput,
            StorageError::Full(_) => ErrorKind::Overloaded,
            StorageError::Unavailable(_) | StorageError::Io { .. } => ErrorKind::Unavailable,
            StorageError::Corrupt { .. } => ErrorKind::Corrupt,
            StorageError::Internal(_) => ErrorKind::Internal,
        }
    }
}
