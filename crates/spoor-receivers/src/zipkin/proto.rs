//! Zipkin v2 protobuf (`proto/zipkin/zipkin.proto`, `ListOfSpans`).

use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;

use super::json::ZipkinError;
use super::model::{Annotation, Endpoint, ZipkinKind, ZipkinSpan};

/// Generated from `proto/zipkin/zipkin.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto3 {
    tonic::include_proto!("zipkin.proto3");
}

fn endpoint(e: proto3::Endpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name,
        ipv4: <[u8; 4]>::try_from(e.ipv4.as_slice())
            .ok()
            .map(Ipv4Addr::from),
        ipv6: <[u8; 16]>::try_from(e.ipv6.as_slice())
            .ok()
            .map(Ipv6Addr::from),
        port: u16::try_from(e.port).unwrap_or(0),
    }
}

fn id<const N: usize>(
    bytes: &[u8],
    index: usize,
    field: &'static str,
) -> Result<[u8; N], ZipkinError> {
    if bytes.is_empty() || bytes.len() > N {
        return Err(ZipkinError::Id {
            index,
            field,
            value: format!("{} bytes", bytes.len()),
        });
    }
    let mut out = [0u8; N];
    out[N - bytes.len()..].copy_from_slice(bytes);
    Ok(out)
}

/// Decodes a `ListOfSpans` message.
pub fn decode_v2_proto(body: &[u8]) -> Result<Vec<ZipkinSpan>, ZipkinError> {
    let list = proto3::ListOfSpans::decode(body).map_err(|e| ZipkinError::Proto(e.to_string()))?;
    let mut out = Vec::with_capacity(list.spans.len());
    for (index, s) in list.spans.into_iter().enumerate() {
        let kind = match proto3::span::Kind::try_from(s.kind) {
            Ok(proto3::span::Kind::Client) => Some(ZipkinKind::Client),
            Ok(proto3::span::Kind::Server) => Some(ZipkinKind::Server),
            Ok(proto3::span::Kind::Producer) => Some(ZipkinKind::Producer),
            Ok(proto3::span::Kind::Consumer) => Some(ZipkinKind::Consumer),
            _ => None,
        };
        let mut tags: Vec<(String, String)> = s.tags.into_iter().collect();
        // prost maps are hash maps: give tags a stable order.
        tags.sort();
        out.push(ZipkinSpan {
            trace_id: id(&s.trace_id, index, "trace_id")?,
            id: id(&s.id, index, "id")?,
            parent_id: if s.parent_id.is_empty() {
                None
            } else {
                Some(id(&s.parent_id, index, "parent_id")?)
            },
            kind,
            name: s.name,
            timestamp_us: s.timestamp,
            duration_us: s.duration,
            local_endpoint: s.local_endpoint.map(endpoint),
            remote_endpoint: s.remote_endpoint.map(endpoint),
            annotations: s
                .annotations
                .into_iter()
                .map(|a| Annotation {
                    timestamp_us: a.timestamp,
                    value: a.value,
                })
                .collect(),
            tags,
            debug: s.debug,
            shared: s.shared,
        });
    }
    Ok(out)
}
