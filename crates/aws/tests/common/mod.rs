//! Shared set-up for the tests against moto server: an SDK config pointing at it, a fresh table
//! made from infra/template.yaml, unique names, and moto's record of what it was sent.

#![allow(dead_code)]

pub mod fake_identity_center;
pub mod fault;
pub mod simulation;

use std::io::{Read, Write};
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// moto's address, from the test script; fails loudly when it is missing.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against moto server. \
             Run `bash scripts/test.sh`, which starts it, or start `.venv/bin/python tests/moto_server.py -p 5000` \
             and set AWS_ENDPOINT_URL=http://127.0.0.1:5000"
        )
    })
}

/// An SDK config for moto.
pub async fn sdk() -> SdkConfig {
    sdk_at(&endpoint()).await
}

/// An SDK config for an endpoint in front of moto (the fault-injecting proxy).
pub async fn sdk_at(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// As [`sdk_at`], with the SDK's own retries off and each attempt cut off after three seconds,
/// so that tests of faults see the adapters' retries alone and a held call times out. (One
/// second was too short: moto serves one request at a time, and under the whole suite's load a
/// plain call waited past it.)
pub async fn sdk_at_impatient(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(3))
                .build(),
        )
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &jit_core::link::nonce()[..12])
}

/// The Table resource's Properties from infra/template.yaml, as JSON.
pub fn table_definition() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml is readable");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("the template is YAML");
    let props = &doc["Resources"]["Table"]["Properties"];
    assert!(
        !props.is_null(),
        "the template defines Resources.Table.Properties"
    );
    serde_json::to_value(props).expect("the table definition has no intrinsic functions")
}

/// A new table made from the template, with its client.
pub async fn table(config: &SdkConfig) -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(config);
    let name = unique("jit-test");
    jit_aws::table::create_table(&client, &name, &table_definition())
        .await
        .expect("table created");
    (client, name)
}

/// moto's record of what it was sent (`GET /moto-api/data.json`).
pub fn moto_data() -> serde_json::Value {
    let url = endpoint();
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("moto is reachable");
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {host}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    serde_json::from_str(body).expect("moto's data.json is JSON")
}
