//! The store contract: one suite of tests that every ledger (DynamoDB on moto, SQLite, in
//! memory) is held to, driven through the application service. Each test crate includes this
//! file (`#[path]`) and calls each function with a fresh store of its own kind.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jit_core::audit::{verify_chain, Action};
use jit_core::catalog::{self, Catalog};
use jit_core::lifecycle::{Command, Status};
use jit_core::link::LinkSigner;
use jit_core::policy::RequestInput;
use jit_core::ports::{RequestStore, StoreError};
use jit_core::service::{Ports, Service, ServiceError};
use jit_core::types::{BundleName, Email, GrantDuration, GroupName};
use jit_memory::{FakeClock, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler};

/// The service the suite drives: the store under test, every other port in memory.
pub type Svc<S> =
    Service<S, MemoryGrantor, MemoryScheduler, MemoryMailer, MemoryDirectory, FakeClock>;

const KEY: &[u8] = b"test-signing-key-of-at-least-32-bytes!";

pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples")
}

/// The service on `store` with `catalog` and `directory`, its clock stopped at [`start`].
pub fn service_on<S: RequestStore>(
    store: S,
    catalog: Catalog,
    directory: MemoryDirectory,
) -> Svc<S> {
    let ports = Ports {
        store,
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

/// The service on `store` with the example catalog and directory.
pub fn examples_service<S: RequestStore>(store: S) -> Svc<S> {
    service_on(
        store,
        catalog::load_dir(&examples()).unwrap(),
        MemoryDirectory::load(&examples()).unwrap(),
    )
}

pub fn who(s: &str) -> Email {
    Email::parse(&format!("{s}@example.com")).unwrap()
}

pub fn ask(bundle: &str, duration: &str) -> RequestInput {
    RequestInput {
        bundle: Some(BundleName::parse(bundle).unwrap()),
        duration: Some(GrantDuration::parse(duration).unwrap()),
        reason: Some("testing".into()),
        ..RequestInput::default()
    }
}

pub fn pii() -> RequestInput {
    let mut i = ask("rds-prod-pii", "1h");
    i.ticket = Some("INC-1".into());
    i
}

pub async fn every_access_pattern_returns_what_was_written<S: RequestStore + 'static>(store: S) {
    let svc = examples_service(store);
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

pub async fn stale_writes_are_refused_and_replays_write_nothing<S: RequestStore + 'static>(
    store: S,
) {
    let svc = examples_service(store);
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
                notices: vec![],
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
    let another = jit_core::lifecycle::Request {
        id: jit_core::types::RequestId::generate(start() + Duration::seconds(1)),
        ..req.clone()
    };
    let raced = store
        .create(
            &jit_core::lifecycle::Transition {
                request: another.clone(),
                events: vec![],
                notices: vec![],
            },
            &stale,
        )
        .await;
    assert!(
        matches!(raced, Err(StoreError::Conflict)),
        "another admission came first: {raced:?}"
    );
    assert!(
        store.get(&another.id).await.unwrap().is_none(),
        "nothing was written"
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

pub async fn two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule<
    S: RequestStore + 'static,
>(
    store: S,
) {
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
    let svc = Arc::new(service_on(store, catalog, directory));
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

/// The room race: parallel asks for a bundle that fits a few times in one container used to
/// all pass the check on the same copy, and the surplus failed once approved. Each ask is
/// judged on the copy of the person's open requests that its create checks is unchanged, so
/// parallel asks get exactly what sequential ones do, and every one admitted is applied.
/// `sequential` and `parallel` are two empty stores.
pub async fn parallel_asks_get_exactly_the_room_that_sequential_ones_get<
    S: RequestStore + 'static,
>(
    sequential: S,
    parallel: S,
) {
    let resources: Vec<String> = (0..40)
        .map(|i| format!("\"arn:aws:s3:::a-bucket-with-a-longer-name-{i:03}/*\""))
        .collect();
    let text = format!(
        "[[bundle]]\nname = \"wide\"\nowner_team = \"t\"\nrisk = \"low\"\naccounts = [\"111111111111\"]\nstatements = [{{ actions = [\"s3:GetObject\"], resources = [{}] }}]\n[[flow]]\nname = \"f\"\nrequesters = [\"t\"]\nbundles = [\"wide\"]\napproval = \"auto\"\n",
        resources.join(",")
    );
    let service = |store: S| {
        Arc::new(service_on(
            store,
            catalog::parse_files(&[("c.toml".into(), text.clone())]).unwrap(),
            MemoryDirectory::from_toml(
                "directory.toml",
                "[[group]]\nname = \"t\"\nmembers = [\"tess@example.com\"]\n",
            )
            .unwrap(),
        ))
    };
    let tess = who("tess");

    let one_at_a_time = service(sequential);
    let mut fits = 0;
    while one_at_a_time.submit(&tess, ask("wide", "1h")).await.is_ok() {
        fits += 1;
    }
    assert!(fits >= 3, "the bundle fits a few times: {fits}");

    let svc = service(parallel);
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let (svc, tess) = (svc.clone(), tess.clone());
            tokio::spawn(async move { svc.submit(&tess, ask("wide", "1h")).await })
        })
        .collect();
    let (mut created, mut busy) = (Vec::new(), 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(r) => created.push(r.id),
            Err(ServiceError::TooLarge(_)) => {}
            // Lost every retry to siblings: nothing was written.
            Err(e) if e.is_retryable() => busy += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(
        created.len() <= fits,
        "{} admitted where {fits} fit",
        created.len()
    );
    assert!(
        created.len() + busy >= fits,
        "only refusals for room, or retries: {} admitted, {busy} busy, {fits} fit",
        created.len()
    );
    for id in &created {
        assert_eq!(svc.activate(id).await.unwrap().status, Status::Active);
    }
    println!(
        "30 parallel asks: {} admitted, {busy} told to retry, {fits} fit one at a time",
        created.len()
    );
}

/// Notices are written with the transition that causes them (a submit asking two approvers
/// writes two), listed until acknowledged, oldest first, and gone once acknowledged.
pub async fn notices_are_written_with_their_transition_and_acknowledged_once<
    S: RequestStore + 'static,
>(
    store: S,
) {
    let svc = examples_service(store);
    let store = &svc.ports.store;
    let req = svc.submit(&who("carol"), pii()).await.unwrap();
    // The service sent them and acknowledged each: nothing is left.
    assert!(store
        .notices_before(start() + Duration::days(1))
        .await
        .unwrap()
        .is_empty());

    // As a call that died before sending leaves them.
    let mut t = req
        .apply(
            &Command::Escalate { to_tier: 1 },
            start() + Duration::hours(2),
        )
        .unwrap()
        .unwrap();
    let message = |to: &str| jit_core::ports::Message {
        to: vec![who(to)],
        subject: "s".into(),
        text: "t".into(),
        html: "h".into(),
        kind: jit_core::ports::MessageKind::ApprovalRequest,
        request_id: req.id.clone(),
    };
    t.notices = vec![
        jit_core::ports::Notice {
            key: "000003-0000".into(),
            written_at: start() + Duration::hours(2),
            message: message("frank"),
            chat: None,
            prompt: None,
        },
        jit_core::ports::Notice {
            key: "000003-0001".into(),
            written_at: start() + Duration::hours(2),
            message: message("grace"),
            chat: None,
            prompt: None,
        },
    ];
    store.update(req.version, req.status, &t).await.unwrap();
    assert!(store
        .notices_before(start() + Duration::hours(1))
        .await
        .unwrap()
        .is_empty());
    let left = store
        .notices_before(start() + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(left, t.notices);
    store
        .notice_delivered(&req.id, "000003-0000")
        .await
        .unwrap();
    store
        .notice_delivered(&req.id, "000003-0000")
        .await
        .unwrap();
    let left = store
        .notices_before(start() + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(left, t.notices[1..].to_vec());
}

/// A prompt's notices (its chat offer) are written with it, under its id, or not at all: a
/// prompt refused as a repeat within the quiet period adds none.
pub async fn a_prompts_notices_are_written_with_it_or_not_at_all<S: RequestStore>(store: S) {
    use jit_core::prompt::{AccessDenied, Prompt, PromptStatus};
    let prompt = |id: &str| Prompt {
        id: id.parse().unwrap(),
        denied: AccessDenied {
            person: who("alice"),
            account: "111111111111".parse().unwrap(),
            action: "s3:GetObject".into(),
            resource: None,
            event_id: format!("event-{id}"),
            at: start(),
        },
        offers: Vec::new(),
        disabled_service: None,
        status: PromptStatus::Prompted,
        request_id: None,
        created_at: start(),
        updated_at: start(),
        version: 1,
    };
    let first = prompt("p0000000000000000000000001");
    let notice = |p: &Prompt, key: &str| jit_core::ports::Notice {
        key: key.into(),
        written_at: start(),
        message: jit_core::ports::Message {
            to: vec![who("alice")],
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            kind: jit_core::ports::MessageKind::AccessPrompt,
            request_id: p.id.clone(),
        },
        chat: None,
        prompt: Some(Box::new(jit_core::ports::PromptNote {
            prompt: p.clone(),
            links: vec!["https://jit.example.com/v1/prompts/token".into()],
        })),
    };
    let written = vec![notice(&first, "prompt-chat")];
    store
        .create_prompt(&first, start() + Duration::hours(1), &written)
        .await
        .unwrap();
    let later = start() + Duration::minutes(5);
    assert_eq!(store.notices_before(later).await.unwrap(), written);
    // The same action again within the hour: refused, and its notice is not written.
    let mut again = prompt("p0000000000000000000000002");
    again.created_at = start() + Duration::minutes(1);
    let refused = store
        .create_prompt(
            &again,
            start() + Duration::hours(1),
            &[notice(&again, "prompt-chat")],
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::AlreadyExists)),
        "{refused:?}"
    );
    assert_eq!(store.notices_before(later).await.unwrap(), written);
    store
        .notice_delivered(&first.id, "prompt-chat")
        .await
        .unwrap();
    assert!(store.notices_before(later).await.unwrap().is_empty());
}

/// Chat cards: kept per request, replaced by key (a card drawn again records its new version),
/// and another request's cards are not mixed in.
pub async fn cards_are_kept_per_request_and_replaced_by_key<K: jit_core::ports::CardStore>(
    cards: K,
) {
    use jit_core::ports::Card;
    let a = jit_core::types::RequestId::generate(start());
    let b = jit_core::types::RequestId::generate(start() + Duration::seconds(1));
    assert!(cards.cards(&a).await.unwrap().is_empty());
    let card = |key: &str, ts: &str, version: u64| Card {
        key: key.into(),
        channel: "D0DAVE".into(),
        ts: ts.into(),
        live: true,
        version,
    };
    cards
        .put_card(&a, &card("ask:dave@example.com", "1.1", 1))
        .await
        .unwrap();
    cards
        .put_card(&a, &card("ask:erin@example.com", "1.2", 1))
        .await
        .unwrap();
    cards
        .put_card(&b, &card("ask:dave@example.com", "2.1", 1))
        .await
        .unwrap();
    cards
        .put_card(&a, &card("ask:dave@example.com", "1.1", 3))
        .await
        .unwrap();
    let mut got = cards.cards(&a).await.unwrap();
    got.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(
        got,
        vec![
            card("ask:dave@example.com", "1.1", 3),
            card("ask:erin@example.com", "1.2", 1)
        ]
    );
    assert_eq!(cards.cards(&b).await.unwrap().len(), 1);
}
