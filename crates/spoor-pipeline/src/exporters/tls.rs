//! Client TLS of the forwarding exporters (`tls:`), with rustls, as the Collector's `configtls`:
//! `insecure` (gRPC: plaintext), `insecure_skip_verify`, `ca_file`/`ca_pem`, the system roots,
//! `cert_file`/`key_file` (or `_pem`) for mutual TLS, `server_name_override`, `min_version`,
//! `max_version`.
//!
//! One `rustls::ClientConfig` serves both transports: reqwest takes it preconfigured, and gRPC
//! channels connect through [`grpc_channel`], a connector doing the TLS handshake itself (with
//! ALPN `h2`), so tonic needs no TLS feature of its own.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// `tls` of a forwarding exporter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientSettings {
    /// gRPC exporters: plaintext instead of TLS. HTTP exporters follow the URL's scheme.
    pub insecure: bool,
    /// Use TLS but do not verify the server's certificate.
    pub insecure_skip_verify: bool,
    /// PEM file of the CAs that sign the server's certificate (instead of the system roots).
    pub ca_file: String,
    pub ca_pem: String,
    /// With `ca_file`/`ca_pem`, also trust the system roots.
    pub include_system_ca_certs_pool: bool,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: String,
    pub cert_pem: String,
    pub key_file: String,
    pub key_pem: String,
    /// The name to check the server's certificate against (and send as SNI).
    pub server_name_override: String,
    /// `1.2` or `1.3`.
    pub min_version: String,
    /// `1.2` or `1.3`; empty: the newest.
    pub max_version: String,
}

impl Default for TlsClientSettings {
    fn default() -> Self {
        Self {
            insecure: false,
            insecure_skip_verify: false,
            ca_file: String::new(),
            ca_pem: String::new(),
            include_system_ca_certs_pool: false,
            cert_file: String::new(),
            cert_pem: String::new(),
            key_file: String::new(),
            key_pem: String::new(),
            server_name_override: String::new(),
            min_version: "1.2".to_string(),
            max_version: String::new(),
        }
    }
}

fn version(v: &str) -> Option<&'static rustls::SupportedProtocolVersion> {
    match v.trim_start_matches("TLS").trim_start_matches("tls").trim() {
        "1.2" => Some(&rustls::version::TLS12),
        "1.3" => Some(&rustls::version::TLS13),
        _ => None,
    }
}

fn pem_bytes(file: &str, inline: &str, path: &str) -> Result<Option<Vec<u8>>, ConfigError> {
    match (file.is_empty(), inline.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Err(ConfigError::new(
            path,
            "set either the file or the PEM option, not both",
        )),
        (false, true) => std::fs::read(file)
            .map(Some)
            .map_err(|e| ConfigError::new(path, format!("cannot read {file}: {e}"))),
        (true, false) => Ok(Some(inline.as_bytes().to_vec())),
    }
}

impl TlsClientSettings {
    /// Problems visible without reading files.
    pub(crate) fn check(&self, errors: &mut Vec<ConfigError>) {
        if version(&self.min_version).is_none() {
            errors.push(ConfigError::new(
                "tls.min_version",
                format!(
                    "unsupported TLS version {:?}; expected 1.2 or 1.3",
                    self.min_version
                ),
            ));
        }
        if !self.max_version.is_empty() && version(&self.max_version).is_none() {
            errors.push(ConfigError::new(
                "tls.max_version",
                format!(
                    "unsupported TLS version {:?}; expected 1.2 or 1.3",
                    self.max_version
                ),
            ));
        }
        let cert = !self.cert_file.is_empty() || !self.cert_pem.is_empty();
        let key = !self.key_file.is_empty() || !self.key_pem.is_empty();
        if cert != key {
            errors.push(ConfigError::new(
                "tls",
                "a client certificate needs its key: set both cert_file and key_file (or cert_pem and key_pem)",
            ));
        }
        if !self.server_name_override.is_empty()
            && ServerName::try_from(self.server_name_override.as_str()).is_err()
        {
            errors.push(ConfigError::new(
                "tls.server_name_override",
                format!("invalid server name {:?}", self.server_name_override),
            ));
        }
    }

    /// The rustls client config (reading the CA, certificate and key files); `alpn_h2` for gRPC.
    pub fn client_config(&self, alpn_h2: bool) -> Result<Arc<ClientConfig>, ConfigError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let min = version(&self.min_version).unwrap_or(&rustls::version::TLS12);
        let max = version(&self.max_version).unwrap_or(&rustls::version::TLS13);
        let versions: Vec<_> = [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| {
                let rank = |v: &rustls::SupportedProtocolVersion| {
                    u8::from(v.version == rustls::ProtocolVersion::TLSv1_3)
                };
                rank(v) >= rank(min) && rank(v) <= rank(max)
            })
            .collect();
        if versions.is_empty() {
            return Err(ConfigError::new(
                "tls.max_version",
                "is older than min_version",
            ));
        }
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| ConfigError::new("tls", e.to_string()))?;

        let mut roots = RootCertStore::empty();
        let ca = pem_bytes(&self.ca_file, &self.ca_pem, "tls.ca_file")?;
        if let Some(pem) = &ca {
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| ConfigError::new("tls.ca_file", format!("invalid PEM: {e}")))?;
                roots.add(cert).map_err(|e| {
                    ConfigError::new("tls.ca_file", format!("invalid CA certificate: {e}"))
                })?;
                n += 1;
            }
            if n == 0 {
                return Err(ConfigError::new("tls.ca_file", "holds no certificate"));
            }
        }
        if ca.is_none() || self.include_system_ca_certs_pool {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
        let roots = Arc::new(roots);
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| ConfigError::new("tls.ca_file", format!("no usable CA: {e}")))?;
        let verifier = Arc::new(Verifier {
            inner: webpki,
            provider,
            skip: self.insecure_skip_verify,
            name: (!self.server_name_override.is_empty())
                .then(|| ServerName::try_from(self.server_name_override.clone()))
                .transpose()
                .map_err(|e| ConfigError::new("tls.server_name_override", e.to_string()))?,
        });
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let cert = pem_bytes(&self.cert_file, &self.cert_pem, "tls.cert_file")?;
        let key = pem_bytes(&self.key_file, &self.key_pem, "tls.key_file")?;
        let mut config = match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(&cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::new("tls.cert_file", format!("invalid PEM: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
                    ConfigError::new("tls.key_file", format!("invalid private key: {e}"))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ConfigError::new("tls.cert_file", e.to_string()))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(ConfigError::new(
                    "tls",
                    "a client certificate needs its key: set both cert_file and key_file",
                ));
            }
        };
        if alpn_h2 {
            config.alpn_protocols = vec![b"h2".to_vec()];
        }
        Ok(Arc::new(config))
    }

    /// The name sent as SNI for `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, ConfigError> {
        let name = if self.server_name_override.is_empty() {
            host.trim_start_matches('[').trim_end_matches(']')
        } else {
            &self.server_name_override
        };
        ServerName::try_from(name.to_string())
            .map_err(|e| ConfigError::new("endpoint", format!("invalid server name {name:?}: {e}")))
    }
}

/// WebPKI verification, optionally against `server_name_override` instead of the host, or none
/// at all (`insecure_skip_verify`; signatures are still checked).
#[derive(Debug)]
struct Verifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    skip: bool,
    name: Option<ServerName<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.skip {
            return Ok(ServerCertVerified::assertion());
        }
        let name = self.name.as_ref().unwrap_or(server_name);
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether a gRPC exporter speaks TLS to `endpoint`.
pub fn grpc_uses_tls(tls: &TlsClientSettings, endpoint: &str) -> bool {
    if endpoint.starts_with("https://") {
        return true;
    }
    !(tls.insecure || endpoint.starts_with("http://"))
}

/// A lazily connecting gRPC channel to `host:port` over TLS.
pub fn grpc_channel(
    endpoint: &str,
    tls: &TlsClientSettings,
    connect_timeout: std::time::Duration,
) -> Result<tonic::transport::Channel, ConfigError> {
    let authority = endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    // tonic sees plain http: the connector below does the TLS.
    let url = format!("http://{authority}");
    let ep = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| ConfigError::new("endpoint", format!("invalid endpoint {url:?}: {e}")))?
        .connect_timeout(connect_timeout);
    let host = ep.uri().host().unwrap_or_default().to_string();
    let server_name = tls.server_name(&host)?;
    let connector = tokio_rustls::TlsConnector::from(tls.client_config(true)?);
    let service = tower::service_fn(move |uri: http::Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        async move {
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let stream = connector.connect(server_name, tcp).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("TLS handshake with {host}:{port} failed: {e}"),
                )
            })?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    Ok(ep.connect_with_connector_lazy(service))
}

/// An HTTP exporter's client: TLS from `tls` for `https://` URLs.
pub fn http_client(
    tls: &TlsClientSettings,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, ConfigError> {
    let config = Arc::unwrap_or_clone(tls.client_config(false)?);
    reqwest::Client::builder()
        .timeout(timeout)
        .tls_backend_preconfigured(config)
        .build()
        .map_err(|e| ConfigError::new("", format!("cannot create the HTTP client: {e}")))
}
