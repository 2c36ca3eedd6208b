//! The intake function: the HTTP API behind API Gateway (HTTP API, payload 2.0, JWT
//! authorizer). The caller is the JWT's `email` claim, put in the request as a [`Caller`];
//! no header can stand in for it here.

use std::sync::Arc;

use axum::response::Response;
use jit_api::{Api, Caller};
use jit_core::types::Email;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use tower::ServiceExt;

/// The caller named by the JWT authorizer, if any.
pub fn caller(req: &Request) -> Option<Email> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => {
            let claims = &ctx.authorizer.as_ref()?.jwt.as_ref()?.claims;
            Email::parse(claims.get("email")?).ok()
        }
        _ => None,
    }
}

/// Serves one API Gateway request with the API router.
pub async fn route<A: Api>(app: Arc<A>, mut req: Request) -> Response {
    if let Some(email) = caller(&req) {
        req.extensions_mut().insert(Caller(email));
    }
    jit_api::router(app)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {})
}
