//! The SQLite ledger held to the store contract every ledger meets (`tests/store_contract`),
//! each test on a database file of its own.

#[path = "../../../tests/store_contract/mod.rs"]
mod contract;

use jit_sqlite::{Db, SqliteStore};

/// A store in a fresh temporary directory (kept alive for the test by leaking the guard).
fn store() -> SqliteStore {
    let dir = tempfile::tempdir().unwrap().keep();
    SqliteStore::new(Db::open_dir(&dir).unwrap())
}

#[tokio::test]
async fn every_access_pattern_returns_what_was_written() {
    contract::every_access_pattern_returns_what_was_written(store()).await;
}

#[tokio::test]
async fn stale_writes_are_refused_and_replays_write_nothing() {
    contract::stale_writes_are_refused_and_replays_write_nothing(store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule() {
    contract::two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule(store())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_asks_get_exactly_the_room_that_sequential_ones_get() {
    contract::parallel_asks_get_exactly_the_room_that_sequential_ones_get(store(), store()).await;
}

#[tokio::test]
async fn notices_are_written_with_their_transition_and_acknowledged_once() {
    contract::notices_are_written_with_their_transition_and_acknowledged_once(store()).await;
}

#[tokio::test]
async fn cards_are_kept_per_request_and_replaced_by_key() {
    contract::cards_are_kept_per_request_and_replaced_by_key(store()).await;
}

#[tokio::test]
async fn a_prompts_notices_are_written_with_it_or_not_at_all() {
    contract::a_prompts_notices_are_written_with_it_or_not_at_all(store()).await;
}
