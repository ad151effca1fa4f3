//! The Jaeger collector gRPC codec: prost's, with a prescan of `PostSpansRequest` before it is
//! decoded (see `otlp::prescan`), so that a request of millions of empty spans is refused with
//! RESOURCE_EXHAUSTED instead of being decoded. The generated server builds its codec with
//! `Default`, so the bounds are the defaults for a maximal request: 200 000 spans and 8 × 16 MiB
//! decoded.

use std::marker::PhantomData;

use bytes::Buf;
use prost::Message;
use spoor_model::ErrorKind;
use tonic::codec::{Codec, DecodeBuf, Decoder};

use crate::body::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST};
use crate::otlp::{DecodeBudget, prescan_jaeger_proto};
use crate::status::grpc_status;

/// Prefix of the status message of a request refused by the prescan, for counting it.
pub(crate) const PRESCAN_REFUSAL: &str = "refused before decoding: ";

#[derive(Debug, Clone)]
pub struct PrescanCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for PrescanCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for PrescanCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = PrescanDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        PrescanDecoder(PhantomData)
    }
}

#[derive(Debug)]
pub struct PrescanDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for PrescanDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, tonic::Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let budget = DecodeBudget::new(DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST);
        if let Err(e) = prescan_jaeger_proto(&bytes, budget) {
            let kind = e.kind();
            return Err(grpc_status(kind, &format!("{PRESCAN_REFUSAL}{e}")));
        }
        U::decode(bytes)
            .map(Some)
            .map_err(|e| grpc_status(ErrorKind::InvalidInput, &format!("invalid protobuf: {e}")))
    }
}
