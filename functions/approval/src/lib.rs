//! The approval function: the emailed decision links, behind API Gateway routes that have no
//! JWT authorizer (the signed, single-use token is the credential). It serves only
//! `/v1/decisions/...` and the access-denied prompts' request forms, `/v1/prompts/...`;
//! anything else is refused, whatever API Gateway sends it.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jit_api::Api;
use lambda_http::Request;

/// The path prefixes this function serves.
pub const PREFIXES: [&str; 2] = ["/v1/decisions/", "/v1/prompts/"];

/// Serves one signed-link request; other paths get 404.
pub async fn route<A: Api>(app: Arc<A>, mut req: Request) -> Response {
    if !PREFIXES.iter().any(|p| req.uri().path().starts_with(p)) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    // Never trust an identity on these routes: the token names the approver.
    req.extensions_mut().remove::<jit_api::Caller>();
    intake::route(app, strip_authorizer(req)).await
}

/// Drops any authorizer context so that no caller can be derived from it on these routes.
fn strip_authorizer(mut req: Request) -> Request {
    req.extensions_mut()
        .remove::<lambda_http::request::RequestContext>();
    req
}
