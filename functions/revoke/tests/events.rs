//! The revoke handler fed the Scheduler input and the sweeper event in events/.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use jit_core::lifecycle::Status;
use jit_core::policy::RequestInput;
use jit_core::types::{BundleName, Email, GrantDuration, RequestId};
use jit_memory::{demo, MemoryService};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn event(name: &str, id: &RequestId) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("events").join(name))
        .unwrap()
        .replace("{{ID}}", id.as_str());
    serde_json::from_str(&text).unwrap()
}

async fn active(svc: &MemoryService) -> RequestId {
    let input = RequestInput {
        bundle: Some(BundleName::parse("api-logs-read").unwrap()),
        duration: Some(GrantDuration::parse("1h").unwrap()),
        reason: Some("x".into()),
        ..RequestInput::default()
    };
    let r = svc
        .submit(&Email::parse("alice@example.com").unwrap(), input)
        .await
        .unwrap();
    svc.activate(&r.id).await.unwrap().id
}

#[tokio::test]
async fn the_expiry_schedule_ends_the_grant_and_an_early_one_does_nothing() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = demo(&root().join("catalog/examples"), start);
    let id = active(&svc).await;
    let early = revoke::handle(&svc, &event("scheduler-end-grant.json", &id))
        .await
        .unwrap();
    assert_eq!(early["status"], "active");
    svc.ports.clock.advance(Duration::hours(1));
    let done = revoke::handle(&svc, &event("scheduler-end-grant.json", &id))
        .await
        .unwrap();
    assert_eq!(done["status"], "ended");
    assert!(svc
        .ports
        .grantor
        .snapshot()
        .containers
        .values()
        .all(|d| d.grant_ids().is_empty()));
    assert!(
        revoke::handle(&svc, &event("scheduler-escalate.json", &id))
            .await
            .is_err(),
        "not this function's schedule"
    );
}

#[tokio::test]
async fn the_sweeper_event_ends_what_no_schedule_ended() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = demo(&root().join("catalog/examples"), start);
    let id = active(&svc).await;
    for s in svc.ports.scheduler.all() {
        svc.ports.scheduler.lose(&s.name);
    }
    svc.ports.clock.advance(Duration::hours(2));
    let sweep = std::fs::read_to_string(root().join("events/eventbridge-sweeper.json")).unwrap();
    let report = revoke::handle(&svc, &serde_json::from_str(&sweep).unwrap())
        .await
        .unwrap();
    assert_eq!(report["ended"], 1);
    assert_eq!(svc.get(&id).await.unwrap().status, Status::Ended);
}

#[tokio::test]
async fn the_sweeper_repairs_drift_and_reports_it_as_a_metric() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = demo(&root().join("catalog/examples"), start);
    let id = active(&svc).await;
    let alice = Email::parse("alice@example.com").unwrap();
    svc.ports
        .grantor
        .tamper(&alice, |doc| doc.statements.clear());
    let sweep = std::fs::read_to_string(root().join("events/eventbridge-sweeper.json")).unwrap();
    let report = revoke::handle(&svc, &serde_json::from_str(&sweep).unwrap())
        .await
        .unwrap();
    assert_eq!(report["drift_restored"], 1, "{report}");
    assert_eq!(report["containers"], 1, "{report}");
    let doc = svc.ports.grantor.snapshot().containers[&alice].clone();
    assert_eq!(doc.grant_ids().into_iter().collect::<Vec<_>>(), vec![id]);
    let again = revoke::handle(&svc, &serde_json::from_str(&sweep).unwrap())
        .await
        .unwrap();
    assert_eq!(again["drift_restored"], 0);
    let report: jit_core::service::SweepReport = jit_core::service::SweepReport {
        drift_removed: 2,
        drift_restored: 1,
        ..Default::default()
    };
    let emf = revoke::metrics(&report, 1_700_000_000_000);
    assert_eq!(emf["DriftFindings"], 3);
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Jit");
}

#[tokio::test]
async fn the_start_schedule_applies_a_later_grant_once_and_not_before_its_start() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = demo(&root().join("catalog/examples"), start);
    let input = RequestInput {
        bundle: Some(BundleName::parse("api-logs-read").unwrap()),
        duration: Some(GrantDuration::parse("1h").unwrap()),
        reason: Some("night deploy".into()),
        start_at: Some(start + Duration::hours(3)),
        ..RequestInput::default()
    };
    let alice = Email::parse("alice@example.com").unwrap();
    let req = svc.submit(&alice, input).await.unwrap();
    assert_eq!(req.status, Status::Approved);
    let holds = |svc: &MemoryService| {
        svc.ports
            .grantor
            .snapshot()
            .containers
            .get(&alice)
            .is_some_and(|d| d.grant_ids().contains(&req.id))
    };
    let early = revoke::handle(&svc, &event("scheduler-start-grant.json", &req.id))
        .await
        .unwrap();
    assert_eq!(early["status"], "approved", "an early firing waits");
    assert!(!holds(&svc));
    svc.ports.clock.advance(Duration::hours(3));
    for _ in 0..2 {
        let fired = revoke::handle(&svc, &event("scheduler-start-grant.json", &req.id))
            .await
            .unwrap();
        assert_eq!(fired["status"], "active");
        assert!(holds(&svc));
    }
    let activations = svc
        .timeline(&req.id)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.action == jit_core::audit::Action::Activated)
        .count();
    assert_eq!(activations, 1, "a replayed start records nothing");
}
