//! `POST /v1/metrics` and `/v1/logs`: the same content types, compression, limits, prescan and
//! error answers as `/v1/traces`.

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use prost::Message;
use spoor_model::ErrorKind;
use spoor_telemetry::SignalKind;

use super::http::{Encoding, HttpState, read_body, status_response, with_content_type};
use super::signals::{SignalRequest, deliver_signal};

pub(super) async fn export_signal<R: SignalRequest>(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (encoding, body, wire_bytes) =
        match read_body(&state, &headers, body, R::prescan_protobuf, R::prescan_json) {
            Ok(read) => read,
            Err(response) => return *response,
        };
    let request = match encoding {
        Encoding::Protobuf => R::decode(body).map_err(|e| format!("invalid protobuf: {e}")),
        Encoding::Json => {
            serde_json::from_slice::<R>(&body).map_err(|e| format!("invalid OTLP/JSON: {e}"))
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(message) => {
            state.metrics.request_error("decode", wire_bytes);
            return status_response(encoding, ErrorKind::InvalidInput, &message);
        }
    };
    let counters = match R::KIND {
        SignalKind::Metrics => &state.metric_points,
        SignalKind::Logs => &state.log_records,
    };
    if let Err((kind, message)) = deliver_signal(
        &state.ctx,
        &state.metrics,
        counters,
        request.into_batch(),
        wire_bytes,
    )
    .await
    {
        return status_response(encoding, kind, &message);
    }
    let body = match encoding {
        Encoding::Protobuf => R::Response::default().encode_to_vec(),
        Encoding::Json => b"{}".to_vec(),
    };
    with_content_type(StatusCode::OK, encoding, body)
}
