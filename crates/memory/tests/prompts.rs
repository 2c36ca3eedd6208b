//! Permission on demand and drift repair, on the in-memory adapters: CloudTrail access-denied
//! events from `events/` become prompts, prompts become requests through their signed links,
//! and the sweeper makes every container hold exactly what the ledger explains.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jit_core::audit::Action;
use jit_core::catalog::{self, Catalog};
use jit_core::lifecycle::Status;
use jit_core::link::LinkError;
use jit_core::plan::grant_of_sid;
use jit_core::policy::RequestInput;
use jit_core::ports::{MessageKind, RequestStore};
use jit_core::prompt::{Ignored, PromptStatus};
use jit_core::service::{PromptAnswer, PromptOutcome, ServiceError};
use jit_core::types::{BundleName, Email, GrantDuration};
use jit_memory::{memory_service, MemoryDirectory, MemoryService};
use serde_json::{json, Value};

const KEY: &[u8] = b"test-signing-key-of-at-least-32-bytes!";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:02:30Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn service() -> MemoryService {
    let examples = root().join("catalog/examples");
    let catalog = Arc::new(catalog::load_dir(&examples).unwrap());
    let directory = MemoryDirectory::load(&examples).unwrap();
    memory_service(catalog, directory, start(), KEY, "https://jit.example.com").unwrap()
}

fn event(name: &str) -> Value {
    let path = root().join("events").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn who(s: &str) -> Email {
    Email::parse(&format!("{s}@example.com")).unwrap()
}

/// The prompt links in the newest prompt email to `to`.
fn prompt_links(svc: &MemoryService, to: &Email) -> Vec<String> {
    let mail = svc
        .ports
        .mailer
        .sent()
        .into_iter()
        .rev()
        .find(|m| m.kind == MessageKind::AccessPrompt && m.to.contains(to))
        .unwrap_or_else(|| panic!("no prompt email to {to}"));
    mail.text
        .lines()
        .filter_map(|l| l.split_once("/v1/prompts/").map(|(_, t)| t.to_string()))
        .collect()
}

fn prompted(outcome: PromptOutcome) -> jit_core::prompt::Prompt {
    match outcome {
        PromptOutcome::Prompted(p) => p,
        other => panic!("expected a prompt, got {other:?}"),
    }
}

fn request(reason: &str) -> PromptAnswer {
    PromptAnswer::Request {
        duration: None,
        reason: reason.into(),
        ticket: None,
    }
}

#[tokio::test]
async fn an_s3_denial_becomes_a_prompt_and_the_prompt_a_granted_request() {
    let svc = service();
    let alice = who("alice");
    let p = prompted(
        svc.on_access_denied(&event("cloudtrail-s3-access-denied"))
            .await
            .unwrap(),
    );
    assert_eq!(p.denied.person, alice);
    assert_eq!(p.denied.action, "s3:GetObject");
    assert_eq!(
        p.denied.resource.as_deref(),
        Some("arn:aws:s3:::api-prod-assets/uploads/2026/report.csv")
    );
    let offered: Vec<&str> = p.offers.iter().map(|o| o.bundle.as_str()).collect();
    assert_eq!(
        offered,
        vec!["api-production"],
        "prod-admin allows it too, but only through break-glass, which a prompt never offers"
    );
    assert!(p.offers[0].auto, "high risk for 4h is auto for its owners");
    let mail = svc.ports.mailer.sent();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].text.contains("s3:GetObject"), "{}", mail[0].text);

    // The event again (EventBridge delivers at least once): nothing new.
    let again = svc
        .on_access_denied(&event("cloudtrail-s3-access-denied"))
        .await
        .unwrap();
    assert!(matches!(again, PromptOutcome::Quiet(_)), "{again:?}");
    assert_eq!(svc.ports.mailer.sent().len(), 1);

    let links = prompt_links(&svc, &alice);
    assert_eq!(links.len(), 1);
    let (shown, offer) = svc.inspect_prompt(&links[0]).await.unwrap();
    assert_eq!(shown.id, p.id);
    assert!(shown
        .reason()
        .contains("s3:GetObject on arn:aws:s3:::api-prod-assets"));
    let (after, req) = svc
        .answer_prompt(&links[0], request(&shown.reason()))
        .await
        .unwrap();
    let req = req.expect("a request was made");
    assert_eq!(after.status, PromptStatus::Requested);
    assert_eq!(after.request_id.as_ref(), Some(&req.id));
    assert_eq!(req.bundle, offer.bundle);
    assert_eq!(req.requester, alice);
    assert_eq!(req.status, Status::Approved);
    assert_eq!(req.duration, GrantDuration::parse("4h").unwrap());

    // A double click returns the same request; a different answer is refused.
    let (_, twice) = svc
        .answer_prompt(&links[0], request("again"))
        .await
        .unwrap();
    assert_eq!(twice.unwrap().id, req.id);
    let err = svc
        .answer_prompt(&links[0], PromptAnswer::Dismiss)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("requested"), "{err}");
    assert_eq!(svc.requests_of(&alice, 10).await.unwrap().len(), 1);

    svc.activate(&req.id).await.unwrap();
    let doc = svc.ports.grantor.snapshot().containers[&alice].clone();
    assert_eq!(
        doc.grant_ids().into_iter().collect::<Vec<_>>(),
        vec![req.id]
    );
}

#[tokio::test]
async fn each_trigger_finds_its_action_and_the_bundles_the_person_may_ask_for() {
    let svc = service();
    // EC2 (query protocol; the message has no resource, the parameters name the instance).
    let p = prompted(
        svc.on_access_denied(&event("cloudtrail-ec2-unauthorized"))
            .await
            .unwrap(),
    );
    assert_eq!(p.denied.person, who("grace"));
    assert_eq!(p.denied.action, "ec2:DescribeInstances");
    assert_eq!(
        p.denied.resource.as_deref(),
        Some("arn:aws:ec2:eu-west-1:222222222222:instance/i-0abc123def4567890")
    );
    assert_eq!(p.offers[0].bundle.as_str(), "ec2-readonly");
    assert_eq!(p.offers.len(), 1, "the deprecated bundle is not offered");

    // CloudWatch Logs (JSON protocol; IAM's message names action and resource).
    let p = prompted(
        svc.on_access_denied(&event("cloudtrail-logs-access-denied"))
            .await
            .unwrap(),
    );
    assert_eq!(p.denied.action, "logs:FilterLogEvents");
    assert_eq!(p.offers[0].bundle.as_str(), "api-logs-read");

    // IAM: nothing frank may ask for allows iam:CreateUser (prod-admin is sre's break-glass).
    let out = svc
        .on_access_denied(&event("cloudtrail-iam-access-denied"))
        .await
        .unwrap();
    match out {
        PromptOutcome::NoBundle(d) => {
            assert_eq!(d.action, "iam:CreateUser");
            assert_eq!(
                d.resource.as_deref(),
                Some("arn:aws:iam::111111111111:user/deploy-bot")
            );
        }
        other => panic!("expected no bundle, got {other:?}"),
    }

    // Organizations is switched off in settings.toml: a notice, no link.
    let out = svc
        .on_access_denied(&event("cloudtrail-organizations-access-denied"))
        .await
        .unwrap();
    let PromptOutcome::ToldDisabled(p) = out else {
        panic!("expected a disabled notice, got {out:?}");
    };
    assert_eq!(p.status, PromptStatus::Disabled);
    let notice = svc.ports.mailer.sent().pop().unwrap();
    assert_eq!(notice.to, vec![who("frank")]);
    assert!(notice.text.contains("organizations service is disabled"));
    assert!(!notice.text.contains("/v1/prompts/"));
}

#[tokio::test]
async fn one_prompt_per_person_and_action_per_hour() {
    let svc = service();
    let mut ev = event("cloudtrail-s3-access-denied");
    prompted(svc.on_access_denied(&ev).await.unwrap());
    ev["detail"]["eventID"] = json!("another-event-same-action");
    ev["detail"]["requestParameters"]["key"] = json!("uploads/other.csv");
    let out = svc.on_access_denied(&ev).await.unwrap();
    assert!(matches!(out, PromptOutcome::Quiet(_)), "{out:?}");
    svc.ports.clock.advance(Duration::minutes(61));
    ev["detail"]["eventID"] = json!("a-third-event-an-hour-later");
    prompted(svc.on_access_denied(&ev).await.unwrap());
    assert_eq!(svc.ports.mailer.sent().len(), 2);
}

#[tokio::test]
async fn events_that_are_not_identity_center_denials_are_ignored() {
    let svc = service();
    let mut ev = event("cloudtrail-s3-access-denied");
    ev["detail"]["errorCode"] = json!("NoSuchKey");
    assert!(matches!(
        svc.on_access_denied(&ev).await.unwrap(),
        PromptOutcome::Ignored(Ignored::NotDenied(_))
    ));
    let mut ev = event("cloudtrail-s3-access-denied");
    ev["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] =
        json!("ci-deployer");
    assert!(matches!(
        svc.on_access_denied(&ev).await.unwrap(),
        PromptOutcome::Ignored(Ignored::NotIdentityCenter(_))
    ));
    let mut ev = event("cloudtrail-s3-access-denied");
    ev["detail"]["userIdentity"]["arn"] = json!(
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_ApiEngineer_3f9a2b7c1d0e4a56/alice"
    );
    assert!(matches!(
        svc.on_access_denied(&ev).await.unwrap(),
        PromptOutcome::Ignored(Ignored::NotAnEmail(_))
    ));
    assert!(matches!(
        svc.on_access_denied(&json!({"detail": {"hello": 1}}))
            .await
            .unwrap(),
        PromptOutcome::Ignored(Ignored::NotCloudTrail(_))
    ));
    let mut ev = event("cloudtrail-s3-access-denied");
    ev["source"] = json!("my.app");
    assert!(
        matches!(
            svc.on_access_denied(&ev).await.unwrap(),
            PromptOutcome::Ignored(Ignored::NotCloudTrail(_))
        ),
        "only AWS may send aws.* sources; anything else is a forgery"
    );
    let mut ev = event("cloudtrail-s3-access-denied");
    ev["account"] = json!("999999999999");
    assert!(matches!(
        svc.on_access_denied(&ev).await.unwrap(),
        PromptOutcome::Ignored(Ignored::NotCloudTrail(_))
    ));
    assert!(svc.ports.mailer.sent().is_empty());
}

#[tokio::test]
async fn unanswered_prompts_expire_and_dismissed_ones_are_abandoned() {
    let svc = service();
    let p = prompted(
        svc.on_access_denied(&event("cloudtrail-ec2-unauthorized"))
            .await
            .unwrap(),
    );
    let q = prompted(
        svc.on_access_denied(&event("cloudtrail-logs-access-denied"))
            .await
            .unwrap(),
    );
    let logs_link = prompt_links(&svc, &who("alice")).remove(0);
    let (dismissed, none) = svc
        .answer_prompt(&logs_link, PromptAnswer::Dismiss)
        .await
        .unwrap();
    assert_eq!(
        (dismissed.status, none),
        (PromptStatus::Abandoned, None),
        "dismissed"
    );
    let ec2_link = prompt_links(&svc, &who("grace")).remove(0);

    svc.ports.clock.advance(Duration::hours(23));
    assert_eq!(svc.sweep().await.unwrap().prompts_expired, 0);
    svc.ports.clock.advance(Duration::hours(2));
    let report = svc.sweep().await.unwrap();
    assert_eq!(report.prompts_expired, 1, "only the unanswered one");
    let p = svc.ports.store.get_prompt(&p.id).await.unwrap().unwrap();
    assert_eq!(p.status, PromptStatus::AbandonedExpired);
    let q = svc.ports.store.get_prompt(&q.id).await.unwrap().unwrap();
    assert_eq!(q.status, PromptStatus::Abandoned);
    assert_eq!(svc.sweep().await.unwrap().prompts_expired, 0);
    let err = svc
        .answer_prompt(&ec2_link, request("late"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Link(LinkError::Expired(_))),
        "{err}"
    );
}

#[tokio::test]
async fn prompt_links_are_not_decision_links_and_cannot_be_forged() {
    let svc = service();
    prompted(
        svc.on_access_denied(&event("cloudtrail-s3-access-denied"))
            .await
            .unwrap(),
    );
    let link = prompt_links(&svc, &who("alice")).remove(0);
    let err = svc.inspect_link(&link).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Link(LinkError::Forged)),
        "{err}"
    );
    let (payload, _) = link.split_once('.').unwrap();
    let err = svc
        .answer_prompt(&format!("{payload}.AAAA"), request("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Link(LinkError::Forged)),
        "{err}"
    );
}

const SELF_APPROVING: &str = r#"
[settings]
platform_group = "platform"
admin_group = "platform"

[[bundle]]
name = "queue-admin"
description = "Purge the orders queue"
owner_team = "queues"
risk = "high"
accounts = ["111111111111"]
statements = [ { actions = ["sqs:PurgeQueue"], resources = ["arn:aws:sqs:eu-west-1:111111111111:orders"] } ]

[[flow]]
name = "queues"
requesters = ["queues", "dev"]
bundles = ["queue-admin"]
max_duration = "4h"
self_approval = true
approval = { between = "any", groups = [ { name = "queues", require = "any" } ] }
"#;

const SELF_APPROVING_DIR: &str = r#"
[[group]]
name = "queues"
members = ["quinn@example.com"]

[[group]]
name = "dev"
members = ["devi@example.com"]

[[group]]
name = "platform"
members = ["pat@example.com"]
"#;

fn sqs_denial(person: &str, event_id: &str) -> Value {
    let mut ev = event("cloudtrail-logs-access-denied");
    let d = &mut ev["detail"];
    d["eventSource"] = json!("sqs.amazonaws.com");
    d["eventName"] = json!("PurgeQueue");
    d["eventID"] = json!(event_id);
    d["errorMessage"] = json!(
        "Access to the resource https://sqs.eu-west-1.amazonaws.com/111111111111/orders is denied."
    );
    d["resources"] = json!([{"ARN": "arn:aws:sqs:eu-west-1:111111111111:orders"}]);
    d["userIdentity"]["arn"] = json!(format!(
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/{person}@example.com"
    ));
    ev
}

#[tokio::test]
async fn an_approver_at_that_scope_is_approved_as_they_ask() {
    let catalog: Catalog =
        catalog::parse_files(&[("c.toml".into(), SELF_APPROVING.into())]).unwrap();
    let directory = MemoryDirectory::from_toml("directory.toml", SELF_APPROVING_DIR).unwrap();
    let svc = memory_service(
        Arc::new(catalog),
        directory,
        start(),
        KEY,
        "https://jit.example.com",
    )
    .unwrap();

    let p = prompted(
        svc.on_access_denied(&sqs_denial("quinn", "e1"))
            .await
            .unwrap(),
    );
    assert!(p.offers[0].self_approve, "{:?}", p.offers[0]);
    let mail = svc.ports.mailer.sent().pop().unwrap();
    assert!(mail.text.contains("you are an approver"), "{}", mail.text);
    let link = prompt_links(&svc, &who("quinn")).remove(0);
    let (_, req) = svc
        .answer_prompt(&link, request("purge stuck orders"))
        .await
        .unwrap();
    let req = req.unwrap();
    assert_eq!(req.status, Status::Approved);
    let timeline = svc.timeline(&req.id).await.unwrap();
    assert!(timeline
        .iter()
        .any(|e| e.action == Action::Approved && e.actor == "quinn@example.com"));

    // Someone who is not an approver gets a pending request that waits for the owners.
    let p = prompted(
        svc.on_access_denied(&sqs_denial("devi", "e2"))
            .await
            .unwrap(),
    );
    assert!(!p.offers[0].self_approve);
    let link = prompt_links(&svc, &who("devi")).remove(0);
    let (_, req) = svc.answer_prompt(&link, request("purge")).await.unwrap();
    assert_eq!(req.unwrap().status, Status::Pending);
}

fn ask(bundle: &str, duration: &str) -> RequestInput {
    RequestInput {
        bundle: Some(BundleName::parse(bundle).unwrap()),
        duration: Some(GrantDuration::parse(duration).unwrap()),
        reason: Some("drift test".into()),
        ..RequestInput::default()
    }
}

#[tokio::test]
async fn the_sweeper_puts_back_what_was_removed_and_removes_what_nobody_granted() {
    let svc = service();
    let alice = who("alice");
    let keep = svc
        .submit(&alice, ask("api-logs-read", "4h"))
        .await
        .unwrap();
    svc.activate(&keep.id).await.unwrap();
    let gone = svc.submit(&alice, ask("api-deploy", "1h")).await.unwrap();
    svc.activate(&gone.id).await.unwrap();
    let expected = svc.ports.grantor.snapshot().containers[&alice].clone();
    let stale_statements: Vec<Value> = expected
        .statements
        .iter()
        .filter(|s| grant_of_sid(s["Sid"].as_str().unwrap()) == Some(gone.id.clone()))
        .cloned()
        .collect();
    svc.release(&alice, &gone.id).await.unwrap();
    let clean = svc.ports.grantor.snapshot().containers[&alice].clone();
    assert_eq!(svc.sweep().await.unwrap().drift(), 0, "no drift yet");

    // Someone drops the time condition from the live grant, puts the released grant's
    // statements back, and adds a statement of their own.
    svc.ports.grantor.tamper(&alice, |doc| {
        for s in &mut doc.statements {
            s.as_object_mut().unwrap().remove("Condition");
        }
        doc.statements.extend(stale_statements.clone());
        doc.statements
            .push(json!({"Sid": "Backdoor", "Effect": "Allow", "Action": "*", "Resource": "*"}));
    });
    let report = svc.sweep().await.unwrap();
    assert_eq!(report.containers, 1);
    assert_eq!(report.drift_restored, 1);
    assert_eq!(report.drift_removed, stale_statements.len() + 1);
    assert_eq!(svc.ports.grantor.snapshot().containers[&alice], clean);
    let timeline = svc.timeline(&keep.id).await.unwrap();
    assert_eq!(timeline.last().unwrap().action, Action::DriftRepaired);
    assert_eq!(svc.get(&keep.id).await.unwrap().status, Status::Active);
    let again = svc.sweep().await.unwrap();
    assert_eq!(
        (again.drift(), again.failed),
        (0, 0),
        "a second sweep finds nothing"
    );
}

#[tokio::test]
async fn a_grant_being_applied_is_not_mistaken_for_drift() {
    let svc = service();
    let alice = who("alice");
    let req = svc
        .submit(&alice, ask("api-logs-read", "4h"))
        .await
        .unwrap();
    assert_eq!(req.status, Status::Approved);
    // The grant function has written the statements but not yet marked the grant active.
    let b = svc.catalog().bundle(&req.bundle).unwrap().clone();
    let spec = jit_core::service::spec(&req, &b);
    svc.ports.grantor.tamper(&alice, |doc| {
        *doc = doc.with(&spec, jit_core::plan::POLICY_BUDGET).unwrap();
    });
    let report = svc.sweep().await.unwrap();
    assert_eq!((report.drift(), report.failed), (0, 0));
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .grant_ids()
            .len(),
        1
    );
    svc.activate(&req.id).await.unwrap();
    assert_eq!(svc.get(&req.id).await.unwrap().status, Status::Active);
}

#[tokio::test]
async fn past_its_budget_the_sweep_takes_containers_in_turns() {
    let svc = service().with_containers_per_sweep(2);
    let people: Vec<Email> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .map(|p| who(p))
        .collect();
    for p in &people {
        svc.ports.grantor.tamper(p, |doc| {
            doc.statements
                .push(json!({"Sid": "Stray", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
        });
    }
    // Five containers, two a sweep: three turns, each at most two, every container once.
    let mut checked = 0;
    for _ in 0..3 {
        let report = svc.sweep().await.unwrap();
        assert!(report.containers <= 2, "{report:?}");
        assert_eq!(report.drift_removed, report.containers);
        checked += report.containers;
        svc.ports.clock.advance(Duration::minutes(5));
    }
    assert_eq!(checked, 5);
    let side = svc.ports.grantor.snapshot();
    assert!(people
        .iter()
        .all(|p| side.containers[p].statements.is_empty()));
}

const ROLE_CATALOG: &str = r#"
[settings]
platform_group = "platform"

[[bundle]]
name = "queue-read"
description = "Read the orders queue"
owner_team = "queues"
risk = "low"
strategy = "iam-role"
accounts = ["111111111111"]
statements = [ { actions = ["sqs:ReceiveMessage"], resources = ["arn:aws:sqs:eu-west-1:111111111111:orders"] } ]

[[flow]]
name = "queues"
requesters = ["queues"]
bundles = ["queue-read"]
approval = "auto"
"#;

#[tokio::test]
async fn the_sweeper_keeps_a_role_to_its_grant_policies_and_leaves_the_rest_alone() {
    let catalog: Catalog = catalog::parse_files(&[("c.toml".into(), ROLE_CATALOG.into())]).unwrap();
    let directory = MemoryDirectory::from_toml(
        "directory.toml",
        "[[group]]\nname = \"queues\"\nmembers = [\"quinn@example.com\"]\n[[group]]\nname = \"platform\"\nmembers = [\"pat@example.com\"]\n",
    )
    .unwrap();
    let svc = memory_service(
        Arc::new(catalog),
        directory,
        start(),
        KEY,
        "https://jit.example.com",
    )
    .unwrap();
    let quinn = who("quinn");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = svc.submit(&quinn, ask("queue-read", "2h")).await.unwrap();
        svc.activate(&r.id).await.unwrap();
        ids.push(r.id);
    }
    let before = svc.ports.grantor.snapshot().role_policies[&quinn].clone();
    assert_eq!(before.len(), 2);
    assert_eq!(svc.sweep().await.unwrap().drift(), 0);

    // By hand: one grant's policy deleted, the other's time condition dropped, a stale grant
    // policy added, and a policy of the role's own that is not ours.
    svc.ports.grantor.tamper_role(&quinn, |p| {
        p.remove(&jit_core::ports::role_policy_name(&ids[0]));
        let doc = p
            .get_mut(&jit_core::ports::role_policy_name(&ids[1]))
            .unwrap();
        for s in &mut doc.statements {
            s.as_object_mut().unwrap().remove("Condition");
        }
        p.insert(
            "jit-deadbeef00000000".into(),
            jit_core::plan::PolicyDocument::default(),
        );
        p.insert("Baseline".into(), jit_core::plan::PolicyDocument::default());
    });
    let report = svc.sweep().await.unwrap();
    assert_eq!(report.roles, 1);
    assert_eq!(
        (report.drift_removed, report.drift_restored),
        (1, 2),
        "{report:?}"
    );
    let after = svc.ports.grantor.snapshot().role_policies[&quinn].clone();
    for (name, doc) in &before {
        assert_eq!(after.get(name), Some(doc), "{name} as the ledger has it");
    }
    assert!(after.contains_key("Baseline"), "not ours: left alone");
    assert!(!after.contains_key("jit-deadbeef00000000"));
    for id in &ids {
        let timeline = svc.timeline(id).await.unwrap();
        assert_eq!(timeline.last().unwrap().action, Action::DriftRepaired);
    }
    assert_eq!(svc.sweep().await.unwrap().drift(), 0);
}
