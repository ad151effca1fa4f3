//! `extensions.basicauth`: HTTP Basic authentication of receivers (`auth: {authenticator:
//! basicauth}`) and of the query API (`--query-auth`), as the Collector's extension:
//! `htpasswd.file` and/or `htpasswd.inline`, lines `user:hash` where the hash is bcrypt
//! (`htpasswd -B`, `$2y$…`) or, for tests, the password itself.
//! `client_auth` (credentials an exporter sends) is accepted and not used by exporters yet.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spoor_receivers::auth::{AuthError, Authenticator, Identity};

use super::reload::{ReloadMetrics, Reloading};
use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `extensions.basicauth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuthConfig {
    pub htpasswd: HtpasswdConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuthConfig>,
    /// Roles per user and tenant, lines `user:tenant:role[,role]` (`*`: every tenant); when
    /// set, a user holds only the roles listed (none if not listed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub roles_file: String,
    /// How often `htpasswd.file` and `roles_file` are checked for changes (`0s`: never).
    pub reload_interval: Duration,
}

impl Default for BasicAuthConfig {
    fn default() -> Self {
        Self {
            htpasswd: HtpasswdConfig::default(),
            client_auth: None,
            roles_file: String::new(),
            reload_interval: Duration(super::reload::DEFAULT_RELOAD_INTERVAL),
        }
    }
}

/// `basicauth.htpasswd`: users from a file, inline lines, or both (inline wins on a clash).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HtpasswdConfig {
    pub file: String,
    pub inline: String,
}

/// `basicauth.client_auth` (accepted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    pub username: String,
    pub password: String,
}

impl ComponentConfig for BasicAuthConfig {
    fn validate(&self) -> Vec<ConfigError> {
        if self.htpasswd.file.is_empty()
            && self.htpasswd.inline.trim().is_empty()
            && self.client_auth.is_none()
        {
            return vec![ConfigError::new(
                "htpasswd",
                "set htpasswd.file or htpasswd.inline (the users allowed in)",
            )];
        }
        Vec::new()
    }
    fn into_spec(self) -> Spec {
        Spec::BasicAuth(self)
    }
}

/// One user's stored secret.
#[derive(Debug, Clone)]
enum Secret {
    Bcrypt(String),
    Plain(String),
}

/// The users of a `basicauth` extension, checked on every request.
#[derive(Debug)]
pub struct BasicAuthenticator {
    users: HashMap<String, Secret>,
    grants: Option<HashMap<String, Vec<spoor_receivers::auth::Grant>>>,
}

fn parse_lines(
    text: &str,
    users: &mut HashMap<String, Secret>,
    origin: &str,
) -> Result<(), ConfigError> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(ConfigError::new(
                origin,
                format!("line {} is not user:hash", n + 1),
            ));
        };
        let secret = if hash.starts_with("$2") {
            Secret::Bcrypt(hash.to_string())
        } else if hash.starts_with('$') || hash.starts_with("{SHA}") {
            return Err(ConfigError::new(
                origin,
                format!(
                    "line {}: only bcrypt hashes (htpasswd -B) or plain passwords are supported",
                    n + 1
                ),
            ));
        } else {
            Secret::Plain(hash.to_string())
        };
        users.insert(user.to_string(), secret);
    }
    Ok(())
}

impl BasicAuthConfig {
    /// Reads the htpasswd and roles files; errors name them.
    pub fn authenticator(&self) -> Result<Arc<dyn Authenticator>, ConfigError> {
        self.authenticator_with("basicauth", &ReloadMetrics::default())
    }

    /// The authenticator of extension `id`, reloading its files when they change.
    pub fn authenticator_with(
        &self,
        id: &str,
        metrics: &ReloadMetrics,
    ) -> Result<Arc<dyn Authenticator>, ConfigError> {
        let files = super::reload::files([&self.htpasswd.file, &self.roles_file]);
        let config = self.clone();
        Reloading::start(id, files, self.reload_interval.get(), metrics, move || {
            config.load()
        })
    }

    fn load(&self) -> Result<BasicAuthenticator, ConfigError> {
        let mut users = HashMap::new();
        if !self.htpasswd.file.is_empty() {
            let text = std::fs::read_to_string(&self.htpasswd.file).map_err(|e| {
                ConfigError::new(
                    "htpasswd.file",
                    format!("cannot read {}: {e}", self.htpasswd.file),
                )
            })?;
            parse_lines(&text, &mut users, "htpasswd.file")?;
        }
        parse_lines(&self.htpasswd.inline, &mut users, "htpasswd.inline")?;
        if users.is_empty() {
            return Err(ConfigError::new("htpasswd", "lists no user"));
        }
        let grants =
            if self.roles_file.is_empty() {
                None
            } else {
                let text = std::fs::read_to_string(&self.roles_file).map_err(|e| {
                    ConfigError::new(
                        "roles_file",
                        format!("cannot read {}: {e}", self.roles_file),
                    )
                })?;
                Some(spoor_receivers::auth::parse_grants(&text).map_err(|e| {
                    ConfigError::new("roles_file", format!("{}: {e}", self.roles_file))
                })?)
            };
        Ok(BasicAuthenticator { users, grants })
    }
}

fn decode_basic(headers: &http::HeaderMap) -> Result<(String, String), AuthError> {
    use base64::Engine;
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Invalid)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Invalid);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::Invalid)?;
    let text = String::from_utf8(raw).map_err(|_| AuthError::Invalid)?;
    let (user, password) = text.split_once(':').ok_or(AuthError::Invalid)?;
    Ok((user.to_string(), password.to_string()))
}

impl Authenticator for BasicAuthenticator {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError> {
        let (user, password) = decode_basic(headers)?;
        let ok = match self.users.get(&user) {
            Some(Secret::Bcrypt(hash)) => bcrypt::verify(&password, hash).unwrap_or(false),
            Some(Secret::Plain(p)) => {
                use subtle::ConstantTimeEq;
                p.len() == password.len() && bool::from(p.as_bytes().ct_eq(password.as_bytes()))
            }
            None => false,
        };
        if ok {
            Ok(user)
        } else {
            Err(AuthError::Invalid)
        }
    }

    fn identify(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        let user = self.authenticate(headers)?;
        Ok(match &self.grants {
            Some(grants) => {
                let mine = grants.get(&user).cloned().unwrap_or_default();
                Identity::with_grants(user, mine)
            }
            None => Identity::user(user),
        })
    }

    fn challenge(&self) -> &str {
        "Basic realm=\"spoor\""
    }

    fn login(&self) -> spoor_receivers::auth::LoginMethod {
        spoor_receivers::auth::LoginMethod::Basic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> http::HeaderMap {
        use base64::Engine;
        let mut h = http::HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Basic {v}")).expect("header"),
        );
        h
    }

    #[test]
    fn bcrypt_and_plain_users_are_checked() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let config = BasicAuthConfig {
            htpasswd: HtpasswdConfig {
                file: String::new(),
                inline: format!("alice:{hash}\nbob:plainpw\n# comment\n"),
            },
            client_auth: None,
            roles_file: String::new(),
            ..Default::default()
        };
        let auth = config.authenticator().expect("auth");
        assert_eq!(
            auth.authenticate(&basic("alice", "s3cret")),
            Ok("alice".into())
        );
        assert_eq!(
            auth.authenticate(&basic("bob", "plainpw")),
            Ok("bob".into())
        );
        assert_eq!(
            auth.authenticate(&basic("alice", "wrong")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.authenticate(&basic("bob", "plainp")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.authenticate(&basic("eve", "s3cret")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.authenticate(&http::HeaderMap::new()),
            Err(AuthError::Missing)
        );
        let mut bearer = http::HeaderMap::new();
        bearer.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer x"),
        );
        assert_eq!(auth.authenticate(&bearer), Err(AuthError::Invalid));
    }

    #[test]
    fn unsupported_hashes_and_missing_files_are_config_errors() {
        let md5 = BasicAuthConfig {
            htpasswd: HtpasswdConfig {
                file: String::new(),
                inline: "alice:$apr1$abc$def".into(),
            },
            client_auth: None,
            roles_file: String::new(),
            ..Default::default()
        };
        assert!(md5.authenticator().is_err());
        let missing = BasicAuthConfig {
            htpasswd: HtpasswdConfig {
                file: "/nonexistent/htpasswd".into(),
                inline: String::new(),
            },
            client_auth: None,
            roles_file: String::new(),
            ..Default::default()
        };
        let e = missing.authenticator().err().expect("error");
        assert!(e.to_string().contains("/nonexistent/htpasswd"), "{e}");
        assert!(!BasicAuthConfig::default().validate().is_empty());
    }

    #[test]
    fn roles_file_grants_roles_per_tenant() {
        use spoor_receivers::auth::Role;
        let dir = std::env::temp_dir().join(format!("spoor-roles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let roles = dir.join("roles");
        std::fs::write(&roles, "# roles\nalice:a:read,write\nroot:*:admin\n").expect("write");
        let config = BasicAuthConfig {
            htpasswd: HtpasswdConfig {
                file: String::new(),
                inline: "alice:pa\nroot:pr\neve:pe\n".into(),
            },
            client_auth: None,
            roles_file: roles.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let auth = config.authenticator().expect("auth");
        let alice = auth.identify(&basic("alice", "pa")).expect("alice");
        assert_eq!(alice.tenant.as_deref(), Some("a"));
        assert!(alice.allows(Some("a"), Role::Write));
        assert!(!alice.allows(Some("b"), Role::Read));
        assert!(!alice.allows(Some("a"), Role::Admin));
        let root = auth.identify(&basic("root", "pr")).expect("root");
        assert_eq!(root.tenant, None);
        assert!(root.allows(Some("b"), Role::Admin) && root.allows(None, Role::Admin));
        let eve = auth.identify(&basic("eve", "pe")).expect("eve");
        assert!(!eve.allows(None, Role::Read));
        std::fs::write(&roles, "alice:a:root\n").expect("write");
        let e = config.authenticator().err().expect("bad role");
        assert!(e.to_string().contains("unknown role"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
