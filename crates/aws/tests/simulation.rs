//! A fleet granting at once keeps to Identity Center's rules: the grantor's shared budget and
//! per-account turns mean the fake of Identity Center, which enforces the account's rate, one
//! change per account at a time and the quotas, refuses nothing, and every grant is applied.
//! (The figures at scale, 100 to 2,000 grants, are `scripts/bench.sh`'s.)

mod common;

use std::time::Duration;

use common::fake_identity_center::Rules;
use common::simulation::{run, Simulation};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_from_many_processes_is_applied_without_one_refusal() {
    let sim = Simulation {
        people: 40,
        accounts: 6,
        grants: 60,
        window: Duration::from_secs(10),
        processes: 4,
        rate: Some(15),
        rules: Rules {
            scale: 10.0,
            ..Rules::default()
        },
        seed: 7,
    };
    let out = run(&sim, &common::sdk().await).await;
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(out.applied, 60);
    assert_eq!(
        (
            out.tally.throttled,
            out.tally.conflicts,
            out.tally.over_quota
        ),
        (0, 0, 0),
        "Identity Center refused calls: {:?}",
        out.tally
    );
    // Every person's first grant made a container, and each grant was provisioned.
    assert!(out.tally.by_operation["CreatePermissionSet"] <= 40);
    assert_eq!(out.tally.by_operation["ProvisionPermissionSet"], 60);
}
