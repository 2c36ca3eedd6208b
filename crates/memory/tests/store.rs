//! The in-memory ledger held to the store contract every ledger meets (`tests/store_contract`).

#[path = "../../../tests/store_contract/mod.rs"]
mod contract;

use jit_memory::MemoryStore;

#[tokio::test]
async fn every_access_pattern_returns_what_was_written() {
    contract::every_access_pattern_returns_what_was_written(MemoryStore::default()).await;
}

#[tokio::test]
async fn stale_writes_are_refused_and_replays_write_nothing() {
    contract::stale_writes_are_refused_and_replays_write_nothing(MemoryStore::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule() {
    contract::two_approvers_at_once_yield_one_approval_one_activation_and_one_schedule(
        MemoryStore::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_asks_get_exactly_the_room_that_sequential_ones_get() {
    contract::parallel_asks_get_exactly_the_room_that_sequential_ones_get(
        MemoryStore::default(),
        MemoryStore::default(),
    )
    .await;
}

#[tokio::test]
async fn notices_are_written_with_their_transition_and_acknowledged_once() {
    contract::notices_are_written_with_their_transition_and_acknowledged_once(
        MemoryStore::default(),
    )
    .await;
}

#[tokio::test]
async fn cards_are_kept_per_request_and_replaced_by_key() {
    contract::cards_are_kept_per_request_and_replaced_by_key(jit_memory::MemoryCards::default())
        .await;
}

#[tokio::test]
async fn a_prompts_notices_are_written_with_it_or_not_at_all() {
    contract::a_prompts_notices_are_written_with_it_or_not_at_all(
        jit_memory::MemoryStore::default(),
    )
    .await;
}
