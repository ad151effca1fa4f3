//! Server TLS over loopback with certificates made by `openssl` (skipped where it is missing):
//! handshakes, mutual TLS, reload on change, a broken replacement keeping the old certificate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::*;

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A CA `ca` and a leaf `name` signed by it with `serial`; false where openssl is missing.
fn make_pki(dir: &Path, ca: &str, name: &str, serial: u32, usage: &str) -> bool {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    if !dir.join(format!("{ca}.pem")).exists() {
        let ok = openssl(
            dir,
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN={ca}"),
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        if !ok {
            return false;
        }
    }
    let ext = dir.join(format!("{name}.ext"));
    let text = format!(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\nsubjectAltName=DNS:localhost\n"
    );
    if std::fs::write(&ext, text).is_err() {
        return false;
    }
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        ]
        .concat(),
    ) && openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial.to_string(),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    )
}

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(test: &str) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("spoor-tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let ok = make_pki(&dir, "ca", "server", 1001, "serverAuth")
            && make_pki(&dir, "client-ca", "client", 7, "clientAuth");
        if !ok {
            eprintln!("openssl unavailable: skipping");
            return None;
        }
        Some(Self { dir })
    }
    fn path(&self, f: &str) -> String {
        self.dir.join(f).to_string_lossy().into_owned()
    }
    fn settings(&self) -> TlsServerSettings {
        TlsServerSettings {
            cert_file: self.path("server.pem"),
            key_file: self.path("server.key"),
            reload_interval: Some(Duration::from_millis(1)),
            ..Default::default()
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client(pki: &Pki, cert: Option<&str>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).expect("ca") {
        roots.add(c.expect("pem")).expect("add");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(pki.path(&format!("{name}.pem")))
                .expect("cert")
                .collect::<Result<Vec<_>, _>>()
                .expect("pem");
            let key = PrivateKeyDer::from_pem_file(pki.path(&format!("{name}.key"))).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One handshake against `tls` over loopback; the served leaf's serial on success.
async fn handshake(
    tls: &ServerTls,
    connector: tokio_rustls::TlsConnector,
) -> Result<Vec<u8>, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = {
        let tls = tls.clone();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            tls.accept(tcp, Duration::from_secs(5)).await.map(|_| ())
        })
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let result = connector.connect(name, tcp).await;
    let server = server.await.expect("join");
    let stream = result.map_err(|e| e.to_string())?;
    server.map_err(|e| e.to_string())?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or("no certificate")?;
    Ok(serial(&leaf))
}

/// The serial number of a DER certificate, read with openssl.
fn serial(der: &[u8]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-serial"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(stdin) = child.stdin.as_mut() {
                stdin.write_all(der)?;
            }
            child.wait_with_output()
        })
        .expect("openssl x509");
    out.stdout
}

#[test]
fn settings_are_checked_before_files_are_read() {
    let empty = TlsServerSettings::default();
    assert!(empty.check().iter().any(|e| e.option == "cert_file"));
    let bad = TlsServerSettings {
        cert_file: "c".into(),
        key_file: "k".into(),
        min_version: "1.1".into(),
        max_version: "2".into(),
        ..Default::default()
    };
    let options: Vec<_> = bad.check().into_iter().map(|e| e.option).collect();
    assert_eq!(options, ["min_version", "max_version"]);
    let missing = TlsServerSettings {
        cert_file: "/nonexistent/cert.pem".into(),
        key_file: "/nonexistent/key.pem".into(),
        ..Default::default()
    };
    let e = ServerTls::new(&missing).expect_err("missing files");
    assert_eq!(e.option, "cert_file");
    assert!(e.detail.contains("/nonexistent/cert.pem"), "{e}");
}

#[test]
fn the_collector_shape_parses() {
    let s: TlsServerSettings = serde_json::from_str(
        r#"{"cert_file":"c.pem","key_file":"k.pem","client_ca_file":"ca.pem","min_version":"1.3","reload_interval":"30s"}"#,
    )
    .expect("parse");
    assert_eq!(s.reload_interval, Some(Duration::from_secs(30)));
    assert_eq!(s.min_version, "1.3");
    assert!(serde_json::from_str::<TlsServerSettings>(r#"{"cert":"x"}"#).is_err());
    assert!(serde_json::from_str::<TlsServerSettings>(r#"{"reload_interval":"soon"}"#).is_err());
}

#[tokio::test]
async fn serves_its_certificate_and_reloads_it_when_the_files_change() {
    let Some(pki) = Pki::new("reload") else {
        return;
    };
    let tls = ServerTls::new(&pki.settings()).expect("tls");
    let first = handshake(&tls, client(&pki, None))
        .await
        .expect("handshake");
    assert!(
        String::from_utf8_lossy(&first).contains("03E9"),
        "{first:?}"
    );

    // A broken replacement keeps the previous certificate.
    std::fs::write(pki.dir.join("server.pem"), "garbage").expect("write");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        handshake(&tls, client(&pki, None)).await.expect("old cert"),
        first
    );

    assert!(make_pki(&pki.dir, "ca", "server", 2002, "serverAuth"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = handshake(&tls, client(&pki, None))
        .await
        .expect("handshake");
    assert!(
        String::from_utf8_lossy(&second).contains("07D2"),
        "{second:?}"
    );
}

#[tokio::test]
async fn mutual_tls_requires_a_certificate_from_the_client_ca() {
    let Some(pki) = Pki::new("mtls") else { return };
    let settings = TlsServerSettings {
        client_ca_file: pki.path("client-ca.pem"),
        ..pki.settings()
    };
    let tls = ServerTls::new(&settings).expect("tls");
    handshake(&tls, client(&pki, Some("client")))
        .await
        .expect("a client with a certificate from the client CA");
    // rustls reports the missing certificate on the server side; TLS 1.3 clients may see it
    // only on their first read, so the server's verdict is what counts.
    assert!(handshake(&tls, client(&pki, None)).await.is_err());
    assert!(handshake(&tls, client(&pki, Some("server"))).await.is_err());
}

#[tokio::test]
async fn a_plaintext_client_fails_the_handshake_quickly() {
    let Some(pki) = Pki::new("plain") else { return };
    let tls = ServerTls::new(&pki.settings()).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tls.accept(tcp, Duration::from_secs(5)).await.map(|_| ())
    });
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let result = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("refused before the timeout")
        .expect("join");
    assert!(result.is_err());
}
