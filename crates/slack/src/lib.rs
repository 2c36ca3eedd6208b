//! The Slack app: people ask for access with `/jit` or its modal, approvers decide from cards
//! that are drawn again whenever the request changes, and requesters are told what happened,
//! all in Slack, through the same application service as the API.
//!
//! - [`verify`]: Slack's request signatures;
//! - [`app`]: the incoming requests (acknowledged at once, the work done as a [`app::Job`]);
//! - [`chat`]: the outbox's chat channel (cards, requester messages, announcements);
//! - [`blocks`]: what is shown (Block Kit);
//! - [`web`]: Slack's Web API, and [`local`]: a workspace in the process for local mode and
//!   tests;
//! - [`router`]: the three routes as an axum router.

pub mod app;
pub mod blocks;
pub mod chat;
pub mod command;
pub mod local;
pub mod verify;
pub mod web;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use jit_api::Api;

pub use app::{Endpoint, Job, SlackApp, SlackSettings};
pub use chat::SlackChat;
pub use verify::SigningSecret;
pub use web::{BotToken, HttpSlack, SlackWeb};

/// The Slack app's routes: `POST /slack/commands`, `/slack/interactions`, `/slack/options`.
/// Each job is spawned on the runtime after the acknowledgement is built.
pub fn router<A: Api, W: SlackWeb>(app: Arc<SlackApp<A, W>>) -> Router {
    async fn serve<A: Api, W: SlackWeb>(
        app: Arc<SlackApp<A, W>>,
        endpoint: Endpoint,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let incoming = app::Incoming {
            timestamp: h("x-slack-request-timestamp"),
            signature: h("x-slack-signature"),
            retry: h("x-slack-retry-num"),
            body: &body,
        };
        match app.handle(endpoint, incoming).await {
            Ok((ack, jobs)) => {
                for job in jobs {
                    let app = app.clone();
                    tokio::spawn(async move { app.run(job).await });
                }
                match ack.0 {
                    Some(v) => Json(v).into_response(),
                    None => StatusCode::OK.into_response(),
                }
            }
            Err(refusal) => {
                tracing::warn!(reason = %refusal, "refused a request that claimed to be Slack's");
                (StatusCode::UNAUTHORIZED, refusal.to_string()).into_response()
            }
        }
    }
    Router::new()
        .route(
            "/slack/commands",
            post(|State(a), h, b| serve(a, Endpoint::Commands, h, b)),
        )
        .route(
            "/slack/interactions",
            post(|State(a), h, b| serve(a, Endpoint::Interactions, h, b)),
        )
        .route(
            "/slack/options",
            post(|State(a), h, b| serve(a, Endpoint::Options, h, b)),
        )
        .with_state(app)
}
