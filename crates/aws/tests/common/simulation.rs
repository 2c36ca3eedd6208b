//! A fleet granting at once, through the real grantor, against the fake of Identity Center
//! (`fake_identity_center.rs`) with the ledger table on moto: `processes` grant function
//! processes (each its own `AwsGrantor`, as each Lambda process is) take grants off one queue
//! as they arrive, spread evenly over `window`, for people and accounts drawn with a seed.
//! Used by the simulation example (`scripts/bench.sh`) and its test.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use chrono::Utc;
use jit_aws::{AwsGrantor, IdentityConfig, IdentityStoreDirectory};
use jit_core::catalog::{Statement, Strategy};
use jit_core::plan::{GrantSpec, PolicyDocument};
use jit_core::ports::Grantor;
use jit_core::types::{AccountId, Email, IamAction, RequestId, ResourceArn};

use super::fake_identity_center::{FakeIdentityCenter, Rules, Tally};

/// What to simulate, in simulated time.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// People who may ask.
    pub people: usize,
    /// Accounts they ask for.
    pub accounts: usize,
    /// Grants in the burst.
    pub grants: usize,
    /// Over how long they arrive.
    pub window: Duration,
    /// Grant function processes at once (the template reserves 10).
    pub processes: usize,
    /// The stack's shared Identity Center rate (IdentityCenterRate); `None`: each process
    /// alone at ten calls a second, as before the shared budget.
    pub rate: Option<u32>,
    /// The rules of the fake (its rate, the length of a change, quotas, and the time scale).
    pub rules: Rules,
    /// The draw of people and accounts.
    pub seed: u64,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Grants applied and found in their person's permission set.
    pub applied: usize,
    /// Grants that failed, with why.
    pub failed: Vec<String>,
    /// From the first arrival to the last grant applied (simulated).
    pub last: Duration,
    /// Each grant's wait from its arrival to applied (simulated), sorted.
    pub waits: Vec<Duration>,
    /// What the fake answered.
    pub tally: Tally,
}

fn draw(seed: &mut u64) -> u64 {
    // xorshift64*: the same draw on every machine.
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Runs the simulation against moto (for the table) at `moto`.
pub async fn run(sim: &Simulation, moto: &SdkConfig) -> Outcome {
    let scale = sim.rules.scale;
    let fake = FakeIdentityCenter::start(sim.rules.clone()).await;
    let (dynamo, table) = super::table(moto).await;
    // Identity Center calls go to the fake, with the SDK's own retries off: a refusal is the
    // grantor's to handle, and the fake counts every one.
    let ic = moto
        .to_builder()
        .endpoint_url(&fake.url)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let sso = aws_sdk_ssoadmin::Client::new(&ic);
    let directory =
        IdentityStoreDirectory::new(aws_sdk_identitystore::Client::new(&ic), "d-0000000001");
    let mut config = IdentityConfig::new(&fake.instance_arn);
    let scaled = |d: Duration| d.div_f64(scale);
    match sim.rate {
        Some(rate) => {
            config.shared_rate = Some((f64::from(rate) * scale) as u32);
            config.rate_per_second = config.shared_rate.unwrap_or(1);
            config.burst = rate;
        }
        None => config.rate_per_second = (f64::from(config.rate_per_second) * scale) as u32,
    }
    config.poll_interval = scaled(config.poll_interval);
    config.account_poll = scaled(config.account_poll);
    config.account_wait = Duration::from_secs(600);
    config.retry.base_delay = scaled(config.retry.base_delay);
    config.retry.max_delay = scaled(config.retry.max_delay);
    config.permission_set_quota = sim.rules.sets_quota as u32;
    config.account_quota = sim.rules.account_quota as u32;
    let grantors: Vec<Arc<AwsGrantor>> = (0..sim.processes)
        .map(|_| {
            Arc::new(AwsGrantor::new(
                sso.clone(),
                aws_sdk_iam::Client::new(moto),
                dynamo.clone(),
                &table,
                directory.clone(),
                config.clone(),
            ))
        })
        .collect();

    let mut seed = sim.seed.max(1);
    let grants: Vec<(Email, GrantSpec)> = (0..sim.grants)
        .map(|n| {
            let person = draw(&mut seed) as usize % sim.people;
            let account = draw(&mut seed) as usize % sim.accounts;
            let email = Email::parse(&format!("person{person:05}@example.com")).unwrap();
            let spec = GrantSpec {
                id: RequestId::parse(&format!("sim{n:08}")).unwrap(),
                statements: vec![Statement {
                    actions: vec![IamAction::parse("s3:GetObject").unwrap()],
                    resources: vec![
                        ResourceArn::parse(&format!("arn:aws:s3:::data-{n}/*")).unwrap()
                    ],
                }],
                accounts: vec![
                    AccountId::parse(&format!("{:012}", 100_000_000_000 + account)).unwrap(),
                ],
                starts_at: None,
                expires_at: Utc::now() + chrono::Duration::hours(8),
            };
            (email, spec)
        })
        .collect();

    // Arrivals, evenly over the window, onto one queue the processes share.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let start = Instant::now();
    let window = scaled(sim.window);
    let total = sim.grants;
    tokio::spawn(async move {
        for n in 0..total {
            let at = start + window.mul_f64(n as f64 / total.max(1) as f64);
            tokio::time::sleep_until(at.into()).await;
            if tx.send((n, Instant::now())).is_err() {
                return;
            }
        }
    });
    let grants = Arc::new(grants);
    let mut workers = Vec::new();
    for g in grantors {
        let (rx, grants) = (rx.clone(), grants.clone());
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = rx.lock().await.recv().await;
                let Some((n, arrived)) = next else {
                    return done;
                };
                let (person, spec) = &grants[n];
                // As the stream retries a failed batch: a retryable failure is tried again.
                let mut result = g.apply(person, &Strategy::Container, spec).await;
                for _ in 0..5 {
                    match &result {
                        Err(e) if e.is_retryable() => {
                            result = g.apply(person, &Strategy::Container, spec).await;
                        }
                        _ => break,
                    }
                }
                done.push((
                    n,
                    arrived,
                    Instant::now(),
                    result.map_err(|e| e.to_string()),
                ));
            }
        }));
    }
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.unwrap());
    }
    let mut failed = Vec::new();
    let mut waits = Vec::new();
    let mut last = Duration::ZERO;
    let mut applied = 0;
    for (n, arrived, finished, result) in results {
        let (person, spec) = &grants[n];
        match result {
            Ok(()) => {
                let policy = fake
                    .policy_named(&jit_core::access::container_name(person))
                    .unwrap_or_default();
                let doc = PolicyDocument::parse(&policy).unwrap_or_default();
                if doc.grant_ids().contains(&spec.id) {
                    applied += 1;
                } else {
                    failed.push(format!(
                        "{}: applied but not in {person}'s permission set",
                        spec.id
                    ));
                }
            }
            Err(e) => failed.push(format!("{}: {e}", spec.id)),
        }
        waits.push(finished.duration_since(arrived).mul_f64(scale));
        last = last.max(finished.duration_since(start).mul_f64(scale));
    }
    waits.sort();
    Outcome {
        applied,
        failed,
        last,
        waits,
        tally: fake.tally(),
    }
}
