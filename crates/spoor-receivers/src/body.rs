//! Request bodies: size limits and decompression shared by every HTTP receiver.

use std::io::Read;

use bytes::Bytes;
use http::HeaderMap;
use spoor_model::ErrorKind;

/// Default cap on a request body after decompression: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Default cap on the spans in one request, checked before decoding: the binary's default
/// in-flight bound (`--max-in-flight-spans`), which a larger request could never fit in anyway.
pub const DEFAULT_MAX_SPANS_PER_REQUEST: usize = 200_000;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body exceeds {limit} bytes after decompression")]
    TooLarge { limit: usize },
    #[error("unsupported content-encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("invalid {encoding} body: {detail}")]
    Corrupt {
        encoding: &'static str,
        detail: String,
    },
}

impl BodyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            BodyError::TooLarge { .. } => ErrorKind::TooLarge,
            BodyError::UnsupportedEncoding(_) | BodyError::Corrupt { .. } => {
                ErrorKind::InvalidInput
            }
        }
    }

    /// Short label for the `reason` metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            BodyError::TooLarge { .. } => "too_large",
            BodyError::UnsupportedEncoding(_) => "unsupported_encoding",
            BodyError::Corrupt { .. } => "bad_compression",
        }
    }
}

/// Decodes `body` according to the `Content-Encoding` header (identity, gzip, deflate),
/// refusing anything that expands beyond `limit` bytes (zip bombs included: decompression
/// stops at `limit + 1` bytes).
pub fn decode_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    let encoding = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(body)
        }
        "gzip" | "x-gzip" => inflate(flate2::read::GzDecoder::new(&body[..]), "gzip", limit),
        "deflate" => inflate(flate2::read::ZlibDecoder::new(&body[..]), "deflate", limit),
        other => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

fn inflate(reader: impl Read, encoding: &'static str, limit: usize) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt {
            encoding,
            detail: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("write to vec");
        Bytes::from(enc.finish().expect("finish gzip"))
    }

    fn headers(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_ENCODING,
            encoding.parse().expect("header value"),
        );
        h
    }

    #[test]
    fn inflates_gzip_within_limit() {
        let body = decode_body(&headers("gzip"), gzip(b"hello"), 10).expect("decodes");
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn stops_zip_bombs() {
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        let err = decode_body(&headers("gzip"), bomb, 1024 * 1024).expect_err("too large");
        assert!(matches!(err, BodyError::TooLarge { .. }));
    }

    #[test]
    fn rejects_truncated_gzip_and_unknown_encodings() {
        let mut g = gzip(b"hello world hello world").to_vec();
        g.truncate(g.len() / 2);
        let err = decode_body(&headers("gzip"), Bytes::from(g), 100).expect_err("truncated");
        assert_eq!(err.reason(), "bad_compression");
        let err = decode_body(&headers("br"), Bytes::from_static(b"x"), 100).expect_err("br");
        assert_eq!(err.reason(), "unsupported_encoding");
        let err = decode_body(&HeaderMap::new(), Bytes::from_static(b"xx"), 1).expect_err("size");
        assert_eq!(err.kind(), ErrorKind::TooLarge);
    }
}
