//! Protobuf wrappers for the v2 binary columns. `Events` and `Links` use the field numbers of
//! OTLP's `Span` (11 and 13), so a stored value is also a valid `Span` message with only that
//! field set, readable by any protobuf tool.

use spoor_model::otlp_trace::span::{Event, Link};

/// The `events` column of a v2 block.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Events {
    #[prost(message, repeated, tag = "11")]
    pub(crate) events: Vec<Event>,
}

/// The `links` column of a v2 block.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Links {
    #[prost(message, repeated, tag = "13")]
    pub(crate) links: Vec<Link>,
}
