//! Receiver configs in the Collector's shape (`protocols.grpc.endpoint`, `thrift_compact`, …),
//! mapped onto the listeners of `spoor-receivers`.

use std::net::{SocketAddr, ToSocketAddrs};

use serde::{Deserialize, Deserializer, Serialize};
use spoor_receivers::tls::TlsServerSettings;
use spoor_receivers::{
    ConnectionLimits, JaegerGrpcConfig, JaegerThriftBinaryConfig, JaegerThriftCompactConfig,
    JaegerThriftHttpConfig, OtlpGrpcConfig, OtlpHttpConfig, ReceiverConfig, ZipkinConfig,
};

use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// Resolves `host:port`, `ip:port` or `:port` (all interfaces).
pub fn resolve_endpoint(endpoint: &str) -> Result<SocketAddr, String> {
    let s = endpoint.trim();
    let full = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_string(),
    };
    if let Ok(a) = full.parse::<SocketAddr>() {
        return Ok(a);
    }
    full.to_socket_addrs()
        .map_err(|e| format!("invalid endpoint {s:?}: {e} (expected host:port)"))?
        .next()
        .ok_or_else(|| format!("endpoint {s:?} resolves to no address"))
}

/// A listener of a receiver: its endpoint and, for some, a request-size limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub endpoint: String,
    /// gRPC: largest message, in MiB (the Collector's option); default: `--max-request-bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_recv_msg_size_mib: Option<u64>,
    /// HTTP: largest body after decompression, in bytes; default: `--max-request-bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body_size: Option<u64>,
    /// HTTP: browser origins allowed to post (the Collector's `cors`); none unless configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsSettings>,
    /// TLS on this listener (the Collector's `tls`); default: the `--tls-*` flags, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsServerSettings>>,
    /// Authentication of this listener's requests (the Collector's `auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSettings>,
}

/// The Collector's `auth` block of a server: the id of an authenticator extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `basicauth`, `bearertokenauth/name`, …, enabled in `service.extensions`.
    pub authenticator: String,
}

/// The Collector's `cors` block of an HTTP server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins allowed to send (`https://app.example.com`, `*` for any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// What the flags give every listener that its config does not set.
#[derive(Debug, Clone, Default)]
pub struct ListenerDefaults {
    /// `--max-request-bytes`.
    pub max_bytes: usize,
    /// `--max-in-flight-spans`: the most spans one request may carry.
    pub max_spans: usize,
    /// `--receiver-*` connection limits.
    pub connections: ConnectionLimits,
    /// `--otlp-http-cors-allowed-origins`, used when the config has no `cors` block.
    pub otlp_http_cors: Vec<String>,
    /// `--zipkin-cors-allowed-origins`, used when the config has no `cors` block.
    pub zipkin_cors: Vec<String>,
    /// The enabled authenticator extensions by id, for the listeners' `auth`.
    pub authenticators: std::collections::HashMap<String, spoor_receivers::auth::Auth>,
}

fn check_tls(tls: Option<&TlsServerSettings>, path: &str, errors: &mut Vec<ConfigError>) {
    for e in tls.map(TlsServerSettings::check).unwrap_or_default() {
        let at = if path.is_empty() {
            format!("tls.{}", e.option)
        } else {
            format!("{path}.tls.{}", e.option)
        };
        errors.push(ConfigError::new(at, e.detail));
    }
}

/// The flags' connection limits with this listener's own `tls`, if it has one, and its
/// authenticator (checked to exist when the config was loaded).
fn with_tls(
    defaults: &ListenerDefaults,
    tls: Option<&TlsServerSettings>,
    auth: Option<&AuthSettings>,
) -> ConnectionLimits {
    let mut limits = defaults.connections.clone();
    if let Some(tls) = tls {
        limits.tls = Some(tls.clone());
    }
    if let Some(auth) = auth {
        limits.auth = defaults.authenticators.get(&auth.authenticator).cloned();
    }
    limits
}

fn origins(cors: Option<&CorsSettings>, default: &[String]) -> Vec<String> {
    cors.map_or_else(|| default.to_vec(), |c| c.allowed_origins.clone())
}

impl ServerSettings {
    fn with(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            max_recv_msg_size_mib: None,
            max_request_body_size: None,
            cors: None,
            tls: None,
            auth: None,
        }
    }

    fn limit(&self, default: usize) -> usize {
        self.max_recv_msg_size_mib
            .map(|m| (m as usize).saturating_mul(1024 * 1024))
            .or(self.max_request_body_size.map(|b| b as usize))
            .unwrap_or(default)
    }

    fn check(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if let Err(e) = resolve_endpoint(&self.endpoint) {
            errors.push(ConfigError::new(format!("{path}.endpoint"), e));
        }
        check_tls(self.tls.as_deref(), path, errors);
    }

    fn addr(&self) -> SocketAddr {
        resolve_endpoint(&self.endpoint).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

macro_rules! server_default {
    ($name:ident, $endpoint:literal) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ServerSettings);
        impl Default for $name {
            fn default() -> Self {
                Self(ServerSettings::with($endpoint))
            }
        }
    };
}

server_default!(OtlpGrpc, "0.0.0.0:4317");
server_default!(OtlpHttp, "0.0.0.0:4318");
server_default!(JaegerGrpc, "0.0.0.0:14250");
server_default!(JaegerThriftHttp, "0.0.0.0:14268");
server_default!(JaegerThriftCompact, "0.0.0.0:6831");
server_default!(JaegerThriftBinary, "0.0.0.0:6832");

/// Fills a missing `endpoint` with the protocol's default before the strict parse.
fn with_default_endpoint<'de, D: Deserializer<'de>, T>(
    d: D,
    endpoint: &str,
    wrap: fn(ServerSettings) -> T,
) -> Result<Option<T>, D::Error> {
    let mut v = Option::<serde_json::Value>::deserialize(d)?.unwrap_or(serde_json::json!({}));
    if let Some(m) = v.as_object_mut() {
        m.entry("endpoint").or_insert(serde_json::json!(endpoint));
    }
    let s: ServerSettings = serde_json::from_value(v).map_err(serde::de::Error::custom)?;
    Ok(Some(wrap(s)))
}

macro_rules! protocol_fn {
    ($fn:ident, $name:ident, $endpoint:literal) => {
        fn $fn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$name>, D::Error> {
            with_default_endpoint(d, $endpoint, $name)
        }
    };
}
protocol_fn!(otlp_grpc, OtlpGrpc, "0.0.0.0:4317");
protocol_fn!(otlp_http, OtlpHttp, "0.0.0.0:4318");
protocol_fn!(jaeger_grpc, JaegerGrpc, "0.0.0.0:14250");
protocol_fn!(jaeger_thrift_http, JaegerThriftHttp, "0.0.0.0:14268");
protocol_fn!(jaeger_thrift_compact, JaegerThriftCompact, "0.0.0.0:6831");
protocol_fn!(jaeger_thrift_binary, JaegerThriftBinary, "0.0.0.0:6832");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpProtocols {
    #[serde(
        default,
        deserialize_with = "otlp_grpc",
        skip_serializing_if = "Option::is_none"
    )]
    pub grpc: Option<OtlpGrpc>,
    #[serde(
        default,
        deserialize_with = "otlp_http",
        skip_serializing_if = "Option::is_none"
    )]
    pub http: Option<OtlpHttp>,
}

impl Default for OtlpProtocols {
    fn default() -> Self {
        Self {
            grpc: Some(OtlpGrpc::default()),
            http: Some(OtlpHttp::default()),
        }
    }
}

/// `receivers.otlp`: `protocols.grpc` (4317) and `protocols.http` (4318); only the protocols
/// listed are started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    #[serde(default)]
    pub protocols: OtlpProtocols,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerProtocols {
    #[serde(
        default,
        deserialize_with = "jaeger_grpc",
        skip_serializing_if = "Option::is_none"
    )]
    pub grpc: Option<JaegerGrpc>,
    #[serde(
        default,
        deserialize_with = "jaeger_thrift_http",
        skip_serializing_if = "Option::is_none"
    )]
    pub thrift_http: Option<JaegerThriftHttp>,
    #[serde(
        default,
        deserialize_with = "jaeger_thrift_compact",
        skip_serializing_if = "Option::is_none"
    )]
    pub thrift_compact: Option<JaegerThriftCompact>,
    #[serde(
        default,
        deserialize_with = "jaeger_thrift_binary",
        skip_serializing_if = "Option::is_none"
    )]
    pub thrift_binary: Option<JaegerThriftBinary>,
}

impl Default for JaegerProtocols {
    fn default() -> Self {
        Self {
            grpc: Some(JaegerGrpc::default()),
            thrift_http: Some(JaegerThriftHttp::default()),
            thrift_compact: Some(JaegerThriftCompact::default()),
            thrift_binary: Some(JaegerThriftBinary::default()),
        }
    }
}

/// `receivers.jaeger`: `protocols.grpc` (14250), `thrift_http` (14268), `thrift_compact` (UDP
/// 6831), `thrift_binary` (UDP 6832); only the protocols listed are started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerReceiverConfig {
    #[serde(default)]
    pub protocols: JaegerProtocols,
}

/// `receivers.zipkin`: v1 and v2 spans on `endpoint` (9411).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinReceiverConfig {
    pub endpoint: String,
    /// Largest body after decompression, in bytes; default: `--max-request-bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_request_body_size: Option<u64>,
    /// Browser origins allowed to post (the Collector's `cors`); none unless configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsSettings>,
    /// TLS on the listener (the Collector's `tls`); default: the `--tls-*` flags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsServerSettings>>,
    /// Authentication of the listener's requests (the Collector's `auth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSettings>,
}

impl Default for ZipkinReceiverConfig {
    fn default() -> Self {
        Self {
            endpoint: "0.0.0.0:9411".to_string(),
            max_request_body_size: None,
            cors: None,
            tls: None,
            auth: None,
        }
    }
}

fn missing_protocols(any: bool) -> Vec<ConfigError> {
    if any {
        Vec::new()
    } else {
        vec![ConfigError::new(
            "protocols",
            "must list at least one protocol",
        )]
    }
}

impl ComponentConfig for OtlpReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let p = &self.protocols;
        let mut errors = missing_protocols(p.grpc.is_some() || p.http.is_some());
        if let Some(g) = &p.grpc {
            g.0.check("protocols.grpc", &mut errors);
        }
        if let Some(h) = &p.http {
            h.0.check("protocols.http", &mut errors);
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::OtlpReceiver(self)
    }
}

impl ComponentConfig for JaegerReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let p = &self.protocols;
        let mut errors = missing_protocols(
            p.grpc.is_some()
                || p.thrift_http.is_some()
                || p.thrift_compact.is_some()
                || p.thrift_binary.is_some(),
        );
        if let Some(s) = &p.grpc {
            s.0.check("protocols.grpc", &mut errors);
        }
        if let Some(s) = &p.thrift_http {
            s.0.check("protocols.thrift_http", &mut errors);
        }
        if let Some(s) = &p.thrift_compact {
            s.0.check("protocols.thrift_compact", &mut errors);
        }
        if let Some(s) = &p.thrift_binary {
            s.0.check("protocols.thrift_binary", &mut errors);
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::JaegerReceiver(self)
    }
}

impl ComponentConfig for ZipkinReceiverConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = resolve_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        check_tls(self.tls.as_deref(), "", &mut errors);
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::ZipkinReceiver(self)
    }
}

/// The listeners a receiver spec starts; `max_bytes` is the default request limit.
pub fn listeners(spec: &Spec, defaults: &ListenerDefaults) -> Vec<ReceiverConfig> {
    let max_bytes = defaults.max_bytes;
    let mut out = Vec::new();
    match spec {
        Spec::OtlpReceiver(c) => {
            if let Some(g) = &c.protocols.grpc {
                out.push(ReceiverConfig::OtlpGrpc(OtlpGrpcConfig {
                    endpoint: g.0.addr(),
                    max_recv_msg_size: g.0.limit(max_bytes),
                    max_spans_per_request: defaults.max_spans,
                    connections: with_tls(defaults, g.0.tls.as_deref(), g.0.auth.as_ref()),
                }));
            }
            if let Some(h) = &c.protocols.http {
                out.push(ReceiverConfig::OtlpHttp(OtlpHttpConfig {
                    endpoint: h.0.addr(),
                    max_request_body_size: h.0.limit(max_bytes),
                    max_spans_per_request: defaults.max_spans,
                    cors_allowed_origins: origins(h.0.cors.as_ref(), &defaults.otlp_http_cors),
                    connections: with_tls(defaults, h.0.tls.as_deref(), h.0.auth.as_ref()),
                }));
            }
        }
        Spec::JaegerReceiver(c) => {
            let p = &c.protocols;
            if let Some(s) = &p.thrift_compact {
                out.push(ReceiverConfig::JaegerThriftCompact(
                    JaegerThriftCompactConfig {
                        endpoint: s.0.addr(),
                        ..Default::default()
                    },
                ));
            }
            if let Some(s) = &p.thrift_binary {
                out.push(ReceiverConfig::JaegerThriftBinary(
                    JaegerThriftBinaryConfig {
                        endpoint: s.0.addr(),
                        ..Default::default()
                    },
                ));
            }
            if let Some(s) = &p.thrift_http {
                out.push(ReceiverConfig::JaegerThriftHttp(JaegerThriftHttpConfig {
                    endpoint: s.0.addr(),
                    max_request_body_size: s.0.limit(max_bytes),
                    connections: with_tls(defaults, s.0.tls.as_deref(), s.0.auth.as_ref()),
                }));
            }
            if let Some(s) = &p.grpc {
                out.push(ReceiverConfig::JaegerGrpc(JaegerGrpcConfig {
                    endpoint: s.0.addr(),
                    max_recv_msg_size: s.0.limit(max_bytes),
                    connections: with_tls(defaults, s.0.tls.as_deref(), s.0.auth.as_ref()),
                }));
            }
        }
        Spec::ZipkinReceiver(c) => out.push(ReceiverConfig::Zipkin(ZipkinConfig {
            endpoint: resolve_endpoint(&c.endpoint).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            max_request_body_size: c
                .max_request_body_size
                .map(|b| b as usize)
                .unwrap_or(max_bytes),
            max_spans_per_request: defaults.max_spans,
            cors_allowed_origins: origins(c.cors.as_ref(), &defaults.zipkin_cors),
            connections: with_tls(defaults, c.tls.as_deref(), c.auth.as_ref()),
        })),
        _ => {}
    }
    out
}

/// Sets the endpoint of the listener named `listener` (`otlp-grpc`, `jaeger-thrift-compact`,
/// `zipkin`, …) if this receiver has it; returns whether it did. Used for flags that override a
/// config file.
pub fn override_listener(spec: &mut Spec, listener: &str, addr: SocketAddr) -> bool {
    let endpoint = addr.to_string();
    let slot: Option<&mut ServerSettings> = match (spec, listener) {
        (Spec::OtlpReceiver(c), "otlp-grpc") => c.protocols.grpc.as_mut().map(|s| &mut s.0),
        (Spec::OtlpReceiver(c), "otlp-http") => c.protocols.http.as_mut().map(|s| &mut s.0),
        (Spec::JaegerReceiver(c), "jaeger-grpc") => c.protocols.grpc.as_mut().map(|s| &mut s.0),
        (Spec::JaegerReceiver(c), "jaeger-thrift-http") => {
            c.protocols.thrift_http.as_mut().map(|s| &mut s.0)
        }
        (Spec::JaegerReceiver(c), "jaeger-thrift-compact") => {
            c.protocols.thrift_compact.as_mut().map(|s| &mut s.0)
        }
        (Spec::JaegerReceiver(c), "jaeger-thrift-binary") => {
            c.protocols.thrift_binary.as_mut().map(|s| &mut s.0)
        }
        (Spec::ZipkinReceiver(c), "zipkin") => {
            c.endpoint = endpoint;
            return true;
        }
        _ => None,
    };
    match slot {
        Some(s) => {
            s.endpoint = endpoint;
            true
        }
        None => false,
    }
}
