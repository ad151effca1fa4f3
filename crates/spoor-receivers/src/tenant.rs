//! Tenancy (`--tenancy-enabled`, off by default): every request names its tenant in a header
//! (`x-scope-orgid` by default, Jaeger's `x-tenant` when configured) or through its
//! authenticated identity; a request without one is refused (401 / UNAUTHENTICATED), a tenant
//! outside `--tenants` too (403 / PERMISSION_DENIED), both counted in
//! `spoor_tenant_refused_total{reason}`.
//!
//! The tenant travels two ways.
//! While a request is handled it is the task-local [`current`] tenant, set by the listeners'
//! gates ([`scope`]); storage readers pick the tenant's store from it.
//! Spans carry it through batching and queues as the reserved resource attribute
//! [`TENANT_ATTRIBUTE`]: [`stamp`] (called on the one ingest path) removes any value a client
//! sent and writes the request's tenant; the store exporter routes by it and removes it before
//! storing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use spoor_model::ResourceSpans;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

use crate::auth::Identity;

/// The reserved resource attribute naming a span's tenant between the receiver and the store.
pub const TENANT_ATTRIBUTE: &str = "spoor.tenant";

/// The default tenant header (Tempo's and Loki's `X-Scope-OrgID`).
pub const DEFAULT_HEADER: &str = "x-scope-orgid";

/// Longest tenant name; names are also directory names.
pub const MAX_TENANT_LEN: usize = 64;

/// What the flags configure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenancySettings {
    /// The header naming the tenant (lower case).
    pub header: String,
    /// Allowed tenants; empty: any valid name.
    pub allowed: Vec<String>,
    /// Spans per second each tenant may send (`None`: unlimited); bursts up to one second's worth.
    pub ingest_rate: Option<f64>,
}

/// Why a request's tenant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("missing tenant: send the {0} header")]
    Missing(String),
    #[error("invalid tenant name {0:?}: 1-64 characters of a-z, A-Z, 0-9, '-', '_', '.'")]
    Invalid(String),
    #[error("tenant {0:?} is not allowed")]
    NotAllowed(String),
    #[error("tenant {0:?} in the header is not the authenticated identity's tenant")]
    Mismatch(String),
    #[error("tenant {0:?} is over its ingest rate")]
    RateLimited(String),
}

impl TenantError {
    /// The `reason` label of `spoor_tenant_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            TenantError::Missing(_) => "missing",
            TenantError::Invalid(_) => "invalid",
            TenantError::NotAllowed(_) => "not_allowed",
            TenantError::Mismatch(_) => "mismatch",
            TenantError::RateLimited(_) => "rate_limited",
        }
    }

    fn http_status(&self) -> http::StatusCode {
        match self {
            TenantError::Missing(_) => http::StatusCode::UNAUTHORIZED,
            TenantError::Invalid(_) => http::StatusCode::BAD_REQUEST,
            TenantError::NotAllowed(_) | TenantError::Mismatch(_) => http::StatusCode::FORBIDDEN,
            TenantError::RateLimited(_) => http::StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The HTTP answer.
    pub fn http_response(&self) -> Response {
        let mut response = (self.http_status(), format!("{self}\n")).into_response();
        if matches!(self, TenantError::RateLimited(_)) {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(crate::status::RETRY_AFTER_SECONDS),
            );
        }
        response
    }

    /// The gRPC answer.
    pub fn grpc_status(&self) -> tonic::Status {
        match self {
            TenantError::Missing(_) => tonic::Status::unauthenticated(self.to_string()),
            TenantError::Invalid(_) => tonic::Status::invalid_argument(self.to_string()),
            TenantError::NotAllowed(_) | TenantError::Mismatch(_) => {
                tonic::Status::permission_denied(self.to_string())
            }
            TenantError::RateLimited(_) => {
                crate::status::grpc_status(spoor_model::ErrorKind::Overloaded, &self.to_string())
            }
        }
    }
}

/// A token bucket of one tenant.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The process's tenancy: resolves each request's tenant, limits each tenant's ingest rate and
/// counts refusals. Shared by every listener.
pub struct Tenancy {
    header: http::HeaderName,
    header_text: String,
    allowed: HashSet<String>,
    rate: Option<f64>,
    buckets: Mutex<HashMap<String, Bucket>>,
    refused: Family<Vec<(String, String)>, Counter>,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("header", &self.header_text)
            .field("allowed", &self.allowed)
            .field("rate", &self.rate)
            .finish()
    }
}

/// Whether `name` may be a tenant (it becomes a directory name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TENANT_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Tenancy {
    /// Validates the settings and registers `spoor_tenant_refused_total`.
    pub fn new(settings: &TenancySettings, telemetry: &Telemetry) -> Result<Arc<Self>, String> {
        let header_text = if settings.header.is_empty() {
            DEFAULT_HEADER.to_string()
        } else {
            settings.header.to_ascii_lowercase()
        };
        let header = http::HeaderName::from_bytes(header_text.as_bytes())
            .map_err(|e| format!("--tenancy-header {header_text:?}: {e}"))?;
        if let Some(bad) = settings.allowed.iter().find(|t| !valid_name(t)) {
            return Err(format!(
                "--tenants: {:?}",
                TenantError::Invalid(bad.clone()).to_string()
            ));
        }
        if let Some(rate) = settings.ingest_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!("--tenant-ingest-rate {rate}: must be above 0"));
        }
        let refused = Family::<Vec<(String, String)>, Counter>::default();
        telemetry.register(
            "tenant_refused",
            "Requests refused for their tenant, by reason (missing, invalid, not_allowed, mismatch, rate_limited)",
            refused.clone(),
        );
        Ok(Arc::new(Self {
            header,
            header_text,
            allowed: settings.allowed.iter().cloned().collect(),
            rate: settings.ingest_rate,
            buckets: Mutex::new(HashMap::new()),
            refused,
        }))
    }

    /// The header naming the tenant.
    pub fn header(&self) -> &str {
        &self.header_text
    }

    /// Counts a refusal.
    pub fn count(&self, error: &TenantError) {
        self.refused
            .get_or_create(&vec![("reason".to_string(), error.reason().to_string())])
            .inc();
    }

    /// The tenant of a request: the header's, or the identity's when the header is absent; both
    /// present must agree. Counts refusals.
    pub fn resolve(
        &self,
        headers: &http::HeaderMap,
        identity: Option<&Identity>,
    ) -> Result<Arc<str>, TenantError> {
        let result = self.resolve_uncounted(headers, identity);
        if let Err(e) = &result {
            self.count(e);
        }
        result
    }

    fn resolve_uncounted(
        &self,
        headers: &http::HeaderMap,
        identity: Option<&Identity>,
    ) -> Result<Arc<str>, TenantError> {
        let from_header = match headers.get(&self.header) {
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| {
                        TenantError::Invalid(String::from_utf8_lossy(v.as_bytes()).into())
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let from_identity = identity.and_then(|i| i.tenant.clone());
        let tenant = match (from_header, from_identity) {
            (Some(h), Some(i)) if h != i => return Err(TenantError::Mismatch(h)),
            (Some(t), _) | (None, Some(t)) => t,
            (None, None) => return Err(TenantError::Missing(self.header_text.clone())),
        };
        if !valid_name(&tenant) {
            return Err(TenantError::Invalid(tenant));
        }
        if !self.allowed.is_empty() && !self.allowed.contains(&tenant) {
            return Err(TenantError::NotAllowed(tenant));
        }
        Ok(tenant.into())
    }

    /// Takes `spans` from the tenant's bucket; refuses (and counts) when it has too few.
    pub fn admit(&self, tenant: &str, spans: u64) -> Result<(), TenantError> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate.max(1.0));
        bucket.at = now;
        let wanted = spans as f64;
        if bucket.tokens >= wanted || (bucket.tokens >= rate.max(1.0) && wanted > rate) {
            // A batch larger than a second's worth passes when the bucket is full, then leaves
            // it in debt.
            bucket.tokens -= wanted;
            return Ok(());
        }
        drop(buckets);
        let error = TenantError::RateLimited(tenant.to_string());
        self.count(&error);
        Err(error)
    }
}

/// The tenant of the request being handled, and the tenancy that resolved it.
#[derive(Clone, Debug)]
pub struct TenantScope {
    pub tenant: Arc<str>,
    pub tenancy: Arc<Tenancy>,
}

tokio::task_local! {
    static CURRENT: TenantScope;
}

/// The tenant of the request this task is handling, if tenancy is on.
pub fn current() -> Option<TenantScope> {
    CURRENT.try_with(|s| s.clone()).ok()
}

/// Runs `future` as a request of `scope`'s tenant.
pub async fn scope<F: std::future::Future>(scope: TenantScope, future: F) -> F::Output {
    CURRENT.scope(scope, future).await
}

/// Removes any [`TENANT_ATTRIBUTE`] a client sent from every resource, then writes `tenant`'s.
pub fn stamp(batch: &mut [ResourceSpans], tenant: Option<&str>) {
    use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
    use spoor_model::otlp_resource::Resource;
    for rs in batch.iter_mut() {
        if let Some(resource) = rs.resource.as_mut() {
            resource.attributes.retain(|kv| kv.key != TENANT_ATTRIBUTE);
        }
        if let Some(tenant) = tenant {
            rs.resource
                .get_or_insert_with(Resource::default)
                .attributes
                .push(KeyValue {
                    key: TENANT_ATTRIBUTE.to_string(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(tenant.to_string())),
                    }),
                    ..Default::default()
                });
        }
    }
}

/// Removes [`TENANT_ATTRIBUTE`] from a resource and returns its value.
pub fn take(rs: &mut ResourceSpans) -> Option<String> {
    use spoor_model::otlp_common::any_value;
    let resource = rs.resource.as_mut()?;
    let at = resource
        .attributes
        .iter()
        .position(|kv| kv.key == TENANT_ATTRIBUTE)?;
    let kv = resource.attributes.remove(at);
    match kv.value?.value? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy(allowed: &[&str], rate: Option<f64>) -> Arc<Tenancy> {
        let settings = TenancySettings {
            header: String::new(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            ingest_rate: rate,
        };
        match Tenancy::new(&settings, &Telemetry::new()) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn resolves_header_identity_and_refuses() {
        let t = tenancy(&["a", "b"], None);
        assert_eq!(
            t.resolve(&headers(&[("x-scope-orgid", "a")]), None)
                .as_deref(),
            Ok("a")
        );
        let id = Identity {
            user: "u".into(),
            tenant: Some("b".into()),
            grants: None,
        };
        assert_eq!(t.resolve(&headers(&[]), Some(&id)).as_deref(), Ok("b"));
        assert!(matches!(
            t.resolve(&headers(&[("x-scope-orgid", "a")]), Some(&id)),
            Err(TenantError::Mismatch(_))
        ));
        assert!(matches!(
            t.resolve(&headers(&[]), None),
            Err(TenantError::Missing(_))
        ));
        assert!(matches!(
            t.resolve(&headers(&[("x-scope-orgid", "c")]), None),
            Err(TenantError::NotAllowed(_))
        ));
        assert!(matches!(
            tenancy(&[], None).resolve(&headers(&[("x-scope-orgid", "../x")]), None),
            Err(TenantError::Invalid(_))
        ));
    }

    #[test]
    fn rate_limit_per_tenant() {
        let t = tenancy(&[], Some(10.0));
        assert!(t.admit("a", 10).is_ok());
        assert!(matches!(t.admit("a", 5), Err(TenantError::RateLimited(_))));
        assert!(t.admit("b", 5).is_ok());
    }

    #[test]
    fn stamp_overwrites_and_take_strips() {
        use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
        use spoor_model::otlp_resource::Resource;
        let mut batch = vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: TENANT_ATTRIBUTE.into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("evil".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }];
        stamp(&mut batch, Some("a"));
        assert_eq!(
            batch[0].resource.as_ref().map(|r| r.attributes.len()),
            Some(1)
        );
        assert_eq!(take(&mut batch[0]).as_deref(), Some("a"));
        stamp(&mut batch, None);
        assert_eq!(take(&mut batch[0]), None);
    }
}
