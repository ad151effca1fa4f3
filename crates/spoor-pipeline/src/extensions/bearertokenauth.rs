//! `extensions.bearertokenauth`: static bearer tokens, as the Collector's extension: `token`,
//! `tokens`, or `filename` (one token per line), in the `header` (default `Authorization`)
//! with the `scheme` prefix (default `Bearer`). Files are read at start-up.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spoor_receivers::auth::{AuthError, Authenticator};

use crate::ConfigError;
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
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        Self {
            scheme: "Bearer".to_string(),
            header: "Authorization".to_string(),
            token: String::new(),
            tokens: Vec::new(),
            filename: String::new(),
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
}

impl BearerTokenAuthConfig {
    /// Reads `filename`; errors name it.
    pub fn authenticator(&self) -> Result<Arc<dyn Authenticator>, ConfigError> {
        let mut tokens: Vec<String> = self.tokens.clone();
        if !self.token.is_empty() {
            tokens.push(self.token.clone());
        }
        if !self.filename.is_empty() {
            let text = std::fs::read_to_string(&self.filename).map_err(|e| {
                ConfigError::new("filename", format!("cannot read {}: {e}", self.filename))
            })?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        if tokens.is_empty() {
            return Err(ConfigError::new("token", "no token configured"));
        }
        let header = http::HeaderName::from_bytes(self.header.as_bytes())
            .map_err(|e| ConfigError::new("header", e.to_string()))?;
        Ok(Arc::new(BearerTokenAuthenticator {
            header,
            scheme: self.scheme.clone(),
            challenge: if self.scheme.is_empty() {
                "Bearer".to_string()
            } else {
                self.scheme.clone()
            },
            tokens: tokens.into_iter().map(String::into_bytes).collect(),
        }))
    }
}

impl Authenticator for BearerTokenAuthenticator {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError> {
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
        match matched {
            Some(i) => Ok(format!("token#{i}")),
            None => Err(AuthError::Invalid),
        }
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
}
