//! Setup only: the SDK configuration, the Slack secret (Secrets Manager, read once), the Web
//! API client and the job queue; each event goes to the library by its kind.

use std::sync::Arc;

use anyhow::anyhow;
use chat::{Event, SlackSecret, SqsQueue};
use jit_aws::DynamoStore;
use jit_lambda::{App, WritesLedgerOnly};
use jit_slack::{HttpSlack, SlackApp, SlackChat, SlackSettings};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("missing configuration: set {name} (the template sets it)"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jit_lambda::init_tracing();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let app = Arc::new(App::<WritesLedgerOnly>::from_sdk(&sdk)?);
    let secret_id = var("SLACK_SECRET_ID")?;
    let secret = SlackSecret::read(&aws_sdk_secretsmanager::Client::new(&sdk), &secret_id).await?;
    let api_url = std::env::var("SLACK_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| jit_slack::web::SLACK_API.to_string());
    let web = HttpSlack::new(&api_url, secret.bot_token);
    let settings = SlackSettings {
        secret: secret.signing_secret,
        team: std::env::var("SLACK_TEAM_ID")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let queue = Arc::new(SqsQueue {
        client: aws_sdk_sqs::Client::new(&sdk),
        url: var("JOB_QUEUE_URL")?,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (app, web, settings, queue) =
            (app.clone(), web.clone(), settings.clone(), queue.clone());
        async move {
            let svc = app
                .service()
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))?;
            let out = match Event::classify(event.payload)? {
                Event::Http(req) => {
                    let slack = SlackApp::new(svc, web, settings);
                    serde_json::to_value(chat::http(&slack, &*queue, &req).await)
                }
                Event::Jobs(batch) => {
                    let slack = SlackApp::new(svc, web, settings);
                    serde_json::to_value(chat::jobs(&slack, batch).await)
                }
                Event::Notices(batch) => {
                    let cards = DynamoStore::new(app.dynamo().clone(), &app.env().table);
                    let portal = app.env().portal_url.clone();
                    let slack = SlackChat::new(web, cards, svc.shared_catalog(), portal);
                    serde_json::to_value(chat::notices(&slack, batch).await)
                }
            };
            out.map_err(|e| lambda_runtime::Error::from(e.to_string()))
        }
    }))
    .await
}
