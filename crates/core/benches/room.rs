//! The room check as a person's live grants grow: the container policy built for all of them
//! at once (`PolicyDocument::rebuilt`, what a submit does before admitting a request) beside
//! building it one grant at a time (how `rebuilt` worked before: every grant re-serialized the
//! whole document). Then, for each bundle of `catalog/examples` that goes into a container,
//! how many grants of it fit in one container (10,240 characters). Prints figures; asserts
//! nothing. Run by `scripts/bench.sh`.

use std::time::{Duration, Instant};

use chrono::DateTime;
use jit_core::catalog::{self, Statement, Strategy};
use jit_core::plan::{GrantSpec, PolicyDocument, POLICY_BUDGET};
use jit_core::types::{AccountId, IamAction, RequestId, ResourceArn};

fn grant(n: usize) -> GrantSpec {
    GrantSpec {
        id: RequestId::parse(&format!("0190a1b2c3d4{n:08x}")).unwrap(),
        statements: vec![Statement {
            actions: vec![
                IamAction::parse("logs:GetLogEvents").unwrap(),
                IamAction::parse("logs:FilterLogEvents").unwrap(),
            ],
            resources: vec![ResourceArn::parse(&format!(
                "arn:aws:logs:eu-west-1:111111111111:log-group:/api/{n}*"
            ))
            .unwrap()],
        }],
        accounts: vec![AccountId::parse("111111111111").unwrap()],
        starts_at: None,
        expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time(rounds: usize, f: impl Fn() -> usize) -> Duration {
    median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

/// How many grants of `bundle` fit in one container, and the characters one takes.
fn per_container(bundle: &jit_core::catalog::Bundle) -> (usize, usize) {
    let spec = |n: usize| GrantSpec {
        id: RequestId::parse(&format!("0190a1b2c3d4{n:08x}")).unwrap(),
        statements: bundle.statements.clone(),
        accounts: bundle.accounts.clone(),
        starts_at: None,
        expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    };
    let mut doc = PolicyDocument::default();
    let mut n = 0;
    while let Ok(next) = doc.with(&spec(n), POLICY_BUDGET) {
        doc = next;
        n += 1;
    }
    let one = PolicyDocument::default()
        .with(&spec(0), POLICY_BUDGET)
        .map(|d| d.size())
        .unwrap_or(0);
    (n, one)
}

fn grants_per_container() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog/examples");
    let cat = catalog::load_dir(std::path::Path::new(dir)).expect("the example catalog loads");
    println!("room: grants of one bundle that fit in one container (catalog/examples)");
    println!("{:<24} {:>10} {:>10}", "bundle", "one grant", "fit");
    for b in cat.bundles.values() {
        if b.strategy != Strategy::Container {
            continue;
        }
        let (fit, one) = per_container(b);
        println!("{:<24} {one:>10} {fit:>10}", b.name.as_str());
    }
}

fn main() {
    println!("room: building a container policy for N live grants; medians of 200");
    println!(
        "{:>6} {:>10} {:>12} {:>16} {:>8}",
        "grants", "policy", "at once", "one at a time", "ratio"
    );
    // As many as fit in 10,240 characters (about 30 of these), and fewer.
    let fits = (1..200)
        .take_while(|&n| {
            PolicyDocument::default()
                .rebuilt(&(0..n).map(grant).collect::<Vec<_>>(), POLICY_BUDGET)
                .is_ok()
        })
        .last()
        .unwrap_or(1);
    for n in [1, 10, 20, fits] {
        let grants: Vec<GrantSpec> = (0..n).map(grant).collect();
        let at_once = time(200, || {
            PolicyDocument::default()
                .rebuilt(&grants, POLICY_BUDGET)
                .map(|d| d.size())
                .unwrap_or(0)
        });
        let one_by_one = time(200, || {
            grants
                .iter()
                .try_fold(PolicyDocument::default(), |d, g| d.with(g, POLICY_BUDGET))
                .map(|d| d.size())
                .unwrap_or(0)
        });
        let size = PolicyDocument::default()
            .rebuilt(&grants, POLICY_BUDGET)
            .map(|d| d.size())
            .unwrap_or(0);
        println!(
            "{n:>6} {size:>10} {:>9.1} µs {:>13.1} µs {:>7.1}x",
            at_once.as_secs_f64() * 1e6,
            one_by_one.as_secs_f64() * 1e6,
            one_by_one.as_secs_f64() / at_once.as_secs_f64()
        );
    }
    grants_per_container();
}
