//! The world the end-to-end tests run in: the service on every AWS adapter against moto
//! server, with a counter on every client, and helpers to read the stream, the schedules and
//! the emails moto kept.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use chrono::Utc;
use http_body_util::BodyExt;
use jit_aws::{
    AwsGrantor, AwsScheduler, DynamoStore, IdentityConfig, IdentityStoreDirectory, SchedulerConfig,
    SesMailer,
};
use jit_core::link::LinkSigner;
use jit_core::ports::{Grantor, LedgerOnly};
use jit_core::service::{Effects, Ports, Service};
use jit_core::types::{Email, RequestId};
use jit_e2e::CallCounter;
use jit_memory::{FakeClock, MemoryDirectory};
use serde_json::{json, Map, Value};

/// The grant and revoke functions' service: it holds the AWS grantor. Its effects are
/// `Stream` (deployed, `Inline`) so that requests a test makes through it directly are applied
/// from the stream as the API's are; the grant and revoke handlers' paths (reconcile, fire,
/// sweep) do not depend on the effects.
pub type Svc = Service<
    DynamoStore,
    AwsGrantor,
    AwsScheduler,
    SesMailer,
    IdentityStoreDirectory,
    Arc<FakeClock>,
>;

/// The other functions' service, wired as they are deployed (`jit_lambda::WritesLedgerOnly`):
/// it writes only the ledger and has no grantor, so a path that tried to change access would
/// fail here.
pub type LedgerSvc = Service<
    DynamoStore,
    LedgerOnly,
    AwsScheduler,
    SesMailer,
    IdentityStoreDirectory,
    Arc<FakeClock>,
>;

pub const BASE: &str = "https://jit.example.com";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against moto server. Run \
             `bash scripts/test.sh`, which starts it, or start `.venv/bin/python tests/moto_server.py -p 5000` \
             and set AWS_ENDPOINT_URL=http://127.0.0.1:5000"
        )
    })
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &jit_core::link::nonce()[..10])
}

/// What the services run on, and plain clients for the test to look with (not counted).
pub struct World {
    /// The grant and revoke functions' service (ledger writes made through it directly by a
    /// test are left to the stream, as the API's are).
    pub svc: Arc<Svc>,
    /// The intake, approval, escalate and pod functions' service (same table, clients and
    /// clock).
    pub api: Arc<LedgerSvc>,
    pub calls: CallCounter,
    pub sdk: SdkConfig,
    /// The ledger table.
    pub table: String,
    stream_arn: String,
    iterator: Mutex<Option<String>>,
    pub group: String,
    units: std::sync::Mutex<jit_e2e::capacity::Units>,
}

pub async fn world() -> World {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    let calls = CallCounter::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let sso = aws_sdk_ssoadmin::Client::from_conf(
        aws_sdk_ssoadmin::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let ids = aws_sdk_identitystore::Client::from_conf(
        aws_sdk_identitystore::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let scheduler = aws_sdk_scheduler::Client::from_conf(
        aws_sdk_scheduler::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );

    // The table, from the template's own definition.
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let props = serde_json::to_value(&doc["Resources"]["Table"]["Properties"]).unwrap();
    let table = unique("jit-e2e");
    jit_aws::table::create_table(&dynamo, &table, &props)
        .await
        .unwrap();
    let stream_arn = dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("the template's table has a stream");

    let store_id = unique("d");
    let groups = MemoryDirectory::load(&root().join("catalog/examples"))
        .unwrap()
        .groups();
    jit_aws::seed::seed_identity_store(&ids, &store_id, &groups)
        .await
        .unwrap();
    let directory = IdentityStoreDirectory::new(ids, &store_id);
    let instance = sso.list_instances().send().await.unwrap().instances()[0]
        .instance_arn()
        .unwrap()
        .to_string();
    let mut identity = IdentityConfig::new(&instance);
    identity.poll_interval = std::time::Duration::from_millis(20);
    // As deployed: every call paced by the budget the functions share in the table.
    identity.shared_rate = Some(200);
    let grantor = AwsGrantor::new(
        sso,
        iam,
        dynamo.clone(),
        &table,
        directory.clone(),
        identity,
    );
    let group = unique("jit-e2e");
    scheduler
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .unwrap();
    let target = |f: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:jit-{f}");
    let schedules = AwsScheduler::new(
        scheduler,
        SchedulerConfig {
            group: group.clone(),
            role_arn: "arn:aws:iam::123456789012:role/jit-scheduler".into(),
            grant_target_arn: target("grant"),
            revoke_target_arn: target("revoke"),
            escalate_target_arn: target("escalate"),
            dead_letter_arn: None,
            max_retries: 3,
            max_event_age_secs: 3_600,
        },
    );
    let from = "jit@example.com";
    ses.create_email_identity()
        .email_identity(from)
        .send()
        .await
        .unwrap();
    let catalog = Arc::new(jit_core::catalog::load_dir(&root().join("catalog/examples")).unwrap());
    let clock = Arc::new(FakeClock::running_from(Utc::now()));
    let signer = || LinkSigner::new(b"e2e-test-signing-key-at-least-32-bytes").unwrap();
    let api = Service::new(
        catalog.clone(),
        Ports {
            store: DynamoStore::new(dynamo.clone(), &table),
            grantor: LedgerOnly,
            scheduler: schedules.clone(),
            mailer: SesMailer::new(ses.clone(), from),
            directory: directory.clone(),
            clock: clock.clone(),
        },
        signer(),
        BASE,
    )
    .with_effects(Effects::Stream);
    let svc = Service::new(
        catalog,
        Ports {
            store: DynamoStore::new(dynamo, table.clone()),
            grantor,
            scheduler: schedules,
            mailer: SesMailer::new(ses, from),
            directory,
            clock,
        },
        signer(),
        BASE,
    )
    .with_effects(Effects::Stream);
    calls.take_all();
    World {
        svc: Arc::new(svc),
        api: Arc::new(api),
        calls,
        sdk,
        table,
        stream_arn,
        iterator: Mutex::new(None),
        group,
        units: Default::default(),
    }
}

/// A stream record's attribute as the Lambda event carries it.
pub fn attribute(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(m) }),
        other => panic!("attribute type not used by the ledger: {other:?}"),
    }
}

pub fn image(m: &std::collections::HashMap<String, AttributeValue>) -> Map<String, Value> {
    m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()
}

impl World {
    /// The calls made since the last step, and a fresh start for the next one: each function
    /// runs in its own process in AWS, so nothing one step remembered helps the next (the
    /// figures are those of cold functions, the most a lifecycle costs).
    pub fn step(&self) -> std::collections::BTreeMap<String, usize> {
        self.svc.ports.directory.forget_names();
        let (calls, units) = self.calls.take_all();
        *self.units.lock().unwrap() += units;
        calls
    }

    /// Forgets the calls since the last step: the test's own looks, not the lifecycle's.
    pub fn look(&self) {
        self.step_actions();
        self.calls.take_all();
    }

    /// The DynamoDB capacity of the steps so far, and a fresh start.
    pub fn units(&self) -> jit_e2e::capacity::Units {
        std::mem::take(&mut *self.units.lock().unwrap())
    }

    /// The IAM actions needed since the last step, with the same fresh start.
    pub fn step_actions(&self) -> std::collections::BTreeSet<String> {
        self.svc.ports.directory.forget_names();
        self.calls.take_actions()
    }

    /// The records the table's stream gained since the last call, as the Lambda event the
    /// grant function receives.
    pub async fn stream_batch(&self) -> StreamEvent {
        let streams = aws_sdk_dynamodbstreams::Client::new(&self.sdk);
        let current = self.iterator.lock().unwrap().clone();
        let iterator = match current {
            Some(it) => it,
            None => {
                let shard = streams
                    .describe_stream()
                    .stream_arn(&self.stream_arn)
                    .send()
                    .await
                    .unwrap()
                    .stream_description
                    .unwrap()
                    .shards
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .expect("the stream has a shard");
                streams
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(shard.shard_id.unwrap())
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .unwrap()
                    .shard_iterator
                    .unwrap()
            }
        };
        let out = streams
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await
            .unwrap();
        *self.iterator.lock().unwrap() = out.next_shard_iterator.clone();
        let records: Vec<Value> = out
            .records
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let d = r.dynamodb.as_ref().unwrap();
                let mut change = json!({
                    "Keys": image(d.keys.as_ref().unwrap()),
                    "SequenceNumber": d.sequence_number,
                    "SizeBytes": d.size_bytes.unwrap_or(0),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                });
                if let Some(new) = &d.new_image {
                    change["NewImage"] = Value::Object(image(new));
                }
                if let Some(old) = &d.old_image {
                    change["OldImage"] = Value::Object(image(old));
                }
                json!({
                    "eventID": r.event_id,
                    "eventName": r.event_name.as_ref().map(|n| n.as_str()),
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "us-east-1",
                    "dynamodb": change,
                    "eventSourceARN": self.stream_arn,
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("a stream event")
    }

    /// Feeds the stream's new records to the grant handler; no record may fail.
    pub async fn run_grant(&self) {
        let batch = self.stream_batch().await;
        assert!(!batch.records.is_empty(), "the stream has new records");
        let out = grant::handle(&self.svc, batch).await;
        assert!(
            out.batch_item_failures.is_empty(),
            "no record failed: {:?}",
            out.batch_item_failures
        );
    }

    /// The input of the expiry schedule moto's Scheduler stored for `id`.
    pub async fn end_schedule_input(&self, id: &RequestId) -> Value {
        let scheduler = aws_sdk_scheduler::Client::new(&self.sdk);
        let listed = scheduler
            .list_schedules()
            .group_name(&self.group)
            .name_prefix(format!("jit-end-{id}"))
            .send()
            .await
            .unwrap();
        let name = listed.schedules()[0].name().unwrap().to_string();
        let s = scheduler
            .get_schedule()
            .group_name(&self.group)
            .name(&name)
            .send()
            .await
            .unwrap();
        let input = s
            .target()
            .unwrap()
            .input()
            .expect("the schedule has an input");
        serde_json::from_str(input).unwrap()
    }

    /// The statements in a person's permission set, read from Identity Center.
    pub async fn container(&self, person: &str) -> Vec<Value> {
        let (before, units) = self.calls.take_all();
        let doc = self
            .svc
            .ports
            .grantor
            .container_policy(&Email::parse(person).unwrap())
            .await
            .unwrap()
            .unwrap_or_default();
        // Looking is the test's business, not the lifecycle's: put the counts back.
        self.calls.take_all();
        self.calls.add_all(before, units);
        doc.statements
    }
}

pub fn apigw(name: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let text = std::fs::read_to_string(root().join("events").join(name)).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

pub fn as_user(v: &mut Value, email: &str) {
    v["requestContext"]["authorizer"]["jwt"]["claims"]["email"] = json!(email);
}

pub async fn body(resp: axum::response::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

/// A signed-link path (`/v1/decisions/...` or `/v1/prompts/...`) from the newest email moto's
/// SES captured for `to`.
pub fn link_in_mail(to: &str, marker: &str) -> String {
    let url = endpoint();
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {host}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let data: Value = serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
    let mut found = None;
    for m in data["ses"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(Value::as_array)
        .flatten()
        .map(Value::to_string)
        .filter(|m| m.contains(to) && m.contains(marker))
    {
        let at = m.rfind(marker).unwrap();
        found = Some(
            m[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_./".contains(*c))
                .collect::<String>(),
        );
    }
    found.unwrap_or_else(|| panic!("no email to {to} with {marker} in moto's record"))
}

pub fn has_time_condition(statements: &[Value], id: &RequestId, expires: &str) -> bool {
    statements.iter().any(|s| {
        s["Sid"]
            .as_str()
            .is_some_and(|sid| sid.contains(id.as_str()))
            && s["Condition"]["DateLessThan"]["aws:CurrentTime"] == expires
    })
}
