//! HTTP API v1's contract: every body a client sends or receives, as typed structs with their
//! OpenAPI schemas. The router serves these, the CLI deserializes into them, the tests build
//! them, and the OpenAPI document (generated in `jit-api`) describes them, so a renamed field
//! breaks the build rather than a client.
//!
//! - [`bodies`]: what clients send (JSON bodies, queries, paths, forms);
//! - [`views`]: what the API returns;
//! - [`text`] and [`patterns`]: the syntax of patterned fields, shared by the document and the
//!   router's checks.

pub mod bodies;
pub mod patterns;
pub mod text;
pub mod views;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use bodies::*;
pub use text::{
    Account, DurationText, EmailText, Field, FieldError, FormDuration, Id, Name, SearchText, Token,
};
pub use views::*;

/// The header that names the caller in local mode (jit-local only; never deployed).
pub const LOCAL_USER_HEADER: &str = "X-Jit-User";

/// Every error: a stable code and a message that says what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error inside an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `bad_request`, `unauthenticated`, `forbidden`,
    /// `not_eligible`, `not_found`, `unknown_bundle`, `conflict`, `link_gone`, `bad_link`,
    /// `refused`, `too_large`, `quota_reached`, `too_many_pending`, `body_too_large`,
    /// `not_json`, `no_route`, `busy`, `internal`, `unavailable`.
    pub code: String,
    /// For people: what was wrong and how to fix it.
    pub message: String,
}

/// `GET /v1/config`: what a client needs to sign in and find things. Public.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClientConfig {
    /// The API's version (the server's build).
    pub version: String,
    /// The OpenID Connect issuer whose tokens the API accepts; absent in local mode without one
    /// (then the `X-Jit-User` header names the caller).
    pub oidc_issuer: Option<String>,
    /// The OAuth client id public clients (CLI, portal) sign in with; the tokens' audience.
    pub oidc_client_id: Option<String>,
    /// Scopes to ask for.
    pub oidc_scopes: Vec<String>,
    /// The web portal's address.
    pub portal_url: Option<String>,
    /// The Identity Center access portal's start URL (where granted roles are used).
    pub access_portal_url: Option<String>,
    /// The region of the Identity Center instance (an AWS CLI `sso_region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_region: Option<String>,
    /// How callers identify themselves: `jwt` (deployed) or `local-header` (jit-local).
    pub auth: String,
}

/// A CSV cell: quoted when needed; a leading formula character is neutralised so that a reason
/// typed by a requester cannot run as a spreadsheet formula.
pub fn csv_cell(text: &str) -> String {
    let mut text = text.to_string();
    if text.starts_with(['=', '+', '-', '@']) {
        text.insert(0, '\'');
    }
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("3"), "3");
        assert_eq!(csv_cell(""), "");
    }
}
