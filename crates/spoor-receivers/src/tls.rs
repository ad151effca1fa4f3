//! Server TLS of every TCP listener (`tls:`), with rustls, in the Collector's `configtls` shape:
//! `cert_file`/`key_file`, `client_ca_file` (mutual TLS: clients must present a certificate
//! signed by it), `min_version`/`max_version` and `reload_interval`.
//!
//! [`ServerTls`] rereads the certificate, key and client CA files when their modification time
//! changes, checked at most once per `reload_interval` when a connection arrives, so a renewed
//! certificate is served without a restart. A reload that fails (a key not matching its
//! certificate while files are being replaced, say) keeps the previous configuration and is
//! retried at the next check.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How often the files are checked for changes unless `reload_interval` says otherwise.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// `tls` of a listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerSettings {
    /// PEM certificate chain served to clients (leaf first).
    pub cert_file: String,
    /// PEM private key of the certificate.
    pub key_file: String,
    /// Accepted for the Collector's shape; a server verifies clients only with `client_ca_file`.
    pub ca_file: String,
    /// PEM CAs that sign client certificates: when set, clients must present one (mutual TLS).
    pub client_ca_file: String,
    /// `1.2` or `1.3`.
    pub min_version: String,
    /// `1.2` or `1.3`; empty: the newest.
    pub max_version: String,
    /// How often the files are checked for changes (`0s`: never reloaded); default 5s.
    #[serde(
        deserialize_with = "reload_interval",
        serialize_with = "ser_interval",
        skip_serializing_if = "Option::is_none"
    )]
    pub reload_interval: Option<Duration>,
}

impl Default for TlsServerSettings {
    fn default() -> Self {
        Self {
            cert_file: String::new(),
            key_file: String::new(),
            ca_file: String::new(),
            client_ca_file: String::new(),
            min_version: "1.2".to_string(),
            max_version: String::new(),
            reload_interval: None,
        }
    }
}

fn reload_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim() == "0" {
        return Ok(Some(Duration::ZERO));
    }
    humantime::parse_duration(s.trim())
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid reload_interval {s:?}: {e}")))
}

fn ser_interval<S: serde::Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string().replace(' ', "")),
        None => s.serialize_none(),
    }
}

/// Why a TLS configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("tls.{option}: {detail}")]
pub struct TlsError {
    pub option: &'static str,
    pub detail: String,
}

fn err(option: &'static str, detail: impl Into<String>) -> TlsError {
    TlsError {
        option,
        detail: detail.into(),
    }
}

fn version(v: &str) -> Option<&'static rustls::SupportedProtocolVersion> {
    match v.trim_start_matches("TLS").trim_start_matches("tls").trim() {
        "1.2" => Some(&rustls::version::TLS12),
        "1.3" => Some(&rustls::version::TLS13),
        _ => None,
    }
}

impl TlsServerSettings {
    /// Problems visible without reading files.
    pub fn check(&self) -> Vec<TlsError> {
        let mut errors = Vec::new();
        if self.cert_file.is_empty() || self.key_file.is_empty() {
            errors.push(err(
                "cert_file",
                "a TLS listener needs cert_file and key_file",
            ));
        }
        if version(&self.min_version).is_none() {
            errors.push(err(
                "min_version",
                format!(
                    "unsupported TLS version {:?}; expected 1.2 or 1.3",
                    self.min_version
                ),
            ));
        }
        if !self.max_version.is_empty() && version(&self.max_version).is_none() {
            errors.push(err(
                "max_version",
                format!(
                    "unsupported TLS version {:?}; expected 1.2 or 1.3",
                    self.max_version
                ),
            ));
        }
        errors
    }

    fn files(&self) -> Vec<PathBuf> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect()
    }

    /// Reads the files and builds the rustls server config (ALPN `h2` and `http/1.1`).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        if let Some(e) = self.check().into_iter().next() {
            return Err(e);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let min = version(&self.min_version).unwrap_or(&rustls::version::TLS12);
        let max = version(&self.max_version).unwrap_or(&rustls::version::TLS13);
        let rank = |v: &rustls::SupportedProtocolVersion| {
            u8::from(v.version == rustls::ProtocolVersion::TLSv1_3)
        };
        let versions: Vec<_> = [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
            .collect();
        if versions.is_empty() {
            return Err(err("max_version", "is older than min_version"));
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| err("min_version", e.to_string()))?;
        let builder = if self.client_ca_file.is_empty() {
            builder.with_no_client_auth()
        } else {
            let pem = read(&self.client_ca_file, "client_ca_file")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| err("client_ca_file", format!("invalid PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| err("client_ca_file", format!("invalid CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(err("client_ca_file", "holds no certificate"));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| err("client_ca_file", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        };
        let cert = read(&self.cert_file, "cert_file")?;
        let chain = CertificateDer::pem_slice_iter(&cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err("cert_file", format!("invalid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(err("cert_file", "holds no certificate"));
        }
        let key = read(&self.key_file, "key_file")?;
        let key = PrivateKeyDer::from_pem_slice(&key)
            .map_err(|e| err("key_file", format!("invalid private key: {e}")))?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| err("key_file", format!("does not fit the certificate: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read(path: &str, option: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| err(option, format!("cannot read {path}: {e}")))
}

fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

struct Current {
    config: Arc<ServerConfig>,
    mtimes: Vec<Option<SystemTime>>,
    checked: Instant,
}

/// A listener's TLS: the acceptor of the current files, reloaded when they change.
#[derive(Clone)]
pub struct ServerTls {
    settings: Arc<TlsServerSettings>,
    files: Arc<Vec<PathBuf>>,
    interval: Duration,
    current: Arc<Mutex<Current>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the files once; errors here stop the listener from starting.
    pub fn new(settings: &TlsServerSettings) -> Result<Self, TlsError> {
        let files = settings.files();
        let stamps = mtimes(&files);
        let config = settings.server_config()?;
        Ok(Self {
            settings: Arc::new(settings.clone()),
            files: Arc::new(files),
            interval: settings.reload_interval.unwrap_or(DEFAULT_RELOAD_INTERVAL),
            current: Arc::new(Mutex::new(Current {
                config,
                mtimes: stamps,
                checked: Instant::now(),
            })),
        })
    }

    /// The config to serve a new connection with, reloading first when the files changed.
    pub fn config(&self) -> Arc<ServerConfig> {
        let mut current = self.current.lock();
        if !self.interval.is_zero() && current.checked.elapsed() >= self.interval {
            current.checked = Instant::now();
            let stamps = mtimes(&self.files);
            if stamps != current.mtimes {
                match self.settings.server_config() {
                    Ok(config) => {
                        tracing::info!(cert_file = %self.settings.cert_file, "TLS certificate reloaded");
                        current.config = config;
                        current.mtimes = stamps;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS files changed but cannot be loaded; serving the previous certificate");
                    }
                }
            }
        }
        current.config.clone()
    }

    /// The TLS handshake on `io`, within `timeout`.
    pub async fn accept<IO>(
        &self,
        io: IO,
        timeout: Duration,
    ) -> io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config());
        match tokio::time::timeout(timeout, acceptor.accept(io)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake not finished in time",
            )),
        }
    }

    /// The certificate file this listener serves (for logs).
    pub fn cert_file(&self) -> &Path {
        Path::new(&self.settings.cert_file)
    }
}

/// A served connection: plaintext or TLS.
pub enum MaybeTls<IO> {
    Plain(IO),
    Tls(Box<tokio_rustls::server::TlsStream<IO>>),
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl<IO: tonic::transport::server::Connected> tonic::transport::server::Connected for MaybeTls<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Self::Plain(s) => s.connect_info(),
            Self::Tls(s) => s.get_ref().0.connect_info(),
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
