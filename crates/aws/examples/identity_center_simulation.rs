//! Issue #18's simulation: 1,000 people × 50 accounts, a burst of grants in one minute, applied
//! by ten grant function processes through the real grantor against a fake of Identity Center
//! that enforces the account's rate (20 calls a second), one change per account at a time
//! (1.5 s each) and the quotas; the ledger table on moto at `AWS_ENDPOINT_URL`. Time runs four
//! times faster than the clock (rates ×4, durations ÷4; faster, moto's one-at-a-time writes
//! become the limit) and figures are given in simulated time. For each burst (`JIT_SIM_BURSTS`, default 100,500,2000) it prints the grants applied,
//! what Identity Center refused, the time from the first arrival to the last grant applied,
//! and the waits. `JIT_SIM_BEFORE=1` runs it as before the shared budget (each process alone
//! at ten calls a second); `JIT_SIM_SCALE` changes the time scale (4). Run by
//! `scripts/bench.sh`; asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::fake_identity_center::Rules;
use common::simulation::{run, Simulation};

#[tokio::main]
async fn main() {
    let moto = common::sdk().await;
    let bursts: Vec<usize> = std::env::var("JIT_SIM_BURSTS")
        .unwrap_or_else(|_| "100,500,2000".into())
        .split(',')
        .filter_map(|b| b.trim().parse().ok())
        .collect();
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>9} {:>12} {:>10} {:>10} {:>11}",
        "burst",
        "applied",
        "throttled",
        "conflicts",
        "quota",
        "last (s)",
        "p50 (s)",
        "p99 (s)",
        "calls/grant"
    );
    for grants in bursts {
        let sim = Simulation {
            people: 1_000,
            accounts: 50,
            grants,
            window: Duration::from_secs(60),
            processes: 10,
            rate: (std::env::var("JIT_SIM_BEFORE").as_deref() != Ok("1")).then_some(15),
            rules: Rules {
                scale: std::env::var("JIT_SIM_SCALE")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(4.0),
                ..Rules::default()
            },
            seed: 18,
        };
        let out = run(&sim, &moto).await;
        let at = |q: f64| {
            out.waits
                .get(((out.waits.len() as f64 - 1.0) * q) as usize)
                .map_or(0.0, Duration::as_secs_f64)
        };
        println!(
            "{:>6} {:>8} {:>9} {:>9} {:>9} {:>12.1} {:>10.1} {:>10.1} {:>11.1}",
            grants,
            out.applied,
            out.tally.throttled,
            out.tally.conflicts,
            out.tally.over_quota,
            out.last.as_secs_f64(),
            at(0.5),
            at(0.99),
            out.tally.calls as f64 / grants as f64
        );
        for f in out.failed.iter().take(3) {
            println!("       failed: {f}");
        }
    }
}
