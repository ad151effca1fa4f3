//! Authenticators whose files (htpasswd, roles, tokens, JWKS) are reread when they change, as
//! the listeners' TLS files are: at most once per `reload_interval`, when a request arrives, the
//! files' modification times and sizes are compared with those of the last load.
//! A changed file that cannot be loaded (unreadable, a bad line) does not replace the contents
//! in use: the error is logged, counted in `spoor_auth_file_reloads_total{extension,
//! result="failed"}`, and the file is read again at its next change.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use spoor_receivers::auth::{AuthError, Authenticator, Identity, LoginMethod};

use crate::ConfigError;

/// The default `reload_interval` of the authenticators' files.
pub const DEFAULT_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

type Labels = Vec<(String, String)>;

/// `spoor_auth_file_reloads_total{extension, result}`: loads of changed authenticator files.
#[derive(Clone, Default)]
pub struct ReloadMetrics {
    family: Family<Labels, Counter>,
}

impl ReloadMetrics {
    /// The family, registered in `telemetry`.
    pub fn new(telemetry: &spoor_telemetry::Telemetry) -> Self {
        let metrics = Self::default();
        telemetry.register(
            "auth_file_reloads",
            "Loads of changed htpasswd, roles, token and JWKS files, per extension and result (ok, failed: the previous contents stay in use)",
            metrics.family.clone(),
        );
        metrics
    }

    /// The counter of `extension`'s loads ending in `result`.
    pub fn counter(&self, extension: &str, result: &str) -> Counter {
        self.family
            .get_or_create(&vec![
                ("extension".to_string(), extension.to_string()),
                ("result".to_string(), result.to_string()),
            ])
            .clone()
    }
}

/// What identifies a version of a file: its modification time and size (`None`: missing).
type Stamp = Option<(SystemTime, u64)>;

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

struct State<A> {
    current: Arc<A>,
    stamps: Vec<Stamp>,
    checked: Instant,
}

type Loader<A> = Box<dyn Fn() -> Result<A, ConfigError> + Send + Sync>;

/// An authenticator loaded from `files`, loaded again by `load` when they change.
pub struct Reloading<A> {
    extension: String,
    files: Vec<PathBuf>,
    interval: std::time::Duration,
    load: Loader<A>,
    state: Mutex<State<A>>,
    challenge: String,
    ok: Counter,
    failed: Counter,
}

impl<A: Authenticator> Reloading<A> {
    /// Loads once (an error stops start-up); without files or with a zero `interval` the
    /// authenticator is returned as loaded.
    pub fn start(
        extension: &str,
        files: Vec<PathBuf>,
        interval: std::time::Duration,
        metrics: &ReloadMetrics,
        load: impl Fn() -> Result<A, ConfigError> + Send + Sync + 'static,
    ) -> Result<Arc<dyn Authenticator>, ConfigError> {
        let before = stamps(&files);
        let first = load()?;
        if files.is_empty() || interval.is_zero() {
            return Ok(Arc::new(first));
        }
        Ok(Arc::new(Self {
            extension: extension.to_string(),
            challenge: first.challenge().to_string(),
            files,
            interval,
            load: Box::new(load),
            state: Mutex::new(State {
                current: Arc::new(first),
                stamps: before,
                checked: Instant::now(),
            }),
            ok: metrics.counter(extension, "ok"),
            failed: metrics.counter(extension, "failed"),
        }))
    }

    /// The authenticator of the files' current contents.
    fn current(&self) -> Arc<A> {
        let mut state = self.state.lock();
        if state.checked.elapsed() >= self.interval {
            state.checked = Instant::now();
            let now = stamps(&self.files);
            if now != state.stamps {
                // Recorded either way: a bad file is read again when it changes, not at
                // every check.
                state.stamps = now;
                match (self.load)() {
                    Ok(loaded) => {
                        tracing::info!(extension = %self.extension, "authenticator files reloaded");
                        self.ok.inc();
                        state.current = Arc::new(loaded);
                    }
                    Err(e) => {
                        tracing::error!(extension = %self.extension, error = %e,
                            "authenticator files changed but cannot be loaded; keeping the previous contents");
                        self.failed.inc();
                    }
                }
            }
        }
        state.current.clone()
    }
}

impl<A: Authenticator> Authenticator for Reloading<A> {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError> {
        self.current().authenticate(headers)
    }

    fn identify(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        self.current().identify(headers)
    }

    fn challenge(&self) -> &str {
        &self.challenge
    }

    fn login(&self) -> LoginMethod {
        self.current().login()
    }
}

/// The non-empty paths among `paths`.
pub fn files<'a>(paths: impl IntoIterator<Item = &'a String>) -> Vec<PathBuf> {
    paths
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use spoor_receivers::auth::Role;

    use super::*;
    use crate::config::Duration;
    use crate::extensions::{BasicAuthConfig, BearerTokenAuthConfig, HtpasswdConfig};

    fn header(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    fn bearer(token: &str) -> http::HeaderMap {
        header(&format!("Bearer {token}"))
    }

    fn basic(user: &str, password: &str) -> http::HeaderMap {
        use base64::Engine;
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        header(&format!("Basic {v}"))
    }

    /// Past the reload interval of the tests.
    fn tick() {
        std::thread::sleep(std::time::Duration::from_millis(30));
    }

    #[test]
    fn a_changed_token_file_is_reloaded_and_a_bad_one_keeps_the_old_tokens() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("tokens");
        std::fs::write(&file, "old-token * read\n").expect("write");
        let metrics = ReloadMetrics::default();
        let auth = BearerTokenAuthConfig {
            filename: file.to_string_lossy().into_owned(),
            reload_interval: Duration::from_millis(10),
            ..Default::default()
        }
        .authenticator_with("bearertokenauth/t", &metrics)
        .expect("auth");
        assert!(auth.authenticate(&bearer("old-token")).is_ok());
        assert_eq!(
            auth.authenticate(&bearer("new-token")),
            Err(AuthError::Invalid)
        );

        std::fs::write(&file, "new-token * read,write\n").expect("write");
        tick();
        let id = auth.identify(&bearer("new-token")).expect("new token");
        assert!(id.allows(None, Role::Write));
        assert_eq!(
            auth.authenticate(&bearer("old-token")),
            Err(AuthError::Invalid)
        );
        assert_eq!(metrics.counter("bearertokenauth/t", "ok").get(), 1);

        // A bad line: the previous tokens stay, the failure is counted once per change.
        std::fs::write(&file, "bad-token * reed\n").expect("write");
        tick();
        assert!(auth.authenticate(&bearer("new-token")).is_ok());
        assert_eq!(
            auth.authenticate(&bearer("bad-token")),
            Err(AuthError::Invalid)
        );
        tick();
        assert!(auth.authenticate(&bearer("new-token")).is_ok());
        assert_eq!(metrics.counter("bearertokenauth/t", "failed").get(), 1);
        // A removed file too; the file written again is loaded.
        std::fs::remove_file(&file).expect("remove");
        tick();
        assert!(auth.authenticate(&bearer("new-token")).is_ok());
        assert_eq!(metrics.counter("bearertokenauth/t", "failed").get(), 2);
        std::fs::write(&file, "third-token\n").expect("write");
        tick();
        assert!(auth.authenticate(&bearer("third-token")).is_ok());
        assert_eq!(
            auth.authenticate(&bearer("new-token")),
            Err(AuthError::Invalid)
        );
        assert_eq!(metrics.counter("bearertokenauth/t", "ok").get(), 2);
    }

    #[test]
    fn changed_htpasswd_and_roles_files_are_reloaded() {
        let dir = tempfile::tempdir().expect("dir");
        let htpasswd = dir.path().join("htpasswd");
        let roles = dir.path().join("roles");
        std::fs::write(&htpasswd, "alice:pa\n").expect("write");
        std::fs::write(&roles, "alice:a:read\n").expect("write");
        let config = BasicAuthConfig {
            htpasswd: HtpasswdConfig {
                file: htpasswd.to_string_lossy().into_owned(),
                inline: String::new(),
            },
            roles_file: roles.to_string_lossy().into_owned(),
            reload_interval: Duration::from_millis(10),
            ..Default::default()
        };
        let auth = config.authenticator().expect("auth");
        assert!(
            !auth
                .identify(&basic("alice", "pa"))
                .expect("alice")
                .allows(Some("a"), Role::Write)
        );
        assert_eq!(auth.challenge(), "Basic realm=\"spoor\"");

        std::fs::write(&htpasswd, "alice:pa2\nbob:pb\n").expect("write");
        std::fs::write(&roles, "alice:a:read,write\nbob:b:read\n").expect("write");
        tick();
        assert_eq!(
            auth.authenticate(&basic("alice", "pa")),
            Err(AuthError::Invalid)
        );
        let alice = auth.identify(&basic("alice", "pa2")).expect("alice");
        assert!(alice.allows(Some("a"), Role::Write));
        assert!(
            auth.identify(&basic("bob", "pb"))
                .expect("bob")
                .allows(Some("b"), Role::Read)
        );

        // A bad roles file keeps both files' previous contents.
        std::fs::write(&roles, "alice:a:root\n").expect("write");
        std::fs::write(&htpasswd, "carol:pc\n").expect("write");
        tick();
        assert!(auth.authenticate(&basic("alice", "pa2")).is_ok());
        assert!(auth.authenticate(&basic("carol", "pc")).is_err());

        // `0s`: never reloaded.
        let fixed = BasicAuthConfig {
            reload_interval: Duration::from_millis(0),
            ..config
        };
        std::fs::write(&roles, "carol:a:read\n").expect("write");
        let auth = fixed.authenticator().expect("auth");
        std::fs::write(&htpasswd, "dave:pd\n").expect("write");
        tick();
        assert!(auth.authenticate(&basic("carol", "pc")).is_ok());
        assert!(auth.authenticate(&basic("dave", "pd")).is_err());
    }
}
