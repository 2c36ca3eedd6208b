//! A Slack workspace in the process, answering the Web API methods this app calls as Slack
//! documents them and recording every call: what local mode uses when it has no Slack to talk
//! to (the calls are its chat outbox), and what the tests serve over HTTP as a fake Slack.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::web::{SlackError, SlackWeb};

/// A person in the local workspace.
#[derive(Debug, Clone, Serialize)]
pub struct LocalUser {
    /// Slack's user id (`U…`).
    pub id: String,
    /// Their profile email.
    pub email: String,
    /// Whether Slack has confirmed the email.
    pub confirmed: bool,
    /// A bot user.
    pub bot: bool,
}

impl LocalUser {
    /// A confirmed person whose id is derived from the email (the same every run).
    pub fn person(email: &str) -> Self {
        let digest = Sha256::digest(email.as_bytes());
        Self {
            id: format!("U{}", hex::encode_upper(&digest[..5])),
            email: email.to_string(),
            confirmed: true,
            bot: false,
        }
    }
}

/// One recorded Web API call.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// The method.
    pub method: String,
    /// Its arguments.
    pub args: Value,
    /// What it answered.
    pub answer: Value,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    /// The messages posted, by (channel, ts), as last updated.
    messages: BTreeMap<(String, String), Value>,
    next_ts: u64,
    next_view: u64,
}

/// The local workspace.
#[derive(Debug, Default)]
pub struct LocalSlack {
    users: Vec<LocalUser>,
    state: Mutex<State>,
}

impl LocalSlack {
    /// A workspace of `users`.
    pub fn new(users: Vec<LocalUser>) -> Self {
        Self {
            users,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The workspace's people.
    pub fn users(&self) -> &[LocalUser] {
        &self.users
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The message at `channel`/`ts` as last posted or updated.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.state()
            .messages
            .get(&(channel.to_string(), ts.to_string()))
            .cloned()
    }

    /// The direct-message channel id Slack gives the bot's conversation with `user`.
    pub fn dm_of(user: &str) -> String {
        format!("D{}", user.trim_start_matches('U'))
    }

    fn user_json(u: &LocalUser) -> Value {
        json!({
            "id": u.id, "name": u.email.split('@').next().unwrap_or_default(),
            "deleted": false, "is_bot": u.bot, "is_email_confirmed": u.confirmed,
            "profile": { "email": u.email, "real_name": u.email },
        })
    }

    /// Answers `method` as Slack would.
    pub fn answer(&self, method: &str, args: &Value) -> Value {
        let arg = |k: &str| args[k].as_str().unwrap_or_default().to_string();
        let fail = |e: &str| json!({ "ok": false, "error": e });
        let answer = match method {
            "users.info" => match self.users.iter().find(|u| u.id == arg("user")) {
                Some(u) => json!({ "ok": true, "user": Self::user_json(u) }),
                None => fail("user_not_found"),
            },
            "users.lookupByEmail" => match self
                .users
                .iter()
                .find(|u| u.email.eq_ignore_ascii_case(&arg("email")))
            {
                Some(u) => json!({ "ok": true, "user": Self::user_json(u) }),
                None => fail("users_not_found"),
            },
            "chat.postMessage" | "chat.postEphemeral" => {
                if arg("channel").is_empty() {
                    fail("channel_not_found")
                } else if arg("text").is_empty() && args.get("blocks").is_none() {
                    fail("no_text")
                } else {
                    let mut st = self.state();
                    st.next_ts += 1;
                    let ts = format!("1700000000.{:06}", st.next_ts);
                    let channel = match arg("channel") {
                        c if c.starts_with('U') => Self::dm_of(&c),
                        c => c,
                    };
                    let message =
                        json!({ "ts": ts, "text": args["text"], "blocks": args["blocks"] });
                    if method == "chat.postEphemeral" {
                        json!({ "ok": true, "message_ts": ts })
                    } else {
                        st.messages
                            .insert((channel.clone(), ts.clone()), message.clone());
                        json!({ "ok": true, "channel": channel, "ts": ts, "message": message })
                    }
                }
            }
            "chat.update" => {
                let mut st = self.state();
                let at = (arg("channel"), arg("ts"));
                match st.messages.get_mut(&at) {
                    Some(m) => {
                        m["text"] = args["text"].clone();
                        m["blocks"] = args["blocks"].clone();
                        json!({ "ok": true, "channel": at.0, "ts": at.1, "text": args["text"] })
                    }
                    None => fail("message_not_found"),
                }
            }
            "views.open" | "views.update" | "views.push" => {
                let view = &args["view"];
                if method == "views.open" && arg("trigger_id").is_empty() {
                    fail("invalid_trigger_id")
                } else if method == "views.update" && arg("view_id").is_empty() {
                    fail("not_found")
                } else if view["type"] != "modal" || view["title"].is_null() {
                    fail("invalid_arguments")
                } else {
                    let mut st = self.state();
                    st.next_view += 1;
                    let id = match arg("view_id") {
                        v if !v.is_empty() => v,
                        _ => format!("V{:08}", st.next_view),
                    };
                    let mut v = view.clone();
                    v["id"] = json!(id);
                    v["hash"] = json!(format!("{}.{}", st.next_view, id));
                    json!({ "ok": true, "view": v })
                }
            }
            _ => fail("unknown_method"),
        };
        self.state().calls.push(Call {
            method: method.to_string(),
            args: args.clone(),
            answer: answer.clone(),
        });
        answer
    }
}

impl SlackWeb for LocalSlack {
    async fn call(&self, method: &str, args: Value) -> Result<Value, SlackError> {
        crate::web::check(method, self.answer(method, &args))
    }
}

/// The Web API local mode talks to: a real (or fake) one over HTTP, or the workspace in the
/// process.
pub enum AnySlack {
    /// Over HTTP.
    Http(crate::web::HttpSlack),
    /// In the process, recording every call.
    Local(std::sync::Arc<LocalSlack>),
}

impl SlackWeb for AnySlack {
    async fn call(&self, method: &str, args: Value) -> Result<Value, SlackError> {
        match self {
            AnySlack::Http(h) => h.call(method, args).await,
            AnySlack::Local(l) => l.call(method, args).await,
        }
    }
}
