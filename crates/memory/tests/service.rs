//! The whole product on in-memory adapters and a fake clock: every lifecycle a person meets,
//! replays, lost schedules, faults and the security rules, through the application service.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jit_core::audit::{verify_chain, Action};
use jit_core::catalog::{self, Catalog};
use jit_core::lifecycle::{LifecycleError, Status};
use jit_core::link::LinkError;
use jit_core::plan::grant_of_sid;
use jit_core::policy::{Refusal, RequestInput};
use jit_core::ports::{MessageKind, RequestStore};
use jit_core::service::{ServiceError, Verdict};
use jit_core::types::{
    AccountId, BundleName, Email, FlowName, GrantDuration, GroupName, RequestId,
};
use jit_memory::{memory_service, run_due, Fault, MemoryDirectory, MemoryService};

const KEY: &[u8] = b"test-signing-key-of-at-least-32-bytes!";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples")
}

fn service() -> MemoryService {
    let catalog = Arc::new(catalog::load_dir(&examples()).unwrap());
    let directory = MemoryDirectory::load(&examples()).unwrap();
    memory_service(catalog, directory, start(), KEY, "https://jit.example.com").unwrap()
}

fn service_with(catalog_text: &str, directory_text: &str) -> MemoryService {
    let catalog: Catalog = catalog::parse_files(&[("c.toml".into(), catalog_text.into())]).unwrap();
    let directory = MemoryDirectory::from_toml("directory.toml", directory_text).unwrap();
    memory_service(
        Arc::new(catalog),
        directory,
        start(),
        KEY,
        "https://jit.example.com",
    )
    .unwrap()
}

fn who(s: &str) -> Email {
    Email::parse(&format!("{s}@example.com")).unwrap()
}

fn ask(bundle: &str, duration: &str, reason: &str) -> RequestInput {
    RequestInput {
        bundle: Some(BundleName::parse(bundle).unwrap()),
        duration: Some(GrantDuration::parse(duration).unwrap()),
        reason: Some(reason.into()),
        ..RequestInput::default()
    }
}

/// The decision token in the newest approval email sent to `to`.
fn token_for(svc: &MemoryService, to: &Email, id: &RequestId) -> String {
    let mail = svc
        .ports
        .mailer
        .sent()
        .into_iter()
        .rev()
        .find(|m| {
            m.kind == MessageKind::ApprovalRequest && m.to.contains(to) && m.request_id == *id
        })
        .unwrap_or_else(|| panic!("no approval email to {to}"));
    let url = mail
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Approve: "))
        .expect("approve link in the email");
    let token = url
        .split("/v1/decisions/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    token.to_string()
}

fn actions(events: &[jit_core::audit::AuditEvent]) -> Vec<Action> {
    events.iter().map(|e| e.action).collect()
}

#[tokio::test]
async fn an_auto_approved_grant_is_applied_with_its_expiry_and_removed_at_expiry() {
    let svc = service();
    let alice = who("alice");
    let req = svc
        .submit(&alice, ask("api-logs-read", "4h", "debug 5xx"))
        .await
        .unwrap();
    assert_eq!(req.status, Status::Approved, "low risk, 4h: auto for all");
    assert_eq!(
        req.plan.basis,
        "risk matrix: low risk, up to 1 day, on api-team → auto"
    );

    let req = svc.activate(&req.id).await.unwrap();
    assert_eq!(req.status, Status::Active);
    let side = svc.ports.grantor.snapshot();
    let doc = &side.containers[&alice];
    assert_eq!(
        doc.grant_ids().into_iter().collect::<Vec<_>>(),
        vec![req.id.clone()]
    );
    assert_eq!(doc.expiry_of(&req.id).unwrap(), "2026-11-23T13:00:00Z");
    assert!(side.container_accounts[&alice].contains(&AccountId::parse("111111111111").unwrap()));

    // Nothing happens before the expiry; at the expiry the schedule ends it.
    svc.ports.clock.advance(Duration::hours(3));
    assert!(run_due(&svc).await.is_empty());
    svc.ports.clock.advance(Duration::hours(1));
    let fired = run_due(&svc).await;
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].0.name,
        format!(
            "jit-end-{}-{}",
            req.id,
            (start() + Duration::hours(4)).timestamp()
        )
    );
    assert_eq!(svc.get(&req.id).await.unwrap().status, Status::Ended);
    assert!(svc.ports.grantor.snapshot().containers[&alice]
        .grant_ids()
        .is_empty());

    let timeline = svc.timeline(&req.id).await.unwrap();
    assert_eq!(
        actions(&timeline),
        vec![
            Action::Requested,
            Action::AutoApproved,
            Action::Activated,
            Action::Ended,
            Action::AccessRemoved
        ]
    );
    verify_chain(&timeline).unwrap();
    let notices = svc
        .ports
        .mailer
        .sent()
        .into_iter()
        .filter(|m| m.to == vec![alice.clone()])
        .count();
    assert_eq!(notices, 2, "told when active and when ended");
}

#[tokio::test]
async fn a_two_group_request_is_approved_through_single_use_email_links() {
    let svc = service();
    let carol = who("carol");
    let mut input = ask("rds-prod-pii", "1h", "investigate INC-7 for a customer");
    input.ticket = Some("INC-7".into());
    let req = svc.submit(&carol, input).await.unwrap();
    assert_eq!(req.status, Status::Pending);
    assert_eq!(req.waiting_for(), "data-dbas (any) AND security (any)");

    let dave_token = token_for(&svc, &who("dave"), &req.id);
    let erin_token = token_for(&svc, &who("erin"), &req.id);
    // The confirmation page may be looked at any number of times without acting.
    for _ in 0..3 {
        let (claims, seen) = svc.inspect_link(&dave_token).await.unwrap();
        assert_eq!(claims.approver, who("dave"));
        assert_eq!(seen.status, Status::Pending);
    }

    let after_dave = svc
        .decide_by_link(&dave_token, Verdict::Approve, "ok for INC-7", None)
        .await
        .unwrap();
    assert_eq!(after_dave.status, Status::Pending);
    assert_eq!(after_dave.waiting_for(), "security (any)");
    let again = svc
        .decide_by_link(&dave_token, Verdict::Approve, "again", None)
        .await;
    assert!(matches!(again, Err(ServiceError::LinkUsed)), "{again:?}");

    let shorter = GrantDuration::parse("30m").unwrap();
    let approved = svc
        .decide_by_link(&erin_token, Verdict::Approve, "fine", Some(shorter))
        .await
        .unwrap();
    assert_eq!(approved.status, Status::Approved);
    assert_eq!(
        approved.expires_at.unwrap() - approved.starts_at.unwrap(),
        Duration::minutes(30),
        "approvers may shorten"
    );

    let active = svc.activate(&req.id).await.unwrap();
    assert_eq!(active.status, Status::Active);
    let timeline = svc.timeline(&req.id).await.unwrap();
    assert_eq!(
        actions(&timeline),
        vec![
            Action::Requested,
            Action::AwaitingApproval,
            Action::Voted,
            Action::Approved,
            Action::Activated
        ]
    );
    assert_eq!(timeline[2].actor, "dave@example.com");
    assert_eq!(timeline[3].actor, "erin@example.com");
    verify_chain(&timeline).unwrap();
}

#[tokio::test]
async fn links_are_refused_when_forged_or_when_the_approver_lost_the_right_to_decide() {
    let svc = service();
    let carol = who("carol");
    let mut input = ask("rds-prod-pii", "1h", "INC-8");
    input.ticket = Some("INC-8".into());
    let req = svc.submit(&carol, input).await.unwrap();
    let token = token_for(&svc, &who("dave"), &req.id);

    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert!(matches!(
        svc.decide_by_link(&forged, Verdict::Approve, "", None)
            .await,
        Err(ServiceError::Link(LinkError::Forged))
    ));

    // Dave leaves the DBA group before clicking: the link no longer lets him decide.
    svc.ports
        .directory
        .remove(&GroupName::parse("data-dbas").unwrap(), &who("dave"));
    let r = svc.decide_by_link(&token, Verdict::Approve, "", None).await;
    assert!(
        matches!(
            r,
            Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_)))
        ),
        "{r:?}"
    );

    // Links die with the request's time to live.
    svc.ports.clock.advance(Duration::hours(25));
    let erin = token_for(&svc, &who("erin"), &req.id);
    assert!(matches!(
        svc.decide_by_link(&erin, Verdict::Approve, "", None).await,
        Err(ServiceError::Link(LinkError::Expired(_)))
    ));
}

#[tokio::test]
async fn only_approvers_decide_and_never_their_own_request() {
    let svc = service();
    let carol = who("carol");
    let mut input = ask("rds-prod-pii", "1h", "INC-9");
    input.ticket = Some("INC-9".into());
    let req = svc.submit(&carol, input).await.unwrap();

    for outsider in ["carol", "bob", "frank"] {
        let r = svc.approve(&who(outsider), &req.id, "", None).await;
        assert!(
            matches!(
                r,
                Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_)))
            ),
            "{outsider}: {r:?}"
        );
    }
    let r = svc.deny(&who("dave"), &req.id, "  ").await;
    assert!(
        matches!(r, Err(ServiceError::Invalid(_))),
        "a denial needs a message: {r:?}"
    );
    let denied = svc
        .deny(&who("dave"), &req.id, "use the anonymised replica")
        .await
        .unwrap();
    assert_eq!(denied.status, Status::Denied);
    assert_eq!(
        denied.status_reason.as_deref(),
        Some("use the anonymised replica")
    );
    let r = svc.approve(&who("erin"), &req.id, "", None).await;
    assert!(
        matches!(
            r,
            Err(ServiceError::Lifecycle(LifecycleError::WrongState {
                status: Status::Denied,
                ..
            }))
        ),
        "{r:?}"
    );
    let last = svc.ports.mailer.sent().pop().unwrap();
    assert_eq!(last.to, vec![carol]);
    assert!(last.text.contains("use the anonymised replica"));
}

#[tokio::test]
async fn a_requester_who_is_the_only_owner_goes_to_the_next_tier() {
    let svc = service_with(
        r#"
[[bundle]]
name = "db"
owner_team = "owners"
risk = "high"
accounts = ["111111111111"]
statements = [{ actions = ["rds:RebootDBInstance"], resources = ["*"] }]

[[flow]]
name = "f"
requesters = ["owners", "devs"]
bundles = ["db"]
max_duration = "14d"
"#,
        r#"
[[group]]
name = "owners"
members = ["olga@example.com"]
[[group]]
name = "devs"
members = ["dan@example.com"]
[[group]]
name = "platform-team"
members = ["pat@example.com"]
"#,
    );
    // Olga owns the bundle; 3 days of high risk needs owner approval, and she is the only owner.
    let req = svc
        .submit(&who("olga"), ask("db", "3d", "maintenance"))
        .await
        .unwrap();
    assert_eq!(req.status, Status::Pending);
    assert_eq!(req.tier, 1);
    assert!(
        req.plan
            .basis
            .contains("nobody else can approve, so it goes to platform-team"),
        "{}",
        req.plan.basis
    );
    let r = svc.approve(&who("olga"), &req.id, "", None).await;
    assert!(
        matches!(r, Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(m))) if m.contains("your own request"))
    );
    let ok = svc.approve(&who("pat"), &req.id, "go", None).await.unwrap();
    assert_eq!(ok.status, Status::Approved);

    // Dan is not an owner: the owners approve, and Olga can.
    let req = svc
        .submit(&who("dan"), ask("db", "3d", "maintenance"))
        .await
        .unwrap();
    assert_eq!((req.status, req.tier), (Status::Pending, 0));
    assert_eq!(
        svc.approve(&who("olga"), &req.id, "", None)
            .await
            .unwrap()
            .status,
        Status::Approved
    );

    // High risk for a day: auto for owners, owner approval for others.
    assert_eq!(
        svc.submit(&who("olga"), ask("db", "1d", "x"))
            .await
            .unwrap()
            .status,
        Status::Approved
    );
    assert_eq!(
        svc.submit(&who("dan"), ask("db", "1d", "x"))
            .await
            .unwrap()
            .status,
        Status::Pending
    );
}

#[tokio::test]
async fn silence_escalates_to_the_next_tier_and_then_the_request_expires() {
    let svc = service();
    let carol = who("carol");
    let mut input = ask("rds-prod-pii", "1h", "INC-10");
    input.ticket = Some("INC-10".into());
    let req = svc.submit(&carol, input).await.unwrap();
    let names: Vec<String> = svc
        .ports
        .scheduler
        .all()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        vec![
            format!("jit-esc-{}-1", req.id),
            format!("jit-ttl-{}", req.id)
        ]
    );

    svc.ports.clock.advance(Duration::hours(1));
    let fired = run_due(&svc).await;
    assert_eq!(fired.len(), 1);
    let escalated = svc.get(&req.id).await.unwrap();
    assert_eq!(escalated.tier, 1);
    assert!(escalated
        .waiting_for()
        .contains("platform-team (escalated)"));
    let frank_mail = token_for(&svc, &who("frank"), &req.id);
    assert!(!frank_mail.is_empty(), "the platform tier was emailed");

    svc.ports.clock.advance(Duration::hours(23));
    run_due(&svc).await;
    let expired = svc.get(&req.id).await.unwrap();
    assert_eq!(expired.status, Status::Expired);
    let r = svc.approve(&who("frank"), &req.id, "late", None).await;
    assert!(matches!(
        r,
        Err(ServiceError::Lifecycle(LifecycleError::WrongState { .. }))
    ));
    assert_eq!(
        actions(&svc.timeline(&req.id).await.unwrap()).last(),
        Some(&Action::Expired)
    );
}

#[tokio::test]
async fn an_escalated_approver_decides_alone_and_late_schedules_do_nothing() {
    let svc = service();
    let mut input = ask("rds-prod-pii", "1h", "INC-11");
    input.ticket = Some("INC-11".into());
    let req = svc.submit(&who("carol"), input).await.unwrap();
    svc.ports.clock.advance(Duration::hours(1));
    run_due(&svc).await;
    let approved = svc
        .approve(&who("frank"), &req.id, "covering for the DBAs", None)
        .await
        .unwrap();
    assert_eq!(approved.status, Status::Approved);
    let before = svc.timeline(&req.id).await.unwrap().len();
    assert_eq!(
        svc.expire_request(&req.id).await.unwrap().status,
        Status::Approved
    );
    assert_eq!(
        svc.escalate(&req.id, 1).await.unwrap().status,
        Status::Approved
    );
    assert_eq!(
        svc.timeline(&req.id).await.unwrap().len(),
        before,
        "no-ops write no records"
    );
}

#[tokio::test]
async fn break_glass_is_immediate_broadly_notified_and_only_when_asked_for() {
    let svc = service();
    let grace = who("grace");
    let r = svc.submit(&grace, ask("prod-admin", "30m", "SEV1")).await;
    assert!(
        matches!(
            r,
            Err(ServiceError::Refused(Refusal::BreakGlassOnly { .. }))
        ),
        "{r:?}"
    );

    let mut input = ask("prod-admin", "30m", "SEV1 outage");
    input.flow = Some(FlowName::parse("break-glass").unwrap());
    let req = svc.submit(&grace, input).await.unwrap();
    assert_eq!(req.status, Status::Approved);
    assert!(req.plan.break_glass);
    let alert = svc
        .ports
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.kind == MessageKind::BreakGlass)
        .unwrap();
    assert_eq!(alert.to, vec![who("erin"), who("frank")]);

    let mut too_long = ask("prod-admin", "2h", "SEV1");
    too_long.flow = Some(FlowName::parse("break-glass").unwrap());
    let r = svc.submit(&grace, too_long).await;
    assert!(
        matches!(
            r,
            Err(ServiceError::Refused(Refusal::DurationTooLong { .. }))
        ),
        "{r:?}"
    );

    svc.activate(&req.id).await.unwrap();
    let r = svc.review(&who("alice"), &req.id, "looked fine").await;
    assert!(matches!(
        r,
        Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_)))
    ));
    assert!(
        svc.review(&who("frank"), &req.id, "reviewed the CloudTrail, fine")
            .await
            .unwrap()
            .reviewed
    );
}

#[tokio::test]
async fn refusals_say_what_to_do() {
    let svc = service();
    let cases: Vec<(&str, RequestInput, &str)> = vec![
        (
            "alice",
            ask("ec2-readonly-legacy", "1h", "x"),
            "deprecated; ask for ec2-readonly instead",
        ),
        (
            "frank",
            ask("org-admin", "1h", "x"),
            "organizations, which is disabled",
        ),
        (
            "erin",
            ask("api-logs-read", "1h", "x"),
            "offered to members of api-team, data, sre",
        ),
        (
            "alice",
            ask("api-logs-read", "15d", "x"),
            "longer than the 14d that flow engineering allows",
        ),
        (
            "alice",
            ask("nope", "1h", "x"),
            "there is no bundle \"nope\"",
        ),
        (
            "alice",
            ask("api-logs-read", "1h", " "),
            "requires a reason",
        ),
        (
            "carol",
            ask("rds-prod-pii", "1h", "x"),
            "requires a ticket reference matching [A-Z]+-[0-9]+",
        ),
    ];
    for (person, input, expected) in cases {
        let err = svc.submit(&who(person), input).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{person}: {err}");
    }
    let mut bad_ticket = ask("rds-prod-pii", "1h", "x");
    bad_ticket.ticket = Some("inc 7".into());
    let err = svc.submit(&who("carol"), bad_ticket).await.unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let mut account = ask("api-logs-read", "1h", "x");
    account.accounts = Some(vec![AccountId::parse("999999999999").unwrap()]);
    let err = svc.submit(&who("alice"), account).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not cover account 999999999999; it covers 111111111111"),
        "{err}"
    );
    assert!(
        svc.ports.store.all_requests().is_empty(),
        "refused requests are not stored"
    );
}

#[tokio::test]
async fn replaying_activation_expiry_and_schedules_changes_nothing() {
    let svc = service();
    let alice = who("alice");
    let req = svc
        .submit(&alice, ask("api-logs-read", "1h", "x"))
        .await
        .unwrap();
    svc.activate(&req.id).await.unwrap();
    svc.activate(&req.id).await.unwrap();
    let calls_after_activation = svc.ports.grantor.calls();
    svc.ports.clock.advance(Duration::hours(1));
    run_due(&svc).await;
    svc.end(&req.id).await.unwrap();
    svc.end(&req.id).await.unwrap();
    svc.activate(&req.id).await.unwrap();
    let timeline = svc.timeline(&req.id).await.unwrap();
    assert_eq!(
        actions(&timeline),
        vec![
            Action::Requested,
            Action::AutoApproved,
            Action::Activated,
            Action::Ended,
            Action::AccessRemoved
        ]
    );
    assert_eq!(
        calls_after_activation, 1,
        "a replayed activation makes no AWS call"
    );
    assert_eq!(
        svc.ports.grantor.calls(),
        4,
        "each end removes again (keyed on state, so a crashed removal is redone)"
    );
    assert!(svc.ports.grantor.snapshot().containers[&alice]
        .grant_ids()
        .is_empty());
    let ended = svc
        .ports
        .mailer
        .sent()
        .iter()
        .filter(|m| m.subject.contains("ended"))
        .count();
    assert_eq!(ended, 1, "one notice, however often the end is replayed");
}

#[tokio::test]
async fn the_sweeper_ends_grants_whose_schedule_was_lost() {
    let svc = service();
    let req = svc
        .submit(&who("alice"), ask("api-logs-read", "1h", "x"))
        .await
        .unwrap();
    svc.activate(&req.id).await.unwrap();
    let end = svc
        .ports
        .scheduler
        .all()
        .into_iter()
        .find(|s| s.name.starts_with("jit-end-"))
        .unwrap();
    assert!(svc.ports.scheduler.lose(&end.name));
    svc.ports.clock.advance(Duration::hours(2));
    assert!(run_due(&svc).await.is_empty());
    assert_eq!(
        svc.get(&req.id).await.unwrap().status,
        Status::Active,
        "nothing fired"
    );
    let report = svc.sweep().await.unwrap();
    assert_eq!((report.ended, report.expired, report.failed), (1, 0, 0));
    assert_eq!(svc.get(&req.id).await.unwrap().status, Status::Ended);
    assert_eq!(
        svc.sweep().await.unwrap().ended,
        0,
        "a second sweep finds nothing"
    );
}

#[tokio::test]
async fn throttling_is_retryable_and_a_missing_identity_fails_the_grant() {
    let svc = service();
    let req = svc
        .submit(&who("alice"), ask("api-logs-read", "1h", "x"))
        .await
        .unwrap();
    svc.ports.grantor.inject(&[Fault::Throttle]);
    let r = svc.activate(&req.id).await;
    assert!(matches!(&r, Err(e) if e.is_retryable()), "{r:?}");
    assert_eq!(
        svc.get(&req.id).await.unwrap().status,
        Status::Approved,
        "still waiting to be applied"
    );
    assert_eq!(
        svc.activate(&req.id).await.unwrap().status,
        Status::Active,
        "the retry succeeds"
    );

    let req = svc
        .submit(&who("bob"), ask("api-logs-read", "1h", "x"))
        .await
        .unwrap();
    svc.ports.grantor.inject(&[Fault::NoIdentity]);
    let failed = svc.activate(&req.id).await.unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert!(failed
        .status_reason
        .unwrap()
        .contains("has no user in Identity Center"));
}

#[tokio::test]
async fn an_extension_moves_the_iam_condition_and_the_old_schedule_finds_nothing() {
    let svc = service();
    let alice = who("alice");
    let req = svc
        .submit(&alice, ask("api-logs-read", "4h", "x"))
        .await
        .unwrap();
    svc.activate(&req.id).await.unwrap();
    let two = GrantDuration::parse("2h").unwrap();
    let r = svc.extend(&who("bob"), &req.id, two, "more").await;
    assert!(
        matches!(
            r,
            Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_)))
        ),
        "only the requester: {r:?}"
    );
    let extended = svc
        .extend(&alice, &req.id, two, "still debugging")
        .await
        .unwrap();
    assert_eq!(extended.expires_at.unwrap(), start() + Duration::hours(6));
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .expiry_of(&req.id)
            .unwrap(),
        "2026-11-23T15:00:00Z"
    );

    svc.ports.clock.advance(Duration::hours(4));
    run_due(&svc).await;
    assert_eq!(
        svc.get(&req.id).await.unwrap().status,
        Status::Active,
        "the old end schedule is stale"
    );
    svc.ports.clock.advance(Duration::hours(2));
    run_due(&svc).await;
    assert_eq!(svc.get(&req.id).await.unwrap().status, Status::Ended);

    // Past the bundle's maximum (api-deploy: 1d): refused with the limit.
    let req = svc
        .submit(&alice, ask("api-deploy", "4h", "x"))
        .await
        .unwrap();
    svc.activate(&req.id).await.unwrap();
    let err = svc
        .extend(&alice, &req.id, GrantDuration::parse("21h").unwrap(), "x")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("would make the grant 1d1h long; flow engineering allows at most 1d"),
        "{err}"
    );
    assert_eq!(
        svc.extend(&alice, &req.id, GrantDuration::parse("20h").unwrap(), "x")
            .await
            .unwrap()
            .status,
        Status::Active
    );

    // Past what the flow grants without approval (high risk over a day needs the owners): refused.
    let req = svc
        .submit(&alice, ask("api-production", "20h", "x"))
        .await
        .unwrap();
    svc.activate(&req.id).await.unwrap();
    let err = svc
        .extend(&alice, &req.id, GrantDuration::parse("10h").unwrap(), "x")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("a 1d6h grant of api-production needs approval"),
        "{err}"
    );
}

#[tokio::test]
async fn a_container_that_would_overflow_refuses_the_request_up_front() {
    let resources: Vec<String> = (0..70)
        .map(|i| format!("\"arn:aws:s3:::bucket-{i:03}/*\""))
        .collect();
    let svc = service_with(
        &format!(
            "[[bundle]]\nname = \"wide\"\nowner_team = \"t\"\nrisk = \"low\"\naccounts = [\"111111111111\"]\nstatements = [{{ actions = [\"s3:GetObject\"], resources = [{}] }}]\n[[flow]]\nname = \"f\"\nrequesters = [\"t\"]\nbundles = [\"wide\"]\napproval = \"auto\"\n",
            resources.join(",")
        ),
        "[[group]]\nname = \"t\"\nmembers = [\"tess@example.com\"]\n",
    );
    let tess = who("tess");
    let mut granted = 0;
    let err = loop {
        match svc.submit(&tess, ask("wide", "1h", "x")).await {
            Ok(r) => {
                assert_eq!(svc.activate(&r.id).await.unwrap().status, Status::Active);
                granted += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(granted >= 2, "several fit before the budget runs out");
    assert!(matches!(err, ServiceError::TooLarge(_)), "{err:?}");
    assert!(err.to_string().contains("left"), "{err}");
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&tess]
            .grant_ids()
            .len(),
        granted
    );
}

#[tokio::test]
async fn overlapping_assignments_survive_the_first_grant_ending() {
    let svc = service();
    let grace = who("grace");
    let a = svc
        .submit(&grace, ask("support-console", "1h", "case 1"))
        .await
        .unwrap();
    let b = svc
        .submit(&grace, ask("support-console", "2h", "case 2"))
        .await
        .unwrap();
    svc.activate(&a.id).await.unwrap();
    svc.activate(&b.id).await.unwrap();
    assert_eq!(svc.ports.grantor.snapshot().assignments.len(), 1);
    svc.release(&grace, &a.id).await.unwrap();
    let side = svc.ports.grantor.snapshot();
    assert_eq!(
        side.assignments
            .values()
            .next()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![&b.id]
    );
    svc.ports.clock.advance(Duration::hours(2));
    run_due(&svc).await;
    assert!(svc.ports.grantor.snapshot().assignments.is_empty());
}

#[tokio::test]
async fn release_and_revoke_take_exactly_their_grant_away() {
    let svc = service();
    let alice = who("alice");
    let one = svc
        .submit(&alice, ask("api-logs-read", "1h", "x"))
        .await
        .unwrap();
    let two = svc
        .submit(&alice, ask("ec2-readonly", "1h", "x"))
        .await
        .unwrap();
    svc.activate(&one.id).await.unwrap();
    svc.activate(&two.id).await.unwrap();
    let r = svc.revoke(&alice, &two.id, "mine").await;
    assert!(
        matches!(
            r,
            Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_)))
        ),
        "not an admin: {r:?}"
    );
    svc.revoke(&who("frank"), &two.id, "incident over")
        .await
        .unwrap();
    let ids = svc.ports.grantor.snapshot().containers[&alice].grant_ids();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![one.id.clone()]);
    svc.release(&alice, &one.id).await.unwrap();
    assert!(svc.ports.grantor.snapshot().containers[&alice]
        .grant_ids()
        .is_empty());
    assert_eq!(svc.get(&one.id).await.unwrap().status, Status::Released);
    assert_eq!(svc.get(&two.id).await.unwrap().status, Status::Revoked);
}

#[tokio::test]
async fn a_stale_write_is_refused_and_the_service_retries_on_fresh_state() {
    let svc = service();
    let mut input = ask("rds-prod-pii", "1h", "INC-12");
    input.ticket = Some("INC-12".into());
    let req = svc.submit(&who("carol"), input).await.unwrap();
    // Two approvers read the same version; the second write must not win blindly.
    let snapshot = svc.get(&req.id).await.unwrap();
    let groups = |g: &str| vec![GroupName::parse(g).unwrap()];
    let approve = |p: &str, g: &str| jit_core::lifecycle::Command::Approve {
        approver: who(p),
        groups: groups(g),
        message: String::new(),
        duration: None,
    };
    let t1 = snapshot
        .apply(&approve("dave", "data-dbas"), start())
        .unwrap()
        .unwrap();
    let t2 = snapshot
        .apply(&approve("erin", "security"), start())
        .unwrap()
        .unwrap();
    svc.ports
        .store
        .update(snapshot.version, snapshot.status, &t1)
        .await
        .unwrap();
    let stale = svc
        .ports
        .store
        .update(snapshot.version, snapshot.status, &t2)
        .await;
    assert!(matches!(stale, Err(jit_core::ports::StoreError::Conflict)));
    // Through the service, Erin's approval is applied on top of Dave's.
    let done = svc.approve(&who("erin"), &req.id, "", None).await.unwrap();
    assert_eq!(done.status, Status::Approved);
    assert_eq!(done.votes.len(), 2);
    verify_chain(&svc.timeline(&req.id).await.unwrap()).unwrap();
}

#[tokio::test]
async fn a_container_statement_belongs_to_its_grant_and_accounts() {
    let svc = service();
    let alice = who("alice");
    let mut input = ask("ec2-readonly", "1h", "x");
    input.accounts = Some(vec![AccountId::parse("222222222222").unwrap()]);
    let req = svc.submit(&alice, input).await.unwrap();
    svc.activate(&req.id).await.unwrap();
    let doc = &svc.ports.grantor.snapshot().containers[&alice];
    let st = &doc.statements[0];
    assert_eq!(
        grant_of_sid(st["Sid"].as_str().unwrap()),
        Some(req.id.clone())
    );
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:PrincipalAccount"],
        "222222222222"
    );
}

#[tokio::test]
async fn with_stream_effects_access_changes_wait_for_reconcile_and_reconcile_is_repeatable() {
    let svc = service().with_effects(jit_core::service::Effects::Stream);
    let alice = who("alice");
    let req = svc
        .submit(&alice, ask("api-logs-read", "1h", "x"))
        .await
        .unwrap();
    // The stream-fed function applies the approved grant, as often as the record is delivered.
    assert_eq!(svc.reconcile(&req.id).await.unwrap().status, Status::Active);
    assert_eq!(svc.reconcile(&req.id).await.unwrap().status, Status::Active);
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .grant_ids()
            .len(),
        1
    );

    // Release changes the ledger only; the access goes when the stream delivers the change.
    svc.release(&alice, &req.id).await.unwrap();
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .grant_ids()
            .len(),
        1,
        "not removed by the API call"
    );
    svc.reconcile(&req.id).await.unwrap();
    svc.reconcile(&req.id).await.unwrap();
    assert!(svc.ports.grantor.snapshot().containers[&alice]
        .grant_ids()
        .is_empty());
    let actions: Vec<Action> = svc
        .timeline(&req.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        vec![
            Action::Requested,
            Action::AutoApproved,
            Action::Activated,
            Action::Released,
            Action::AccessRemoved
        ]
    );
    // Recorded once, by the reconcile that removed it; the ones after it had nothing to do.
    assert!(svc.get(&req.id).await.unwrap().removed_at.is_some());
}

#[tokio::test]
async fn with_stream_effects_an_extension_reaches_the_iam_condition_through_reconcile() {
    let svc = service().with_effects(jit_core::service::Effects::Stream);
    let alice = who("alice");
    let req = svc
        .submit(&alice, ask("api-logs-read", "4h", "x"))
        .await
        .unwrap();
    svc.reconcile(&req.id).await.unwrap();
    let before = svc.ports.grantor.snapshot().containers[&alice]
        .expiry_of(&req.id)
        .unwrap();
    assert_eq!(before, "2026-11-23T13:00:00Z");
    svc.extend(&alice, &req.id, GrantDuration::parse("2h").unwrap(), "more")
        .await
        .unwrap();
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .expiry_of(&req.id)
            .unwrap(),
        before,
        "the API call wrote only the ledger"
    );
    svc.reconcile(&req.id).await.unwrap();
    assert_eq!(
        svc.ports.grantor.snapshot().containers[&alice]
            .expiry_of(&req.id)
            .unwrap(),
        "2026-11-23T15:00:00Z"
    );
}

#[tokio::test]
async fn a_decided_request_leaves_no_escalation_or_expiry_schedule_behind() {
    let svc = service();
    let mut input = ask("rds-prod-pii", "1h", "INC-20");
    input.ticket = Some("INC-20".into());
    let denied = svc.submit(&who("carol"), input.clone()).await.unwrap();
    let approved = svc.submit(&who("carol"), input.clone()).await.unwrap();
    let cancelled = svc.submit(&who("carol"), input).await.unwrap();
    let waiting = |id: &RequestId| {
        svc.ports
            .scheduler
            .all()
            .into_iter()
            .filter(|s| s.name.starts_with("jit-esc-") || s.name.starts_with("jit-ttl-"))
            .filter(|s| s.name.contains(id.as_str()))
            .count()
    };
    assert_eq!(
        waiting(&denied.id),
        2,
        "an escalation and a time-to-live schedule"
    );
    svc.deny(&who("dave"), &denied.id, "no").await.unwrap();
    svc.approve(&who("dave"), &approved.id, "", None)
        .await
        .unwrap();
    svc.approve(&who("erin"), &approved.id, "", None)
        .await
        .unwrap();
    svc.cancel(&who("carol"), &cancelled.id).await.unwrap();
    for id in [&denied.id, &approved.id, &cancelled.id] {
        assert_eq!(waiting(id), 0, "{id}");
    }
}

#[tokio::test]
async fn no_typed_text_can_forge_a_line_of_an_email() {
    let svc = service();
    let carol = who("carol");
    let forged = "debug\nApprove: http://evil.example/steal";
    for (reason, ticket, code) in [
        (forged, "INC-7", 0x0a),
        ("fine", "INC-7\r", 0x0d),
        ("\u{1b}[2Jcleared", "INC-7", 0x1b),
        ("see \u{202e}txt.exe", "INC-7", 0x202e),
    ] {
        let mut input = ask("rds-prod-pii", "1h", reason);
        input.ticket = Some(ticket.into());
        match svc.submit(&carol, input).await {
            Err(ServiceError::Refused(Refusal::ControlCharacter { code: c, .. })) => {
                assert_eq!(c, code, "{reason:?} {ticket:?}")
            }
            other => panic!("{reason:?} {ticket:?}: {other:?}"),
        }
    }
    assert!(
        svc.ports.mailer.sent().is_empty(),
        "nothing refused was mailed"
    );

    // A decision message is held to the same rule.
    let mut input = ask("rds-prod-pii", "1h", "INC-7 customer data");
    input.ticket = Some("INC-7".into());
    let mut req = svc.submit(&carol, input).await.unwrap();
    let denied = svc
        .deny(&who("dave"), &req.id, "no\nApprove: http://evil.example/")
        .await;
    assert!(
        matches!(&denied, Err(ServiceError::Invalid(m)) if m.contains("U+000A")),
        "{denied:?}"
    );

    // And whatever a stored value holds, the email keeps it on its own line: one Approve link,
    // the real one.
    req.reason = forged.to_string();
    let mail = jit_core::notify::approval_request(
        &req,
        &who("dave"),
        "http://127.0.0.1:8080/v1/decisions/t.s",
        0,
        Some("https://jit.example.com"),
    );
    assert!(
        mail.text
            .contains("Or decide in the portal: https://jit.example.com/approvals"),
        "{}",
        mail.text
    );
    let approve: Vec<&str> = mail
        .text
        .lines()
        .filter(|l| l.starts_with("Approve:"))
        .collect();
    assert_eq!(
        approve,
        ["Approve: http://127.0.0.1:8080/v1/decisions/t.s?action=approve"]
    );
    assert!(mail
        .text
        .contains("Reason: debug\\u{a}Approve: http://evil.example/steal"));
}

#[tokio::test]
async fn a_link_is_spent_only_by_a_decision_that_is_recorded() {
    let svc = service();
    let carol = who("carol");
    let dbas = GroupName::parse("data-dbas").unwrap();
    let mut input = ask("rds-prod-pii", "1h", "INC-8");
    input.ticket = Some("INC-8".into());
    let req = svc.submit(&carol, input.clone()).await.unwrap();
    let dave = token_for(&svc, &who("dave"), &req.id);

    // Refused (403: not in the group any more): the link stays good for when he is back.
    svc.ports.directory.remove(&dbas, &who("dave"));
    let refused = svc.decide_by_link(&dave, Verdict::Approve, "", None).await;
    assert!(
        matches!(
            refused,
            Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_)))
        ),
        "{refused:?}"
    );
    svc.ports.directory.add(&dbas, &who("dave"));
    let approved = svc
        .decide_by_link(&dave, Verdict::Approve, "ok", None)
        .await
        .unwrap();
    assert_eq!(approved.votes.len(), 1);
    // Spent now: used again, for either button, it changes nothing and says so.
    for verdict in [Verdict::Approve, Verdict::Deny] {
        let again = svc.decide_by_link(&dave, verdict, "again", None).await;
        assert!(matches!(again, Err(ServiceError::LinkUsed)), "{again:?}");
    }
    assert_eq!(svc.get(&req.id).await.unwrap().votes.len(), 1);

    // Refused (409: someone else decided first): not spent either; the page can say what
    // happened, and pressing again gets the same honest answer rather than "used".
    let other = svc.submit(&carol, input).await.unwrap();
    let erin = token_for(&svc, &who("erin"), &other.id);
    svc.deny(&who("dave"), &other.id, "not for this ticket")
        .await
        .unwrap();
    for _ in 0..2 {
        let late = svc.decide_by_link(&erin, Verdict::Approve, "", None).await;
        assert!(
            matches!(
                late,
                Err(ServiceError::Lifecycle(LifecycleError::WrongState { .. }))
            ),
            "{late:?}"
        );
    }
}

/// A catalog of `bundles` bundles `b0`, `b1`, … each granting `s3:GetObject` on `width`
/// buckets (about 50 characters of policy each), asked for by tess (group `t`) and approved by olga (`owners`) or, with `auto`,
/// granted at once.
fn wide_catalog(bundles: usize, width: usize, auto: bool) -> MemoryService {
    let resources: Vec<String> = (0..width)
        .map(|i| format!("\"arn:aws:s3:::a-bucket-with-a-longer-name-{i:03}/*\""))
        .collect();
    let mut text = String::new();
    for b in 0..bundles {
        text += &format!(
            "[[bundle]]\nname = \"b{b}\"\nowner_team = \"owners\"\nrisk = \"low\"\naccounts = [\"111111111111\"]\nstatements = [{{ actions = [\"s3:GetObject\"], resources = [{}] }}]\n",
            resources.join(",")
        );
    }
    let names: Vec<String> = (0..bundles).map(|b| format!("\"b{b}\"")).collect();
    let approval = if auto {
        "\"auto\"".to_string()
    } else {
        "{ between = \"any\", groups = [ { name = \"owners\", require = \"any\" } ] }".to_string()
    };
    text += &format!(
        "[[flow]]\nname = \"f\"\nrequesters = [\"t\"]\nbundles = [{}]\napproval = {approval}\n",
        names.join(",")
    );
    service_with(
        &text,
        "[[group]]\nname = \"t\"\nmembers = [\"tess@example.com\"]\n[[group]]\nname = \"owners\"\nmembers = [\"olga@example.com\"]\n",
    )
}

/// The issue's overflow: pending requests did not count against the container, so requests
/// were approved that could never be applied. Room is now held from the moment of asking.
#[tokio::test]
async fn pending_requests_hold_room_so_an_approved_request_never_fails_for_room() {
    // Each grant takes about 4,000 of the 10,240 characters: two fit, a third does not.
    let svc = wide_catalog(3, 80, false);
    let (tess, olga) = (who("tess"), who("olga"));
    let mut pending = Vec::new();
    let refused = loop {
        let bundle = format!("b{}", pending.len());
        match svc.submit(&tess, ask(&bundle, "1h", "x")).await {
            Ok(r) => {
                assert_eq!(r.status, Status::Pending);
                pending.push(r.id);
            }
            Err(e) => break e,
        }
    };
    assert_eq!(pending.len(), 2, "two fit");
    assert!(matches!(refused, ServiceError::TooLarge(_)), "{refused:?}");
    for id in &pending {
        svc.approve(&olga, id, "ok", None).await.unwrap();
        assert_eq!(
            svc.activate(id).await.unwrap().status,
            Status::Active,
            "an approved request is applied"
        );
    }
    // Ending a grant gives its room back.
    svc.release(&tess, &pending[0]).await.unwrap();
    svc.submit(&tess, ask("b2", "1h", "x")).await.unwrap();
}

/// One person cannot flood approvers: at most three requests for one bundle and ten in all
/// wait at once, in parallel as one at a time, and the refusal says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_requests_are_capped_per_bundle_and_in_all() {
    let svc = Arc::new(wide_catalog(12, 1, false));
    let tess = who("tess");
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let (svc, tess) = (svc.clone(), tess.clone());
            tokio::spawn(async move { svc.submit(&tess, ask("b0", "1h", "x")).await })
        })
        .collect();
    let mut created = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(r) => created.push(r.id),
            Err(e) => assert!(
                matches!(e, ServiceError::Refused(Refusal::TooManyPending { .. })),
                "{e:?}"
            ),
        }
    }
    assert_eq!(created.len(), 3, "three may wait for one bundle");
    let err = svc.submit(&tess, ask("b0", "1h", "x")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("you already have 3 pending requests for b0; at most 3"),
        "{err}"
    );
    svc.cancel(&tess, &created[0]).await.unwrap();
    svc.submit(&tess, ask("b0", "1h", "x")).await.unwrap();

    for b in 1..=7 {
        svc.submit(&tess, ask(&format!("b{b}"), "1h", "x"))
            .await
            .unwrap();
    }
    let err = svc.submit(&tess, ask("b8", "1h", "x")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("you already have 10 pending requests; at most 10"),
        "{err}"
    );
    // Approved and live grants are not pending: the cap is on what waits for approvers.
    svc.approve(&who("olga"), &created[1], "ok", None)
        .await
        .unwrap();
    svc.submit(&tess, ask("b8", "1h", "x")).await.unwrap();
}

/// The issue's lost email: a call that commits a transition and dies before its emails are
/// sent. The emails were written with the transition, so the sweep sends them once the call
/// has had its chance, each exactly once, and a replayed decision writes none again.
#[tokio::test]
async fn emails_a_crash_left_unsent_are_sent_by_the_sweep_exactly_once() {
    let svc = service();
    let (carol, dave, erin) = (who("carol"), who("dave"), who("erin"));
    let mut pii = ask("rds-prod-pii", "1h", "INC-7 customer data");
    pii.ticket = Some("INC-7".into());
    svc.ports.mailer.fail_next(2);
    let req = svc.submit(&carol, pii).await.unwrap();
    let to = |person: &Email| {
        svc.ports
            .mailer
            .sent()
            .iter()
            .filter(|m| m.kind == MessageKind::ApprovalRequest && m.to.contains(person))
            .count()
    };
    assert_eq!((to(&dave), to(&erin)), (0, 0), "the sends failed");
    assert_eq!(
        svc.ports.store.notices_before(start()).await.unwrap().len(),
        2,
        "both emails were written with the request"
    );

    // Within the grace period the sweep leaves them to the call that wrote them.
    svc.sweep().await.unwrap();
    assert_eq!((to(&dave), to(&erin)), (0, 0));
    svc.ports.clock.advance(Duration::minutes(3));
    let report = svc.sweep().await.unwrap();
    assert_eq!(report.notices_sent, 2);
    assert_eq!((to(&dave), to(&erin)), (1, 1));
    svc.ports.clock.advance(Duration::minutes(5));
    assert_eq!(svc.sweep().await.unwrap().notices_sent, 0, "sent once");
    assert_eq!((to(&dave), to(&erin)), (1, 1));

    // A decision replayed writes no second notice; the emails it causes are acknowledged.
    svc.approve(&dave, &req.id, "ok", None).await.unwrap();
    svc.approve(&dave, &req.id, "ok", None).await.unwrap();
    assert!(svc
        .ports
        .store
        .notices_before(start() + Duration::days(1))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_request_for_an_account_at_its_quota_is_refused_at_submit_with_the_quota_named() {
    let svc = service();
    let (alice, bob) = (who("alice"), who("bob"));
    // Alice holds a grant in the account before it fills up.
    let held = svc
        .submit(&alice, ask("api-logs-read", "4h", "debug 5xx"))
        .await
        .unwrap();
    svc.activate(&held.id).await.unwrap();
    // The grantor found the account at its quota of provisioned permission sets.
    for account in &held.accounts {
        svc.ports.store.set_account_use(
            account.clone(),
            jit_core::ports::AccountUse {
                used: 250,
                limit: 250,
            },
        );
    }
    let refused = svc
        .submit(&bob, ask("api-logs-read", "4h", "debug 5xx"))
        .await
        .unwrap_err();
    let said = refused.to_string();
    assert!(matches!(refused, ServiceError::Quota(_)), "{refused:?}");
    assert!(
        said.contains("quota of 250 permission sets provisioned per account in account")
            && said.contains(held.accounts[0].as_str())
            && said.contains("Service Quotas"),
        "{said}"
    );
    // The preview says the same before anything is asked.
    assert!(matches!(
        svc.preview(&bob, ask("api-logs-read", "4h", "debug 5xx"))
            .await,
        Err(ServiceError::Quota(_))
    ));
    // Alice's container is there already: a second grant there provisions nothing more.
    let again = svc
        .submit(&alice, ask("api-logs-read", "2h", "still debugging"))
        .await;
    assert!(!matches!(again, Err(ServiceError::Quota(_))), "{again:?}");
    // Nothing was stored for Bob.
    assert!(svc
        .ports
        .store
        .all_requests()
        .iter()
        .all(|r| r.requester != bob));
}
