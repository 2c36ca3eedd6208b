//! The shared Identity Center budget on moto: processes reserving at once share one rate.

mod common;

use jit_aws::SharedBudget;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_reserving_at_once_share_one_rate_after_one_burst() {
    let config = common::sdk().await;
    let (dynamo, table) = common::table(&config).await;
    // Four "processes" (budgets of their own over the same item), 20 calls each, at once.
    let (rate, burst) = (20_i64, 5_i64);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let budget = SharedBudget::new(dynamo.clone(), &table, rate as u32, burst as u32);
        tasks.push(tokio::spawn(async move {
            let mut slots = Vec::new();
            for _ in 0..20 {
                slots.push(budget.reserve_slot().await.unwrap().0);
            }
            slots
        }));
    }
    let mut slots = Vec::new();
    for t in tasks {
        slots.extend(t.await.unwrap());
    }
    slots.sort_unstable();
    let interval = 1_000_000 / rate;
    let first = slots[0];
    // The first `burst` go at once; after them, one slot per interval, whoever asked.
    for (k, slot) in slots.iter().enumerate().skip(burst as usize) {
        let earliest = first + (k as i64 - (burst - 1)) * interval;
        assert!(
            *slot >= earliest,
            "slot {k} at +{} µs, before +{} µs: the shared rate was exceeded",
            slot - first,
            earliest - first
        );
    }
    // 80 calls at 20 a second with a burst of 5: the last goes 3.75 s after the first.
    assert!(slots[79] - first >= (80 - burst) * interval);
}
