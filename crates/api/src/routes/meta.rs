//! What a client reads before signing in (`GET /v1/config`, `GET /v1/openapi.json`; public),
//! and who it is once signed in (`GET /v1/me`).

use std::sync::Arc;

use axum::extract::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use jit_contract::{ClientConfig, WhoAmI};

use crate::error::{ApiResult, Me};
use crate::Api;

/// How to sign in and where things are: the OIDC issuer, client id and scopes, the portal and
/// the Identity Center access portal, the version.
#[utoipa::path(get, operation_id = "config", path = "/v1/config", tag = "meta", security(()),
    responses((status = 200, description = "The client configuration", body = ClientConfig)))]
pub async fn config(Extension(config): Extension<Arc<ClientConfig>>) -> Json<ClientConfig> {
    Json((*config).clone())
}

/// This document: OpenAPI 3.1, generated from the typed handlers.
#[utoipa::path(get, operation_id = "openapi", path = "/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
}

/// Who the API says the caller is: their email, groups, whether they are an admin, and the
/// flows (with bundles) they may ask through.
#[utoipa::path(get, operation_id = "whoami", path = "/v1/me", tag = "meta",
    responses((status = 200, description = "The caller", body = WhoAmI)))]
pub async fn whoami<A: Api>(State(app): State<Arc<A>>, Me(me): Me) -> ApiResult<Json<WhoAmI>> {
    let groups = app.groups_of(&me).await?;
    Ok(Json(WhoAmI::of(app.catalog(), me.as_str(), &groups)))
}
