//! A fake Slack Web API server for the tests: a [`LocalSlack`] (which answers each method as
//! Slack documents it and records every call) behind HTTP on a free port on 127.0.0.1,
//! checking the bot token as Slack does and taking form-encoded arguments as Slack takes them.
// Each test crate that includes this uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use jit_slack::local::{Call, LocalSlack, LocalUser};
use serde_json::{json, Value};

/// The bot token the fake accepts.
pub const TOKEN: &str = "xoxb-test-token";

/// The fake Slack: the workspace, and where it listens.
pub struct FakeSlack {
    pub workspace: Arc<LocalSlack>,
    pub url: String,
}

impl FakeSlack {
    /// Starts it on a free port on 127.0.0.1.
    pub async fn start(users: Vec<LocalUser>) -> Self {
        let workspace = Arc::new(LocalSlack::new(users));
        let ws = workspace.clone();
        let app = Router::new().route(
            "/api/{method}",
            post(
                move |axum::extract::Path(method): axum::extract::Path<String>,
                      headers: HeaderMap,
                      body: Bytes| {
                    let ws = ws.clone();
                    async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        if auth != format!("Bearer {TOKEN}") {
                            let error = if auth.is_empty() {
                                "not_authed"
                            } else {
                                "invalid_auth"
                            };
                            return Json(json!({ "ok": false, "error": error }));
                        }
                        let form: Vec<(String, String)> =
                            serde_urlencoded::from_bytes(&body).unwrap_or_default();
                        let mut args = serde_json::Map::new();
                        for (k, v) in form {
                            // Nested arguments arrive as JSON text, as Slack takes them.
                            let value = match k.as_str() {
                                "blocks" | "view" | "attachments" => {
                                    serde_json::from_str(&v).unwrap_or(Value::String(v))
                                }
                                _ => Value::String(v),
                            };
                            args.insert(k, value);
                        }
                        Json(ws.answer(&method, &Value::Object(args)))
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { workspace, url }
    }

    /// Waits (10 s at most) until the calls recorded satisfy `done`; returns them.
    pub async fn until(&self, what: &str, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        for _ in 0..200 {
            let calls = self.workspace.calls();
            if done(&calls) {
                return calls;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; calls: {:#?}",
            self.workspace
                .calls()
                .iter()
                .map(|c| (&c.method, &c.args["channel"], &c.args["text"]))
                .collect::<Vec<_>>()
        )
    }
}
