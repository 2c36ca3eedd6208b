//! The application service on every AWS adapter at once, against moto server: a two-group
//! request decided through the links in the emails SES captured, applied to the person's
//! Identity Center container, and ended by firing the schedule Scheduler stored.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jit_aws::{
    AwsGrantor, AwsScheduler, DynamoStore, IdentityConfig, IdentityStoreDirectory, SchedulerConfig,
    SesMailer,
};
use jit_core::audit::{verify_chain, Action};
use jit_core::catalog;
use jit_core::lifecycle::Status;
use jit_core::link::LinkSigner;
use jit_core::policy::RequestInput;
use jit_core::ports::{Grantor, ScheduledAction};
use jit_core::service::{Ports, Service, Verdict};
use jit_core::types::{BundleName, Email, GrantDuration};
use jit_memory::FakeClock;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples")
}

/// Loads the demo directory.toml into a fresh Identity Store; returns its id.
async fn seed_identity_store(client: &aws_sdk_identitystore::Client) -> String {
    let store = format!("d-{}", &jit_core::link::nonce()[..10]);
    let groups = jit_memory::MemoryDirectory::load(&examples())
        .unwrap()
        .groups();
    jit_aws::seed::seed_identity_store(client, &store, &groups)
        .await
        .unwrap();
    store
}

/// Identity Center and the Identity Store (seeded from the demo directory.toml) on moto.
async fn identity_side(
    sdk: &aws_config::SdkConfig,
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
) -> (AwsGrantor, IdentityStoreDirectory) {
    identity_side_with(
        sdk,
        sdk,
        dynamo,
        table,
        jit_aws::retry::RetryPolicy::default(),
    )
    .await
}

/// The identity side whose clients use `sdk`, set up (the Identity Store seeded, the instance
/// found) through `setup`: a fault test sets up through a patient client, so that only the
/// code under test meets the faults and the one-second attempts.
async fn identity_side_with(
    setup: &aws_config::SdkConfig,
    sdk: &aws_config::SdkConfig,
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    retry: jit_aws::retry::RetryPolicy,
) -> (AwsGrantor, IdentityStoreDirectory) {
    let store_id = seed_identity_store(&aws_sdk_identitystore::Client::new(setup)).await;
    let directory = IdentityStoreDirectory::new(aws_sdk_identitystore::Client::new(sdk), store_id);
    let sso = aws_sdk_ssoadmin::Client::new(sdk);
    let instance = aws_sdk_ssoadmin::Client::new(setup)
        .list_instances()
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_arn()
        .unwrap()
        .to_string();
    let mut identity = IdentityConfig::new(&instance);
    identity.rate_per_second = 500;
    identity.poll_interval = std::time::Duration::from_millis(20);
    identity.retry = retry;
    let grantor = AwsGrantor::new(
        sso,
        aws_sdk_iam::Client::new(sdk),
        dynamo.clone(),
        table,
        directory.clone(),
        identity,
    );
    (grantor, directory)
}

/// The decision token in the approval email moto recorded for `approver` (the newest one).
fn link_for(approver: &str) -> String {
    let data = common::moto_data();
    let marker = "/v1/decisions/";
    let recorded = data["ses"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(|v| v.as_array())
        .flatten();
    let mut found = None;
    for msg in recorded
        .map(|m| m.to_string())
        .filter(|m| m.contains(approver) && m.contains(marker))
    {
        let at = msg.rfind(marker).unwrap() + marker.len();
        found = Some(
            msg[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .collect(),
        );
    }
    found.unwrap_or_else(|| panic!("no approval email to {approver} in moto's record"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_group_request_lives_its_whole_life_on_the_aws_adapters() {
    let sdk = common::sdk().await;
    let (dynamo, table) = common::table(&sdk).await;
    let (grantor, directory) = identity_side(&sdk, &dynamo, &table).await;
    let scheduler_client = aws_sdk_scheduler::Client::new(&sdk);
    let group = common::unique("jit");
    scheduler_client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .unwrap();
    let scheduler = AwsScheduler::new(
        scheduler_client.clone(),
        SchedulerConfig {
            group: group.clone(),
            role_arn: "arn:aws:iam::123456789012:role/jit-scheduler".into(),
            grant_target_arn: "arn:aws:lambda:us-east-1:123456789012:function:jit-grant".into(),
            revoke_target_arn: "arn:aws:lambda:us-east-1:123456789012:function:jit-revoke".into(),
            escalate_target_arn: "arn:aws:lambda:us-east-1:123456789012:function:jit-escalate"
                .into(),
            dead_letter_arn: None,
            max_retries: 3,
            max_event_age_secs: 3_600,
        },
    );
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    let from = format!("{}@example.com", common::unique("jit"));
    ses.create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();
    let start: DateTime<Utc> = Utc::now();
    let ports = Ports {
        store: DynamoStore::new(dynamo, &table),
        grantor,
        scheduler,
        mailer: SesMailer::new(ses, &from),
        directory,
        clock: FakeClock::at(start),
    };
    let catalog = Arc::new(catalog::load_dir(&examples()).unwrap());
    let svc = Service::new(
        catalog,
        ports,
        LinkSigner::new(&[9; 32]).unwrap(),
        "https://jit.example.com",
    );

    let carol = Email::parse("carol@example.com").unwrap();
    let input = RequestInput {
        bundle: Some(BundleName::parse("rds-prod-pii").unwrap()),
        duration: Some(GrantDuration::parse("1h").unwrap()),
        reason: Some("customer ticket".into()),
        ticket: Some("INC-42".into()),
        ..RequestInput::default()
    };
    let req = svc.submit(&carol, input).await.unwrap();
    assert_eq!(req.status, Status::Pending);

    for approver in ["dave@example.com", "erin@example.com"] {
        let token = link_for(approver);
        svc.decide_by_link(&token, Verdict::Approve, "ok", None)
            .await
            .unwrap();
    }
    let active = svc.activate(&req.id).await.unwrap();
    assert_eq!(active.status, Status::Active);
    let doc = svc
        .ports
        .grantor
        .container_policy(&carol)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        doc.grant_ids().into_iter().collect::<Vec<_>>(),
        vec![req.id.clone()]
    );
    assert!(doc.to_json().contains("rds-db:connect"));

    // Fire the expiry schedule Scheduler holds, with the input it was given.
    let schedules = scheduler_client
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .unwrap();
    let end = schedules
        .schedules()
        .iter()
        .find(|s| s.name().unwrap_or("").starts_with("jit-end-"))
        .expect("an expiry schedule");
    let stored = scheduler_client
        .get_schedule()
        .name(end.name().unwrap())
        .group_name(&group)
        .send()
        .await
        .unwrap();
    let action: ScheduledAction =
        serde_json::from_str(stored.target().unwrap().input().unwrap()).unwrap();
    svc.ports.clock.advance(Duration::hours(1));
    let ended = svc.fire(&action).await.unwrap();
    assert_eq!(ended.status, Status::Ended);
    let doc = svc
        .ports
        .grantor
        .container_policy(&carol)
        .await
        .unwrap()
        .unwrap();
    assert!(doc.grant_ids().is_empty(), "the statement is gone");

    let timeline = svc.timeline(&req.id).await.unwrap();
    assert_eq!(
        timeline.iter().map(|e| e.action).collect::<Vec<_>>(),
        vec![
            Action::Requested,
            Action::AwaitingApproval,
            Action::Voted,
            Action::Approved,
            Action::Activated,
            Action::Ended,
            Action::AccessRemoved
        ]
    );
    verify_chain(&timeline).unwrap();
}

/// The race: ten parallel self-extensions by someone outside the owning team. One at a
/// time she is stopped at 6d4h (a longer grant needs the owner's approval); in parallel every
/// call used to pass the rule on the copy it read first and they ended at 12d4h. The rule is now
/// judged on the copy the ledger's conditional write checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_self_extensions_are_held_to_the_same_rule_as_one_at_a_time() {
    let sdk = common::sdk().await;
    let (dynamo, table) = common::table(&sdk).await;
    let ports = Ports {
        store: DynamoStore::new(dynamo, &table),
        grantor: jit_memory::MemoryGrantor::default(),
        scheduler: jit_memory::MemoryScheduler::default(),
        mailer: jit_memory::MemoryMailer::default(),
        directory: jit_memory::MemoryDirectory::load(&examples()).unwrap(),
        clock: FakeClock::at(Utc::now()),
    };
    let svc = Arc::new(Service::new(
        Arc::new(catalog::load_dir(&examples()).unwrap()),
        ports,
        LinkSigner::new(&[7; 32]).unwrap(),
        "https://jit.example.com",
    ));
    let carol = Email::parse("carol@example.com").unwrap();
    let input = RequestInput {
        bundle: Some(BundleName::parse("api-logs-read").unwrap()),
        duration: Some(GrantDuration::parse("4h").unwrap()),
        reason: Some("debug 5xx".into()),
        ..RequestInput::default()
    };
    let req = svc.submit(&carol, input).await.unwrap();
    assert_eq!(svc.activate(&req.id).await.unwrap().status, Status::Active);

    let three_days = GrantDuration::parse("3d").unwrap();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (svc, carol, id) = (svc.clone(), carol.clone(), req.id.clone());
            tokio::spawn(async move { svc.extend(&carol, &id, three_days, "longer").await })
        })
        .collect();
    let mut extended = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => extended += 1,
            // Refused by the rule, or lost every retry to siblings: either way nothing written.
            Err(e) => assert!(
                e.to_string().contains("needs approval") || e.is_retryable(),
                "{e}"
            ),
        }
    }
    let after = svc.get(&req.id).await.unwrap();
    let total = after.expires_at.unwrap() - after.starts_at.unwrap();
    assert!(
        total <= Duration::days(6) + Duration::hours(4),
        "{extended} extensions took the grant to {total}"
    );
    let recorded = svc
        .timeline(&req.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == Action::Extended)
        .count();
    assert_eq!(recorded, extended, "one audit record per extension made");
    assert!(extended >= 1, "at least the first extension is automatic");
}

/// The release under throttling: Identity Center refuses every write for a while. The
/// ledger says released at once, and the answer says so truthfully, with the access still
/// being removed (the API's 202), rather than "busy, try again" over a release that happened.
/// The removal is retried where it is deployed (the stream runs `reconcile`) and succeeds
/// once Identity Center answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_under_throttling_is_told_truthfully_and_the_removal_is_retried() {
    let (proxy, svc) = behind_a_fault_proxy().await;
    let alice = Email::parse("alice@example.com").unwrap();
    let req = svc.get(&logs_grant(&svc, &alice).await).await.unwrap();
    assert_eq!(svc.activate(&req.id).await.unwrap().status, Status::Active);
    let holds = |doc: Option<jit_core::plan::PolicyDocument>| {
        doc.is_some_and(|d| d.grant_ids().contains(&req.id))
    };
    assert!(holds(
        svc.ports.grantor.container_policy(&alice).await.unwrap()
    ));

    for op in [
        "PutInlinePolicyToPermissionSet",
        "DeleteInlinePolicyFromPermissionSet",
        "ProvisionPermissionSet",
    ] {
        proxy.fail(op, 1_000, "ThrottlingException");
    }
    let ending = svc.release(&alice, &req.id).await.unwrap();
    assert_eq!(
        ending.request.status,
        Status::Released,
        "the ledger says so"
    );
    let removal = ending
        .removal
        .expect("the answer says removal is under way");
    assert!(removal.contains("being retried"), "{removal}");
    assert!(removal.contains("stops working at"), "{removal}");
    assert!(
        proxy.injected().len() >= 2,
        "Identity Center was asked, and refused: {:?}",
        proxy.injected()
    );
    assert!(
        holds(svc.ports.grantor.container_policy(&alice).await.unwrap()),
        "the statement is still there while throttled"
    );
    proxy.clear();
    svc.reconcile(&req.id).await.unwrap();
    assert!(
        !holds(svc.ports.grantor.container_policy(&alice).await.unwrap()),
        "removed once Identity Center answers"
    );
    let released = svc
        .timeline(&req.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == Action::Released)
        .count();
    assert_eq!(released, 1, "one release recorded");
}

type FaultService = Service<
    DynamoStore,
    AwsGrantor,
    jit_memory::MemoryScheduler,
    jit_memory::MemoryMailer,
    IdentityStoreDirectory,
    FakeClock,
>;

/// The service on moto through a fault proxy: the SDK's own retries off and attempts cut off
/// after three seconds, the grantor retrying three times quickly, so faults show at once.
async fn behind_a_fault_proxy() -> (common::fault::FaultProxy, FaultService) {
    let proxy = common::fault::FaultProxy::start(&common::endpoint()).await;
    let sdk = common::sdk_at_impatient(&proxy.url).await;
    // Set up through a patient client straight to moto: only the service meets the faults.
    let setup = common::sdk().await;
    let (_, table) = common::table(&setup).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let retry = jit_aws::retry::RetryPolicy {
        attempts: 3,
        base_delay: std::time::Duration::from_millis(20),
        max_delay: std::time::Duration::from_millis(100),
    };
    let (grantor, directory) = identity_side_with(&setup, &sdk, &dynamo, &table, retry).await;
    let svc = Service::new(
        Arc::new(catalog::load_dir(&examples()).unwrap()),
        Ports {
            store: DynamoStore::new(dynamo, &table),
            grantor,
            scheduler: jit_memory::MemoryScheduler::default(),
            mailer: jit_memory::MemoryMailer::default(),
            directory,
            clock: FakeClock::at(Utc::now()),
        },
        LinkSigner::new(&[7; 32]).unwrap(),
        "https://jit.example.com",
    );
    (proxy, svc)
}

async fn logs_grant(svc: &FaultService, who: &Email) -> jit_core::types::RequestId {
    svc.submit(
        who,
        RequestInput {
            bundle: Some(BundleName::parse("api-logs-read").unwrap()),
            duration: Some(GrantDuration::parse("4h").unwrap()),
            reason: Some("debug 5xx".into()),
            ..RequestInput::default()
        },
    )
    .await
    .unwrap()
    .id
}

async fn sids(svc: &FaultService, who: &Email) -> Vec<String> {
    svc.ports
        .grantor
        .container_policy(who)
        .await
        .unwrap()
        .map(|d| {
            d.statements
                .iter()
                .filter_map(|s| s["Sid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Identity Center answering 500 once and hanging once while a grant is applied, then
/// throttling every write when the grant expires: the grant is applied through the first, and
/// the expiry, recorded at once, is retried (as the Scheduler retries the revoke function)
/// until the statement is gone, with one record of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_expiries_come_through_5xx_hangs_and_throttling() {
    let (proxy, svc) = behind_a_fault_proxy().await;
    let alice = Email::parse("alice@example.com").unwrap();
    let id = logs_grant(&svc, &alice).await;

    proxy.fail_status("PutInlinePolicyToPermissionSet", 1, 500);
    proxy.hang(
        "CreateAccountAssignment",
        1,
        std::time::Duration::from_secs(8),
    );
    let activated = svc.activate(&id).await.unwrap();
    assert_eq!(
        activated.status,
        Status::Active,
        "{:?}",
        activated.status_reason
    );
    let injected = proxy.injected();
    assert!(
        injected.contains(&"PutInlinePolicyToPermissionSet".to_string())
            && injected.contains(&"CreateAccountAssignment".to_string()),
        "{injected:?}"
    );
    assert_eq!(
        sids(&svc, &alice).await.len(),
        1,
        "applied through the faults"
    );

    svc.ports.clock.advance(Duration::hours(5));
    proxy.fail("SWBExternalService.", 1_000, "ThrottlingException");
    let err = svc.end(&id).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(svc.get(&id).await.unwrap().status, Status::Ended);
    proxy.clear();
    assert_eq!(sids(&svc, &alice).await.len(), 1, "still there");

    assert_eq!(svc.end(&id).await.unwrap().status, Status::Ended);
    assert!(sids(&svc, &alice).await.is_empty(), "removed on the retry");
    let ended = svc
        .timeline(&id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == Action::Ended)
        .count();
    assert_eq!(ended, 1);
}

/// The sweep and drift repair under throttling: a statement nobody granted is found in a
/// container, Identity Center throttles the whole sweep, which reports the failure and changes
/// nothing; the next sweep removes the stray statement and keeps the live grant's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_repair_waits_out_throttling_and_then_repairs() {
    let (proxy, svc) = behind_a_fault_proxy().await;
    let alice = Email::parse("alice@example.com").unwrap();
    let id = logs_grant(&svc, &alice).await;
    svc.activate(&id).await.unwrap();
    let seen = svc
        .ports
        .grantor
        .container_policy(&alice)
        .await
        .unwrap()
        .unwrap();
    let mut tampered = seen.clone();
    tampered.statements.push(serde_json::json!({
        "Sid": "AddedByHand",
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": "*"
    }));
    assert!(svc
        .ports
        .grantor
        .replace_container_policy(&alice, &seen, &tampered)
        .await
        .unwrap());
    assert_eq!(sids(&svc, &alice).await.len(), 2);

    proxy.fail("SWBExternalService.", 1_000, "ThrottlingException");
    let report = svc.sweep().await.unwrap();
    assert!(report.failed >= 1, "{report:?}");
    assert_eq!(report.drift(), 0, "{report:?}");
    proxy.clear();
    assert_eq!(
        sids(&svc, &alice).await.len(),
        2,
        "nothing changed while throttled"
    );

    let report = svc.sweep().await.unwrap();
    assert_eq!(report.drift_removed, 1, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    let left = sids(&svc, &alice).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(&format!("Jit{id}")), "{left:?}");
}
