//! The block schema: one row per span. See `docs/format-v1.md`, `docs/format-v2.md` and
//! `docs/format-v3.md`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// Format version written into every block's key-value metadata (`spoor.format`).
/// Version 1 stored resources, scopes, events, links and array/kvlist attribute values as
/// OTLP/JSON; version 2 stores them as protobuf (see `docs/format-v2.md`); version 3 stores a
/// span's start as its trace's start plus an offset, and chooses encodings per column (see
/// `docs/format-v3.md`).
pub const FORMAT_VERSION: u32 = 3;

/// The oldest format version this reader understands.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

pub(crate) const TRACE_ID: &str = "trace_id";
pub(crate) const SPAN_ID: &str = "span_id";
pub(crate) const PARENT_SPAN_ID: &str = "parent_span_id";
pub(crate) const PARENT_ROW: &str = "parent_row";
pub(crate) const TRACE_STATE: &str = "trace_state";
pub(crate) const FLAGS: &str = "flags";
pub(crate) const NAME: &str = "name";
pub(crate) const KIND: &str = "kind";
/// The absolute start of each span (formats 1 and 2).
pub(crate) const START: &str = "start_time_unix_nano";
/// The start of the span's trace: its earliest span in the block (format 3).
pub(crate) const TRACE_START: &str = "trace_start_unix_nano";
/// The span's start minus [`TRACE_START`], never negative (format 3).
pub(crate) const START_OFFSET: &str = "start_offset_nano";
pub(crate) const DURATION: &str = "duration_nano";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const STATUS_MESSAGE: &str = "status_message";
pub(crate) const SERVICE: &str = "service_name";
pub(crate) const RESOURCE: &str = "resource";
pub(crate) const SCOPE: &str = "scope";
pub(crate) const ATTRIBUTES: &str = "attributes";
pub(crate) const ATTRIBUTES_INT: &str = "attributes_int";
pub(crate) const ATTRIBUTES_DOUBLE: &str = "attributes_double";
pub(crate) const ATTRIBUTES_BOOL: &str = "attributes_bool";
pub(crate) const DROPPED: &str = "dropped_counts";
pub(crate) const EVENTS: &str = "events";
pub(crate) const LINKS: &str = "links";

/// Value types in the generic `attributes` column. v1 writers put bool, int and double values
/// in the typed lists (`attributes_bool`, `_int`, `_double`); readers accept them here too.
pub(crate) mod value_type {
    pub const STRING: u8 = 0;
    pub const BOOL: u8 = 1;
    pub const INT: u8 = 2;
    pub const DOUBLE: u8 = 3;
    pub const BYTES: u8 = 4;
    /// Arrays and key-value lists, as OTLP/JSON `AnyValue` (written by v1).
    pub const JSON: u8 = 5;
    /// Arrays and key-value lists, as standard base64 of the protobuf `AnyValue` (v2).
    pub const PROTO: u8 = 6;
}

/// Whether a dedicated column holds strings or integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dedicated {
    Str,
    Int,
}

/// Span attributes with their own typed column: `(attribute key, column name, type)`.
/// An attribute of another type, or a second occurrence of the key, goes to `attributes`.
pub(crate) const DEDICATED: &[(&str, &str, Dedicated)] = &[
    ("http.request.method", "http_request_method", Dedicated::Str),
    ("http.method", "http_method", Dedicated::Str),
    (
        "http.response.status_code",
        "http_response_status_code",
        Dedicated::Int,
    ),
    ("http.status_code", "http_status_code", Dedicated::Int),
    ("http.route", "http_route", Dedicated::Str),
    ("http.target", "http_target", Dedicated::Str),
    ("http.url", "http_url", Dedicated::Str),
    ("url.full", "url_full", Dedicated::Str),
    ("url.path", "url_path", Dedicated::Str),
    ("server.address", "server_address", Dedicated::Str),
    ("server.port", "server_port", Dedicated::Int),
    ("net.peer.name", "net_peer_name", Dedicated::Str),
    ("db.system", "db_system", Dedicated::Str),
    ("db.name", "db_name", Dedicated::Str),
    ("db.namespace", "db_namespace", Dedicated::Str),
    ("db.operation", "db_operation", Dedicated::Str),
    ("db.statement", "db_statement", Dedicated::Str),
    ("rpc.system", "rpc_system", Dedicated::Str),
    ("rpc.service", "rpc_service", Dedicated::Str),
    ("rpc.method", "rpc_method", Dedicated::Str),
    (
        "rpc.grpc.status_code",
        "rpc_grpc_status_code",
        Dedicated::Int,
    ),
    ("messaging.system", "messaging_system", Dedicated::Str),
    (
        "messaging.destination.name",
        "messaging_destination_name",
        Dedicated::Str,
    ),
    ("messaging.operation", "messaging_operation", Dedicated::Str),
];

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn binary_dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Binary))
}

/// The `attributes` list item: `{key, type, value}` with the value in string form.
pub(crate) fn attribute_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("type", DataType::UInt8, false),
        Field::new("value", DataType::Utf8, false),
    ])
}

pub(crate) fn attribute_item() -> Arc<Field> {
    Arc::new(Field::new(
        "item",
        DataType::Struct(attribute_fields()),
        false,
    ))
}

/// A typed attribute list item: `{key, value}`.
pub(crate) fn typed_fields(value: DataType) -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", value, false),
    ])
}

pub(crate) fn typed_item(value: DataType) -> Arc<Field> {
    Arc::new(Field::new(
        "item",
        DataType::Struct(typed_fields(value)),
        false,
    ))
}

pub(crate) fn dropped_fields() -> Fields {
    Fields::from(vec![
        Field::new("attributes", DataType::UInt32, false),
        Field::new("events", DataType::UInt32, false),
        Field::new("links", DataType::UInt32, false),
    ])
}

/// The Arrow schema of a block of the current format version ([`FORMAT_VERSION`]).
pub fn block_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(PARENT_ROW, DataType::Int32, true),
        Field::new(TRACE_STATE, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(NAME, dict(), false),
        Field::new(KIND, DataType::Int8, false),
        Field::new(TRACE_START, DataType::Int64, false),
        Field::new(START_OFFSET, DataType::Int64, false),
        Field::new(DURATION, DataType::Int64, false),
        Field::new(STATUS_CODE, DataType::Int8, false),
        Field::new(STATUS_MESSAGE, DataType::Utf8, true),
        Field::new(SERVICE, dict(), false),
        Field::new(RESOURCE, binary_dict(), true),
        Field::new(SCOPE, binary_dict(), true),
    ];
    for (_, col, ty) in DEDICATED {
        let dt = match ty {
            Dedicated::Str => DataType::Utf8,
            Dedicated::Int => DataType::Int64,
        };
        fields.push(Field::new(*col, dt, true));
    }
    fields.push(Field::new(
        ATTRIBUTES,
        DataType::List(attribute_item()),
        false,
    ));
    for (name, value) in [
        (ATTRIBUTES_INT, DataType::Int64),
        (ATTRIBUTES_DOUBLE, DataType::Float64),
        (ATTRIBUTES_BOOL, DataType::Boolean),
    ] {
        fields.push(Field::new(name, DataType::List(typed_item(value)), false));
    }
    fields.push(Field::new(
        DROPPED,
        DataType::Struct(dropped_fields()),
        false,
    ));
    fields.push(Field::new(EVENTS, DataType::Binary, true));
    fields.push(Field::new(LINKS, DataType::Binary, true));
    Arc::new(Schema::new(fields))
}
