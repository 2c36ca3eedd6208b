//! The chat function's handlers fed the events in events/: a signed slash command through API
//! Gateway is acknowledged and its work queued, the queued job (SQS) asks, and the chat notice
//! the ask wrote, taken off the table's stream, puts a card before each approver, once
//! however often the record is delivered.

#[path = "../../../tests/fake_slack/mod.rs"]
mod fake_slack;

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use chat::{Event, JobQueue, SlackSecret};
use fake_slack::{FakeSlack, TOKEN};
use jit_core::catalog;
use jit_core::link::LinkSigner;
use jit_core::ports::{Chat, MailError, Notice, WithChat};
use jit_core::service::{Ports, Service};
use jit_memory::{
    FakeClock, MemoryCards, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler,
    MemoryStore,
};
use jit_slack::local::{LocalSlack, LocalUser};
use jit_slack::{BotToken, HttpSlack, Job, SigningSecret, SlackApp, SlackChat, SlackSettings};

const SECRET: &str = "chat-function-signing-secret";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn event_text(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(name)).unwrap()
}

/// Text put inside a JSON string of an event file.
fn in_json_string(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

/// What the table's stream would carry: every chat notice the service wrote.
#[derive(Clone, Default)]
struct StreamTap(Arc<Mutex<Vec<Notice>>>);

impl Chat for StreamTap {
    async fn deliver(&self, notice: &Notice) -> Result<(), MailError> {
        self.0.lock().unwrap().push(notice.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Queue(Mutex<Vec<Job>>);

impl JobQueue for Queue {
    async fn send(&self, job: &Job) -> Result<(), String> {
        self.0.lock().unwrap().push(job.clone());
        Ok(())
    }
}

type Svc = Service<
    MemoryStore,
    MemoryGrantor,
    MemoryScheduler,
    WithChat<MemoryMailer, StreamTap>,
    MemoryDirectory,
    FakeClock,
>;

fn person(name: &str) -> LocalUser {
    LocalUser::person(&format!("{name}@example.com"))
}

/// The example catalog and directory on memory, with chat on: its chat notices go to `tap`.
fn service(tap: &StreamTap, start: chrono::DateTime<chrono::Utc>) -> Arc<Svc> {
    let examples = root().join("catalog/examples");
    Arc::new(
        Service::new(
            Arc::new(catalog::load_dir(&examples).unwrap()),
            Ports {
                store: MemoryStore::default(),
                grantor: MemoryGrantor::default(),
                scheduler: MemoryScheduler::default(),
                mailer: WithChat {
                    mail: MemoryMailer::default(),
                    chat: tap.clone(),
                },
                directory: MemoryDirectory::load(&examples).unwrap(),
                clock: FakeClock::at(start),
            },
            LinkSigner::new(b"test-signing-key-of-at-least-32-bytes!").unwrap(),
            "https://jit.example.com",
        )
        .with_chat(true),
    )
}

/// `n` as the table's stream carries it (events/dynamodb-stream-chat-notice.json), delivered
/// through the chat function's stream handler.
async fn from_stream<C: Chat>(chat_port: &C, n: &Notice) {
    let record = event_text("dynamodb-stream-chat-notice.json")
        .replace("{{ID}}", n.message.request_id.as_str())
        .replace("{{KEY}}", &n.key)
        .replace(
            "{{DATA}}",
            &in_json_string(&serde_json::to_string(n).unwrap()),
        );
    let Event::Notices(batch) = Event::classify(serde_json::from_str(&record).unwrap()).unwrap()
    else {
        panic!("not classified as a stream batch");
    };
    let out = chat::notices(chat_port, batch).await;
    assert!(out.batch_item_failures.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_denied_prompt_from_the_stream_is_offered_in_slack_once() {
    let slack = FakeSlack::start(vec![person("alice")]).await;
    let tap = StreamTap::default();
    let svc = service(&tap, "2026-11-23T10:02:30Z".parse().unwrap());
    let event: serde_json::Value =
        serde_json::from_str(&event_text("cloudtrail-s3-access-denied.json")).unwrap();
    let outcome = svc.on_access_denied(&event).await.unwrap();
    assert!(
        matches!(outcome, jit_core::service::PromptOutcome::Prompted(_)),
        "{outcome:?}"
    );
    // The pod function wrote one chat notice with the prompt: the offer and its signed links.
    let notices = tap.0.lock().unwrap().clone();
    assert_eq!(notices.len(), 1);
    let note = notices[0].prompt.as_ref().expect("a prompt's chat notice");
    assert_eq!(note.links.len(), note.prompt.offers.len());
    assert!(note.links[0].contains("/v1/prompts/"));

    let web = HttpSlack::new(&slack.url, BotToken::new(TOKEN));
    let chat_port = SlackChat::new(
        web,
        MemoryCards::default(),
        Arc::new(catalog::load_dir(&root().join("catalog/examples")).unwrap()),
        None,
    );
    for _ in 0..2 {
        from_stream(&chat_port, &notices[0]).await;
    }
    let dm = LocalSlack::dm_of(&person("alice").id);
    let offers: Vec<_> = slack
        .workspace
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage" && c.answer["channel"] == dm.as_str())
        .collect();
    assert_eq!(offers.len(), 1, "one offer however often the record comes");
    let blocks = offers[0].args["blocks"].to_string();
    assert!(
        blocks.contains("s3:GetObject") && blocks.contains("api-production"),
        "{blocks}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_is_queued_asked_and_carded_once() {
    let slack = FakeSlack::start(vec![person("carol"), person("dave"), person("erin")]).await;
    let catalog = Arc::new(catalog::load_dir(&root().join("catalog/examples")).unwrap());
    let tap = StreamTap::default();
    let start = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = service(&tap, start);
    let web = HttpSlack::new(&slack.url, BotToken::new(TOKEN));
    let app = SlackApp::new(
        svc.clone(),
        web.clone(),
        SlackSettings {
            secret: SigningSecret::new(SECRET),
            team: None,
        },
    );
    let queue = Queue::default();

    // Slack's request, as API Gateway hands it over (the body base64-encoded).
    let carol = person("carol");
    let body = serde_urlencoded::to_string([
        ("team_id", "T0TEST"),
        ("user_id", carol.id.as_str()),
        ("channel_id", "C0GENERAL1"),
        (
            "text",
            "request rds-prod-pii --for 1h --reason \"INC-7 customer data\" --ticket INC-7",
        ),
    ])
    .unwrap();
    let ts = start.timestamp();
    let signed = |secret: &str| {
        event_text("apigw-slack-command.json")
            .replace("{{TS}}", &ts.to_string())
            .replace(
                "{{SIG}}",
                &SigningSecret::new(secret).sign(ts, body.as_bytes()),
            )
            .replace(
                "{{BODY}}",
                &base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
            )
    };
    let Event::Http(req) = Event::classify(serde_json::from_str(&signed(SECRET)).unwrap()).unwrap()
    else {
        panic!("not classified as an HTTP request");
    };
    let resp = chat::http(&app, &queue, &req).await;
    assert_eq!(resp.status_code, 200);
    let said = format!("{:?}", resp.body);
    assert!(said.contains("Asking for rds-prod-pii"), "{said}");
    let jobs = queue.0.lock().unwrap().clone();
    assert_eq!(
        jobs.len(),
        1,
        "the ask is queued, not done before the answer"
    );
    let carol_email = "carol@example.com".parse().unwrap();
    let asked = || async {
        jit_api::Api::requests_of(&*svc, &carol_email, 10)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(asked().await, 0, "nothing asked yet");

    // A forged copy is refused; a route that is not Slack's is not found.
    let forged: ApiGatewayV2httpRequest = serde_json::from_str(&signed("not-the-secret")).unwrap();
    assert_eq!(chat::http(&app, &queue, &forged).await.status_code, 401);
    let mut elsewhere = *req.clone();
    elsewhere.raw_path = Some("/slack/nothing".into());
    assert_eq!(chat::http(&app, &queue, &elsewhere).await.status_code, 404);

    // The queued job, as SQS delivers it, asks.
    let job = serde_json::to_string(&jobs[0]).unwrap();
    let sqs = event_text("sqs-slack-job.json").replace("{{JOB}}", &in_json_string(&job));
    let Event::Jobs(batch) = Event::classify(serde_json::from_str(&sqs).unwrap()).unwrap() else {
        panic!("not classified as an SQS batch");
    };
    let done = chat::jobs(&app, batch).await;
    assert!(done.batch_item_failures.is_empty());
    assert_eq!(asked().await, 1);
    slack
        .until("carol told", |c| {
            c.iter().any(|c| {
                c.method == "chat.postEphemeral"
                    && c.args["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("waiting for")
            })
        })
        .await;

    // The chat notice the ask wrote, as the stream delivers it: a card to each approver.
    let notices = tap.0.lock().unwrap().clone();
    assert_eq!(notices.len(), 1);
    let chat_port = SlackChat::new(web, MemoryCards::default(), catalog, None);
    for _ in 0..3 {
        from_stream(&chat_port, &notices[0]).await;
    }
    let calls = slack.workspace.calls();
    for who in ["dave", "erin"] {
        let dm = LocalSlack::dm_of(&person(who).id);
        let cards = calls
            .iter()
            .filter(|c| c.method == "chat.postMessage" && c.answer["channel"] == dm.as_str())
            .count();
        assert_eq!(cards, 1, "{who}: one card however often the record comes");
    }
}

#[test]
fn the_slack_secret_is_read_and_its_mistakes_named_without_its_contents() {
    let ok = SlackSecret::parse(r#"{"signing_secret": "abc", "bot_token": "xoxb-1-2"}"#);
    assert!(ok.is_ok());
    for (text, says) in [
        ("xoxb-1", "not JSON"),
        (r#"{"bot_token": "xoxb-1"}"#, "no signing_secret"),
        (r#"{"signing_secret": "s3cr3t"}"#, "no bot_token"),
        (
            r#"{"signing_secret": "s3cr3t", "bot_token": "xoxp-user"}"#,
            "not a bot token",
        ),
    ] {
        let e = SlackSecret::parse(text).err().unwrap();
        assert!(e.contains(says), "{text}: {e}");
        assert!(!e.contains("s3cr3t") && !e.contains("xoxp-user"), "{e}");
    }
    assert!(Event::classify(serde_json::json!({"detail": {}})).is_err());
}
