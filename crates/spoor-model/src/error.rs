/// What a caller should do about a failure. Every boundary error in Spoor exposes one; the API
/// crate maps it to an HTTP status and a gRPC code in a single function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is malformed or violates a limit that retrying will not fix (HTTP 400).
    InvalidInput,
    /// The input is larger than allowed (HTTP 413).
    TooLarge,
    /// Spoor is over capacity; retry later (HTTP 429 / RESOURCE_EXHAUSTED).
    Overloaded,
    /// The requested thing does not exist (HTTP 404).
    NotFound,
    /// A dependency or the store is not available right now (HTTP 503).
    Unavailable,
    /// Stored data failed a checksum or could not be decoded (HTTP 500, reported in metrics).
    Corrupt,
    /// A bug or an unexpected condition (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// A short lower-case label, used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Internal => "internal",
        }
    }
}
