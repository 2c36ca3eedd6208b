//! The whole product on in-memory adapters with the Slack app in front of it, and the fake
//! Slack Web API server it talks to (`tests/fake_slack`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use jit_core::catalog::{self, Catalog};
use jit_core::link::LinkSigner;
use jit_core::ports::WithChat;
use jit_core::service::{Ports, Service};
use jit_memory::{
    FakeClock, MemoryCards, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler,
    MemoryStore,
};
#[path = "../../../../tests/fake_slack/mod.rs"]
mod fake_slack;
pub use fake_slack::{FakeSlack, TOKEN};
use jit_slack::local::{Call, LocalSlack, LocalUser};
use jit_slack::{BotToken, HttpSlack, SigningSecret, SlackApp, SlackChat, SlackSettings};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const SECRET: &str = "test-signing-secret";
pub const TEAM: &str = "T0TEST";

pub type ChatService = Service<
    MemoryStore,
    MemoryGrantor,
    MemoryScheduler,
    WithChat<MemoryMailer, SlackChat<HttpSlack, MemoryCards>>,
    MemoryDirectory,
    FakeClock,
>;

pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub const CATALOG: &str = r#"
[settings]
platform_group = "platform-team"
admin_group = "platform-team"

[[bundle]]
name        = "orders-db-write"
description = "Write to the orders tables"
owner_team  = "data-dbas"
risk        = "high"
accounts    = ["222222222222"]
statements  = [ { actions = ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                  resources = ["arn:aws:dynamodb:eu-west-1:222222222222:table/orders"] } ]

[[bundle]]
name        = "kms-admin"
description = "Administer the production keys"
owner_team  = "security"
risk        = "critical"
accounts    = ["222222222222"]
statements  = [ { actions = ["kms:*"], resources = ["*"] } ]

[[bundle]]
name        = "logs-read"
description = "Read application logs"
owner_team  = "data-dbas"
risk        = "low"
accounts    = ["222222222222"]
statements  = [ { actions = ["logs:FilterLogEvents"], resources = ["*"] } ]

[[flow]]
name       = "orders"
requesters = ["data"]
bundles    = ["orders-db-write", "kms-admin"]
max_duration = "8h"
approval = { between = "all", groups = [
  { name = "data-dbas", require = "any" },
  { name = "security",  require = "any" } ] }

[[flow]]
name       = "logs"
requesters = ["*"]
bundles    = ["logs-read"]
approval   = "auto"
"#;

pub const DIRECTORY: &str = r#"
[[group]]
name = "data"
members = ["carol@example.com", "mallory@example.com"]
[[group]]
name = "data-dbas"
members = ["dave@example.com"]
[[group]]
name = "security"
members = ["erin@example.com"]
[[group]]
name = "platform-team"
members = ["frank@example.com"]
"#;

pub fn user(name: &str) -> LocalUser {
    LocalUser::person(&format!("{name}@example.com"))
}

/// The product with the Slack app in front, and the fake Slack it talks to.
pub struct World {
    pub slack: FakeSlack,
    pub service: Arc<ChatService>,
    pub app: Arc<SlackApp<ChatService, HttpSlack>>,
    pub router: Router,
    pub secret: SigningSecret,
}

pub async fn world() -> World {
    let mut mallory = user("mallory");
    mallory.confirmed = false;
    let slack = FakeSlack::start(vec![user("carol"), user("dave"), user("erin"), mallory]).await;
    let catalog: Arc<Catalog> =
        Arc::new(catalog::parse_files(&[("c.toml".into(), CATALOG.into())]).unwrap());
    let web = HttpSlack::new(&slack.url, BotToken::new(TOKEN));
    let chat = SlackChat::new(
        web.clone(),
        MemoryCards::default(),
        catalog.clone(),
        Some("https://jit.example.com".into()),
    );
    let ports = Ports {
        store: MemoryStore::default(),
        grantor: MemoryGrantor::default(),
        scheduler: MemoryScheduler::default(),
        mailer: WithChat {
            mail: MemoryMailer::default(),
            chat,
        },
        directory: MemoryDirectory::from_toml("directory.toml", DIRECTORY).unwrap(),
        clock: FakeClock::at(start()),
    };
    let service = Arc::new(
        Service::new(
            catalog,
            ports,
            LinkSigner::new(b"test-signing-key-of-at-least-32-bytes!").unwrap(),
            "https://jit.example.com",
        )
        .with_portal(Some("https://jit.example.com".into()))
        .with_chat(true),
    );
    let secret = SigningSecret::new(SECRET);
    let app = Arc::new(SlackApp::new(
        service.clone(),
        web,
        SlackSettings {
            secret: secret.clone(),
            team: Some(TEAM.into()),
        },
    ));
    let router = jit_slack::router(app.clone());
    World {
        slack,
        service,
        app,
        router,
        secret,
    }
}

/// What the app answered: the status and the body.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl World {
    pub fn now(&self) -> i64 {
        jit_api::Api::now(&*self.service).timestamp()
    }

    /// Sends `body` to `path` signed at `timestamp` with `secret`, with extra headers.
    pub async fn send_raw(
        &self,
        path: &str,
        body: &str,
        timestamp: i64,
        signature: &str,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut req = HttpRequest::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", signature);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Sends `body` to `path` as Slack would: signed now.
    pub async fn send(&self, path: &str, body: &str) -> Answer {
        let ts = self.now();
        let sig = self.secret.sign(ts, body.as_bytes());
        self.send_raw(path, body, ts, &sig, &[]).await
    }

    /// A slash command from `user`.
    pub async fn command(&self, user: &LocalUser, text: &str, trigger: &str) -> Answer {
        let body = serde_urlencoded::to_string([
            ("token", "unused"),
            ("team_id", TEAM),
            ("channel_id", "C0GENERAL1"),
            ("user_id", user.id.as_str()),
            ("command", "/jit"),
            ("text", text),
            ("trigger_id", trigger),
        ])
        .unwrap();
        self.send("/slack/commands", &body).await
    }

    /// An interaction payload from `user` to `path`.
    pub async fn interact(&self, path: &str, user: &LocalUser, mut payload: Value) -> Answer {
        payload["user"] = json!({ "id": user.id });
        payload["team"] = json!({ "id": TEAM });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.send(path, &body).await
    }

    /// A click on `action_id` with `value` on a card in `channel`.
    pub async fn click(
        &self,
        user: &LocalUser,
        action_id: &str,
        value: &str,
        channel: &str,
        trigger: &str,
    ) -> Answer {
        self.interact(
            "/slack/interactions",
            user,
            json!({ "type": "block_actions", "trigger_id": trigger,
                    "channel": { "id": channel },
                    "actions": [{ "action_id": action_id, "value": value }] }),
        )
        .await
    }
}

/// The messages posted to `channel`, as the calls recorded them.
pub fn posts_to<'a>(calls: &'a [Call], channel: &str) -> Vec<&'a Call> {
    calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.answer["channel"] == channel)
        .collect()
}

/// The messages posted to `channel` whose text holds `needle`.
pub fn posts_saying<'a>(calls: &'a [Call], channel: &str, needle: &str) -> Vec<&'a Call> {
    posts_to(calls, channel)
        .into_iter()
        .filter(|m| m.args["text"].as_str().unwrap_or_default().contains(needle))
        .collect()
}

/// Whether Block Kit `blocks` hold an element with `action_id`.
pub fn has_action(blocks: &Value, action_id: &str) -> bool {
    blocks
        .to_string()
        .contains(&format!("\"action_id\":\"{action_id}\""))
}

/// Whether `user` was told something holding `needle`: ephemerally in a channel, or in their
/// direct messages.
pub fn told(calls: &[Call], user: &LocalUser, needle: &str) -> bool {
    let dm = LocalSlack::dm_of(&user.id);
    calls.iter().any(|c| {
        let to_them = (c.method == "chat.postEphemeral" && c.args["user"] == user.id.as_str())
            || (c.method == "chat.postMessage" && c.answer["channel"] == dm.as_str());
        to_them && c.args["text"].as_str().unwrap_or_default().contains(needle)
    })
}
