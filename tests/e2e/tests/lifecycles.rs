//! Whole lifecycles through the function handlers, against moto server, as they run in AWS:
//! intake (API Gateway events) and approval (decision and prompt links) write the ledger; the
//! grant handler is fed the records moto's DynamoDB stream holds; the revoke handler is invoked
//! with the input of the schedule moto's Scheduler stored; approvers follow the links in the
//! emails moto's SES captured; pod is fed a CloudTrail event. Every AWS operation the service
//! makes is counted per step and printed (`cargo test -p jit-e2e -- --nocapture`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use jit_aws::{
    AwsGrantor, AwsScheduler, DynamoStore, IdentityConfig, IdentityStoreDirectory, SchedulerConfig,
    SesMailer,
};
use jit_core::audit::Action;
use jit_core::link::LinkSigner;
use jit_core::ports::Grantor;
use jit_core::service::{Effects, Ports, Service};
use jit_core::types::{Email, RequestId};
use jit_e2e::{report, CallCounter};
use jit_memory::{FakeClock, MemoryDirectory};
use serde_json::{json, Map, Value};

type Svc =
    Service<DynamoStore, AwsGrantor, AwsScheduler, SesMailer, IdentityStoreDirectory, FakeClock>;

const BASE: &str = "https://jit.example.com";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against moto server. Run \
             `bash scripts/test.sh`, which starts it, or start `moto_server -p 5000` and set \
             AWS_ENDPOINT_URL=http://127.0.0.1:5000"
        )
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &jit_core::link::nonce()[..10])
}

/// What the service runs on, and plain clients for the test to look with (not counted).
struct World {
    svc: Arc<Svc>,
    calls: CallCounter,
    sdk: SdkConfig,
    stream_arn: String,
    iterator: Mutex<Option<String>>,
    group: String,
}

async fn world() -> World {
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
    let catalog = jit_core::catalog::load_dir(&root().join("catalog/examples")).unwrap();
    let svc = Service::new(
        Arc::new(catalog),
        Ports {
            store: DynamoStore::new(dynamo, &table),
            grantor,
            scheduler: schedules,
            mailer: SesMailer::new(ses, from),
            directory,
            clock: FakeClock::running_from(Utc::now()),
        },
        LinkSigner::new(b"e2e-test-signing-key-at-least-32-bytes").unwrap(),
        BASE,
    )
    .with_effects(Effects::Stream);
    calls.take();
    World {
        svc: Arc::new(svc),
        calls,
        sdk,
        stream_arn,
        iterator: Mutex::new(None),
        group,
    }
}

/// A stream record's attribute as the Lambda event carries it.
fn attribute(v: &AttributeValue) -> Value {
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

fn image(m: &std::collections::HashMap<String, AttributeValue>) -> Map<String, Value> {
    m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()
}

impl World {
    /// The records the table's stream gained since the last call, as the Lambda event the
    /// grant function receives.
    async fn stream_batch(&self) -> StreamEvent {
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
    async fn run_grant(&self) {
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
    async fn end_schedule_input(&self, id: &RequestId) -> Value {
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
    async fn container(&self, person: &str) -> Vec<Value> {
        let before = self.calls.take();
        let doc = self
            .svc
            .ports
            .grantor
            .container_policy(&Email::parse(person).unwrap())
            .await
            .unwrap()
            .unwrap_or_default();
        // Looking is the test's business, not the lifecycle's: put the counts back.
        self.calls.take();
        self.calls.add(before);
        doc.statements
    }
}

fn apigw(name: &str, edit: impl FnOnce(&mut Value)) -> lambda_http::Request {
    let text = std::fs::read_to_string(root().join("events").join(name)).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

fn as_user(v: &mut Value, email: &str) {
    v["requestContext"]["authorizer"]["jwt"]["claims"]["email"] = json!(email);
}

async fn body(resp: axum::response::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

/// A signed-link path (`/v1/decisions/...` or `/v1/prompts/...`) from the newest email moto's
/// SES captured for `to`.
fn link_in_mail(to: &str, marker: &str) -> String {
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

fn has_time_condition(statements: &[Value], id: &RequestId, expires: &str) -> bool {
    statements.iter().any(|s| {
        s["Sid"]
            .as_str()
            .is_some_and(|sid| sid.contains(id.as_str()))
            && s["Condition"]["DateLessThan"]["aws:CurrentTime"] == expires
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_approved_request_is_granted_from_the_stream_and_ended_by_its_schedule() {
    let w = world().await;
    let mut steps = BTreeMap::new();

    let resp = intake::route(w.svc.clone(), apigw("apigw-post-request.json", |_| {})).await;
    let (status, text) = body(resp).await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["status"], "approved");
    let id: RequestId = created["id"].as_str().unwrap().parse().unwrap();
    steps.insert("1 intake POST /v1/requests", w.calls.take());

    w.run_grant().await;
    steps.insert("2 grant (stream)", w.calls.take());
    let req = w.svc.get(&id).await.unwrap();
    assert_eq!(req.status.as_str(), "active");
    let expires = req
        .expires_at
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let statements = w.container("alice@example.com").await;
    assert!(
        has_time_condition(&statements, &id, &expires),
        "the permission set holds the grant's statement with its time condition: {statements:?}"
    );
    w.calls.take();

    let input = w.end_schedule_input(&id).await;
    w.svc
        .ports
        .clock
        .advance(Duration::hours(4) + Duration::minutes(1));
    let out = revoke::handle(&w.svc, &input).await.unwrap();
    assert_eq!(out["status"], "ended");
    steps.insert("3 revoke (schedule input)", w.calls.take());
    assert!(
        w.container("alice@example.com").await.is_empty(),
        "the statement is gone"
    );

    // The stream also carries the ended record: the grant handler finds nothing left to do.
    w.run_grant().await;
    steps.insert("4 grant (stream, ended: a no-op)", w.calls.take());
    assert!(w.container("alice@example.com").await.is_empty());

    let actions: Vec<Action> = w
        .svc
        .timeline(&id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        vec![
            Action::Requested,
            Action::AutoApproved,
            Action::Activated,
            Action::Ended
        ]
    );
    let total: usize = steps.iter().map(|(s, c)| report(s, c)).sum();
    println!("auto-approved lifecycle: {total} AWS calls in all");
    let intake_calls = &steps["1 intake POST /v1/requests"];
    assert!(
        intake_calls
            .keys()
            .all(|op| op.starts_with("DynamoDB.") || op.starts_with("identitystore.")),
        "intake only reads the directory and writes the ledger: {intake_calls:?}"
    );
    assert_eq!(
        steps["2 grant (stream)"].get("SSO Admin.PutInlinePolicyToPermissionSet"),
        Some(&1),
        "one policy write per grant: {:?}",
        steps["2 grant (stream)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_group_request_is_decided_through_the_emailed_links() {
    let w = world().await;
    let mut steps = BTreeMap::new();
    let resp = intake::route(
        w.svc.clone(),
        apigw("apigw-post-request.json", |v| {
            as_user(v, "carol@example.com");
            v["body"] = json!(json!({
                "bundle": "rds-prod-pii", "duration": "1h",
                "reason": "investigate order 4411", "ticket": "INC-4411"
            })
            .to_string());
        }),
    )
    .await;
    let (status, text) = body(resp).await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["status"], "pending");
    let id: RequestId = created["id"].as_str().unwrap().parse().unwrap();
    steps.insert("1 intake POST /v1/requests", w.calls.take());

    for (n, approver) in ["dave@example.com", "erin@example.com"].iter().enumerate() {
        let path = link_in_mail(approver, "/v1/decisions/");
        let resp = approval::route(
            w.svc.clone(),
            apigw("apigw-post-decision.json", |v| {
                let raw = v.to_string().replace("/v1/decisions/{{TOKEN}}", &path);
                *v = serde_json::from_str(&raw).unwrap();
                v["body"] = json!("action=approve&message=looked+at+the+ticket");
            }),
        )
        .await;
        let (status, page) = body(resp).await;
        assert_eq!(status, 200, "{page}");
        steps.insert(
            if n == 0 {
                "2 approval POST (dave, data-dbas)"
            } else {
                "3 approval POST (erin, security)"
            },
            w.calls.take(),
        );
    }
    assert_eq!(w.svc.get(&id).await.unwrap().status.as_str(), "approved");
    w.run_grant().await;
    steps.insert("4 grant (stream)", w.calls.take());
    let req = w.svc.get(&id).await.unwrap();
    assert_eq!(req.status.as_str(), "active");
    let expires = req
        .expires_at
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(has_time_condition(
        &w.container("carol@example.com").await,
        &id,
        &expires
    ));
    let input = w.end_schedule_input(&id).await;
    w.svc.ports.clock.advance(Duration::minutes(61));
    revoke::handle(&w.svc, &input).await.unwrap();
    steps.insert("5 revoke (schedule input)", w.calls.take());
    assert!(w.container("carol@example.com").await.is_empty());
    let timeline = w.svc.timeline(&id).await.unwrap();
    let approvers: Vec<&str> = timeline
        .iter()
        .filter(|e| matches!(e.action, Action::Voted | Action::Approved))
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(approvers, vec!["dave@example.com", "erin@example.com"]);
    assert_eq!(timeline.last().unwrap().action, Action::Ended);
    let total: usize = steps.iter().map(|(s, c)| report(s, c)).sum();
    println!("two-group approval lifecycle: {total} AWS calls in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudtrail_denial_ends_in_a_granted_request() {
    let w = world().await;
    let mut steps = BTreeMap::new();
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/cloudtrail-s3-access-denied.json")).unwrap(),
    )
    .unwrap();
    let out = pod::handle(&w.svc, &event).await.unwrap();
    assert_eq!(out["outcome"], "prompted", "{out}");
    steps.insert("1 pod (CloudTrail event)", w.calls.take());
    let again = pod::handle(&w.svc, &event).await.unwrap();
    assert_eq!(
        again["outcome"], "quiet",
        "a redelivered event sends nothing"
    );
    steps.insert("2 pod (same event again)", w.calls.take());

    let path = link_in_mail("alice@example.com", "/v1/prompts/");
    let resp = approval::route(
        w.svc.clone(),
        apigw("apigw-post-decision.json", |v| {
            let raw = v.to_string().replace("/v1/decisions/{{TOKEN}}", &path);
            *v = serde_json::from_str(&raw).unwrap();
            v["body"] = json!("action=request&reason=read+the+failed+upload&duration=2h");
        }),
    )
    .await;
    let (status, page) = body(resp).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("is approved"), "{page}");
    steps.insert("3 approval POST /v1/prompts (request)", w.calls.take());

    w.run_grant().await;
    steps.insert("4 grant (stream)", w.calls.take());
    let statements = w.container("alice@example.com").await;
    assert!(
        statements
            .iter()
            .any(|s| s["Action"].to_string().contains("s3:GetObject")),
        "{statements:?}"
    );
    let mine = w
        .svc
        .requests_of(&Email::parse("alice@example.com").unwrap(), 5)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status.as_str(), "active");
    assert!(mine[0].reason.contains("read the failed upload"));
    let total: usize = steps.iter().map(|(s, c)| report(s, c)).sum();
    println!("permission-on-demand lifecycle: {total} AWS calls in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_are_quiet_for_an_hour_and_expire_unanswered_on_dynamodb() {
    let w = world().await;
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/cloudtrail-logs-access-denied.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        pod::handle(&w.svc, &event).await.unwrap()["outcome"],
        "prompted"
    );
    event["detail"]["eventID"] = json!("second-denial-same-action");
    assert_eq!(
        pod::handle(&w.svc, &event).await.unwrap()["outcome"],
        "quiet",
        "the quiet key's condition holds on DynamoDB"
    );
    w.svc.ports.clock.advance(Duration::minutes(61));
    event["detail"]["eventID"] = json!("third-denial-an-hour-later");
    assert_eq!(
        pod::handle(&w.svc, &event).await.unwrap()["outcome"],
        "prompted"
    );
    w.svc.ports.clock.advance(Duration::hours(23));
    assert_eq!(
        w.svc.sweep().await.unwrap().prompts_expired,
        1,
        "the first prompt"
    );
    w.svc.ports.clock.advance(Duration::hours(2));
    assert_eq!(
        w.svc.sweep().await.unwrap().prompts_expired,
        1,
        "the second"
    );
    assert_eq!(w.svc.sweep().await.unwrap().prompts_expired, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_repair_racing_grants_never_loses_one_and_puts_back_what_was_taken() {
    let w = world().await;
    let alice = Email::parse("alice@example.com").unwrap();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let input = jit_core::policy::RequestInput {
            bundle: Some("api-logs-read".parse().unwrap()),
            duration: Some("2h".parse().unwrap()),
            reason: Some("race".into()),
            ..Default::default()
        };
        ids.push(w.svc.submit(&alice, input).await.unwrap().id);
    }
    // The grant function applies all six while two sweepers keep reconciling the container.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sweepers = Vec::new();
    for _ in 0..2 {
        let (svc, alice, done) = (w.svc.clone(), alice.clone(), done.clone());
        sweepers.push(tokio::spawn(async move {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let drift = svc.reconcile_container(&alice).await.unwrap();
                assert_eq!(
                    drift,
                    jit_core::service::Drift::default(),
                    "a grant being applied is never taken for drift"
                );
                rounds += 1;
            }
            rounds
        }));
    }
    let mut grants = Vec::new();
    for id in ids.clone() {
        let svc = w.svc.clone();
        grants.push(tokio::spawn(
            async move { svc.activate(&id).await.unwrap() },
        ));
    }
    for g in grants {
        g.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut rounds = 0;
    for s in sweepers {
        rounds += s.await.unwrap();
    }
    println!("{rounds} reconciliations ran while six grants were applied");
    assert!(rounds >= 2, "the sweepers overlapped the grants");
    let in_container = |statements: Vec<Value>| {
        let mut found: Vec<String> = statements
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .filter_map(jit_core::plan::grant_of_sid)
            .map(|id| id.to_string())
            .collect();
        found.sort();
        found.dedup();
        found
    };
    let mut want: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    want.sort();
    assert_eq!(in_container(w.container("alice@example.com").await), want);

    // Behind the product's back: one grant's statements deleted, a statement added.
    let sso = aws_sdk_ssoadmin::Client::new(&w.sdk);
    let instance = sso.list_instances().send().await.unwrap().instances()[0]
        .instance_arn()
        .unwrap()
        .to_string();
    let mut doc = w
        .svc
        .ports
        .grantor
        .container_policy(&alice)
        .await
        .unwrap()
        .unwrap();
    let victim = ids[2].clone();
    doc = doc.without(&victim);
    doc.statements
        .push(json!({"Sid": "Backdoor", "Effect": "Allow", "Action": "iam:*", "Resource": "*"}));
    let ps = w.svc.ports.grantor.container_arn(&alice).await.unwrap();
    sso.put_inline_policy_to_permission_set()
        .instance_arn(&instance)
        .permission_set_arn(&ps)
        .inline_policy(doc.to_json())
        .send()
        .await
        .unwrap();
    w.calls.take();
    let report = w.svc.sweep().await.unwrap();
    jit_e2e::report("sweep with drift", &w.calls.take());
    assert_eq!(
        (report.drift_removed, report.drift_restored),
        (1, 1),
        "{report:?}"
    );
    let after = w.container("alice@example.com").await;
    assert_eq!(in_container(after.clone()), want);
    assert!(!after.iter().any(|s| s["Sid"] == "Backdoor"));
    let timeline = w.svc.timeline(&victim).await.unwrap();
    assert_eq!(timeline.last().unwrap().action, Action::DriftRepaired);
    let calm = w.svc.sweep().await.unwrap();
    jit_e2e::report("sweep without drift", &w.calls.take());
    assert_eq!((calm.drift(), calm.failed), (0, 0));
}
