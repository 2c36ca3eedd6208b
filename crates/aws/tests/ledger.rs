//! The DynamoDB ledger against moto server: the store contract every ledger is held to
//! (`tests/store_contract`), then what only DynamoDB has: sharded indexes, catalog versions and
//! throttled transactions.

mod common;
#[path = "../../../tests/store_contract/mod.rs"]
mod contract;

use std::sync::Arc;

use chrono::Duration;
use contract::{ask, examples, examples_service, start, who};
use jit_aws::DynamoStore;
use jit_core::catalog;
use jit_core::lifecycle::Status;
use jit_core::link::LinkSigner;
use jit_core::ports::RequestStore;
use jit_core::service::{Ports, Service};
use jit_memory::{FakeClock, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler};

const KEY: &[u8] = b"test-signing-key-of-at-least-32-bytes!";

async fn store() -> DynamoStore {
    let config = common::sdk().await;
    let (client, table) = common::table(&config).await;
    DynamoStore::new(client, table)
}

#[tokio::test]
async fn every_access_pattern_returns_what_was_written() {
    contract::every_access_pattern_returns_what_was_written(store().await).await;
}

#[tokio::test]
async fn stale_writes_are_refused_and_replays_write_nothing() {
    contract::stale_writes_are_refused_and_replays_write_nothing(store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule() {
    contract::two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule(
        store().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_asks_get_exactly_the_room_that_sequential_ones_get() {
    contract::parallel_asks_get_exactly_the_room_that_sequential_ones_get(
        store().await,
        store().await,
    )
    .await;
}

#[tokio::test]
async fn the_sweeper_finds_lost_expiries_across_shards() {
    let svc = examples_service(store().await);
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

#[tokio::test]
async fn notices_are_written_with_their_transition_and_acknowledged_once() {
    contract::notices_are_written_with_their_transition_and_acknowledged_once(store().await).await;
}

#[tokio::test]
async fn cards_are_kept_per_request_and_replaced_by_key() {
    contract::cards_are_kept_per_request_and_replaced_by_key(store().await).await;
}

/// A chat channel that is always busy.
struct Refuse;

impl jit_core::ports::Chat for Refuse {
    async fn deliver(&self, _: &jit_core::ports::Notice) -> Result<(), jit_core::ports::MailError> {
        Err(jit_core::ports::MailError::Retryable("busy".into()))
    }
}

/// The chat function's stream filter picks chat notices by the item's `channel`: a chat
/// notice is marked `chat`, an email `email`.
#[tokio::test]
async fn notice_items_say_which_channel_they_are_for() {
    let config = common::sdk().await;
    let (client, table) = common::table(&config).await;
    let store = DynamoStore::new(client.clone(), &table);
    let catalog = Arc::new(catalog::load_dir(&examples()).unwrap());
    let svc = Service::new(
        catalog,
        Ports {
            store,
            grantor: MemoryGrantor::default(),
            scheduler: MemoryScheduler::default(),
            // Fails every delivery, so the notices stay on the table to be looked at.
            mailer: jit_core::ports::WithChat {
                mail: {
                    let m = MemoryMailer::default();
                    m.fail_next(1000);
                    m
                },
                chat: Refuse,
            },
            directory: MemoryDirectory::load(&examples()).unwrap(),
            clock: FakeClock::at(start()),
        },
        LinkSigner::new(KEY).unwrap(),
        "https://jit.example.com",
    )
    .with_chat(true);
    let req = svc.submit(&who("carol"), contract::pii()).await.unwrap();
    let items = client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p AND begins_with(sk, :n)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REQ#{}", req.id)),
        )
        .expression_attribute_values(
            ":n",
            aws_sdk_dynamodb::types::AttributeValue::S("NOTICE#".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let channel = |i: &std::collections::HashMap<
        String,
        aws_sdk_dynamodb::types::AttributeValue,
    >| { i["channel"].as_s().unwrap().clone() };
    let chat: Vec<_> = items.iter().filter(|i| channel(i) == "chat").collect();
    assert_eq!(chat.len(), 1, "one chat notice for the submission");
    assert!(chat[0]["sk"].as_s().unwrap().ends_with("-chat"));
    assert!(
        items.iter().filter(|i| channel(i) == "email").count() >= 2,
        "an email to each approver"
    );
}

#[tokio::test]
async fn a_prompts_notices_are_written_with_it_or_not_at_all() {
    contract::a_prompts_notices_are_written_with_it_or_not_at_all(store().await).await;
}
