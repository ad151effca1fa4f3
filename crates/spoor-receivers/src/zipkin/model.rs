//! The Zipkin v2 span model shared by the JSON (v1 and v2) and protobuf decoders, and its
//! translation to OTLP (the OTel Collector's `zipkinv2` translator rules, plus v1 core
//! annotations and shared server spans).

use std::net::{Ipv4Addr, Ipv6Addr};

use spoor_model::attr;
use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::SpanKind;
use spoor_model::otlp_trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipkinKind {
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub timestamp_us: u64,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZipkinSpan {
    /// 128-bit trace id; 64-bit ids are left-padded.
    pub trace_id: [u8; 16],
    pub id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    pub kind: Option<ZipkinKind>,
    pub name: String,
    /// Microseconds since the epoch; 0 when absent.
    pub timestamp_us: u64,
    pub duration_us: u64,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<Annotation>,
    /// In the order received (JSON objects are read in key order).
    pub tags: Vec<(String, String)>,
    pub debug: bool,
    pub shared: bool,
}

impl ZipkinSpan {
    fn local_service(&self) -> &str {
        self.local_endpoint
            .as_ref()
            .map(|e| e.service_name.as_str())
            .unwrap_or("")
    }
}

const CORE: [&str; 6] = ["cs", "cr", "sr", "ss", "ms", "mr"];

fn core_ts(span: &ZipkinSpan, value: &str) -> Option<u64> {
    span.annotations
        .iter()
        .find(|a| a.value == value)
        .map(|a| a.timestamp_us)
}

/// Applies Zipkin v1 semantics still found in v2 payloads: a span without a kind but with core
/// annotations (`cs`/`sr`/…) gets its kind from them, and a "merged" span carrying both client
/// and server annotations is split into a client span and a shared server span, as Zipkin's v1
/// converter does. Core annotations are consumed.
pub fn split_core_annotations(spans: Vec<ZipkinSpan>) -> Vec<ZipkinSpan> {
    let mut out = Vec::with_capacity(spans.len());
    for mut span in spans {
        if span.kind.is_some()
            || !span
                .annotations
                .iter()
                .any(|a| CORE.contains(&a.value.as_str()))
        {
            out.push(span);
            continue;
        }
        let (cs, cr, sr, ss) = (
            core_ts(&span, "cs"),
            core_ts(&span, "cr"),
            core_ts(&span, "sr"),
            core_ts(&span, "ss"),
        );
        let (ms, mr) = (core_ts(&span, "ms"), core_ts(&span, "mr"));
        span.annotations
            .retain(|a| !CORE.contains(&a.value.as_str()));
        let interval = |start: u64, end: Option<u64>| end.map(|e| e.saturating_sub(start));
        match (cs, sr) {
            (Some(cs), Some(sr)) => {
                let mut server = span.clone();
                server.kind = Some(ZipkinKind::Server);
                server.shared = true;
                server.timestamp_us = sr;
                server.duration_us = interval(sr, ss).unwrap_or(0);
                server.annotations.clear();
                span.kind = Some(ZipkinKind::Client);
                span.timestamp_us = cs;
                span.duration_us = interval(cs, cr).unwrap_or(span.duration_us);
                out.push(span);
                out.push(server);
                continue;
            }
            (Some(cs), None) => {
                span.kind = Some(ZipkinKind::Client);
                if span.timestamp_us == 0 {
                    span.timestamp_us = cs;
                    span.duration_us = interval(cs, cr).unwrap_or(0);
                }
            }
            (None, Some(sr)) => {
                span.kind = Some(ZipkinKind::Server);
                if span.timestamp_us == 0 {
                    span.timestamp_us = sr;
                    span.duration_us = interval(sr, ss).unwrap_or(0);
                }
            }
            (None, None) => {
                span.kind = if ms.is_some() {
                    Some(ZipkinKind::Producer)
                } else if mr.is_some() {
                    Some(ZipkinKind::Consumer)
                } else {
                    None
                };
            }
        }
        out.push(span);
    }
    out
}

/// FNV-1a, for a deterministic replacement id.
fn derived_id(trace: &[u8; 16], id: &[u8; 8]) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in trace.iter().chain(id).chain(b"shared-server") {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    if h == 0 {
        h = 1;
    }
    h.to_be_bytes()
}

/// Zipkin's shared spans: the server side of an RPC reuses the client's span id. OTLP and Jaeger
/// need unique ids, so a shared server span gets a deterministic new id and the client span as
/// its parent (what Jaeger's query-side `ZipkinSpanIDUniquifier` does), and spans of the same
/// request and service whose parent was the shared id are re-parented onto the server span.
pub fn uniquify_shared_spans(spans: &mut [ZipkinSpan]) {
    // (trace id, shared id, new server id, server's service)
    type Moved = ([u8; 16], [u8; 8], [u8; 8], String);
    let mut moved: Vec<Moved> = Vec::new();
    for span in spans.iter_mut() {
        if span.shared && span.kind == Some(ZipkinKind::Server) {
            let new_id = derived_id(&span.trace_id, &span.id);
            moved.push((
                span.trace_id,
                span.id,
                new_id,
                span.local_service().to_string(),
            ));
            span.parent_id = Some(span.id);
            span.id = new_id;
            span.shared = false;
        }
    }
    if moved.is_empty() {
        return;
    }
    for span in spans.iter_mut() {
        for (trace, old, new, service) in &moved {
            if span.trace_id == *trace
                && span.parent_id == Some(*old)
                && span.id != *new
                && span.local_service() == service
            {
                span.parent_id = Some(*new);
            }
        }
    }
}

/// Resource attribute names the collector moves from Zipkin tags back to the resource (the
/// OTel SDKs' Zipkin exporters flatten resource attributes into tags).
fn is_resource_key(key: &str) -> bool {
    const PREFIXES: [&str; 14] = [
        "service.",
        "telemetry.sdk.",
        "telemetry.auto.",
        "host.",
        "os.",
        "process.",
        "container.",
        "k8s.",
        "cloud.",
        "deployment.",
        "device.",
        "webengine.",
        "aws.ecs.",
        "aws.eks.",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p))
        || matches!(
            key,
            "faas.name" | "faas.id" | "faas.version" | "faas.instance" | "faas.max_memory"
        )
        || key == "opencensus.exporterversion"
}

fn take_tag(tags: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = tags.iter().position(|(k, _)| k == key)?;
    Some(tags.remove(i).1)
}

fn status_of(tags: &mut Vec<(String, String)>) -> Option<Status> {
    let mut status = None;
    if let Some(code) = take_tag(tags, "otel.status_code") {
        let code = match code.as_str() {
            "STATUS_CODE_OK" | "OK" => status::StatusCode::Ok,
            "STATUS_CODE_ERROR" | "ERROR" => status::StatusCode::Error,
            _ => status::StatusCode::Unset,
        };
        status = Some(Status {
            code: code as i32,
            message: take_tag(tags, "otel.status_description").unwrap_or_default(),
        });
    }
    if let Some(error) = take_tag(tags, "error") {
        let s = status.get_or_insert_with(Status::default);
        s.code = status::StatusCode::Error as i32;
        if s.message.is_empty() && error != "true" {
            s.message = error;
        }
    }
    status
}

fn event_of(a: Annotation) -> span::Event {
    // The collector's own Zipkin exporter writes `name|{json attributes}|dropped`.
    let mut name = a.value;
    let mut attributes = Vec::new();
    let mut dropped = 0;
    if let Some((head, rest)) = name.split_once('|')
        && let Some((json, count)) = rest.rsplit_once('|')
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(json)
        && let Ok(count) = count.parse::<u32>()
    {
        for (k, v) in map {
            match v {
                serde_json::Value::String(s) => attributes.push(attr::string(&k, s)),
                serde_json::Value::Bool(b) => attributes.push(attr::bool(&k, b)),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => attributes.push(attr::int(&k, i)),
                    None => attributes.push(attr::double(&k, n.as_f64().unwrap_or_default())),
                },
                _ => {}
            }
        }
        dropped = count;
        name = head.to_string();
    }
    span::Event {
        time_unix_nano: a.timestamp_us.saturating_mul(1000),
        name,
        attributes,
        dropped_attributes_count: dropped,
    }
}

fn to_otlp_span(z: ZipkinSpan, mut tags: Vec<(String, String)>) -> Span {
    let trace_state = take_tag(&mut tags, "w3c.tracestate").unwrap_or_default();
    let span_kind_tag = take_tag(&mut tags, "span.kind");
    let kind = match z.kind {
        Some(ZipkinKind::Client) => SpanKind::Client,
        Some(ZipkinKind::Server) => SpanKind::Server,
        Some(ZipkinKind::Producer) => SpanKind::Producer,
        Some(ZipkinKind::Consumer) => SpanKind::Consumer,
        None if span_kind_tag.as_deref() == Some("internal") => SpanKind::Internal,
        None => SpanKind::Unspecified,
    };
    let status = status_of(&mut tags);
    let mut attributes: Vec<KeyValue> =
        tags.into_iter().map(|(k, v)| attr::string(&k, v)).collect();
    if let Some(local) = &z.local_endpoint {
        if let Some(ip) = local.ipv4 {
            attributes.push(attr::string("net.host.ip", ip.to_string()));
        } else if let Some(ip) = local.ipv6 {
            attributes.push(attr::string("net.host.ip", ip.to_string()));
        }
        if local.port > 0 {
            attributes.push(attr::int("net.host.port", i64::from(local.port)));
        }
    }
    if let Some(remote) = &z.remote_endpoint {
        if !remote.service_name.is_empty() {
            attributes.push(attr::string("peer.service", remote.service_name.clone()));
        }
        if let Some(ip) = remote.ipv4 {
            attributes.push(attr::string("net.peer.ip", ip.to_string()));
        } else if let Some(ip) = remote.ipv6 {
            attributes.push(attr::string("net.peer.ip", ip.to_string()));
        }
        if remote.port > 0 {
            attributes.push(attr::int("net.peer.port", i64::from(remote.port)));
        }
    }
    if z.timestamp_us == 0 {
        attributes.push(attr::bool("otel.zipkin.absentField.startTime", true));
    }
    let start = z.timestamp_us.saturating_mul(1000);
    Span {
        trace_id: z.trace_id.to_vec(),
        span_id: z.id.to_vec(),
        trace_state,
        parent_span_id: z
            .parent_id
            .filter(|p| *p != z.id && *p != [0; 8])
            .map(|p| p.to_vec())
            .unwrap_or_default(),
        name: z.name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(z.duration_us.saturating_mul(1000)),
        attributes,
        events: z.annotations.into_iter().map(event_of).collect(),
        status,
        ..Default::default()
    }
}

/// Translates Zipkin spans to OTLP: one `ResourceSpans` per local service (with the resource
/// attributes found in its tags), one `ScopeSpans` per `otel.scope.name`/`otel.library.name`.
pub fn spans_to_otlp(spans: Vec<ZipkinSpan>) -> Vec<ResourceSpans> {
    let mut spans = split_core_annotations(spans);
    uniquify_shared_spans(&mut spans);
    let mut out: Vec<ResourceSpans> = Vec::new();
    for mut z in spans {
        let mut tags = std::mem::take(&mut z.tags);
        let mut resource_attrs = Vec::new();
        let service = z.local_service().to_string();
        if !service.is_empty() {
            resource_attrs.push(attr::string("service.name", service));
        }
        tags.retain(|(k, v)| {
            if is_resource_key(k) {
                if k != "service.name" {
                    resource_attrs.push(attr::string(k, v.clone()));
                }
                false
            } else {
                true
            }
        });
        let (scope_name, scope_version) =
            match take_tag(&mut tags, "otel.scope.name").map(|n| (n, "otel.scope.version")) {
                Some((n, vk)) => (n, take_tag(&mut tags, vk).unwrap_or_default()),
                None => match take_tag(&mut tags, "otel.library.name") {
                    Some(n) => (
                        n,
                        take_tag(&mut tags, "otel.library.version").unwrap_or_default(),
                    ),
                    None => (String::new(), String::new()),
                },
            };
        let span = to_otlp_span(z, tags);
        let resource = Resource {
            attributes: resource_attrs,
            ..Default::default()
        };
        let ri = match out
            .iter()
            .position(|rs| rs.resource.as_ref() == Some(&resource))
        {
            Some(i) => i,
            None => {
                out.push(ResourceSpans {
                    resource: Some(resource),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let scopes = &mut out[ri].scope_spans;
        let scope = InstrumentationScope {
            name: scope_name,
            version: scope_version,
            ..Default::default()
        };
        match scopes.iter_mut().find(|s| s.scope.as_ref() == Some(&scope)) {
            Some(s) => s.spans.push(span),
            None => scopes.push(ScopeSpans {
                scope: Some(scope),
                spans: vec![span],
                ..Default::default()
            }),
        }
    }
    out
}
