//! A gRPC codec that sends already-encoded OTLP requests, so the send path does no encoding.

use bytes::{BufMut, Bytes};
use prost::Message;
use spoor_model::otlp_collector::ExportTraceServiceResponse;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends `Bytes` holding an encoded `ExportTraceServiceRequest` as they are; decodes the
/// response with prost.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PreEncodedCodec;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ResponseDecoder;

impl Codec for PreEncodedCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ResponseDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode export response: {e}")))
    }
}
