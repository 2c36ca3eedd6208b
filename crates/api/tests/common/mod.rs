//! What the API tests share: the router over the in-memory service with the demo catalog, and
//! calls made as a person (a `Caller`, as the JWT authorizer or X-Jit-User gives one).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use jit_api::{router, Caller};
use jit_contract::ClientConfig;
use jit_core::catalog;
use jit_core::types::Email;
use jit_memory::{memory_service, MemoryDirectory, MemoryService};
use serde_json::Value;
use tower::ServiceExt;

pub fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples")
}

pub fn app() -> (Arc<MemoryService>, Router) {
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let svc = Arc::new(
        memory_service(
            Arc::new(catalog::load_dir(&examples()).unwrap()),
            MemoryDirectory::load(&examples()).unwrap(),
            start,
            b"api-test-signing-key-at-least-32-bytes",
            "http://127.0.0.1:8080",
        )
        .unwrap(),
    );
    (svc.clone(), router(svc, Arc::new(ClientConfig::default())))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_string()
    }
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    as_user: Option<&str>,
    body: Option<Body>,
    content_type: &str,
) -> Reply {
    call_with(app, method, uri, as_user, body, content_type, &[]).await
}

/// [`call`] with more request headers.
pub async fn call_with(
    app: &Router,
    method: Method,
    uri: &str,
    as_user: Option<&str>,
    body: Option<Body>,
    content_type: &str,
    headers: &[(header::HeaderName, &str)],
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    if let Some(u) = as_user {
        req = req.extension(Caller(Email::parse(&format!("{u}@example.com")).unwrap()));
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.unwrap_or_else(Body::empty)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).to_string(),
    }
}

pub async fn get(app: &Router, uri: &str, user: &str) -> Reply {
    call(app, Method::GET, uri, Some(user), None, "application/json").await
}

pub async fn post(app: &Router, uri: &str, user: &str, body: Value) -> Reply {
    call(
        app,
        Method::POST,
        uri,
        Some(user),
        Some(Body::from(body.to_string())),
        "application/json",
    )
    .await
}

/// POSTs an HTML form (`a=b&c=d`) with no caller, as a browser on a link page does.
pub async fn post_form(app: &Router, uri: &str, body: &'static str) -> Reply {
    call(
        app,
        Method::POST,
        uri,
        None,
        Some(Body::from(body)),
        "application/x-www-form-urlencoded",
    )
    .await
}
