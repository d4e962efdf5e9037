//! The HTTP surface of a node: the REST/JSON API (with its OpenAPI document and stable error
//! codes) and the federation endpoints peers call. Only this crate knows HTTP shapes:
//! routes, status codes, headers and JSON views. Every handler asks the node, which asks the
//! policy module; no handler decides releasability itself.

mod access;
pub mod error;
pub mod extract;
mod fed_routes;
pub mod metrics;
mod quarantine;
mod rest;
pub mod taxii;
pub mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use entente_node::Node;
use std::sync::Arc;

pub use error::{ApiError, ErrorCode};

#[derive(Debug, Clone)]
pub struct AppState {
    pub node: Arc<Node>,
    pub http: Arc<metrics::HttpMetrics>,
}

/// The whole router of a node: REST, OpenAPI, health and federation.
pub fn router(node: Arc<Node>) -> Router {
    router_with(node, Router::new())
}

/// [`router`] with more routes (the web UI) under the same limits, metrics and headers. Routes
/// in `extra` may set their own `Content-Security-Policy`; the API's strict one is the default.
pub fn router_with(node: Arc<Node>, extra: Router) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer as H;
    let limit = node.config().max_body_bytes;
    let state = AppState {
        node,
        http: Arc::default(),
    };
    Router::new()
        .merge(rest::routes())
        .merge(access::routes())
        .merge(quarantine::routes())
        .merge(fed_routes::routes())
        .merge(taxii::routes())
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route("/readyz", axum::routing::get(metrics::readyz))
        .with_state(state.clone())
        .merge(extra)
        .fallback(rest::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limit))
        // Every answer: no sniffing, no framing, no referrer, no caching (answers are per-user
        // views), and a policy that lets nothing load from an API answer.
        .layer(H::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(H::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(H::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(H::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(H::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
}

/// The OpenAPI 3.1 document of the REST API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = rest::ApiDoc::openapi();
    doc.merge(access::AccessDoc::openapi());
    doc.merge(quarantine::QuarantineDoc::openapi());
    doc
}
