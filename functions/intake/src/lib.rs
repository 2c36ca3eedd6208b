//! The intake function: the HTTP API behind API Gateway (HTTP API, payload 2.0, JWT
//! authorizer). The caller is the JWT's `email` claim, put in the request as a [`Caller`];
//! no header can stand in for it here.

use std::sync::{Arc, LazyLock};

use axum::response::Response;
use jit_api::{Api, Caller};
use jit_contract::ClientConfig;
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

/// What `GET /v1/config` tells clients, from the function's environment (set by the template
/// from its parameters): the JWT authorizer's issuer, the client id to sign in with
/// (`OIDC_CLIENT_ID`, else the audience), the scopes to ask for (`OIDC_SCOPES`, else `openid
/// email` and the API's scope), the portal and the access portal. Read once, when first asked.
pub fn client_config(env: impl Fn(&str) -> Option<String>) -> ClientConfig {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let scopes = match set("OIDC_SCOPES") {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => {
            let mut scopes = vec!["openid".to_string(), "email".to_string()];
            scopes.extend(set("JWT_SCOPE"));
            scopes
        }
    };
    ClientConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        oidc_issuer: set("JWT_ISSUER"),
        // Okta and Entra ID tokens carry the API as their audience, not the client.
        oidc_client_id: set("OIDC_CLIENT_ID").or_else(|| set("JWT_AUDIENCE")),
        oidc_scopes: scopes,
        portal_url: set("PORTAL_URL"),
        access_portal_url: set("ACCESS_PORTAL_URL"),
        // The functions run in the Identity Center instance's region (they call it there).
        sso_region: set("AWS_REGION"),
        auth: "jwt".to_string(),
    }
}

static CONFIG: LazyLock<Arc<ClientConfig>> =
    LazyLock::new(|| Arc::new(client_config(|k| std::env::var(k).ok())));

/// Serves one API Gateway request with the API router.
pub async fn route<A: Api>(app: Arc<A>, mut req: Request) -> Response {
    if let Some(email) = caller(&req) {
        req.extensions_mut().insert(Caller(email));
    }
    jit_api::router(app, CONFIG.clone())
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_config_is_the_authorizer_s_own_settings() {
        let env = |k: &str| {
            match k {
                "JWT_ISSUER" => Some("https://idp.example.com/oauth2/default"),
                "JWT_AUDIENCE" => Some("jit-cli"),
                "JWT_SCOPE" => Some("jit/use"),
                "PORTAL_URL" => Some(""),
                "ACCESS_PORTAL_URL" => Some("https://d-1234567890.awsapps.com/start"),
                "AWS_REGION" => Some("eu-west-1"),
                _ => None,
            }
            .map(str::to_string)
        };
        let c = client_config(env);
        assert_eq!(
            c.oidc_issuer.as_deref(),
            Some("https://idp.example.com/oauth2/default")
        );
        assert_eq!(c.oidc_client_id.as_deref(), Some("jit-cli"));
        assert_eq!(c.oidc_scopes, ["openid", "email", "jit/use"]);
        assert_eq!(c.portal_url, None, "an empty parameter means none");
        assert_eq!(
            c.access_portal_url.as_deref(),
            Some("https://d-1234567890.awsapps.com/start")
        );
        assert_eq!(c.sso_region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.auth, "jwt");
    }

    #[test]
    fn okta_and_entra_name_the_client_and_scopes_apart_from_the_audience() {
        let env = |k: &str| {
            match k {
                "JWT_ISSUER" => Some("https://login.microsoftonline.com/t/v2.0"),
                "JWT_AUDIENCE" => Some("api://jit"),
                "JWT_SCOPE" => Some("jit.use"),
                "OIDC_CLIENT_ID" => Some("0b9c-cli"),
                "OIDC_SCOPES" => Some("openid email offline_access api://jit/jit.use"),
                _ => None,
            }
            .map(str::to_string)
        };
        let c = client_config(env);
        assert_eq!(c.oidc_client_id.as_deref(), Some("0b9c-cli"));
        assert_eq!(
            c.oidc_scopes,
            ["openid", "email", "offline_access", "api://jit/jit.use"]
        );
    }
}
