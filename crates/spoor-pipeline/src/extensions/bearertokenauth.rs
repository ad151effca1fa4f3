//! `extensions.bearertokenauth`: static bearer tokens, as the Collector's extension: `token`,
//! `tokens`, or `filename` (one token per line), in the `header` (default `Authorization`)
//! with the `scheme` prefix (default `Bearer`). The file is read at start-up and again when it
//! changes (checked at most once per `reload_interval`, see `reload.rs`).
//!
//! A line of `filename` may give the token's tenant and roles after it, separated by white
//! space: `TOKEN TENANT ROLE[,ROLE…]` (`*`: every tenant; roles `read`, `write`, `admin`).
//! Once any line names roles, every token holds only the roles named for it (a bare token, or
//! one of `token`/`tokens`, holds none); otherwise tokens are not checked for roles.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spoor_receivers::auth::{AuthError, Authenticator, Grant, Identity, Role};

use super::reload::{ReloadMetrics, Reloading};
use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `extensions.bearertokenauth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerTokenAuthConfig {
    pub scheme: String,
    pub header: String,
    pub token: String,
    pub tokens: Vec<String>,
    pub filename: String,
    /// How often `filename` is checked for changes (`0s`: never; Spoor's option).
    pub reload_interval: Duration,
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        Self {
            scheme: "Bearer".to_string(),
            header: "Authorization".to_string(),
            token: String::new(),
            tokens: Vec::new(),
            filename: String::new(),
            reload_interval: Duration(super::reload::DEFAULT_RELOAD_INTERVAL),
        }
    }
}

impl ComponentConfig for BearerTokenAuthConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.token.is_empty() && self.tokens.is_empty() && self.filename.is_empty() {
            errors.push(ConfigError::new("token", "set token, tokens or filename"));
        }
        if http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            errors.push(ConfigError::new(
                "header",
                format!("invalid header name {:?}", self.header),
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::BearerTokenAuth(self)
    }
}

/// The accepted tokens of a `bearertokenauth` extension.
pub struct BearerTokenAuthenticator {
    header: http::HeaderName,
    scheme: String,
    challenge: String,
    tokens: Vec<Vec<u8>>,
    /// Per token (same index), its grants, when the file names roles.
    grants: Option<Vec<Vec<Grant>>>,
}

/// One line of a token file: the token and, when given, its grants.
fn parse_line(line: &str, n: usize) -> Result<(String, Option<Vec<Grant>>), ConfigError> {
    let mut fields = line.split_whitespace();
    let token = fields.next().unwrap_or_default().to_string();
    let (tenant, roles) = match (fields.next(), fields.next(), fields.next()) {
        (None, _, _) => return Ok((token, None)),
        (Some(tenant), Some(roles), None) => (tenant, roles),
        _ => {
            return Err(ConfigError::new(
                "filename",
                format!("line {n} is not TOKEN or TOKEN TENANT ROLE[,ROLE]"),
            ));
        }
    };
    let grants = roles
        .split(',')
        .map(|r| {
            Role::parse(r)
                .map(|role| Grant {
                    tenant: tenant.to_string(),
                    role,
                })
                .ok_or_else(|| {
                    ConfigError::new(
                        "filename",
                        format!("line {n}: unknown role {r:?} (read, write or admin)"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((token, Some(grants)))
}

impl BearerTokenAuthConfig {
    /// Reads `filename`; errors name it.
    pub fn authenticator(&self) -> Result<Arc<dyn Authenticator>, ConfigError> {
        self.authenticator_with("bearertokenauth", &ReloadMetrics::default())
    }

    /// The authenticator of extension `id`, reloading `filename` when it changes.
    pub fn authenticator_with(
        &self,
        id: &str,
        metrics: &ReloadMetrics,
    ) -> Result<Arc<dyn Authenticator>, ConfigError> {
        let files = super::reload::files([&self.filename]);
        let config = self.clone();
        Reloading::start(id, files, self.reload_interval.get(), metrics, move || {
            config.load()
        })
    }

    fn load(&self) -> Result<BearerTokenAuthenticator, ConfigError> {
        let mut tokens: Vec<String> = self.tokens.clone();
        if !self.token.is_empty() {
            tokens.push(self.token.clone());
        }
        let mut grants: Vec<Vec<Grant>> = vec![Vec::new(); tokens.len()];
        let mut any_roles = false;
        if !self.filename.is_empty() {
            let text = std::fs::read_to_string(&self.filename).map_err(|e| {
                ConfigError::new("filename", format!("cannot read {}: {e}", self.filename))
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (token, granted) = parse_line(line, n + 1)?;
                any_roles |= granted.is_some();
                tokens.push(token);
                grants.push(granted.unwrap_or_default());
            }
        }
        if tokens.is_empty() {
            return Err(ConfigError::new("token", "no token configured"));
        }
        let header = http::HeaderName::from_bytes(self.header.as_bytes())
            .map_err(|e| ConfigError::new("header", e.to_string()))?;
        Ok(BearerTokenAuthenticator {
            header,
            scheme: self.scheme.clone(),
            challenge: if self.scheme.is_empty() {
                "Bearer".to_string()
            } else {
                self.scheme.clone()
            },
            tokens: tokens.into_iter().map(String::into_bytes).collect(),
            grants: any_roles.then_some(grants),
        })
    }
}

impl BearerTokenAuthenticator {
    /// The index of the presented token.
    fn matched(&self, headers: &http::HeaderMap) -> Result<usize, AuthError> {
        use subtle::ConstantTimeEq;
        let value = headers.get(&self.header).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Invalid)?.trim();
        let presented = if self.scheme.is_empty() {
            value
        } else {
            let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid)?;
            if !scheme.eq_ignore_ascii_case(&self.scheme) {
                return Err(AuthError::Invalid);
            }
            token.trim()
        };
        let matched = self.tokens.iter().position(|t| {
            t.len() == presented.len() && bool::from(t.as_slice().ct_eq(presented.as_bytes()))
        });
        matched.ok_or(AuthError::Invalid)
    }
}

impl Authenticator for BearerTokenAuthenticator {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError> {
        self.matched(headers).map(|i| format!("token#{i}"))
    }

    fn identify(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        let i = self.matched(headers)?;
        let user = format!("token#{i}");
        Ok(match &self.grants {
            None => Identity::user(user),
            Some(grants) => Identity::with_grants(user, grants.get(i).cloned().unwrap_or_default()),
        })
    }

    fn challenge(&self) -> &str {
        &self.challenge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(header: &'static str, value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(header, http::HeaderValue::from_str(value).expect("value"));
        h
    }

    #[test]
    fn tokens_from_every_source_are_accepted_and_others_refused() {
        let dir = std::env::temp_dir().join(format!("spoor-bearer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("tokens");
        std::fs::write(&file, "# team tokens\nfile-token\n\n").expect("write");
        let config = BearerTokenAuthConfig {
            token: "one".into(),
            tokens: vec!["two".into()],
            filename: file.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let auth = config.authenticator().expect("auth");
        for t in ["one", "two", "file-token"] {
            assert!(
                auth.authenticate(&with("authorization", &format!("Bearer {t}")))
                    .is_ok(),
                "{t}"
            );
        }
        assert!(
            auth.authenticate(&with("authorization", "bearer one"))
                .is_ok()
        );
        assert_eq!(
            auth.authenticate(&with("authorization", "Bearer three")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.authenticate(&with("authorization", "Basic one")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.authenticate(&http::HeaderMap::new()),
            Err(AuthError::Missing)
        );
        let _ = std::fs::remove_dir_all(&dir);

        let custom = BearerTokenAuthConfig {
            header: "x-api-key".into(),
            scheme: String::new(),
            token: "k".into(),
            ..Default::default()
        }
        .authenticator()
        .expect("auth");
        assert!(custom.authenticate(&with("x-api-key", "k")).is_ok());
        assert_eq!(
            custom.authenticate(&with("authorization", "Bearer k")),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn token_file_lines_grant_tenants_and_roles() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("tokens");
        std::fs::write(
            &file,
            "# token tenant roles\nreader-a a read\nops * read,write,admin\nbare\n",
        )
        .expect("write");
        let auth = BearerTokenAuthConfig {
            token: "inline".into(),
            filename: file.to_string_lossy().into_owned(),
            ..Default::default()
        }
        .authenticator()
        .expect("auth");
        let id = |t: &str| {
            auth.identify(&with("authorization", &format!("Bearer {t}")))
                .expect("identity")
        };
        let reader = id("reader-a");
        assert_eq!(reader.tenant.as_deref(), Some("a"));
        assert!(reader.allows(Some("a"), Role::Read));
        assert!(!reader.allows(Some("a"), Role::Write) && !reader.allows(Some("b"), Role::Read));
        let ops = id("ops");
        assert_eq!(ops.tenant, None);
        for role in [Role::Read, Role::Write, Role::Admin] {
            assert!(ops.allows(Some("b"), role) && ops.allows(None, role));
        }
        // Once the file names roles, tokens without any hold none.
        assert!(!id("bare").allows(None, Role::Read));
        assert!(!id("inline").allows(None, Role::Read));

        for (bad, why) in [
            ("t a\n", "line 1 is not TOKEN"),
            ("t a read extra\n", "line 1 is not TOKEN"),
            ("\nt a reed\n", "line 2: unknown role \"reed\""),
        ] {
            std::fs::write(&file, bad).expect("write");
            let err = BearerTokenAuthConfig {
                filename: file.to_string_lossy().into_owned(),
                ..Default::default()
            }
            .authenticator()
            .err()
            .expect("refused");
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
        }
    }
}
