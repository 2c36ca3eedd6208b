//! How long applying and removing a grant takes through the Identity Center adapter, against
//! moto server at `AWS_ENDPOINT_URL` (run by `scripts/bench.sh`, which starts moto). Each
//! figure is measured twice: with every call spaced 1/rate apart (a bucket of one token: how
//! the limiter worked before) and with the token bucket's burst, so the ratio is from one run.
//! moto finishes provisioning at once, so what is left is the calls and the limiter's waits.
//! Prints min / median / max in ms; asserts nothing.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use jit_aws::{AwsGrantor, IdentityConfig, IdentityStoreDirectory};
use jit_core::catalog::{Statement, Strategy};
use jit_core::plan::GrantSpec;
use jit_core::ports::Grantor;
use jit_core::types::{AccountId, Email, IamAction, RequestId, ResourceArn};

const ROUNDS: usize = 8;

fn spec(n: usize) -> GrantSpec {
    GrantSpec {
        id: RequestId::parse(&format!("bench{n:08}")).unwrap(),
        statements: vec![Statement {
            actions: vec![IamAction::parse("s3:GetObject").unwrap()],
            resources: vec![ResourceArn::parse(&format!("arn:aws:s3:::bucket-{n}/*")).unwrap()],
        }],
        accounts: vec![AccountId::parse("111111111111").unwrap()],
        starts_at: None,
        expires_at: Utc::now() + Duration::hours(1),
    }
}

fn stats(mut xs: Vec<StdDuration>) -> String {
    xs.sort();
    let ms = |d: StdDuration| d.as_secs_f64() * 1000.0;
    format!(
        "{:7.1} {:7.1} {:7.1}",
        ms(xs[0]),
        ms(xs[xs.len() / 2]),
        ms(xs[xs.len() - 1])
    )
}

#[tokio::main]
async fn main() {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("set AWS_ENDPOINT_URL to a moto server (scripts/bench.sh starts one)");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/template.yaml"
    ))
    .unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&template).unwrap();
    let props = serde_json::to_value(&doc["Resources"]["Table"]["Properties"]).unwrap();
    let table = format!("jit-bench-{}", &jit_core::link::nonce()[..8]);
    jit_aws::table::create_table(&dynamo, &table, &props)
        .await
        .unwrap();
    let ids = aws_sdk_identitystore::Client::new(&sdk);
    let store = format!("d-{}", &jit_core::link::nonce()[..10]);
    let sso = aws_sdk_ssoadmin::Client::new(&sdk);
    let instance = sso.list_instances().send().await.unwrap().instances()[0]
        .instance_arn()
        .unwrap()
        .to_string();

    println!(
        "grantor: {ROUNDS} rounds each; ms as min median max (Identity Center at 10 calls a second)"
    );
    println!(
        "{:<44} {:>24} {:>24} {:>24}",
        "limiter", "first grant (container)", "a second grant", "removing both"
    );
    let mut medians = Vec::new();
    for (label, burst) in [
        ("every call 100 ms apart (bucket of 1, before)", 1u32),
        ("token bucket, burst 10", 10),
    ] {
        let base = burst as usize * 1000;
        let mut config = IdentityConfig::new(&instance);
        config.burst = burst;
        config.poll_interval = StdDuration::from_millis(500);
        let grantor = AwsGrantor::new(
            sso.clone(),
            aws_sdk_iam::Client::new(&sdk),
            dynamo.clone(),
            &table,
            IdentityStoreDirectory::new(ids.clone(), &store),
            config,
        );
        let (mut first, mut second, mut removal) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let person = Email::parse(&format!("bench-{burst}-{round}@example.com")).unwrap();
            ids.create_user()
                .identity_store_id(&store)
                .user_name(person.as_str())
                .display_name(person.as_str())
                .name(
                    aws_sdk_identitystore::types::Name::builder()
                        .given_name("Bench")
                        .family_name(format!("Person {round}"))
                        .build(),
                )
                .emails(
                    aws_sdk_identitystore::types::Email::builder()
                        .value(person.as_str())
                        .primary(true)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            // A quiet second between rounds: the bucket refills, as between people's requests.
            tokio::time::sleep(StdDuration::from_secs(1)).await;
            let (a, b) = (spec(base + round * 2), spec(base + round * 2 + 1));
            let t = Instant::now();
            grantor
                .apply(&person, &Strategy::Container, &a)
                .await
                .unwrap();
            first.push(t.elapsed());
            tokio::time::sleep(StdDuration::from_secs(1)).await;
            let t = Instant::now();
            grantor
                .apply(&person, &Strategy::Container, &b)
                .await
                .unwrap();
            second.push(t.elapsed());
            tokio::time::sleep(StdDuration::from_secs(1)).await;
            let t = Instant::now();
            grantor
                .remove(&person, &Strategy::Container, &a)
                .await
                .unwrap();
            grantor
                .remove(&person, &Strategy::Container, &b)
                .await
                .unwrap();
            removal.push(t.elapsed());
        }
        let median = |xs: &Vec<StdDuration>| {
            let mut v = xs.clone();
            v.sort();
            v[v.len() / 2]
        };
        medians.push((median(&first), median(&second), median(&removal)));
        println!(
            "{label:<44} {:>24} {:>24} {:>24}",
            stats(first),
            stats(second),
            stats(removal)
        );
    }
    let ratio = |a: StdDuration, b: StdDuration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let (before, after) = (medians[0], medians[1]);
    println!(
        "grantor: before/after, medians: first grant {:.1}x, second grant {:.1}x, removal {:.1}x faster",
        ratio(before.0, after.0),
        ratio(before.1, after.1),
        ratio(before.2, after.2)
    );
}
