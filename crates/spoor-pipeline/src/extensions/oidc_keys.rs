//! The signing keys of the `oidc` extension: a JWKS from `jwks_file` (read once), from
//! `jwks_url`, or from the `jwks_uri` of the issuer's discovery document
//! (`<issuer_url>/.well-known/openid-configuration`).
//! Fetched keys are cached; a token whose `kid` is not among them makes Spoor fetch the JWKS
//! again, at most once per `jwks_refresh_interval`, so a provider's key rotation is followed
//! without restart.
//!
//! Requests run on one thread of their own (with its own small runtime), so the synchronous
//! authenticator can wait for a refresh without blocking the async runtime's other tasks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::{Mutex, RwLock};

/// How long a request to the provider may take, in all.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) enum KeyKind {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
}

pub(super) struct Key {
    pub kid: Option<String>,
    pub kind: KeyKind,
}

pub(super) fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// The usable keys (RSA, EC P-256) of a JWKS document.
pub(super) fn parse_jwks(text: &str) -> Result<Vec<Key>, String> {
    let jwks: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for k in jwks["keys"].as_array().into_iter().flatten() {
        if k["use"].as_str().is_some_and(|u| u != "sig") {
            continue;
        }
        let field = |name: &str| k[name].as_str().and_then(b64);
        let kind = match (k["kty"].as_str(), k["crv"].as_str()) {
            (Some("RSA"), _) => match (field("n"), field("e")) {
                (Some(n), Some(e)) => KeyKind::Rsa { n, e },
                _ => continue,
            },
            (Some("EC"), Some("P-256")) => match (field("x"), field("y")) {
                (Some(x), Some(y)) => {
                    let mut point = vec![4u8];
                    point.extend(x);
                    point.extend(y);
                    KeyKind::P256(point)
                }
                _ => continue,
            },
            _ => continue,
        };
        keys.push(Key {
            kid: k["kid"].as_str().map(str::to_string),
            kind,
        });
    }
    if keys.is_empty() {
        return Err("holds no usable key (RSA, or EC P-256)".to_string());
    }
    Ok(keys)
}

type Reply = std::sync::mpsc::SyncSender<Result<String, String>>;

/// The thread that does the HTTP(S) requests.
struct Fetcher {
    jobs: Mutex<std::sync::mpsc::Sender<(String, Reply)>>,
}

impl Fetcher {
    fn start(client: reqwest::Client) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the JWKS fetcher: {e}"))?;
        let (tx, rx) = std::sync::mpsc::channel::<(String, Reply)>();
        std::thread::Builder::new()
            .name("oidc-jwks".into())
            .spawn(move || {
                while let Ok((url, reply)) = rx.recv() {
                    let result = runtime.block_on(get(&client, &url));
                    let _ = reply.send(result);
                }
            })
            .map_err(|e| format!("cannot start the JWKS fetcher: {e}"))?;
        Ok(Self {
            jobs: Mutex::new(tx),
        })
    }

    /// The body of `url`; waits for it (outside the async runtime's scheduling when called
    /// from a multi-threaded runtime).
    fn get(&self, url: &str) -> Result<String, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .lock()
            .send((url.to_string(), tx))
            .map_err(|_| "the JWKS fetcher stopped".to_string())?;
        let wait = || {
            rx.recv_timeout(FETCH_TIMEOUT + Duration::from_secs(1))
                .map_err(|_| format!("{url}: no answer within {FETCH_TIMEOUT:?}"))?
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    response.text().await.map_err(|e| format!("{url}: {e}"))
}

/// Where the keys come from, and the keys now.
pub(super) struct KeySource {
    keys: RwLock<Arc<Vec<Key>>>,
    remote: Option<Remote>,
}

struct Remote {
    fetcher: Fetcher,
    jwks_url: String,
    min_interval: Duration,
    last_fetch: Mutex<Instant>,
}

impl KeySource {
    /// Keys read once from a file.
    pub fn file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        Ok(Self {
            keys: RwLock::new(Arc::new(parse_jwks(&text)?)),
            remote: None,
        })
    }

    /// Keys fetched from `jwks_url`, or, when empty, from the `jwks_uri` that the issuer's
    /// discovery document names (its `issuer` must equal `issuer_url`). Fetched now: a provider
    /// that cannot be reached stops start-up with the reason.
    pub fn remote(
        client: reqwest::Client,
        issuer_url: &str,
        jwks_url: &str,
        min_interval: Duration,
    ) -> Result<Self, String> {
        let fetcher = Fetcher::start(client)?;
        let jwks_url = if jwks_url.is_empty() {
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer_url.trim_end_matches('/')
            );
            let text = fetcher.get(&url)?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
            if doc["issuer"].as_str() != Some(issuer_url) {
                return Err(format!(
                    "{url}: the document's issuer {} is not issuer_url {issuer_url:?}",
                    doc["issuer"]
                ));
            }
            doc["jwks_uri"]
                .as_str()
                .ok_or_else(|| format!("{url}: the document has no jwks_uri"))?
                .to_string()
        } else {
            jwks_url.to_string()
        };
        let keys = parse_jwks(&fetcher.get(&jwks_url)?).map_err(|e| format!("{jwks_url}: {e}"))?;
        Ok(Self {
            keys: RwLock::new(Arc::new(keys)),
            remote: Some(Remote {
                fetcher,
                jwks_url,
                min_interval,
                last_fetch: Mutex::new(Instant::now()),
            }),
        })
    }

    pub fn keys(&self) -> Arc<Vec<Key>> {
        self.keys.read().clone()
    }

    /// Whether a key has the id `kid`.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys
            .read()
            .iter()
            .any(|k| k.kid.as_deref() == Some(kid))
    }

    /// After a token named an unknown `kid`: fetches the JWKS again unless the last fetch was
    /// less than `jwks_refresh_interval` ago; true when new keys were loaded.
    pub fn refresh_for_unknown_kid(&self) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        {
            let mut last = remote.last_fetch.lock();
            if last.elapsed() < remote.min_interval {
                return false;
            }
            *last = Instant::now();
        }
        let fetched = remote
            .fetcher
            .get(&remote.jwks_url)
            .and_then(|text| parse_jwks(&text).map_err(|e| format!("{}: {e}", remote.jwks_url)));
        match fetched {
            Ok(keys) => {
                tracing::info!(url = %remote.jwks_url, keys = keys.len(), "oidc: signing keys refreshed");
                *self.keys.write() = Arc::new(keys);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "oidc: cannot refresh the signing keys");
                false
            }
        }
    }
}
