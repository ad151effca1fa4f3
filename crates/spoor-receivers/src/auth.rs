//! Request authentication of a listener (`auth: {authenticator: …}`): an [`Authenticator`]
//! checks each request's headers; a refused HTTP request gets 401 with `WWW-Authenticate`, a
//! refused gRPC call UNAUTHENTICATED, and both are counted.
//!
//! The authenticators themselves (`basicauth`, `bearertokenauth`) are extensions of
//! `spoor-pipeline`; this crate only runs them.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};

/// Why a request was refused (never echoed with secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials")]
    Missing,
    #[error("invalid credentials")]
    Invalid,
}

/// A role a user holds for a tenant: `read` the query APIs, `write` to the receivers,
/// `admin` the admin port's operations (delete). Roles do not imply each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim() {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// One role on one tenant (`*`: every tenant, and the process when tenancy is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant: String,
    pub role: Role,
}

/// Who a request is from, as an authenticator established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user (or token name).
    pub user: String,
    /// The tenant the identity belongs to, when the authenticator maps one (an OIDC claim, a
    /// users file line); a request's tenant header must then agree with it.
    pub tenant: Option<String>,
    /// The roles granted (`None`: the authenticator assigns no roles, every role is allowed).
    pub grants: Option<Vec<Grant>>,
}

impl Identity {
    /// An identity without tenant or roles.
    pub fn user(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            tenant: None,
            grants: None,
        }
    }

    /// Whether the identity holds `role` on `tenant` (`None`: tenancy off, where only `*`
    /// grants count).
    pub fn allows(&self, tenant: Option<&str>, role: Role) -> bool {
        let Some(grants) = &self.grants else {
            return true;
        };
        grants
            .iter()
            .any(|g| g.role == role && (g.tenant == "*" || Some(g.tenant.as_str()) == tenant))
    }
}

/// Parses a roles file: lines `user:tenant:role[,role…]` (`*` for every tenant), `#`
/// comments. Errors name the line.
pub fn parse_grants(text: &str) -> Result<std::collections::HashMap<String, Vec<Grant>>, String> {
    let mut grants: std::collections::HashMap<String, Vec<Grant>> = Default::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(user), Some(tenant), Some(roles)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("line {} is not user:tenant:role", n + 1));
        };
        for role in roles.split(',') {
            let role = Role::parse(role).ok_or_else(|| {
                format!(
                    "line {}: unknown role {:?} (read, write or admin)",
                    n + 1,
                    role.trim()
                )
            })?;
            grants
                .entry(user.trim().to_string())
                .or_default()
                .push(Grant {
                    tenant: tenant.trim().to_string(),
                    role,
                });
        }
    }
    Ok(grants)
}

impl Identity {
    /// An identity holding `grants`; its tenant is the one tenant they name, if only one
    /// (besides `*`).
    pub fn with_grants(user: impl Into<String>, grants: Vec<Grant>) -> Self {
        let mut named: Vec<&str> = grants
            .iter()
            .map(|g| g.tenant.as_str())
            .filter(|t| *t != "*")
            .collect();
        named.sort_unstable();
        named.dedup();
        let tenant = match named.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        };
        Self {
            user: user.into(),
            tenant,
            grants: Some(grants),
        }
    }
}

/// How the UI logs in to a query port guarded by an authenticator (served at
/// `/api/auth/config`): a user and password form, a pasted bearer token, or the OpenID Connect
/// authorization-code flow with PKCE at `issuer` as the public client `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LoginMethod {
    None,
    Basic,
    Bearer,
    Oidc {
        issuer: String,
        client_id: String,
        scope: String,
    },
}

/// Checks a request's headers.
pub trait Authenticator: Send + Sync + 'static {
    /// The authenticated user (or token name) on success.
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError>;
    /// The authenticated identity with its tenant and roles; by default the user alone.
    fn identify(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        self.authenticate(headers).map(Identity::user)
    }
    /// The `WWW-Authenticate` challenge of a 401 (`Basic realm="spoor"`, `Bearer`).
    fn challenge(&self) -> &str;
    /// How the UI logs in; by default by a pasted bearer token.
    fn login(&self) -> LoginMethod {
        LoginMethod::Bearer
    }
}

/// A listener's authenticator, shared by its connections.
#[derive(Clone)]
pub struct Auth {
    /// The extension id (`basicauth/ui`), for logs.
    pub name: String,
    pub inner: Arc<dyn Authenticator>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("name", &self.name).finish()
    }
}

impl PartialEq for Auth {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Auth {
    pub fn new(name: impl Into<String>, inner: Arc<dyn Authenticator>) -> Self {
        Self {
            name: name.into(),
            inner,
        }
    }

    /// 401 with the challenge, as the refusal of an HTTP request.
    pub fn refusal(&self, error: &AuthError) -> Response {
        let mut response = (
            http::StatusCode::UNAUTHORIZED,
            format!("unauthenticated: {error}\n"),
        )
            .into_response();
        if let Ok(v) = http::HeaderValue::from_str(self.inner.challenge()) {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// The tower layer putting gRPC routes behind an authenticator, tenancy and a role.
pub use crate::access::GrpcGuardLayer as GrpcAuthLayer;
