//! `extensions.oidc`: JSON Web Tokens (`Authorization: Bearer <jwt>`) checked against the keys of
//! a JWKS file, as the Collector's `oidc` authenticator: the signature (RS256 or ES256), `iss`
//! (`issuer_url`), `aud` (`audience`), `exp` and `nbf`; the user is `username_claim`.
//! Spoor reads the keys from `jwks_file` (written by whatever fetches the issuer's JWKS) at
//! start-up; discovery over the network is not done.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use spoor_receivers::auth::{AuthError, Authenticator, Grant, Identity, Role};

use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 60;

/// `extensions.oidc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The issuer every token's `iss` must equal.
    pub issuer_url: String,
    /// The value the token's `aud` must be or contain; empty: not checked.
    pub audience: String,
    /// The claim naming the user.
    pub username_claim: String,
    /// The claim listing the user's groups (accepted, not used).
    pub groups_claim: String,
    /// The claim naming the user's tenant (a string); empty: none.
    pub tenant_claim: String,
    /// The claim listing the user's roles (`read`, `write`, `admin`, or `tenant:role`; a bare
    /// role is on the `tenant_claim` tenant, else on every tenant); empty: roles not checked.
    pub roles_claim: String,
    /// The issuer's JSON Web Key Set (`{"keys": [...]}`), RSA and P-256 keys.
    pub jwks_file: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer_url: String::new(),
            audience: String::new(),
            username_claim: "sub".to_string(),
            groups_claim: String::new(),
            tenant_claim: String::new(),
            roles_claim: String::new(),
            jwks_file: String::new(),
        }
    }
}

impl ComponentConfig for OidcConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.issuer_url.is_empty() {
            errors.push(ConfigError::new("issuer_url", "is required"));
        }
        if self.jwks_file.is_empty() {
            errors.push(ConfigError::new(
                "jwks_file",
                "is required (Spoor does not fetch keys over the network)",
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::Oidc(self)
    }
}

enum KeyKind {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
}

struct Key {
    kid: Option<String>,
    kind: KeyKind,
}

/// The keys and expectations of an `oidc` extension.
pub struct OidcAuthenticator {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    username_claim: String,
    tenant_claim: String,
    roles_claim: String,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

impl OidcConfig {
    /// Reads the JWKS file; errors name it.
    pub fn authenticator(&self) -> Result<Arc<dyn Authenticator>, ConfigError> {
        let text = std::fs::read_to_string(&self.jwks_file).map_err(|e| {
            ConfigError::new("jwks_file", format!("cannot read {}: {e}", self.jwks_file))
        })?;
        let jwks: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ConfigError::new("jwks_file", format!("not a JWKS: {e}")))?;
        let mut keys = Vec::new();
        for k in jwks["keys"].as_array().into_iter().flatten() {
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
            return Err(ConfigError::new(
                "jwks_file",
                "holds no usable key (RSA, or EC P-256)",
            ));
        }
        Ok(Arc::new(OidcAuthenticator {
            keys,
            issuer: self.issuer_url.clone(),
            audience: self.audience.clone(),
            username_claim: self.username_claim.clone(),
            tenant_claim: self.tenant_claim.clone(),
            roles_claim: self.roles_claim.clone(),
        }))
    }
}

impl OidcAuthenticator {
    fn verify_signature(&self, alg: &str, kid: Option<&str>, message: &[u8], sig: &[u8]) -> bool {
        use ring::signature::{
            ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
            UnparsedPublicKey,
        };
        self.keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
            .any(|k| match (&k.kind, alg) {
                (KeyKind::Rsa { n, e }, "RS256") => RsaPublicKeyComponents { n, e }
                    .verify(&RSA_PKCS1_2048_8192_SHA256, message, sig)
                    .is_ok(),
                (KeyKind::P256(point), "ES256") => {
                    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                        .verify(message, sig)
                        .is_ok()
                }
                _ => false,
            })
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Authenticator for OidcAuthenticator {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError> {
        self.identify(headers).map(|i| i.user)
    }

    fn identify(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        let claims = self.claims(headers)?;
        let user = claims[self.username_claim.as_str()]
            .as_str()
            .map(str::to_string)
            .ok_or(AuthError::Invalid)?;
        let tenant = (!self.tenant_claim.is_empty())
            .then(|| {
                claims[self.tenant_claim.as_str()]
                    .as_str()
                    .map(str::to_string)
            })
            .flatten();
        if self.roles_claim.is_empty() {
            return Ok(Identity {
                user,
                tenant,
                grants: None,
            });
        }
        let grants = claims[self.roles_claim.as_str()]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .filter_map(|r| match r.split_once(':') {
                Some((t, role)) => Some(Grant {
                    tenant: t.to_string(),
                    role: Role::parse(role)?,
                }),
                None => Some(Grant {
                    tenant: tenant.clone().unwrap_or_else(|| "*".to_string()),
                    role: Role::parse(r)?,
                }),
            })
            .collect();
        Ok(Identity {
            user,
            tenant,
            grants: Some(grants),
        })
    }

    fn challenge(&self) -> &str {
        "Bearer realm=\"spoor\""
    }
}

impl OidcAuthenticator {
    /// The claims of a valid token.
    fn claims(&self, headers: &http::HeaderMap) -> Result<serde_json::Value, AuthError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?
            .to_str()
            .map_err(|_| AuthError::Invalid)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Invalid);
        }
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Invalid);
        };
        let header: serde_json::Value = serde_json::from_slice(&b64(h).ok_or(AuthError::Invalid)?)
            .map_err(|_| AuthError::Invalid)?;
        let alg = header["alg"].as_str().ok_or(AuthError::Invalid)?;
        let sig = b64(s).ok_or(AuthError::Invalid)?;
        let signed = &token.trim()[..h.len() + 1 + p.len()];
        if !self.verify_signature(alg, header["kid"].as_str(), signed.as_bytes(), &sig) {
            return Err(AuthError::Invalid);
        }
        let claims: serde_json::Value = serde_json::from_slice(&b64(p).ok_or(AuthError::Invalid)?)
            .map_err(|_| AuthError::Invalid)?;
        if claims["iss"].as_str() != Some(self.issuer.as_str()) {
            return Err(AuthError::Invalid);
        }
        if !self.audience.is_empty() {
            let aud = &claims["aud"];
            let ok = aud.as_str() == Some(self.audience.as_str())
                || aud
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(self.audience.as_str())));
            if !ok {
                return Err(AuthError::Invalid);
            }
        }
        let now = now_secs();
        match claims["exp"].as_i64() {
            Some(exp) if exp + LEEWAY_SECS > now => {}
            _ => return Err(AuthError::Invalid),
        }
        if claims["nbf"]
            .as_i64()
            .is_some_and(|nbf| nbf - LEEWAY_SECS > now)
        {
            return Err(AuthError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    fn enc(v: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    fn es256_token(key: &EcdsaKeyPair, kid: &str, claims: &serde_json::Value) -> String {
        let header = enc(serde_json::json!({"alg": "ES256", "kid": kid})
            .to_string()
            .as_bytes());
        let payload = enc(claims.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let sig = key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", enc(sig.as_ref()))
    }

    fn bearer(token: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        h
    }

    #[test]
    fn es256_tokens_are_verified_against_the_jwks() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key");
        let other_pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let other =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, other_pkcs8.as_ref(), &rng)
                .expect("key");
        let point = key.public_key().as_ref();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "ec-1",
            "x": enc(&point[1..33]), "y": enc(&point[33..65]),
        }]});
        let dir = std::env::temp_dir().join(format!("spoor-oidc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("jwks.json");
        std::fs::write(&file, jwks.to_string()).expect("write");
        let auth = OidcConfig {
            issuer_url: "https://idp.test".into(),
            audience: "spoor".into(),
            jwks_file: file.to_string_lossy().into_owned(),
            ..Default::default()
        }
        .authenticator()
        .expect("auth");
        let with_roles = OidcConfig {
            issuer_url: "https://idp.test".into(),
            jwks_file: file.to_string_lossy().into_owned(),
            tenant_claim: "org".into(),
            roles_claim: "roles".into(),
            ..Default::default()
        }
        .authenticator()
        .expect("auth");
        let _ = std::fs::remove_dir_all(&dir);

        let now = now_secs();
        let claims = serde_json::json!({"iss": "https://idp.test", "aud": "spoor", "sub": "u1", "exp": now + 60});
        assert_eq!(
            auth.authenticate(&bearer(&es256_token(&key, "ec-1", &claims))),
            Ok("u1".to_string())
        );
        assert_eq!(
            auth.authenticate(&bearer(&es256_token(&other, "ec-1", &claims))),
            Err(AuthError::Invalid)
        );
        let expired = serde_json::json!({"iss": "https://idp.test", "aud": "spoor", "sub": "u1", "exp": now - 600});
        assert_eq!(
            auth.authenticate(&bearer(&es256_token(&key, "ec-1", &expired))),
            Err(AuthError::Invalid)
        );
        // `alg: none` and an RS256 header over an EC key are refused.
        let none = format!(
            "{}.{}.",
            enc(br#"{"alg":"none"}"#),
            enc(claims.to_string().as_bytes())
        );
        assert_eq!(auth.authenticate(&bearer(&none)), Err(AuthError::Invalid));
        assert_eq!(
            auth.authenticate(&http::HeaderMap::new()),
            Err(AuthError::Missing)
        );

        // Tenant and roles from claims: a bare role is on the token's tenant.
        let claims = serde_json::json!({"iss": "https://idp.test", "sub": "u2", "exp": now + 60,
            "org": "a", "roles": ["read", "b:write", "bogus"]});
        let id = with_roles
            .identify(&bearer(&es256_token(&key, "ec-1", &claims)))
            .expect("identity");
        assert_eq!((id.user.as_str(), id.tenant.as_deref()), ("u2", Some("a")));
        assert!(id.allows(Some("a"), Role::Read) && id.allows(Some("b"), Role::Write));
        assert!(!id.allows(Some("a"), Role::Write) && !id.allows(Some("b"), Role::Read));
        // Without the roles claim the token holds no role; the plain authenticator checks none.
        let bare = serde_json::json!({"iss": "https://idp.test", "sub": "u3", "exp": now + 60});
        let id = with_roles
            .identify(&bearer(&es256_token(&key, "ec-1", &bare)))
            .expect("identity");
        assert!(!id.allows(None, Role::Read));
    }
}
