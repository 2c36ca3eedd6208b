//! The chat function: the Slack app deployed. One function, three kinds of event:
//!
//! - **Slack's requests** (API Gateway, outside the JWT authorizer: Slack's signature is the
//!   credential). Checked and acknowledged at once; opening a modal is done before the
//!   acknowledgement (its trigger lasts three seconds), other work is queued ([`JobQueue`]).
//! - **Queued work** (SQS): each [`Job`] run once (asking, deciding, previewing, releasing).
//! - **Chat notices** (the table's stream, filtered to inserted `NOTICE#` items whose
//!   `channel` is `chat`): cards posted and drawn again, requesters told. Every function
//!   writes these with its transitions; only this one holds Slack's token.
//!
//! The signing secret and the bot token come from one Secrets Manager secret read at start
//! ([`SlackSecret`]); neither is in the environment or the logs.

use std::future::Future;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use base64::Engine;
use jit_api::Api;
use jit_core::ports::{Chat, MailError, Notice};
use jit_slack::app::{Ack, Incoming};
use jit_slack::{BotToken, Endpoint, Job, SigningSecret, SlackApp, SlackWeb};
use serde::Deserialize;
use serde_json::Value;
use tracing::{error, info, warn};

/// What the Secrets Manager secret holds (JSON): `{"signing_secret": "…", "bot_token":
/// "xoxb-…"}`, as the Slack app's Basic Information and OAuth pages show them.
pub struct SlackSecret {
    /// Checks Slack's requests.
    pub signing_secret: SigningSecret,
    /// Calls Slack's Web API.
    pub bot_token: BotToken,
}

impl SlackSecret {
    /// Reads the secret's text; the error says what is missing, never what is there.
    pub fn parse(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            signing_secret: Option<String>,
            bot_token: Option<String>,
        }
        let raw: Raw = serde_json::from_str(text).map_err(|_| {
            "the Slack secret is not JSON: store {\"signing_secret\": \"…\", \"bot_token\": \"xoxb-…\"}"
                .to_string()
        })?;
        let signing = raw.signing_secret.filter(|s| !s.trim().is_empty());
        let token = raw.bot_token.filter(|s| !s.trim().is_empty());
        match (signing, token) {
            (Some(s), Some(t)) if t.starts_with("xoxb-") => Ok(Self {
                signing_secret: SigningSecret::new(s),
                bot_token: BotToken::new(t),
            }),
            (Some(_), Some(_)) => Err("the Slack secret's bot_token is not a bot token (xoxb-…): copy the Bot User OAuth Token".into()),
            (None, _) => Err("the Slack secret has no signing_secret (the app's Basic Information page)".into()),
            (_, None) => Err("the Slack secret has no bot_token (the app's OAuth & Permissions page)".into()),
        }
    }
}

impl SlackSecret {
    /// Reads the secret `id` (its name or ARN) from Secrets Manager, once, at start.
    pub async fn read(client: &aws_sdk_secretsmanager::Client, id: &str) -> anyhow::Result<Self> {
        let out = client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading the Slack secret {id}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?;
        Self::parse(out.secret_string().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("{id}: {e}"))
    }
}

/// Where queued work goes (SQS deployed).
pub trait JobQueue: Send + Sync {
    /// Queues `job`.
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), String>> + Send;
}

/// An SQS queue of jobs.
pub struct SqsQueue {
    /// The client.
    pub client: aws_sdk_sqs::Client,
    /// JOB_QUEUE_URL.
    pub url: String,
}

impl JobQueue for SqsQueue {
    async fn send(&self, job: &Job) -> Result<(), String> {
        let body = serde_json::to_string(job).map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
    }
}

/// One event the function is given, told apart by its shape.
pub enum Event {
    /// A request from Slack through API Gateway.
    Http(Box<ApiGatewayV2httpRequest>),
    /// Queued jobs.
    Jobs(SqsEvent),
    /// Stream records of chat notices.
    Notices(StreamEvent),
}

impl Event {
    /// Which kind `v` is.
    pub fn classify(v: Value) -> Result<Self, String> {
        let source = v["Records"][0]["eventSource"].as_str().unwrap_or_default();
        let parsed = if v.get("requestContext").is_some() {
            serde_json::from_value(v).map(|r| Event::Http(Box::new(r)))
        } else if source == "aws:sqs" {
            serde_json::from_value(v).map(Event::Jobs)
        } else if source == "aws:dynamodb" {
            serde_json::from_value(v).map(Event::Notices)
        } else {
            return Err(
                "not an API Gateway request, an SQS batch or a DynamoDB stream batch".into(),
            );
        };
        parsed.map_err(|e| format!("malformed event: {e}"))
    }
}

fn response(status: i64, ack: Option<Value>, text: Option<String>) -> ApiGatewayV2httpResponse {
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status;
    let (body, kind) = match (ack, text) {
        (Some(v), _) => (Some(v.to_string()), "application/json"),
        (None, Some(t)) => (Some(t), "text/plain; charset=utf-8"),
        (None, None) => (None, "text/plain; charset=utf-8"),
    };
    r.headers
        .insert("content-type", kind.parse().expect("a valid header value"));
    r.body = body.map(Body::Text);
    r
}

/// Answers one request from Slack: checks it, runs what must happen before the answer
/// (opening a modal), queues the rest, acknowledges.
pub async fn http<A: Api, W: SlackWeb, Q: JobQueue>(
    app: &SlackApp<A, W>,
    queue: &Q,
    req: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let endpoint = match req.raw_path.as_deref().unwrap_or_default() {
        p if p.ends_with("/slack/commands") => Endpoint::Commands,
        p if p.ends_with("/slack/interactions") => Endpoint::Interactions,
        p if p.ends_with("/slack/options") => Endpoint::Options,
        _ => return response(404, None, Some("no such Slack route".into())),
    };
    let raw = req.body.clone().unwrap_or_default();
    let body = if req.is_base64_encoded {
        match base64::engine::general_purpose::STANDARD.decode(raw.as_bytes()) {
            Ok(b) => b,
            Err(_) => return response(400, None, Some("the body is not base64".into())),
        }
    } else {
        raw.into_bytes()
    };
    let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    let incoming = Incoming {
        timestamp: h("x-slack-request-timestamp"),
        signature: h("x-slack-signature"),
        retry: h("x-slack-retry-num"),
        body: &body,
    };
    match app.handle(endpoint, incoming).await {
        Ok((Ack(ack), jobs)) => {
            for job in jobs {
                if matches!(job, Job::OpenForm { .. } | Job::OpenDeny { .. }) {
                    // The trigger expires in three seconds: a queue could outlast it.
                    app.run(job).await;
                } else if let Err(e) = queue.send(&job).await {
                    // Better late than lost: do it now, the acknowledgement waits.
                    warn!(error = %e, "could not queue the work; doing it before answering");
                    app.run(job).await;
                }
            }
            response(200, ack, None)
        }
        Err(refusal) => {
            warn!(reason = %refusal, "refused a request that claimed to be Slack's");
            response(401, None, Some(refusal.to_string()))
        }
    }
}

/// Runs queued jobs. A job that does not parse is dropped with a log line: running it again
/// would not help.
pub async fn jobs<A: Api, W: SlackWeb>(app: &SlackApp<A, W>, event: SqsEvent) -> SqsBatchResponse {
    for m in event.records {
        match serde_json::from_str::<Job>(m.body.as_deref().unwrap_or_default()) {
            Ok(job) => app.run(job).await,
            Err(e) => error!(message_id = ?m.message_id, error = %e, "not a job; dropped"),
        }
    }
    SqsBatchResponse::default()
}

#[derive(Deserialize)]
struct NoticeItem {
    sk: String,
    data: String,
}

/// Delivers the chat notices in a stream batch. One that fails for a passing reason is
/// reported, so the stream delivers it (and those after it) again.
pub async fn notices<C: Chat>(chat: &C, event: StreamEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let seq = record.change.sequence_number.clone();
        let Ok(item) = serde_dynamo::from_item::<_, NoticeItem>(record.change.new_image.clone())
        else {
            continue;
        };
        if !item.sk.starts_with("NOTICE#") {
            continue;
        }
        let notice: Notice = match serde_json::from_str(&item.data) {
            Ok(n) => n,
            Err(e) => {
                error!(error = %e, "a notice that does not parse; dropped");
                continue;
            }
        };
        if !notice.is_chat() {
            continue;
        }
        match chat.deliver(&notice).await {
            Ok(()) => {
                info!(request_id = %notice.message.request_id, notice = %notice.key, "chat notice delivered")
            }
            Err(e) => {
                let retry = matches!(e, MailError::Retryable(_));
                error!(request_id = %notice.message.request_id, notice = %notice.key, error = %e, retryable = retry, "chat notice not delivered");
                if retry {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = seq;
                    response.batch_item_failures.push(failure);
                    // Later records of the batch come again after this one.
                    break;
                }
            }
        }
    }
    response
}
