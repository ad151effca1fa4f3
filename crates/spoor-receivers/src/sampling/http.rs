//! Jaeger's HTTP sampling endpoint (5778): `GET /sampling?service=NAME`, and the agent's legacy
//! `GET /?service=NAME`, both answering the strategy as Jaeger's JSON.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::StrategyStore;
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::net::{ConnectionLimits, serve_http};

/// Longest service name answered; longer ones are refused with 400.
pub const MAX_SERVICE_NAME_BYTES: usize = 1024;

/// The HTTP sampling listener (`--sampling-http`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingHttpConfig {
    pub endpoint: SocketAddr,
    pub connections: ConnectionLimits,
}

impl Default for SamplingHttpConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 5778)),
            connections: ConnectionLimits::default(),
        }
    }
}

impl SamplingHttpConfig {
    pub const NAME: &'static str = "sampling-http";

    /// Starts serving `store`'s strategies (the context's sink is never called).
    pub async fn serve(
        &self,
        ctx: &ReceiverContext,
        store: Arc<StrategyStore>,
    ) -> Result<RunningReceiver, ReceiverError> {
        let metrics = ctx.telemetry.receiver("sampling", "http");
        let router = Router::new()
            .route("/sampling", get(strategy))
            .route("/", get(strategy))
            .with_state(store);
        serve_http(
            Self::NAME,
            self.endpoint,
            router,
            ctx,
            self.connections.clone(),
            // Requests have no body.
            4096,
            metrics,
        )
        .await
    }
}

/// Checks the `service` parameter the way every endpoint does: present once, not too long.
pub(crate) fn service_name(values: &[&str]) -> Result<String, String> {
    match values {
        [one] if one.len() > MAX_SERVICE_NAME_BYTES => Err(format!(
            "'service' parameter is {} bytes; at most {MAX_SERVICE_NAME_BYTES} are accepted",
            one.len()
        )),
        [one] => Ok((*one).to_string()),
        _ => Err("'service' parameter must be provided once".to_string()),
    }
}

async fn strategy(
    State(store): State<Arc<StrategyStore>>,
    params: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => {
            store.count_request("http", "bad_request");
            return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
        }
    };
    let services: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "service")
        .map(|(_, v)| v.as_str())
        .collect();
    match service_name(&services) {
        Ok(service) => {
            store.count_request("http", "ok");
            (
                [(header::CONTENT_TYPE, "application/json")],
                store
                    .strategy_of(
                        crate::tenant::current().as_ref().map(|s| &*s.tenant),
                        &service,
                    )
                    .to_json(),
            )
                .into_response()
        }
        Err(why) => {
            store.count_request("http", "bad_request");
            (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response()
        }
    }
}

/// A sink for listeners that receive no spans (the sampling endpoint's context needs one).
pub struct NoSpans;

#[async_trait::async_trait]
impl spoor_model::TraceSink for NoSpans {
    async fn consume(
        &self,
        batch: Vec<spoor_model::ResourceSpans>,
    ) -> Result<(), spoor_model::SinkError> {
        drop(batch);
        Ok(())
    }
}
