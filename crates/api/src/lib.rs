//! The HTTP API (v1), as one axum router over the application service. The intake Lambda serves
//! it through lambda_http; local mode serves it on 127.0.0.1. Who is calling is not this
//! crate's concern: each transport puts a [`Caller`] in the request's extensions (from the JWT's
//! email claim in AWS, from a development header in local mode), and a request without one is
//! refused with 401.
//!
//! - [`app`]: what the router needs from the service;
//! - [`routes`]: the handlers by route group (catalog, requests, actions, links, records, meta);
//! - [`openapi`]: the document generated from the handlers and `jit-contract`'s types;
//! - [`error`]: errors and the extractors' refusals.

pub mod app;
pub mod error;
pub mod openapi;
mod pages;
pub mod routes;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Extension};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use jit_contract::ClientConfig;
use jit_core::types::Email;

pub use app::Api;
pub use error::{ApiError, ApiResult, Me};

use routes::{actions, catalog, links, meta, records, requests};

/// The person making a request, as established by the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Email);

/// Set by a transport that was sent an identity it could not accept, with why; the 401 says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unidentified(pub String);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every route the router serves, as (method, path): the OpenAPI document lists exactly these
/// (a test holds the two together).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/catalog"),
    ("GET", "/v1/catalog/{bundle}"),
    ("POST", "/v1/requests"),
    ("GET", "/v1/requests"),
    ("POST", "/v1/requests/preview"),
    ("GET", "/v1/requests/{id}"),
    ("GET", "/v1/approvals"),
    ("POST", "/v1/requests/{id}/approve"),
    ("POST", "/v1/requests/{id}/deny"),
    ("POST", "/v1/requests/{id}/cancel"),
    ("POST", "/v1/requests/{id}/release"),
    ("POST", "/v1/requests/{id}/revoke"),
    ("POST", "/v1/requests/{id}/extend"),
    ("POST", "/v1/requests/{id}/review"),
    ("POST", "/v1/requests/{id}/db-credentials"),
    ("GET", "/v1/decisions/{token}"),
    ("POST", "/v1/decisions/{token}"),
    ("GET", "/v1/prompts/{token}"),
    ("POST", "/v1/prompts/{token}"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/prompts"),
    ("GET", "/v1/report"),
    ("GET", "/v1/me"),
    ("GET", "/v1/config"),
    ("GET", "/v1/openapi.json"),
];

/// Builds the router over `app`; `config` is what `GET /v1/config` tells clients.
pub fn router<A: Api>(app: Arc<A>, config: Arc<ClientConfig>) -> Router {
    Router::new()
        .route("/v1/catalog", get(catalog::list::<A>))
        .route("/v1/catalog/{bundle}", get(catalog::show::<A>))
        .route(
            "/v1/requests",
            post(requests::submit::<A>).get(requests::list::<A>),
        )
        .route("/v1/requests/preview", post(requests::preview::<A>))
        .route("/v1/requests/{id}", get(requests::show::<A>))
        .route("/v1/approvals", get(requests::approvals::<A>))
        .route("/v1/requests/{id}/approve", post(actions::approve::<A>))
        .route("/v1/requests/{id}/deny", post(actions::deny::<A>))
        .route("/v1/requests/{id}/cancel", post(actions::cancel::<A>))
        .route("/v1/requests/{id}/release", post(actions::release::<A>))
        .route("/v1/requests/{id}/revoke", post(actions::revoke::<A>))
        .route("/v1/requests/{id}/extend", post(actions::extend::<A>))
        .route("/v1/requests/{id}/review", post(actions::review::<A>))
        .route(
            "/v1/requests/{id}/db-credentials",
            post(actions::db_credentials::<A>),
        )
        .route(
            "/v1/decisions/{token}",
            get(links::decision_page::<A>).post(links::decide::<A>),
        )
        .route(
            "/v1/prompts/{token}",
            get(links::prompt_page::<A>).post(links::answer_prompt::<A>),
        )
        .route("/v1/audit", get(records::audit::<A>))
        .route("/v1/prompts", get(records::prompts::<A>))
        .route("/v1/report", get(records::report::<A>))
        .route("/v1/me", get(meta::whoami::<A>))
        .route("/v1/config", get(meta::config))
        .route("/v1/openapi.json", get(meta::openapi))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such route; see GET /v1/openapi.json",
            )
        })
        .layer(Extension(config))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}
