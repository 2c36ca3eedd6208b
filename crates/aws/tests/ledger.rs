//! The DynamoDB ledger against moto server, driven through the application service: every
//! access pattern, conditional writes, replays, and approvers racing each other.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jit_aws::DynamoStore;
use jit_core::audit::{verify_chain, Action};
use jit_core::catalog::{self, Catalog};
use jit_core::lifecycle::{Command, Status};
use jit_core::link::LinkSigner;
use jit_core::policy::RequestInput;
use jit_core::ports::{RequestStore, StoreError};
use jit_core::service::{Ports, Service, ServiceError};
use jit_core::types::{BundleName, Email, GrantDuration, GroupName};
use jit_memory::{FakeClock, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler};

type Svc =
    Service<DynamoStore, MemoryGrantor, MemoryScheduler, MemoryMailer, MemoryDirectory, FakeClock>;

const KEY: &[u8] = b"test-signing-key-of-at-least-32-bytes!";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples")
}

async fn service_on(catalog: Catalog, directory: MemoryDirectory) -> Svc {
    let config = common::sdk().await;
    let (client, table) = common::table(&config).await;
    let ports = Ports {
        store: DynamoStore::new(client, table),
        grantor: MemoryGrantor::default(),
        scheduler: MemoryScheduler::default(),
        mailer: MemoryMailer::default(),
        directory,
        clock: FakeClock::at(start()),
    };
    Service::new(
        Arc::new(catalog),
        ports,
        LinkSigner::new(KEY).unwrap(),
        "https://jit.example.com",
    )
}

async fn examples_service() -> Svc {
    service_on(
        catalog::load_dir(&examples()).unwrap(),
        MemoryDirectory::load(&examples()).unwrap(),
    )
    .await
}

fn who(s: &str) -> Email {
    Email::parse(&format!("{s}@example.com")).unwrap()
}

fn ask(bundle: &str, duration: &str) -> RequestInput {
    RequestInput {
        bundle: Some(BundleName::parse(bundle).unwrap()),
        duration: Some(GrantDuration::parse(duration).unwrap()),
        reason: Some("testing".into()),
        ..RequestInput::default()
    }
}

fn pii() -> RequestInput {
    let mut i = ask("rds-prod-pii", "1h");
    i.ticket = Some("INC-1".into());
    i
}

#[tokio::test]
async fn every_access_pattern_returns_what_was_written() {
    let svc = examples_service().await;
    let store = &svc.ports.store;
    let alice = who("alice");

    let first = svc
        .submit(&alice, ask("api-logs-read", "4h"))
        .await
        .unwrap();
    svc.ports.clock.advance(Duration::seconds(1));
    let second = svc.submit(&alice, ask("ec2-readonly", "2h")).await.unwrap();
    svc.activate(&first.id).await.unwrap();
    let pending = svc.submit(&who("carol"), pii()).await.unwrap();

    // By id, with its timeline.
    let got = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Active);
    let timeline = store.timeline(&first.id).await.unwrap();
    assert_eq!(
        timeline.iter().map(|e| e.action).collect::<Vec<_>>(),
        vec![Action::Requested, Action::AutoApproved, Action::Activated]
    );
    verify_chain(&timeline).unwrap();
    assert!(store
        .get(&jit_core::types::RequestId::parse("000000000000").unwrap())
        .await
        .unwrap()
        .is_none());

    // A person's requests, newest first.
    let mine: Vec<_> = store
        .by_requester(&alice, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(mine, vec![second.id.clone(), first.id.clone()]);
    assert_eq!(store.by_requester(&alice, 1).await.unwrap().len(), 1);

    // Pending approvals for a group.
    for g in ["data-dbas", "security"] {
        let ids: Vec<_> = store
            .pending_for_group(&GroupName::parse(g).unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![pending.id.clone()], "{g}");
    }
    assert!(
        store
            .pending_for_group(&GroupName::parse("platform-team").unwrap())
            .await
            .unwrap()
            .is_empty(),
        "not escalated yet"
    );
    assert_eq!(svc.approvals_for(&who("dave")).await.unwrap().len(), 1);

    // Live grants of one person, and by expiry for the sweeper.
    let live: Vec<_> = store
        .live_for(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        live.len(),
        2,
        "active and approved both hold (or are about to hold) access"
    );
    assert!(store.expiring_before(start()).await.unwrap().is_empty());
    let due: Vec<_> = store
        .expiring_before(start() + Duration::hours(5))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        due,
        vec![second.id.clone(), first.id.clone()],
        "soonest first"
    );

    // Undecided requests by deadline.
    assert!(store
        .undecided_before(start() + Duration::hours(23))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .undecided_before(start() + Duration::hours(25))
            .await
            .unwrap()
            .len(),
        1
    );

    // Audit records by time.
    let audit = store
        .audit_between(start() - Duration::hours(1), start() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        audit.len(),
        2 + 1 + 2 + 2,
        "every record of the three requests"
    );
    assert!(audit.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(store
        .audit_between(start() + Duration::hours(1), start() + Duration::hours(2))
        .await
        .unwrap()
        .is_empty());

    // Escalation moves the request to the next group's list; a decision takes it off every list.
    svc.ports.clock.advance(Duration::hours(1));
    svc.escalate(&pending.id, 1).await.unwrap();
    let platform = store
        .pending_for_group(&GroupName::parse("platform-team").unwrap())
        .await
        .unwrap();
    assert_eq!(platform.len(), 1);
    svc.deny(&who("frank"), &pending.id, "use the replica")
        .await
        .unwrap();
    for g in ["data-dbas", "security", "platform-team"] {
        assert!(
            store
                .pending_for_group(&GroupName::parse(g).unwrap())
                .await
                .unwrap()
                .is_empty(),
            "{g}"
        );
    }
    assert!(store
        .undecided_before(start() + Duration::days(2))
        .await
        .unwrap()
        .is_empty());

    // Single-use nonces.
    store
        .use_nonce("n1", start() + Duration::hours(1))
        .await
        .unwrap();
    assert!(matches!(
        store.use_nonce("n1", start() + Duration::hours(1)).await,
        Err(StoreError::AlreadyExists)
    ));
}

#[tokio::test]
async fn stale_writes_are_refused_and_replays_write_nothing() {
    let svc = examples_service().await;
    let store = &svc.ports.store;
    let req = svc.submit(&who("carol"), pii()).await.unwrap();

    let approve = |p: &str, g: &str| Command::Approve {
        approver: who(p),
        groups: vec![GroupName::parse(g).unwrap()],
        message: String::new(),
        duration: None,
    };
    let t1 = req
        .apply(&approve("dave", "data-dbas"), start())
        .unwrap()
        .unwrap();
    let t2 = req
        .apply(&approve("erin", "security"), start())
        .unwrap()
        .unwrap();
    store.update(req.version, req.status, &t1).await.unwrap();
    assert!(matches!(
        store.update(req.version, req.status, &t2).await,
        Err(StoreError::Conflict)
    ));
    assert!(
        matches!(
            store.update(req.version, req.status, &t1).await,
            Err(StoreError::Conflict)
        ),
        "a replayed write"
    );
    let open = store.open_for(&req.requester).await.unwrap();
    assert_eq!(
        open.requests.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&req.id],
        "the pending request is open"
    );
    let created_again = store
        .create(
            &jit_core::lifecycle::Transition {
                request: req.clone(),
                events: vec![],
            },
            &open,
        )
        .await;
    assert!(
        matches!(created_again, Err(StoreError::AlreadyExists)),
        "the id is taken, though the admission is current: {created_again:?}"
    );
    let stale = jit_core::ports::OpenRequests {
        version: open.version - 1,
        ..open
    };
    let raced = store
        .create(
            &jit_core::lifecycle::Transition {
                request: req.clone(),
                events: vec![],
            },
            &stale,
        )
        .await;
    assert!(
        matches!(raced, Err(StoreError::Conflict)),
        "another admission came first: {raced:?}"
    );

    svc.approve(&who("erin"), &req.id, "ok", None)
        .await
        .unwrap();
    svc.activate(&req.id).await.unwrap();
    let before = store.timeline(&req.id).await.unwrap();
    svc.activate(&req.id).await.unwrap();
    svc.approve(&who("erin"), &req.id, "ok", None)
        .await
        .unwrap();
    svc.escalate(&req.id, 1).await.unwrap();
    svc.expire_request(&req.id).await.unwrap();
    assert_eq!(
        store.timeline(&req.id).await.unwrap(),
        before,
        "replays wrote no record"
    );
    verify_chain(&before).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule() {
    let catalog = catalog::parse_files(&[(
        "c.toml".into(),
        r#"
[[bundle]]
name = "db"
owner_team = "owners"
risk = "high"
accounts = ["111111111111"]
statements = [{ actions = ["rds:RebootDBInstance"], resources = ["*"] }]

[[flow]]
name = "f"
requesters = ["devs"]
bundles = ["db"]
max_duration = "7d"
"#
        .into(),
    )])
    .unwrap();
    let directory = MemoryDirectory::from_toml(
        "d",
        "[[group]]\nname = \"owners\"\nmembers = [\"olga@example.com\", \"oscar@example.com\"]\n[[group]]\nname = \"devs\"\nmembers = [\"dan@example.com\"]\n",
    )
    .unwrap();
    let svc = Arc::new(service_on(catalog, directory).await);
    for round in 0..5 {
        let req = svc.submit(&who("dan"), ask("db", "2d")).await.unwrap();
        assert_eq!(req.status, Status::Pending, "round {round}");
        let (a, b) = {
            let (s1, s2) = (svc.clone(), svc.clone());
            let (i1, i2) = (req.id.clone(), req.id.clone());
            tokio::join!(
                tokio::spawn(async move { s1.approve(&who("olga"), &i1, "yes", None).await }),
                tokio::spawn(async move { s2.approve(&who("oscar"), &i2, "yes", None).await })
            )
        };
        let outcomes = [a.unwrap(), b.unwrap()];
        let ok = outcomes.iter().filter(|o| o.is_ok()).count();
        assert!(ok >= 1, "round {round}: {outcomes:?}");
        for o in &outcomes {
            if let Err(e) = o {
                assert!(
                    matches!(e, ServiceError::Lifecycle(_)),
                    "the loser is told it was already decided: {e:?}"
                );
            }
        }
        let (x, y) = {
            let (s1, s2) = (svc.clone(), svc.clone());
            let (i1, i2) = (req.id.clone(), req.id.clone());
            tokio::join!(
                tokio::spawn(async move { s1.activate(&i1).await }),
                tokio::spawn(async move { s2.activate(&i2).await })
            )
        };
        assert_eq!(x.unwrap().unwrap().status, Status::Active);
        assert_eq!(y.unwrap().unwrap().status, Status::Active);

        let timeline = svc.timeline(&req.id).await.unwrap();
        let count = |a: Action| timeline.iter().filter(|e| e.action == a).count();
        assert_eq!(count(Action::Approved), 1, "round {round}");
        assert_eq!(count(Action::Activated), 1, "round {round}");
        verify_chain(&timeline).unwrap();
        let ends = svc
            .ports
            .scheduler
            .all()
            .into_iter()
            .filter(|s| s.name.starts_with(&format!("jit-end-{}", req.id)))
            .count();
        assert_eq!(ends, 1, "one expiry schedule");
    }
}

#[tokio::test]
async fn the_sweeper_finds_lost_expiries_across_shards() {
    let svc = examples_service().await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        let r = svc
            .submit(&who("alice"), ask("api-logs-read", "1h"))
            .await
            .unwrap();
        svc.activate(&r.id).await.unwrap();
        ids.push(r.id);
    }
    for s in svc.ports.scheduler.all() {
        svc.ports.scheduler.lose(&s.name);
    }
    svc.ports.clock.advance(Duration::hours(2));
    let report = svc.sweep().await.unwrap();
    assert_eq!((report.ended, report.failed), (12, 0));
    for id in &ids {
        assert_eq!(svc.get(id).await.unwrap().status, Status::Ended);
    }
    assert!(svc
        .ports
        .store
        .live_for(&who("alice"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(svc.sweep().await.unwrap().ended, 0);
}

#[tokio::test]
async fn catalog_versions_are_published_once_and_kept() {
    use jit_core::ports::{CatalogStore, CatalogVersion};
    let config = common::sdk().await;
    let (client, table) = common::table(&config).await;
    let catalogs = jit_aws::DynamoCatalogs::new(client, table);
    assert!(catalogs.current().await.unwrap().is_none());
    assert_eq!(catalogs.current_version().await.unwrap(), None);

    let files = |risk: &str| {
        vec![("a.toml".to_string(), format!(
            "[[bundle]]\nname = \"b\"\nowner_team = \"t\"\nrisk = \"{risk}\"\naccounts = [\"111111111111\"]\nstatements = [{{ actions = [\"s3:GetObject\"], resources = [\"*\"] }}]\n"
        ))]
    };
    let version_of = |f: &Vec<(String, String)>| catalog::parse_files(f).unwrap().version();
    let v1 = CatalogVersion {
        version: version_of(&files("low")),
        published_at: start(),
        published_by: "frank@example.com".into(),
        files: files("low"),
    };
    let v2 = CatalogVersion {
        version: version_of(&files("high")),
        published_at: start() + Duration::hours(1),
        published_by: "frank@example.com".into(),
        files: files("high"),
    };
    assert!(catalogs.publish(&v1).await.unwrap());
    assert!(
        !catalogs.publish(&v1).await.unwrap(),
        "publishing the current version again changes nothing"
    );
    assert!(catalogs.publish(&v2).await.unwrap());

    let current = catalogs.current().await.unwrap().unwrap();
    assert_eq!(current, v2);
    assert_eq!(
        catalogs.current_version().await.unwrap(),
        Some(v2.version.clone()),
        "the small read agrees"
    );
    assert_eq!(
        catalog::parse_files(&current.files).unwrap().version(),
        v2.version,
        "the stored files are the catalog"
    );
    let history: Vec<String> = catalogs
        .history(10)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(
        history,
        vec![v2.version.clone(), v1.version.clone()],
        "newest first"
    );
}

#[tokio::test]
async fn throttled_transactions_are_retried_by_the_sdk_to_the_right_state() {
    let proxy = common::fault::FaultProxy::start(&common::endpoint()).await;
    let config = common::sdk_at(&proxy.url).await;
    let (client, table) = common::table(&config).await;
    let ports = Ports {
        store: DynamoStore::new(client, table),
        grantor: MemoryGrantor::default(),
        scheduler: MemoryScheduler::default(),
        mailer: MemoryMailer::default(),
        directory: MemoryDirectory::load(&examples()).unwrap(),
        clock: FakeClock::at(start()),
    };
    let svc = Service::new(
        Arc::new(catalog::load_dir(&examples()).unwrap()),
        ports,
        LinkSigner::new(KEY).unwrap(),
        "https://x",
    );
    proxy.fail(
        "TransactWriteItems",
        2,
        "ProvisionedThroughputExceededException",
    );
    let req = svc
        .submit(&who("alice"), ask("api-logs-read", "1h"))
        .await
        .unwrap();
    assert_eq!(
        proxy.injected(),
        vec!["TransactWriteItems", "TransactWriteItems"]
    );
    assert_eq!(svc.get(&req.id).await.unwrap().status, Status::Approved);
    assert_eq!(
        svc.timeline(&req.id).await.unwrap().len(),
        2,
        "written once"
    );
}
