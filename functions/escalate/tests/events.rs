//! The escalate handler fed the Scheduler inputs in events/.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use jit_core::policy::RequestInput;
use jit_core::types::{BundleName, Email, RequestId};
use jit_memory::demo;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn event(name: &str, id: &RequestId) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("events").join(name))
        .unwrap()
        .replace("{{ID}}", id.as_str());
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn silence_escalates_then_expires_and_a_decision_turns_both_into_no_ops() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = demo(&root().join("catalog/examples"), start);
    let input = RequestInput {
        bundle: Some(BundleName::parse("rds-prod-pii").unwrap()),
        reason: Some("INC-4".into()),
        ticket: Some("INC-4".into()),
        ..RequestInput::default()
    };
    let req = svc
        .submit(&Email::parse("carol@example.com").unwrap(), input)
        .await
        .unwrap();
    svc.ports.clock.advance(Duration::hours(1));
    let out = escalate::handle(&svc, &event("scheduler-escalate.json", &req.id))
        .await
        .unwrap();
    assert_eq!(
        (out["status"].as_str(), out["tier"].as_u64()),
        (Some("pending"), Some(1))
    );
    let early = escalate::handle(&svc, &event("scheduler-expire-request.json", &req.id))
        .await
        .unwrap();
    assert_eq!(early["status"], "pending", "not yet past its time to live");
    svc.ports.clock.advance(Duration::hours(23));
    let out = escalate::handle(&svc, &event("scheduler-expire-request.json", &req.id))
        .await
        .unwrap();
    assert_eq!(out["status"], "expired");
    let replay = escalate::handle(&svc, &event("scheduler-escalate.json", &req.id))
        .await
        .unwrap();
    assert_eq!(
        replay["status"], "expired",
        "a late escalation changes nothing"
    );
    assert!(
        escalate::handle(&svc, &event("scheduler-end-grant.json", &req.id))
            .await
            .is_err()
    );
}
