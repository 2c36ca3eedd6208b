//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! contract's types. What every route of a kind shares is added here by rule rather than
//! repeated on each handler: both security schemes and 401 on every route that needs a caller;
//! 400 on every route that takes parameters or a body; 413 and 415 on every JSON body; 503 and
//! 500 everywhere. The committed copy (`crates/api/openapi.json`) is held to this by a test.

use std::sync::LazyLock;

use jit_contract::*;
use jit_core::lifecycle::Status;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes::{actions, catalog, links, meta, records, requests};

/// Routes anyone may call: the link pages (the token is the credential) and what a client
/// reads before signing in.
pub const PUBLIC: &[&str] = &[
    "/v1/decisions/{token}",
    "/v1/prompts/{token}",
    "/v1/config",
    "/v1/openapi.json",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jit API",
        version = "1",
        description = "Just-in-time AWS access: ask for a bundle, get it approved, use it, lose it at expiry.\n\n\
JSON over API Gateway (HTTP API). The caller is the JWT's `email` claim; in local mode (jit-local), the `X-Jit-User` header. \
Errors are `{\"error\": {\"code\", \"message\"}}`. A 400 means the input does not match this document (every pattern here is the one \
the server checks); 403, 404, 409, 410 and 422 mean well-formed input refused by the rules, and the message says which; a 5xx never \
carries internals. Bodies are at most 16 KiB and unknown fields are refused."
    ),
    paths(
        catalog::list, catalog::show,
        requests::submit, requests::preview, requests::list, requests::show, requests::approvals,
        actions::approve, actions::deny, actions::cancel, actions::release, actions::revoke,
        actions::review, actions::extend, actions::db_credentials,
        links::decision_page, links::decide, links::prompt_page, links::answer_prompt,
        records::audit, records::prompts, records::report,
        meta::whoami, meta::config, meta::openapi
    ),
    components(schemas(ErrorBody, Name, Id, Account, EmailText, DurationText, Token, SearchText, Mine, AuditFormat, Status, DecisionAction)),
    modifiers(&Conventions),
    tags(
        (name = "catalog", description = "What can be asked for"),
        (name = "requests", description = "Asking, looking, and ending one's own grants"),
        (name = "approvals", description = "Deciding other people's requests"),
        (name = "admin", description = "Revoking and reviewing (admins)"),
        (name = "links", description = "The HTML pages behind emailed links"),
        (name = "records", description = "The audit trail, prompts and the report, readable by everyone"),
        (name = "meta", description = "Client configuration and this document")
    )
)]
struct Document;

/// Adds the shared statuses and the security schemes.
struct Conventions;

fn error(description: &str, html: bool) -> RefOr<Response> {
    let content = if html {
        ContentBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
            ))
            .build()
    } else {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build()
    };
    let kind = if html {
        "text/html"
    } else {
        "application/json"
    };
    ResponseBuilder::new()
        .description(description)
        .content(kind, content)
        .build()
        .into()
}

fn add(op: &mut Operation, status: &str, description: &str, html: bool) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error(description, html));
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [item.get.as_mut(), item.post.as_mut()]
        .into_iter()
        .flatten()
}

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Deployed: an access token from the OIDC issuer in GET /v1/config, with the \
                         email claim and the API's scope, checked by API Gateway's JWT authorizer",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "local_user",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                LOCAL_USER_HEADER,
                "Local mode only (jit-local): the caller's email address. Never accepted deployed.",
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let public = PUBLIC.contains(&path.as_str());
            let html = path.starts_with("/v1/decisions/") || path.starts_with("/v1/prompts/{");
            for op in operations(item) {
                if !public {
                    op.security = Some(vec![
                        SecurityRequirement::new("jwt", Vec::<String>::new()),
                        SecurityRequirement::new("local_user", Vec::<String>::new()),
                    ]);
                    add(
                        op,
                        "401",
                        "No caller: sign in (or, locally, send X-Jit-User)",
                        false,
                    );
                }
                let json_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                if json_body {
                    add(op, "413", "The body is over 16 KiB", false);
                    add(op, "415", "The body is not JSON", false);
                }
                if json_body || op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(
                        op,
                        "400",
                        "The input does not match this document; the message says what to fix",
                        html,
                    );
                }
                if !path.starts_with("/v1/config") && !path.starts_with("/v1/openapi") {
                    add(op, "503", "Busy: try again in a few seconds", html);
                    add(
                        op,
                        "500",
                        "Something went wrong on our side (logged; no internals here)",
                        html,
                    );
                }
            }
        }
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut text = Document::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    text.push('\n');
    text
});

/// The document as the API serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// The document as pretty JSON, as served at `GET /v1/openapi.json` and committed.
pub fn document_json() -> &'static str {
    &DOCUMENT
}
