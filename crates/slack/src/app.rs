//! Slack's requests to the app: slash commands, interactions (buttons, selects, modal
//! submissions) and the bundle picker's options. Each is taken only when Slack's signature
//! checks out and it was not seen before ([`crate::verify`]); it is acknowledged at once (Slack
//! waits three seconds) and the work that calls other services is handed on as a [`Job`] to
//! run afterwards ([`SlackApp::run`]): local mode spawns it, a Lambda would queue it.
//!
//! A Slack user acts as the directory person with their Slack profile's email, only when Slack
//! says the email is confirmed; anyone else is told why, never guessed at.

use std::sync::Arc;

use chrono::Duration;
use jit_api::Api;
use jit_core::lifecycle::Request;
use jit_core::policy::RequestInput;
use jit_core::service::{PromptAnswer, ServiceError};
use jit_core::types::{AccountId, BundleName, Email, GrantDuration, RequestId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::blocks;
use crate::command::{self, Command, USAGE};
use crate::verify::{Refusal, SigningSecret, WINDOW_SECS};
use crate::web::SlackWeb;

/// What the app was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/slack/commands`: slash commands.
    Commands,
    /// `/slack/interactions`: buttons, selects and modal submissions.
    Interactions,
    /// `/slack/options`: the bundle picker's options.
    Options,
}

/// The parts of an incoming request the app reads.
#[derive(Debug, Clone, Default)]
pub struct Incoming<'a> {
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Slack-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Slack-Retry-Num`: Slack sends a request again when it saw no answer in time.
    pub retry: Option<&'a str>,
    /// The raw body, as signed.
    pub body: &'a [u8],
}

/// The answer to Slack: a JSON body or an empty 200.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack(pub Option<Value>);

/// Work done after the acknowledgement. Serializable, so a deployment can queue it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Open the request modal.
    OpenForm {
        /// The Slack user.
        user: String,
        /// The interaction's trigger (valid for three seconds).
        trigger_id: String,
    },
    /// Ask for a bundle and tell the person what happened.
    Submit {
        /// The Slack user.
        user: String,
        /// Where to answer (a channel for `/jit`, none for the modal: a direct message).
        channel: Option<String>,
        /// What they asked.
        input: RequestInput,
    },
    /// Show in the open modal what asking for the bundle would need.
    Preview {
        /// The Slack user.
        user: String,
        /// The modal.
        view_id: String,
        /// The modal's version, so an edit made meanwhile is not overwritten.
        hash: String,
        /// The bundle chosen.
        bundle: String,
    },
    /// Approve or deny.
    Decide {
        /// The Slack user.
        user: String,
        /// The request.
        request: RequestId,
        /// Yes (optionally for less time) or no (with the message).
        approve: bool,
        /// A shorter duration.
        duration: Option<GrantDuration>,
        /// The approver's message.
        message: String,
        /// The channel of the card clicked, to answer there.
        channel: Option<String>,
    },
    /// Open the modal that asks why.
    OpenDeny {
        /// The Slack user.
        user: String,
        /// The request.
        request: RequestId,
        /// The interaction's trigger.
        trigger_id: String,
    },
    /// Lengthen an active grant (the Extend button of the expiry warning).
    Extend {
        /// The Slack user.
        user: String,
        /// The request.
        request: RequestId,
        /// By how much.
        by: GrantDuration,
        /// The expiry the button was shown for (Unix seconds): once it has moved, a click
        /// does nothing more.
        from: i64,
    },
    /// Answer an access-denied prompt: ask for an offered bundle, or say it is not needed.
    AnswerPrompt {
        /// The Slack user.
        user: String,
        /// The signed token of the offer (as in the emailed link).
        token: String,
        /// Ask (true) or dismiss.
        ask: bool,
    },
    /// End a grant early.
    Release {
        /// The Slack user.
        user: String,
        /// The request.
        request: RequestId,
    },
}

/// What the app needs to know of its Slack app.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// The signing secret.
    pub secret: SigningSecret,
    /// The workspace (team id) the app is installed in; other workspaces are refused.
    pub team: Option<String>,
}

/// The Slack app over the API and Slack's Web API.
pub struct SlackApp<A, W> {
    api: Arc<A>,
    web: W,
    settings: SlackSettings,
}

/// Why a Slack person cannot act here, in words for them.
fn unknown_person(why: &str) -> String {
    format!("I cannot tell who you are in the directory: {why}. Ask your Slack admin to confirm your email, or use the portal or `jit` CLI.")
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn errors(block: &str, message: impl Into<String>) -> Ack {
    Ack(Some(json!({ "response_action": "errors",
                     "errors": { block: message.into() } })))
}

fn ephemeral(text: impl Into<String>) -> Ack {
    Ack(Some(
        json!({ "response_type": "ephemeral", "text": text.into() }),
    ))
}

/// A modal's submitted values: `state.values[block][action]`, as text.
fn submitted(view: &Value, block: &str) -> Option<String> {
    let v = &view["state"]["values"][block][block];
    v["value"]
        .as_str()
        .or_else(|| v["selected_option"]["value"].as_str())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl<A: Api, W: SlackWeb> SlackApp<A, W> {
    /// The app over `api`, calling Slack through `web`.
    pub fn new(api: Arc<A>, web: W, settings: SlackSettings) -> Self {
        Self { api, web, settings }
    }

    /// Checks and answers one request from Slack: the acknowledgement, and the work to do
    /// afterwards. A refusal means the request was not Slack's (or was sent before): 401.
    pub async fn handle(
        &self,
        endpoint: Endpoint,
        incoming: Incoming<'_>,
    ) -> Result<(Ack, Vec<Job>), Refusal> {
        let now = self.api.now();
        self.settings
            .secret
            .verify(incoming.timestamp, incoming.signature, incoming.body, now)?;
        if incoming.retry.is_some() {
            // The first delivery was received; Slack only missed the acknowledgement in time.
            info!("Slack retried a request; the first delivery is being handled");
            return Ok((Ack(None), Vec::new()));
        }
        let signature = incoming.signature.unwrap_or_default();
        let fresh = self
            .api
            .use_once(
                &format!("slack:{signature}"),
                now + Duration::seconds(2 * WINDOW_SECS),
            )
            .await
            .unwrap_or_else(|e| {
                // The store could not say: refusing is safe, Slack shows the person an error.
                warn!(error = %e, "could not record the Slack request's signature");
                false
            });
        if !fresh {
            return Err(Refusal::Replayed);
        }
        Ok(match endpoint {
            Endpoint::Commands => self.command(incoming.body),
            Endpoint::Interactions | Endpoint::Options => {
                let payload: Value = form_field(incoming.body, "payload")
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or(Value::Null);
                if !self.our_team(payload["team"]["id"].as_str()) {
                    return Ok((
                        ephemeral("This app is not installed for your workspace."),
                        vec![],
                    ));
                }
                self.interaction(&payload)
            }
        })
    }

    fn our_team(&self, team: Option<&str>) -> bool {
        match (&self.settings.team, team) {
            (None, _) => true,
            (Some(ours), Some(t)) => ours == t,
            (Some(_), None) => false,
        }
    }

    fn command(&self, body: &[u8]) -> (Ack, Vec<Job>) {
        let field = |n: &str| form_field(body, n).unwrap_or_default();
        if !self.our_team(Some(&field("team_id"))) {
            return (
                ephemeral("This app is not installed for your workspace."),
                vec![],
            );
        }
        let user = field("user_id");
        match command::parse(&field("text")) {
            Ok(Command::Help) => (ephemeral(USAGE), vec![]),
            Ok(Command::Form) => (
                Ack(None),
                vec![Job::OpenForm {
                    user,
                    trigger_id: field("trigger_id"),
                }],
            ),
            Ok(Command::Request(input)) => {
                let bundle = input
                    .bundle
                    .as_ref()
                    .map(|b| b.to_string())
                    .unwrap_or_default();
                (
                    ephemeral(format!("Asking for {bundle}…")),
                    vec![Job::Submit {
                        user,
                        channel: Some(field("channel_id")).filter(|c| !c.is_empty()),
                        input,
                    }],
                )
            }
            Err(e) => (ephemeral(e), vec![]),
        }
    }

    fn interaction(&self, p: &Value) -> (Ack, Vec<Job>) {
        let user = p["user"]["id"].as_str().unwrap_or_default().to_string();
        match p["type"].as_str().unwrap_or_default() {
            "block_suggestion" => (
                Ack(Some(blocks::bundle_options(
                    self.api.catalog(),
                    p["value"].as_str().unwrap_or_default(),
                ))),
                vec![],
            ),
            "block_actions" => {
                let jobs = p["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| self.action(p, &user, a))
                    .collect();
                (Ack(None), jobs)
            }
            "view_submission" => self.submission(&user, &p["view"]),
            _ => (Ack(None), vec![]),
        }
    }

    fn action(&self, p: &Value, user: &str, a: &Value) -> Option<Job> {
        let user = user.to_string();
        let value = a["value"]
            .as_str()
            .or_else(|| a["selected_option"]["value"].as_str())
            .unwrap_or_default();
        let channel = p["channel"]["id"].as_str().map(str::to_string);
        let request = || RequestId::parse(value.split('|').next().unwrap_or_default()).ok();
        let trigger_id = p["trigger_id"].as_str().unwrap_or_default().to_string();
        match a["action_id"].as_str().unwrap_or_default() {
            "approve" => Some(Job::Decide {
                user,
                request: request()?,
                approve: true,
                duration: None,
                message: "approved in Slack".into(),
                channel,
            }),
            "approve_for" => Some(Job::Decide {
                user,
                request: request()?,
                approve: true,
                duration: GrantDuration::parse(value.split('|').nth(1)?).ok(),
                message: "approved in Slack for less time".into(),
                channel,
            }),
            "deny" => Some(Job::OpenDeny {
                user,
                request: request()?,
                trigger_id,
            }),
            "extend" => {
                let mut parts = value.split('|').skip(1);
                Some(Job::Extend {
                    user,
                    request: request()?,
                    by: GrantDuration::parse(parts.next()?).ok()?,
                    from: parts.next()?.parse().ok()?,
                })
            }
            "prompt_dismiss" => Some(Job::AnswerPrompt {
                user,
                token: value.to_string(),
                ask: false,
            }),
            id if id.starts_with("prompt_request_") && !value.is_empty() => {
                Some(Job::AnswerPrompt {
                    user,
                    token: value.to_string(),
                    ask: true,
                })
            }
            "release" => Some(Job::Release {
                user,
                request: request()?,
            }),
            "bundle" => Some(Job::Preview {
                user,
                view_id: p["view"]["id"].as_str()?.to_string(),
                hash: p["view"]["hash"].as_str().unwrap_or_default().to_string(),
                bundle: a["selected_option"]["value"].as_str()?.to_string(),
            }),
            // A link button (the portal): Slack opens it; nothing to do here.
            _ => None,
        }
    }

    fn submission(&self, user: &str, view: &Value) -> (Ack, Vec<Job>) {
        let user = user.to_string();
        match view["callback_id"].as_str().unwrap_or_default() {
            blocks::REQUEST_VIEW => {
                let Some(bundle) = submitted(view, "bundle") else {
                    return (errors("bundle", "Choose a bundle."), vec![]);
                };
                let Ok(bundle) = BundleName::parse(&bundle) else {
                    return (errors("bundle", "Choose a bundle from the list."), vec![]);
                };
                if self.api.catalog().bundle(&bundle).is_none() {
                    return (errors("bundle", "There is no such bundle."), vec![]);
                }
                let duration = match submitted(view, "duration").map(|d| GrantDuration::parse(&d)) {
                    None => None,
                    Some(Ok(d)) => Some(d),
                    Some(Err(e)) => return (errors("duration", e.to_string()), vec![]),
                };
                let mut accounts = Vec::new();
                for a in submitted(view, "accounts")
                    .unwrap_or_default()
                    .split([',', ' '])
                    .filter(|a| !a.is_empty())
                {
                    match AccountId::parse(a) {
                        Ok(a) => accounts.push(a),
                        Err(e) => return (errors("accounts", e.to_string()), vec![]),
                    }
                }
                let input = RequestInput {
                    bundle: Some(bundle),
                    duration,
                    // The form lets people write several lines; the ledger keeps one.
                    reason: submitted(view, "reason")
                        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" ")),
                    ticket: submitted(view, "ticket"),
                    accounts: (!accounts.is_empty()).then_some(accounts),
                    ..RequestInput::default()
                };
                (
                    Ack(None),
                    vec![Job::Submit {
                        user,
                        channel: None,
                        input,
                    }],
                )
            }
            blocks::DENY_VIEW => {
                let Some(message) = submitted(view, "message") else {
                    return (errors("message", "Say why: the requester is told."), vec![]);
                };
                let Ok(request) = RequestId::parse(view["private_metadata"].as_str().unwrap_or(""))
                else {
                    return (Ack(None), vec![]);
                };
                (
                    Ack(None),
                    vec![Job::Decide {
                        user,
                        request,
                        approve: false,
                        duration: None,
                        message,
                        channel: None,
                    }],
                )
            }
            _ => (Ack(None), vec![]),
        }
    }

    /// Who `user` is in the directory: their Slack profile's email, only when Slack has
    /// confirmed it. `Err` is what to tell them.
    pub async fn person(&self, user: &str) -> Result<Email, String> {
        let v = self
            .web
            .call("users.info", json!({ "user": user }))
            .await
            .map_err(|e| unknown_person(&format!("Slack did not say ({e})")))?;
        let u = &v["user"];
        if u["deleted"].as_bool() == Some(true) || u["is_bot"].as_bool() == Some(true) {
            return Err(unknown_person("this Slack account is deactivated or a bot"));
        }
        if u["is_email_confirmed"].as_bool() != Some(true) {
            return Err(unknown_person("Slack has not confirmed your email address"));
        }
        let email = u["profile"]["email"].as_str().unwrap_or_default();
        Email::parse(&email.to_lowercase())
            .map_err(|_| unknown_person("your Slack profile has no usable email address"))
    }

    /// Tells `user` `text` (Slack markup the app wrote; typed text in it already escaped).
    async fn say(&self, user: &str, channel: Option<&str>, text: &str) {
        let sent = match channel {
            Some(c) if !c.starts_with('D') => self
                .web
                .call(
                    "chat.postEphemeral",
                    json!({ "channel": c, "user": user, "text": text }),
                )
                .await
                .is_ok(),
            _ => false,
        };
        if !sent {
            // Not in that channel (or a direct message): answer in the app's direct messages.
            if let Err(e) = self
                .web
                .call("chat.postMessage", json!({ "channel": user, "text": text }))
                .await
            {
                warn!(error = %e, "could not answer the Slack user");
            }
        }
    }

    /// Does one job, telling the person the outcome in Slack. Errors are told, not returned:
    /// a job is not retried (it could open a second modal or ask twice).
    pub async fn run(&self, job: Job) {
        let user = match &job {
            Job::OpenForm { user, .. }
            | Job::Submit { user, .. }
            | Job::Preview { user, .. }
            | Job::Decide { user, .. }
            | Job::OpenDeny { user, .. }
            | Job::Extend { user, .. }
            | Job::AnswerPrompt { user, .. }
            | Job::Release { user, .. } => user.clone(),
        };
        let channel = match &job {
            Job::Submit { channel, .. } | Job::Decide { channel, .. } => channel.clone(),
            _ => None,
        };
        // The person's own words are never in what person() says: no escaping needed.
        let person = match self.person(&user).await {
            Ok(p) => p,
            Err(why) => return self.say(&user, channel.as_deref(), &why).await,
        };
        if let Err(text) = self.work(&person, job).await {
            self.say(&user, channel.as_deref(), &text).await;
        }
    }

    async fn work(&self, person: &Email, job: Job) -> Result<(), String> {
        let told = |e: ServiceError| blocks::escape(&e.to_string(), 1500);
        let failed = |what: &str, e: crate::web::SlackError| {
            format!(
                "{what} did not open ({}); try again.",
                blocks::escape(&e.to_string(), 300)
            )
        };
        match job {
            Job::OpenForm { trigger_id, .. } => {
                self.web
                    .call(
                        "views.open",
                        json!({ "trigger_id": trigger_id, "view": blocks::request_modal(None, None) }),
                    )
                    .await
                    .map_err(|e| failed("The request form", e))?;
            }
            Job::Preview {
                view_id,
                hash,
                bundle,
                ..
            } => {
                // Nothing is typed yet: a reason stands in, so the preview speaks of approval.
                let input = RequestInput {
                    bundle: BundleName::parse(&bundle).ok(),
                    reason: Some("(preview)".into()),
                    ..RequestInput::default()
                };
                let line = match self.api.preview(person, input).await {
                    Ok((req, room)) => preview_line(&req, room),
                    // The modal escapes what it shows.
                    Err(e) => format!("You cannot ask for this: {e}"),
                };
                let view = blocks::request_modal(Some(&bundle), Some(&line));
                if let Err(e) = self
                    .web
                    .call(
                        "views.update",
                        json!({ "view_id": view_id, "hash": hash, "view": view }),
                    )
                    .await
                {
                    info!(error = %e, "the request form changed meanwhile; preview not shown");
                }
            }
            Job::Submit {
                user,
                channel,
                input,
            } => {
                let req = self.api.submit(person, input).await.map_err(told)?;
                let line = submitted_line(&req);
                self.say(&user, channel.as_deref(), &line).await;
            }
            Job::Decide {
                request,
                approve,
                duration,
                message,
                ..
            } => {
                let now = self.api.get(&request).await.map_err(told)?;
                if now.status != jit_core::lifecycle::Status::Pending {
                    return Err(already_decided(&now));
                }
                let done = if approve {
                    self.api.approve(person, &request, &message, duration).await
                } else {
                    self.api.deny(person, &request, &message).await
                };
                if let Err(e) = done {
                    return Err(self.decided_already(&request, e).await);
                }
            }
            Job::OpenDeny {
                request,
                trigger_id,
                ..
            } => {
                let req = self.api.get(&request).await.map_err(told)?;
                if req.status != jit_core::lifecycle::Status::Pending {
                    return Err(format!(
                        "This request is no longer waiting: {}",
                        blocks::standing(&req)
                    ));
                }
                self.web
                    .call(
                        "views.open",
                        json!({ "trigger_id": trigger_id, "view": blocks::deny_modal(&req) }),
                    )
                    .await
                    .map_err(|e| failed("The deny form", e))?;
            }
            Job::Extend {
                request, by, from, ..
            } => {
                // Read first only to say why a second click does nothing; what makes it do
                // nothing is the expiry the button names, checked by the conditional write.
                let now = self.api.get(&request).await.map_err(told)?;
                let shown = chrono::DateTime::from_timestamp(from, 0);
                if now.expires_at != shown {
                    return Err(format!(
                        "This grant was extended already, or has ended: {}",
                        blocks::standing(&now)
                    ));
                }
                // The extension's own message ("extended until …") follows from the outbox.
                self.api
                    .extend_from(
                        person,
                        &request,
                        shown,
                        by,
                        "extended from Slack's expiry warning",
                    )
                    .await
                    .map_err(told)?;
            }
            Job::AnswerPrompt { user, token, ask } => {
                let (p, _) = self.api.inspect_prompt(&token).await.map_err(told)?;
                // The token names the person prompted: nobody else answers for them.
                if p.denied.person != *person {
                    return Err(
                        "This prompt was sent to someone else; only they can answer it.".into(),
                    );
                }
                let answer = if ask {
                    PromptAnswer::Request {
                        duration: None,
                        reason: p.reason(),
                        ticket: None,
                    }
                } else {
                    PromptAnswer::Dismiss
                };
                let (_, req) = self.api.answer_prompt(&token, answer).await.map_err(told)?;
                let line = match req {
                    Some(req) => submitted_line(&req),
                    None => "Noted: you do not need it. You will not be asked about this again for an hour.".into(),
                };
                self.say(&user, None, &line).await;
            }
            Job::Release { request, .. } => {
                self.api.release(person, &request).await.map_err(told)?;
            }
        }
        Ok(())
    }

    /// What to tell an approver whose click could not decide: who decided it and when, if
    /// someone did; otherwise why not.
    async fn decided_already(&self, id: &RequestId, e: ServiceError) -> String {
        match (&e, self.api.get(id).await) {
            (ServiceError::Lifecycle(_), Ok(req))
                if req.status != jit_core::lifecycle::Status::Pending =>
            {
                already_decided(&req)
            }
            _ => blocks::escape(&e.to_string(), 1500),
        }
    }
}

fn already_decided(req: &Request) -> String {
    format!(
        "This request was already decided. {}",
        blocks::standing(req)
    )
}

/// What asking would need, in a line (the modal's preview).
pub fn preview_line(req: &Request, room: Option<usize>) -> String {
    let need = if req.plan.auto {
        "Granted at once".to_string()
    } else {
        format!("Needs approval: {}", req.waiting_for())
    };
    let room = room
        .map(|n| format!(" {n} more grant(s) of this size fit in your permission set."))
        .unwrap_or_default();
    format!("{need} ({}). Up to {}.{room}", req.plan.basis, req.duration)
}

/// What the requester is told once their request is stored.
pub fn submitted_line(req: &Request) -> String {
    match req.status {
        jit_core::lifecycle::Status::Pending => format!(
            "Asked for {} for {} (request {}): waiting for {}. You will hear here when it is decided.",
            req.bundle, req.duration, req.id, req.waiting_for()
        ),
        status => format!(
            "{} for {} is {status} (request {}); you will hear here when it is active.",
            req.bundle, req.duration, req.id
        ),
    }
}
