//! The pod handler fed the CloudTrail access-denied events in events/ (S3, EC2, IAM, a
//! JSON-protocol service, and a disabled service), as EventBridge delivers them.

use std::path::Path;

use chrono::{DateTime, Utc};
use jit_core::ports::MessageKind;
use jit_memory::{demo, MemoryService};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap())
        .unwrap()
}

fn service() -> MemoryService {
    let start: DateTime<Utc> = "2026-11-23T10:15:00Z".parse().unwrap();
    demo(&root().join("catalog/examples"), start)
}

#[tokio::test]
async fn every_sample_event_gets_the_answer_its_catalog_calls_for() {
    let svc = service();
    let cases = [
        (
            "cloudtrail-s3-access-denied.json",
            "prompted",
            "s3:GetObject",
            Some("api-production"),
        ),
        (
            "cloudtrail-ec2-unauthorized.json",
            "prompted",
            "ec2:DescribeInstances",
            Some("ec2-readonly"),
        ),
        (
            "cloudtrail-logs-access-denied.json",
            "prompted",
            "logs:FilterLogEvents",
            Some("api-logs-read"),
        ),
        (
            "cloudtrail-iam-access-denied.json",
            "no-bundle",
            "iam:CreateUser",
            None,
        ),
        (
            "cloudtrail-organizations-access-denied.json",
            "service-disabled",
            "organizations:ListAccounts",
            None,
        ),
    ];
    for (file, outcome, action, offer) in cases {
        let out = pod::handle(&svc, &event(file)).await.unwrap();
        assert_eq!(out["outcome"], outcome, "{file}: {out}");
        assert_eq!(out["action"], action, "{file}: {out}");
        if let Some(bundle) = offer {
            assert_eq!(out["offers"][0], bundle, "{file}: {out}");
        }
    }
    let mail = svc.ports.mailer.sent();
    assert_eq!(
        mail.len(),
        4,
        "three prompts and one notice; nothing for no-bundle"
    );
    assert!(mail.iter().all(|m| m.kind == MessageKind::AccessPrompt));

    // EventBridge delivers at least once: a replay of every event sends nothing more.
    for file in [
        "cloudtrail-s3-access-denied.json",
        "cloudtrail-ec2-unauthorized.json",
        "cloudtrail-logs-access-denied.json",
        "cloudtrail-organizations-access-denied.json",
    ] {
        let out = pod::handle(&svc, &event(file)).await.unwrap();
        assert_eq!(out["outcome"], "quiet", "{file}: {out}");
    }
    assert_eq!(svc.ports.mailer.sent().len(), 4);
}

#[tokio::test]
async fn other_events_are_answered_not_failed() {
    let svc = service();
    let sweep = event("eventbridge-sweeper.json");
    let out = pod::handle(&svc, &sweep).await.unwrap();
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert!(svc.ports.mailer.sent().is_empty());
}
