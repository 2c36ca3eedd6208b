//! The grant handler fed the DynamoDB stream records in events/.

use std::path::Path;

use aws_lambda_events::event::dynamodb::Event;
use chrono::{DateTime, Utc};
use jit_core::audit::Action;
use jit_core::lifecycle::Status;
use jit_core::policy::RequestInput;
use jit_core::service::Effects;
use jit_core::types::{BundleName, Email, GrantDuration, RequestId};
use jit_memory::{demo, Fault, MemoryService};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn event(name: &str, id: &RequestId) -> Event {
    let text = std::fs::read_to_string(root().join("events").join(name))
        .unwrap()
        .replace("{{ID}}", id.as_str());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is a DynamoDB stream event: {e}"))
}

fn service() -> MemoryService {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    demo(&root().join("catalog/examples"), start).with_effects(Effects::Stream)
}

async fn approved(svc: &MemoryService, who: &str) -> RequestId {
    let input = RequestInput {
        bundle: Some(BundleName::parse("api-logs-read").unwrap()),
        duration: Some(GrantDuration::parse("1h").unwrap()),
        reason: Some("x".into()),
        ..RequestInput::default()
    };
    svc.submit(&Email::parse(&format!("{who}@example.com")).unwrap(), input)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn an_approved_record_applies_the_grant_once_however_often_it_is_delivered() {
    let svc = service();
    let id = approved(&svc, "alice").await;
    for _ in 0..3 {
        let response = grant::handle(&svc, event("dynamodb-stream-approved.json", &id)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(svc.get(&id).await.unwrap().status, Status::Active);
    let activations = svc
        .timeline(&id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == Action::Activated)
        .count();
    assert_eq!(activations, 1);

    let alice = Email::parse("alice@example.com").unwrap();
    svc.release(&alice, &id).await.unwrap();
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .grant_ids()
            .len(),
        1,
        "release only wrote the ledger"
    );
    let response = grant::handle(&svc, event("dynamodb-stream-released.json", &id)).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(
        svc.ports.grantor.snapshot().containers[&alice]
            .grant_ids()
            .is_empty(),
        "the stream record removed it"
    );
}

#[tokio::test]
async fn a_throttled_record_is_reported_alone_for_retry() {
    let svc = service();
    let id = approved(&svc, "bob").await;
    svc.ports.grantor.inject(&[Fault::Throttle]);
    let response = grant::handle(&svc, event("dynamodb-stream-approved.json", &id)).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(
        failed,
        vec!["4421584500000000017450439091".to_string()],
        "only the approved record, not the audit one"
    );
    assert_eq!(svc.get(&id).await.unwrap().status, Status::Approved);
    assert!(
        grant::handle(&svc, event("dynamodb-stream-approved.json", &id))
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(svc.get(&id).await.unwrap().status, Status::Active);
}

#[tokio::test]
async fn an_extension_record_moves_the_expiry_in_the_iam_condition() {
    let svc = service();
    let id = approved(&svc, "alice").await;
    grant::handle(&svc, event("dynamodb-stream-approved.json", &id)).await;
    let alice = Email::parse("alice@example.com").unwrap();
    svc.extend(&alice, &id, GrantDuration::parse("2h").unwrap(), "more")
        .await
        .unwrap();
    let expiry = || {
        svc.ports.grantor.snapshot().containers[&alice]
            .expiry_of(&id)
            .unwrap()
    };
    assert_eq!(
        expiry(),
        "2026-11-23T10:00:00Z",
        "the API wrote only the ledger"
    );
    let response = grant::handle(&svc, event("dynamodb-stream-extended.json", &id)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(expiry(), "2026-11-23T12:00:00Z");
}

#[test]
fn the_templates_stream_filters_pass_exactly_the_records_the_handler_acts_on() {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let filters = doc["Resources"]["GrantFunction"]["Properties"]["Events"]["Stream"]["Properties"]
        ["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("the grant function's stream event has filters");
    let pattern = |i: usize| -> serde_json::Value {
        serde_json::from_str(filters[i]["Pattern"].as_str().unwrap()).unwrap()
    };
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(filters.len(), 2);
    let entering = pattern(0);
    assert_eq!(
        list(&entering["dynamodb"]["NewImage"]["status"]["S"]),
        grant::STATUSES.to_vec()
    );
    assert_eq!(entering["dynamodb"]["NewImage"]["sk"]["S"][0], "META");
    let changing = pattern(1);
    assert_eq!(
        list(&changing["dynamodb"]["NewImage"]["status"]["S"]),
        vec![grant::WHILE]
    );
    assert_eq!(
        list(&changing["dynamodb"]["OldImage"]["status"]["S"]),
        vec![grant::WHILE]
    );
    assert_eq!(changing["dynamodb"]["NewImage"]["sk"]["S"][0], "META");
    // The handler agrees, status by status.
    for s in [
        "requested",
        "pending",
        "approved",
        "active",
        "denied",
        "cancelled",
        "expired",
        "released",
        "revoked",
        "ended",
        "failed",
    ] {
        let by_filter = grant::STATUSES.contains(&s);
        assert_eq!(grant::acts_on(s, Some("pending")), by_filter, "{s}");
    }
    assert!(grant::acts_on("active", Some("active")), "an extension");
    assert!(
        !grant::acts_on("active", Some("approved")),
        "the activation itself"
    );
    assert!(grant::acts_on("released", Some("active")), "a release");
    assert!(
        !grant::acts_on("released", Some("released")),
        "the record that a released grant's access is gone"
    );
    assert!(
        grant::acts_on("released", None),
        "a record with no old image"
    );
}
