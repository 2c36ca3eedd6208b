//! The web portal (`web/`, built into `web/dist`) served at `/` beside the API, as CloudFront
//! serves it in a deployment: its files under `/assets/`, `index.html` for every other page
//! path (the app routes in the browser), and a strict Content-Security-Policy: scripts, styles
//! and connections only from this origin (and the OIDC issuer, for sign-in), no inline script,
//! no framing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where the built portal is, and the policy it is served with.
pub struct Portal {
    dir: PathBuf,
    csp: HeaderValue,
}

impl Portal {
    /// The portal in `dir` (absent: a page that says how to build it); `issuer` is the OIDC
    /// issuer the browser signs in with, if any.
    pub fn new(dir: &Path, issuer: Option<&str>) -> Self {
        let issuer_origin = issuer
            .and_then(|i| {
                let (scheme, rest) = i.split_once("://")?;
                Some(format!("{scheme}://{}", rest.split('/').next()?))
            })
            .unwrap_or_default();
        let also = if issuer_origin.is_empty() {
            String::new()
        } else {
            format!(" {issuer_origin}")
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'{also}; form-action 'self'{also}; base-uri 'none'; \
             frame-ancestors 'none'"
        );
        Self {
            dir: dir.to_path_buf(),
            csp: HeaderValue::from_str(&csp).expect("an ASCII policy"),
        }
    }

    /// Whether the portal has been built.
    pub fn built(&self) -> bool {
        self.dir.join("index.html").is_file()
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// GET of any path the API does not serve.
pub async fn serve(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let path = req.uri().path();
    if req.method() != axum::http::Method::GET
        || path.starts_with("/v1/")
        || path.starts_with("/local/")
    {
        let body = r#"{"error":{"code":"not_found","message":"no such route; the API is described at /v1/openapi.json"}}"#;
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    // Only the build's own asset names (hashed, flat); never a path with `..` or a slash in it.
    let asset = path.strip_prefix("/assets/").filter(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !name.starts_with('.')
    });
    let (file, cache) = match asset {
        Some(name) => (
            portal.dir.join("assets").join(name),
            "public, max-age=31536000, immutable",
        ),
        None => (portal.dir.join("index.html"), "no-cache"),
    };
    let Ok(bytes) = tokio::fs::read(&file).await else {
        if asset.is_some() {
            return StatusCode::NOT_FOUND.into_response();
        }
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>jit</title></head><body><main><h1>The portal is not built</h1><p>Build it with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> (scripts/setup.sh does), then reload. The API is at <a href=\"/v1/openapi.json\">/v1/openapi.json</a>.</p><p>Looked in {}.</p></main></body></html>",
            portal.dir.display()
        );
        return (
            StatusCode::NOT_FOUND,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CONTENT_SECURITY_POLICY, portal.csp.clone()),
            ],
            page,
        )
            .into_response();
    };
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("index.html");
    let kind = if name == "index.html" {
        "text/html; charset=utf-8"
    } else {
        content_type(name)
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::CONTENT_SECURITY_POLICY, portal.csp.clone()),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        bytes,
    )
        .into_response()
}
