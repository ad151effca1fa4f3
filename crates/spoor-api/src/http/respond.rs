//! JSON answers: serialised straight from typed values (no intermediate `serde_json::Value`),
//! indented when the client asks `prettyPrint=true`, and large lists streamed item by item so a
//! response is never held twice (as values and as text) in memory.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

fn with_json_type(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn to_bytes<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Result<Vec<u8>, serde_json::Error> {
    if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    }
}

/// `value` as a JSON response with `status`.
pub fn json_status<T: Serialize + ?Sized>(status: StatusCode, value: &T, pretty: bool) -> Response {
    match to_bytes(value, pretty) {
        Ok(body) => with_json_type((status, body).into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot serialise a response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot serialise the response\n",
            )
                .into_response()
        }
    }
}

/// `value` as a 200 JSON response.
pub fn json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Response {
    json_status(StatusCode::OK, value, pretty)
}

/// A 200 JSON response `prefix item,item,… suffix`, each item serialised only when the body is
/// read. `prefix` must open a JSON array and `suffix` close it (and whatever encloses it).
pub fn json_array_stream<I, T>(prefix: &'static str, items: I, suffix: &'static str) -> Response
where
    I: IntoIterator<Item = T>,
    I::IntoIter: Send + 'static,
    T: Serialize,
{
    let mut first = true;
    let items = items.into_iter().map(move |item| {
        let mut chunk = Vec::with_capacity(4096);
        if !std::mem::take(&mut first) {
            chunk.push(b',');
        }
        if let Err(e) = serde_json::to_writer(&mut chunk, &item) {
            // Our models always serialise; should one not, the document stays valid JSON.
            tracing::warn!(error = %e, "cannot serialise a response item");
            chunk.extend_from_slice(b"null");
        }
        Ok::<Bytes, Infallible>(Bytes::from(chunk))
    });
    let chunks = std::iter::once(Ok(Bytes::from_static(prefix.as_bytes())))
        .chain(items)
        .chain(std::iter::once(Ok(Bytes::from_static(suffix.as_bytes()))));
    let body = Body::from_stream(tokio_stream::iter(chunks));
    with_json_type((StatusCode::OK, body).into_response())
}

/// A 200 JSON response `prefix chunk chunk … suffix`, each chunk produced only when the body
/// is read (so the first bytes leave before the last are written).
pub fn json_chunk_stream<I>(prefix: &'static str, chunks: I, suffix: &'static str) -> Response
where
    I: IntoIterator<Item = Vec<u8>>,
    I::IntoIter: Send + 'static,
{
    let chunks = std::iter::once(Bytes::from_static(prefix.as_bytes()))
        .chain(chunks.into_iter().map(Bytes::from))
        .chain(std::iter::once(Bytes::from_static(suffix.as_bytes())))
        .map(Ok::<Bytes, Infallible>);
    let body = Body::from_stream(tokio_stream::iter(chunks));
    with_json_type((StatusCode::OK, body).into_response())
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn text(response: Response) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn streams_a_valid_array() {
        let r = json_array_stream("{\"data\":[", vec![1, 2, 3], "]}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(text(r).await, r#"{"data":[1,2,3]}"#);
        let r = json_array_stream("{\"data\":[", Vec::<u8>::new(), "]}");
        assert_eq!(text(r).await, r#"{"data":[]}"#);
    }

    #[tokio::test]
    async fn streams_chunks_between_prefix_and_suffix() {
        let r = json_chunk_stream("[", vec![b"1,".to_vec(), b"2".to_vec()], "]");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(text(r).await, "[1,2]");
    }

    #[tokio::test]
    async fn pretty_prints_on_request() {
        let v = serde_json::json!({"a": [1]});
        assert_eq!(text(json(&v, false)).await, r#"{"a":[1]}"#);
        assert_eq!(text(json(&v, true)).await, "{\n  \"a\": [\n    1\n  ]\n}");
    }
}
