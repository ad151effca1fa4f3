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

impl ErrorKind {
    /// The HTTP status for this kind. This and [`ErrorKind::grpc_code`] are the one place where
    /// error kinds become protocol statuses.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidInput => 400,
            ErrorKind::TooLarge => 413,
            ErrorKind::Overloaded => 429,
            ErrorKind::NotFound => 404,
            ErrorKind::Unavailable => 503,
            ErrorKind::Corrupt | ErrorKind::Internal => 500,
        }
    }

    /// The gRPC status code (numeric, as in `google.rpc.Code`) for this kind.
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorKind::InvalidInput => 3, // INVALID_ARGUMENT
            ErrorKind::TooLarge => 8,     // RESOURCE_EXHAUSTED
            ErrorKind::Overloaded => 8,   // RESOURCE_EXHAUSTED
            ErrorKind::NotFound => 5,     // NOT_FOUND
            ErrorKind::Unavailable => 14, // UNAVAILABLE
            ErrorKind::Corrupt => 15,     // DATA_LOSS
            ErrorKind::Internal => 13,    // INTERNAL
        }
    }

    /// Whether a client may retry the same request later.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorKind::Overloaded | ErrorKind::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn maps_kinds_to_statuses() {
        assert_eq!(ErrorKind::InvalidInput.http_status(), 400);
        assert_eq!(ErrorKind::Overloaded.http_status(), 429);
        assert_eq!(ErrorKind::Overloaded.grpc_code(), 8);
        assert_eq!(ErrorKind::InvalidInput.grpc_code(), 3);
        assert!(ErrorKind::Overloaded.retryable());
        assert!(!ErrorKind::InvalidInput.retryable());
    }
}
