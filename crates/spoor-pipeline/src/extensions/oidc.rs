//! `extensions.oidc`: JSON Web Tokens (`Authorization: Bearer <jwt>`) checked as the Collector's
//! `oidc` authenticator does: the signature (RS256 or ES256) against the issuer's keys, `iss`
//! (`issuer_url`), `aud` (`audience`), `exp` and `nbf`; the user is `username_claim`.
//! The keys come from `jwks_file`, `jwks_url`, or the issuer's discovery document (see
//! `oidc_keys.rs`), fetched with the exporters' client `tls` settings (or `issuer_ca_path`).
//! Roles come from `roles_claim` and from the groups of `groups_claim` through `group_roles`;
//! a `jwks_file` is read again when it changes (`reload.rs`).
//! On the query port, the UI logs in at `issuer_url` with the authorization-code flow (PKCE) as
//! the public client `audience` ([`Authenticator::login`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spoor_receivers::auth::{AuthError, Authenticator, Grant, Identity, LoginMethod, Role};

use super::oidc_keys::{KeyKind, KeySource, b64};
use super::reload::{ReloadMetrics, Reloading};
use crate::ConfigError;
use crate::config::Duration;
use crate::exporters::TlsClientSettings;
use crate::registry::{ComponentConfig, Spec};

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 60;

/// `extensions.oidc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The issuer every token's `iss` must equal; its discovery document names the keys when
    /// neither `jwks_file` nor `jwks_url` is set.
    pub issuer_url: String,
    /// A PEM file of the CAs that sign the issuer's certificate (as the Collector's option;
    /// the same as `tls.ca_file`).
    pub issuer_ca_path: String,
    /// The value the token's `aud` must be or contain; empty: not checked. It is also the
    /// client id of the UI's login.
    pub audience: String,
    /// The claim naming the user.
    pub username_claim: String,
    /// The claim listing the user's groups (a string or an array of strings); they grant
    /// roles through `group_roles`.
    pub groups_claim: String,
    /// The claim naming the user's tenant (a string); empty: none.
    pub tenant_claim: String,
    /// The claim listing the user's roles, an array or one string (`read`, `write`, `admin`,
    /// or `tenant:role`; a bare role is on the `tenant_claim` tenant, else on every tenant);
    /// empty, and no `group_roles`: roles not checked.
    pub roles_claim: String,
    /// Roles granted by membership of a group of `groups_claim`: group name to roles, each
    /// written as in `roles_claim` (`read`, or `tenant:read`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group_roles: BTreeMap<String, Vec<String>>,
    /// The issuer's JSON Web Key Set (`{"keys": [...]}`), RSA and P-256 keys, read at start
    /// and again when it changes.
    pub jwks_file: String,
    /// How often `jwks_file` is checked for changes (`0s`: never).
    pub reload_interval: Duration,
    /// The URL of the issuer's JWKS (instead of the discovery document's `jwks_uri`).
    pub jwks_url: String,
    /// The shortest time between two fetches of the JWKS after tokens with an unknown `kid`.
    pub jwks_refresh_interval: Duration,
    /// TLS of the requests to the issuer (the exporters' client settings).
    pub tls: TlsClientSettings,
    /// Deadline of one request to the issuer.
    pub timeout: Duration,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer_url: String::new(),
            issuer_ca_path: String::new(),
            audience: String::new(),
            username_claim: "sub".to_string(),
            groups_claim: String::new(),
            tenant_claim: String::new(),
            roles_claim: String::new(),
            group_roles: BTreeMap::new(),
            jwks_file: String::new(),
            reload_interval: Duration(super::reload::DEFAULT_RELOAD_INTERVAL),
            jwks_url: String::new(),
            jwks_refresh_interval: Duration::from_secs(60),
            tls: TlsClientSettings::default(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl ComponentConfig for OidcConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.issuer_url.is_empty() {
            errors.push(ConfigError::new("issuer_url", "is required"));
        }
        if !self.jwks_file.is_empty() && !self.jwks_url.is_empty() {
            errors.push(ConfigError::new(
                "jwks_url",
                "set either jwks_file or jwks_url, not both",
            ));
        }
        if !self.issuer_ca_path.is_empty() && !self.tls.ca_file.is_empty() {
            errors.push(ConfigError::new(
                "issuer_ca_path",
                "set either issuer_ca_path or tls.ca_file, not both",
            ));
        }
        if self.timeout.get().is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
        if !self.group_roles.is_empty() && self.groups_claim.is_empty() {
            errors.push(ConfigError::new(
                "group_roles",
                "needs groups_claim (the claim listing the groups)",
            ));
        }
        for (group, roles) in &self.group_roles {
            for role in roles {
                if parse_role(role, None).is_none() {
                    errors.push(ConfigError::new(
                        format!("group_roles.{group}"),
                        format!("unknown role {role:?} (read, write, admin, or tenant:role)"),
                    ));
                }
            }
        }
        self.tls.check(&mut errors);
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::Oidc(self)
    }
}

/// The keys and expectations of an `oidc` extension.
pub struct OidcAuthenticator {
    keys: KeySource,
    issuer: String,
    audience: String,
    username_claim: String,
    groups_claim: String,
    tenant_claim: String,
    roles_claim: String,
    group_roles: BTreeMap<String, Vec<String>>,
}

/// A role as `roles_claim` and `group_roles` write it: `role` (on `tenant`, else on every
/// tenant) or `tenant:role`.
fn parse_role(text: &str, tenant: Option<&str>) -> Option<Grant> {
    match text.split_once(':') {
        Some((t, role)) if !t.trim().is_empty() => Some(Grant {
            tenant: t.trim().to_string(),
            role: Role::parse(role)?,
        }),
        Some(_) => None,
        None => Some(Grant {
            tenant: tenant.unwrap_or("*").to_string(),
            role: Role::parse(text)?,
        }),
    }
}

impl OidcConfig {
    /// Reads the JWKS file, or fetches the keys from the issuer; errors name the source.
    pub fn authenticator(&self) -> Result<Arc<dyn Authenticator>, ConfigError> {
        self.authenticator_with("oidc", &ReloadMetrics::default())
    }

    /// The authenticator of extension `id`; a `jwks_file` is read again when it changes.
    pub fn authenticator_with(
        &self,
        id: &str,
        metrics: &ReloadMetrics,
    ) -> Result<Arc<dyn Authenticator>, ConfigError> {
        if !self.jwks_file.is_empty() {
            let config = self.clone();
            let files = super::reload::files([&self.jwks_file]);
            return Reloading::start(id, files, self.reload_interval.get(), metrics, move || {
                let keys = KeySource::file(&config.jwks_file)
                    .map_err(|e| ConfigError::new("jwks_file", e))?;
                Ok(config.with_keys(keys))
            });
        }
        let mut client = crate::exporters::ClientSettings {
            tls: self.tls.clone(),
            timeout: self.timeout,
            ..Default::default()
        };
        if !self.issuer_ca_path.is_empty() {
            client.tls.ca_file = self.issuer_ca_path.clone();
        }
        let client = crate::exporters::http_client(&client)
            .map_err(|e| ConfigError::new("tls", e.to_string()))?;
        let option = if self.jwks_url.is_empty() {
            "issuer_url"
        } else {
            "jwks_url"
        };
        let keys = KeySource::remote(
            client,
            &self.issuer_url,
            &self.jwks_url,
            self.jwks_refresh_interval.get(),
        )
        .map_err(|e| ConfigError::new(option, format!("cannot load the signing keys: {e}")))?;
        Ok(Arc::new(self.with_keys(keys)))
    }

    fn with_keys(&self, keys: KeySource) -> OidcAuthenticator {
        OidcAuthenticator {
            keys,
            issuer: self.issuer_url.clone(),
            audience: self.audience.clone(),
            username_claim: self.username_claim.clone(),
            groups_claim: self.groups_claim.clone(),
            tenant_claim: self.tenant_claim.clone(),
            roles_claim: self.roles_claim.clone(),
            group_roles: self.group_roles.clone(),
        }
    }
}

impl OidcAuthenticator {
    fn verify_signature(&self, alg: &str, kid: Option<&str>, message: &[u8], sig: &[u8]) -> bool {
        use ring::signature::{
            ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
            UnparsedPublicKey,
        };
        self.keys
            .keys()
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

/// The strings of a claim that is a string or an array of strings.
fn strings(claim: &serde_json::Value) -> impl Iterator<Item = &str> {
    claim.as_str().into_iter().chain(
        claim
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()),
    )
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
        if self.roles_claim.is_empty() && self.group_roles.is_empty() {
            return Ok(Identity {
                user,
                tenant,
                grants: None,
            });
        }
        let mut grants: Vec<Grant> = Vec::new();
        if !self.roles_claim.is_empty() {
            grants.extend(
                strings(&claims[self.roles_claim.as_str()])
                    .filter_map(|r| parse_role(r, tenant.as_deref())),
            );
        }
        if !self.groups_claim.is_empty() {
            for group in strings(&claims[self.groups_claim.as_str()]) {
                for role in self.group_roles.get(group).into_iter().flatten() {
                    grants.extend(parse_role(role, tenant.as_deref()));
                }
            }
        }
        Ok(Identity {
            user,
            tenant,
            grants: Some(grants),
        })
    }

    fn challenge(&self) -> &str {
        "Bearer realm=\"spoor\""
    }

    fn login(&self) -> LoginMethod {
        if self.audience.is_empty() {
            return LoginMethod::Bearer;
        }
        let mut scope = "openid profile email".to_string();
        if self.groups_claim == "groups" {
            scope.push_str(" groups");
        }
        LoginMethod::Oidc {
            issuer: self.issuer.clone(),
            client_id: self.audience.clone(),
            scope,
        }
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
        let kid = header["kid"].as_str();
        // A key id not among the keys: the provider may have rotated them.
        if let Some(kid) = kid
            && !self.keys.knows(kid)
        {
            self.keys.refresh_for_unknown_kid();
        }
        if !self.verify_signature(alg, kid, signed.as_bytes(), &sig) {
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
    use base64::Engine;
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

    #[test]
    fn groups_grant_the_roles_of_group_roles() {
        let (key, public) = ec_key();
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("jwks.json");
        std::fs::write(
            &file,
            serde_json::json!({"keys": [jwk(&public, "g")]}).to_string(),
        )
        .expect("write");
        let config = OidcConfig {
            issuer_url: "https://idp.test".into(),
            jwks_file: file.to_string_lossy().into_owned(),
            groups_claim: "groups".into(),
            tenant_claim: "org".into(),
            group_roles: BTreeMap::from([
                ("readers".to_string(), vec!["read".to_string()]),
                (
                    "ops".to_string(),
                    vec!["*:admin".to_string(), "b:write".to_string()],
                ),
            ]),
            ..Default::default()
        };
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        let auth = config.authenticator().expect("auth");
        let now = now_secs();
        let id = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({"iss": "https://idp.test", "sub": "u",
                "exp": now + 60, "org": "a"});
            if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            auth.identify(&bearer(&es256_token(&key, "g", &claims)))
                .expect("identity")
        };
        // An array of groups: a bare role is on the token's tenant.
        let reader = id(serde_json::json!({"groups": ["staff", "readers"]}));
        assert!(reader.allows(Some("a"), Role::Read));
        assert!(!reader.allows(Some("b"), Role::Read) && !reader.allows(Some("a"), Role::Write));
        // A single group as a string; `tenant:role` names the tenant.
        let ops = id(serde_json::json!({"groups": "ops"}));
        assert!(ops.allows(Some("a"), Role::Admin) && ops.allows(Some("b"), Role::Write));
        assert!(!ops.allows(Some("a"), Role::Read));
        // No group, an unknown group, or a claim of another type: no role at all.
        for extra in [
            serde_json::json!({}),
            serde_json::json!({"groups": ["staff"]}),
            serde_json::json!({"groups": {"readers": true}}),
        ] {
            let none = id(extra.clone());
            for role in [Role::Read, Role::Write, Role::Admin] {
                assert!(!none.allows(Some("a"), role), "{extra}: {role:?}");
            }
        }

        // With roles_claim too, the grants add up.
        let both = OidcConfig {
            roles_claim: "roles".into(),
            ..config.clone()
        }
        .authenticator()
        .expect("auth");
        let claims = serde_json::json!({"iss": "https://idp.test", "sub": "u", "exp": now + 60,
            "org": "a", "roles": "write", "groups": ["readers"]});
        let id = both
            .identify(&bearer(&es256_token(&key, "g", &claims)))
            .expect("identity");
        assert!(id.allows(Some("a"), Role::Read) && id.allows(Some("a"), Role::Write));

        // Unknown roles, and group_roles without groups_claim, are configuration errors.
        let bad = OidcConfig {
            groups_claim: String::new(),
            group_roles: BTreeMap::from([(
                "g".to_string(),
                vec!["reed".to_string(), ":read".to_string()],
            )]),
            ..config
        };
        let errors: Vec<String> = bad.validate().iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("groups_claim"), "{errors:?}");
        assert!(errors[1].contains("group_roles.g") && errors[1].contains("\"reed\""));
    }

    #[test]
    fn a_changed_jwks_file_is_reloaded_and_a_bad_one_keeps_the_keys() {
        let (key1, public1) = ec_key();
        let (key2, public2) = ec_key();
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("jwks.json");
        let write = |keys: serde_json::Value| {
            std::fs::write(&file, serde_json::json!({ "keys": keys }).to_string()).expect("write")
        };
        write(serde_json::json!([jwk(&public1, "k1")]));
        let metrics = ReloadMetrics::default();
        let auth = OidcConfig {
            issuer_url: "https://idp.test".into(),
            jwks_file: file.to_string_lossy().into_owned(),
            reload_interval: Duration::from_millis(10),
            ..Default::default()
        }
        .authenticator_with("oidc/t", &metrics)
        .expect("auth");
        let claims =
            serde_json::json!({"iss": "https://idp.test", "sub": "u", "exp": now_secs() + 60});
        let t1 = bearer(&es256_token(&key1, "k1", &claims));
        let t2 = bearer(&es256_token(&key2, "k2", &claims));
        assert!(auth.authenticate(&t1).is_ok());
        assert_eq!(auth.authenticate(&t2), Err(AuthError::Invalid));
        let tick = || std::thread::sleep(std::time::Duration::from_millis(30));

        // The provider rotated its key: the file now holds only k2.
        write(serde_json::json!([jwk(&public2, "k2")]));
        tick();
        assert!(auth.authenticate(&t2).is_ok());
        assert_eq!(auth.authenticate(&t1), Err(AuthError::Invalid));
        // A file without usable keys, or not JSON, keeps k2.
        std::fs::write(&file, "{\"keys\": [").expect("write");
        tick();
        assert!(auth.authenticate(&t2).is_ok());
        assert_eq!(metrics.counter("oidc/t", "failed").get(), 1);
        assert_eq!(metrics.counter("oidc/t", "ok").get(), 1);
    }

    fn ec_key() -> (EcdsaKeyPair, serde_json::Value) {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key");
        let point = key.public_key().as_ref().to_vec();
        (
            key,
            serde_json::json!({"x": enc(&point[1..33]), "y": enc(&point[33..65])}),
        )
    }

    fn jwk(public: &serde_json::Value, kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
            "x": public["x"], "y": public["y"]})
    }

    /// A provider on a local port: its discovery document and a JWKS that the test can change.
    async fn provider() -> (String, Arc<parking_lot::Mutex<serde_json::Value>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let jwks = Arc::new(parking_lot::Mutex::new(serde_json::json!({"keys": []})));
        let doc = serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")});
        let served = jwks.clone();
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(doc) }),
            )
            .route(
                "/keys",
                axum::routing::get(move || {
                    let jwks = served.lock().clone();
                    async move { axum::Json(jwks) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (issuer, jwks)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_are_discovered_and_a_rotation_is_followed() {
        let (issuer, jwks) = provider().await;
        let (key1, public1) = ec_key();
        let (key2, public2) = ec_key();
        *jwks.lock() = serde_json::json!({"keys": [jwk(&public1, "k1")]});
        let config = OidcConfig {
            issuer_url: issuer.clone(),
            audience: "spoor-ui".into(),
            jwks_refresh_interval: Duration::from_millis(0),
            ..Default::default()
        };
        assert!(config.validate().is_empty());
        let auth = config.authenticator().expect("discovered");
        let claims = serde_json::json!({"iss": issuer, "aud": "spoor-ui", "sub": "u1",
            "exp": now_secs() + 60});
        assert_eq!(
            auth.authenticate(&bearer(&es256_token(&key1, "k1", &claims))),
            Ok("u1".to_string())
        );
        // The provider rotates to k2: a token with the new kid makes Spoor fetch the keys.
        *jwks.lock() = serde_json::json!({"keys": [jwk(&public2, "k2")]});
        assert_eq!(
            auth.authenticate(&bearer(&es256_token(&key2, "k2", &claims))),
            Ok("u1".to_string())
        );
        // An unknown kid signed by a key the provider never published stays refused.
        assert_eq!(
            auth.authenticate(&bearer(&es256_token(&key1, "k3", &claims))),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.login(),
            LoginMethod::Oidc {
                issuer: issuer.clone(),
                client_id: "spoor-ui".into(),
                scope: "openid profile email".into()
            }
        );

        // Within jwks_refresh_interval of the last fetch, an unknown kid fetches nothing.
        *jwks.lock() = serde_json::json!({"keys": [jwk(&public1, "k1")]});
        let slow = OidcConfig {
            jwks_url: format!("{issuer}/keys"),
            jwks_refresh_interval: Duration::from_secs(3600),
            ..config.clone()
        }
        .authenticator()
        .expect("jwks_url");
        *jwks.lock() = serde_json::json!({"keys": [jwk(&public2, "k2")]});
        assert_eq!(
            slow.authenticate(&bearer(&es256_token(&key2, "k2", &claims))),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            slow.authenticate(&bearer(&es256_token(&key1, "k1", &claims))),
            Ok("u1".to_string())
        );

        // A discovery document of another issuer, or no provider at all, stops start-up.
        let wrong = OidcConfig {
            issuer_url: format!("{issuer}/other"),
            ..config.clone()
        };
        let err = wrong.authenticator().err().expect("refused").to_string();
        assert!(err.contains("issuer_url") && err.contains("404"), "{err}");
        let err = OidcConfig {
            jwks_url: format!("{issuer}/nothing"),
            ..config
        }
        .authenticator()
        .err()
        .expect("refused")
        .to_string();
        assert!(
            err.contains("jwks_url") && err.contains("/nothing"),
            "{err}"
        );
    }
}
