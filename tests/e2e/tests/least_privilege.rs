//! Least privilege, checked against the code: every function's handler is run through its
//! paths against moto server, the IAM actions its AWS calls need are recorded, and the test
//! fails when a function needs an action its role in infra/template.yaml does not allow, or
//! its role allows one that no code path needs. Actions the service needs without calling them
//! (iam:PassRole for Scheduler) and calls this scenario cannot reach on moto are listed below,
//! each with the reason, and count as needed.

mod common;
#[path = "../../fake_slack/mod.rs"]
mod fake_slack;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use common::*;
use jit_core::ports::Grantor;
use jit_core::types::{Email, RequestId};
use serde_json::{json, Value};

/// Allowed because another action needs it, though the code never calls it.
const IMPLIED: &[(&str, &str, &str)] = &[(
    "scheduler:CreateSchedule",
    "iam:PassRole",
    "a schedule names the role Scheduler invokes its target with",
)];

/// Allowed because Identity Center, when it provisions a permission set or an assignment,
/// creates and updates the `AWSReservedSSO_` roles with the caller's IAM permissions (the
/// template limits them to `role/aws-reserved/sso.amazonaws.com/*`, as AWS's managed policy
/// AWSSSOMasterAccountAdministrator does).
const PROVISIONING: &[&str] = &[
    "iam:GetRole",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:GetSAMLProvider",
];

/// Needed on paths moto cannot show, or this scenario does not take: (the functions, the
/// action, the path that needs it).
const UNREACHED: &[(&[&str], &str, &str)] = &[
    (&["grant", "revoke"], "sso:ListPermissionSets", "counting the instance's permission sets against its quota before a person's first container, and finding a container created by an attempt that crashed before recording it"),
    (&["grant", "revoke"], "sso:ListPermissionSetsProvisionedToAccount", "counting an account's provisioned permission sets against its quota before a new assignment (crates/aws/tests/identity.rs runs it on moto)"),
    (&["grant", "revoke"], "sso:DescribePermissionSet", "the same recovery path, and reading a shared set's session duration when the last grant through it in an account ends (crates/aws/tests/identity.rs runs that path on moto)"),
    (&["grant", "revoke"], "sso:DescribePermissionSetProvisioningStatus", "polling provisioning, which moto completes at once"),
    (&["grant", "revoke"], "sso:DescribeAccountAssignmentCreationStatus", "polling an assignment, which moto completes at once"),
    (&["grant", "revoke"], "sso:DescribeAccountAssignmentDeletionStatus", "polling an assignment's removal, which moto completes at once"),
    (&["grant", "revoke"], "sso:DeleteAccountAssignment", "the last grant in an account ending (a container leaves the account; a shared set's assignment goes)"),
    (&["grant", "revoke"], "iam:ListRolePolicies", "the iam-role strategy (no example bundle uses it)"),
    (&["grant", "revoke"], "iam:GetRolePolicy", "the iam-role strategy"),
    (&["grant", "revoke"], "iam:PutRolePolicy", "the iam-role strategy"),
    (&["grant", "revoke"], "iam:DeleteRolePolicy", "the iam-role strategy"),
    (&["grant", "chat"], "sqs:SendMessage", "Lambda sends stream records it gave up on to the on-failure queue with this role"),
    (&["chat"], "scheduler:DeleteSchedule", "a request denied from a card deletes its escalation and time-to-live schedules"),
    (&["chat"], "dynamodb:DeleteItem", "a denial or release from Slack acknowledges the emails it sent (the scenario approves)"),
    (&["pod"], "dynamodb:DeleteItem", "with a Slack app (CHAT_ENABLED), a prompt's chat notice is written with it and acknowledged at once (crates/slack's tests drive that path; this world has no chat)"),
    (&["revoke"], "sso:CreatePermissionSet", "a scheduled start (StartGrant) applies a person's first grant"),
    (&["revoke"], "sso:CreateAccountAssignment", "a scheduled start assigns the container in a new account"),
    (&["revoke"], "sso:ListAccountAssignments", "the same"),
    (&["revoke"], "identitystore:GetUserId", "a scheduled start assigns the container to the user"),
    (&["revoke"], "scheduler:CreateSchedule", "a scheduled start schedules the grant's expiry"),
    (&["revoke"], "scheduler:DeleteSchedule", "the sweeper expiring a request whose time-to-live schedule was lost deletes its escalation schedules"),
    (&["approval"], "scheduler:CreateSchedule", "approving a request with a later start schedules the start"),
    (&["approval"], "dynamodb:Query", "a prompt answered by someone with no admissions record yet (nothing asked since records began): their live grants are read from the index"),
    (&["escalate"], "scheduler:CreateSchedule", "a chain of two or more escalation tiers schedules the next"),
    (&["escalate"], "scheduler:DeleteSchedule", "expiring a request whose escalation tiers are still to come deletes their schedules"),
    (&["intake", "approval", "grant", "revoke", "escalate", "pod", "chat"], "secretsmanager:GetSecretValue", "the link-signing key, read at start by jit_lambda::App (crates/lambda/tests/link_key.rs reads it on moto with exactly this call; this scenario builds the services with a key in hand)"),
    (&["grant", "revoke", "intake"], "secretsmanager:GetSecretValue", "with DatabaseSubnetIds set, reading a postgres bundle's admin secret (moto has no database to grant on: crates/postgres/tests run that path against PostgreSQL, and jit-postgres's SecretsAdmin reads the secret with exactly this call)"),
];

/// The allowed actions of each function's role, by binary name.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for (_, r) in doc["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("each function names its binary")
            .to_string();
        let mut actions = BTreeSet::new();
        for p in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            // A policy the stack adds only with a condition (`!If [WithDatabases, policy,
            // AWS::NoValue]`) is held to the code as if the condition were on.
            let p = match p {
                serde_norway::Value::Tagged(t) if t.tag == "If" => &t.value[1],
                other => other,
            };
            for st in p["Statement"].as_sequence().into_iter().flatten() {
                assert_eq!(st["Effect"].as_str(), Some("Allow"));
                match &st["Action"] {
                    serde_norway::Value::String(a) => {
                        actions.insert(a.clone());
                    }
                    serde_norway::Value::Sequence(list) => {
                        actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()))
                    }
                    other => panic!("{binary}: unexpected Action {other:?}"),
                }
            }
        }
        out.insert(binary, actions);
    }
    out
}

fn api(method: &str, path: &str, user: &str, body: Option<Value>) -> lambda_http::Request {
    apigw("apigw-post-request.json", |v| {
        v["rawPath"] = json!(path);
        v["routeKey"] = json!(format!("{method} {path}"));
        v["requestContext"]["http"]["method"] = json!(method);
        v["requestContext"]["http"]["path"] = json!(path);
        v["requestContext"]["routeKey"] = json!(format!("{method} {path}"));
        v["requestContext"]["authorizer"]["jwt"]["claims"]["email"] = json!(user);
        v["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    })
}

fn link_post(path: &str, form: &str) -> lambda_http::Request {
    apigw("apigw-post-decision.json", |v| {
        let raw = v.to_string().replace("/v1/decisions/{{TOKEN}}", path);
        *v = serde_json::from_str(&raw).unwrap();
        v["body"] = json!(form);
    })
}

/// One API call through the intake handler, expecting `want`; the JSON it answers.
async fn call_intake(
    w: &World,
    method: &str,
    path: &str,
    user: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    ok(
        intake::route(w.api.clone(), api(method, path, user, body)).await,
        want,
    )
    .await
}

async fn ok(resp: axum::response::Response, want: u16) -> Value {
    let (status, text) = body(resp).await;
    assert_eq!(status, want, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_allows_exactly_what_its_function_calls() {
    // The scenario runs every function's handler in one future: on the heap, as the Lambda
    // runtime holds each invocation's, not in the test thread's stack.
    Box::pin(every_function_through_its_paths()).await
}

async fn every_function_through_its_paths() {
    let w = world().await;
    w.step_actions();
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut note = |f: &'static str, w: &World| {
        used.entry(f).or_default().extend(w.step_actions());
    };
    let id = |v: &Value| -> RequestId { v["id"].as_str().unwrap().parse().unwrap() };
    let api = || w.api.clone();

    // intake: auto and pending requests, reads, cancel.
    let auto = call_intake(
        &w,
        "POST",
        "/v1/requests",
        "alice@example.com",
        Some(json!({"bundle": "api-logs-read", "duration": "4h", "reason": "debug"})),
        201,
    )
    .await;
    let pii =
        json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "order 1", "ticket": "INC-1"});
    let pending = call_intake(
        &w,
        "POST",
        "/v1/requests",
        "carol@example.com",
        Some(pii.clone()),
        201,
    )
    .await;
    for (path, user) in [
        ("/v1/approvals", "dave@example.com"),
        ("/v1/catalog", "bob@example.com"),
        ("/v1/audit", "bob@example.com"),
        ("/v1/report", "bob@example.com"),
        ("/v1/me", "dave@example.com"),
        ("/v1/requests?mine=true", "carol@example.com"),
    ] {
        call_intake(&w, "GET", path, user, None, 200).await;
    }
    note("intake", &w);

    // grant: the approved request applied from the stream.
    w.run_grant().await;
    note("grant", &w);

    // approval: both groups decide through their emailed links.
    for approver in ["dave@example.com", "erin@example.com"] {
        let path = link_in_mail(approver, "/v1/decisions/");
        let (status, page) =
            body(approval::route(api(), link_post(&path, "action=approve&message=ok")).await).await;
        assert_eq!(status, 200, "{page}");
    }
    // A request denied through the link: the requester is told why.
    let denied = call_intake(&w, "POST", "/v1/requests", "carol@example.com", Some(json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "order 4", "ticket": "INC-4"})), 201).await;
    note("intake", &w);
    let path = link_in_mail("dave@example.com", "/v1/decisions/");
    let (status, page) = body(
        approval::route(
            api(),
            link_post(&path, "action=deny&message=use+the+replica"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        w.svc.get(&id(&denied)).await.unwrap().status.as_str(),
        "denied"
    );
    note("approval", &w);
    // intake: a request withdrawn while it waits.
    let second = call_intake(
        &w,
        "POST",
        "/v1/requests",
        "carol@example.com",
        Some(pii.clone()),
        201,
    )
    .await;
    call_intake(
        &w,
        "POST",
        &format!("/v1/requests/{}/cancel", id(&second)),
        "carol@example.com",
        Some(json!({})),
        200,
    )
    .await;
    note("intake", &w);
    w.run_grant().await;
    note("grant", &w);

    // intake: extend, release, revoke; grant follows each from the stream.
    call_intake(
        &w,
        "POST",
        &format!("/v1/requests/{}/extend", id(&auto)),
        "alice@example.com",
        Some(json!({"duration": "1h", "reason": "more"})),
        200,
    )
    .await;
    note("intake", &w);
    w.run_grant().await;
    note("grant", &w);
    call_intake(
        &w,
        "POST",
        &format!("/v1/requests/{}/release", id(&auto)),
        "alice@example.com",
        Some(json!({})),
        // Released; the grant function removes the access from the stream.
        202,
    )
    .await;
    call_intake(
        &w,
        "POST",
        &format!("/v1/requests/{}/revoke", id(&pending)),
        "frank@example.com",
        Some(json!({"message": "incident over"})),
        // Revoked; the grant function removes the access from the stream.
        202,
    )
    .await;
    note("intake", &w);
    w.run_grant().await;
    note("grant", &w);

    // escalate: a silent tier is escalated, then the request expires.
    let waiting = call_intake(&w, "POST", "/v1/requests", "carol@example.com", Some(json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "order 3", "ticket": "INC-3"})), 201).await;
    note("intake", &w);
    w.svc.ports.clock.advance(Duration::minutes(61));
    escalate::handle(
        &w.api,
        &json!({"action": "escalate", "request_id": id(&waiting), "tier": 1}),
    )
    .await
    .unwrap();
    w.svc.ports.clock.advance(Duration::hours(24));
    let out = escalate::handle(
        &w.api,
        &json!({"action": "expire-request", "request_id": id(&waiting)}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "expired");
    note("escalate", &w);

    // revoke: an expiry schedule and a sweep that repairs drift.
    let live = call_intake(
        &w,
        "POST",
        "/v1/requests",
        "alice@example.com",
        Some(json!({"bundle": "api-logs-read", "duration": "2h", "reason": "again"})),
        201,
    )
    .await;
    let other = call_intake(
        &w,
        "POST",
        "/v1/requests",
        "alice@example.com",
        Some(json!({"bundle": "api-deploy", "duration": "1h", "reason": "deploy"})),
        201,
    )
    .await;
    note("intake", &w);
    w.run_grant().await;
    note("grant", &w);
    let input = w.end_schedule_input(&id(&other)).await;
    w.svc.ports.clock.advance(Duration::minutes(61));
    revoke::handle(&w.svc, &input).await.unwrap();
    note("revoke", &w);
    let alice = Email::parse("alice@example.com").unwrap();
    let doc = w
        .svc
        .ports
        .grantor
        .container_policy(&alice)
        .await
        .unwrap()
        .unwrap();
    let ps = w.svc.ports.grantor.container_arn(&alice).await.unwrap();
    let sso = aws_sdk_ssoadmin::Client::new(&w.sdk);
    let instance = sso.list_instances().send().await.unwrap().instances()[0]
        .instance_arn()
        .unwrap()
        .to_string();
    let mut tampered = doc.without(&id(&live));
    tampered
        .statements
        .push(json!({"Sid": "Extra", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}));
    sso.put_inline_policy_to_permission_set()
        .instance_arn(&instance)
        .permission_set_arn(&ps)
        .inline_policy(tampered.to_json())
        .send()
        .await
        .unwrap();
    w.calls.take_actions();
    let sweep = revoke::handle(
        &w.svc,
        &json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
    )
    .await
    .unwrap();
    assert_eq!(sweep["drift_restored"], 1, "{sweep}");
    // Everything gone: the sweep deletes the empty policy.
    w.svc.ports.clock.advance(Duration::hours(3));
    revoke::handle(
        &w.svc,
        &json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
    )
    .await
    .unwrap();
    note("revoke", &w);

    // pod, and the prompt answered through approval.
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/cloudtrail-s3-access-denied.json")).unwrap(),
    )
    .unwrap();
    let mut event = event;
    event["detail"]["eventTime"] = json!(w.svc.now().to_rfc3339());
    assert_eq!(
        pod::handle(&w.api, &event).await.unwrap()["outcome"],
        "prompted"
    );
    note("pod", &w);
    let path = link_in_mail("alice@example.com", "/v1/prompts/");
    let (status, page) =
        body(approval::route(api(), link_post(&path, "action=request&reason=read+it")).await).await;
    assert_eq!(status, 200, "{page}");
    note("approval", &w);
    // The same denial for carol, who is not on the owner team: her offer needs the owners'
    // approval, so pod and then approval list who they are (alice's was granted at once).
    let mut carol: Value = serde_json::from_str(
        &serde_json::to_string(&event)
            .unwrap()
            .replace("alice@example.com", "carol@example.com"),
    )
    .unwrap();
    carol["detail"]["eventID"] = json!("carol-denied-1");
    assert_eq!(
        pod::handle(&w.api, &carol).await.unwrap()["outcome"],
        "prompted"
    );
    note("pod", &w);
    let path = link_in_mail("carol@example.com", "/v1/prompts/");
    let (status, page) =
        body(approval::route(api(), link_post(&path, "action=request&reason=read+it")).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("is waiting for api-team"), "{page}");
    note("approval", &w);

    // chat, in a function of its own (one future this size overflows a test thread's stack).
    used.entry("chat")
        .or_default()
        .extend(Box::pin(chat_steps(&w)).await);

    // Compare with the template.
    let roles = allowed();
    let mut problems = Vec::new();
    for (f, allow) in &roles {
        let called = used.get(f.as_str()).cloned().unwrap_or_default();
        let reached_or_listed = |a: &str| {
            called.contains(a)
                || UNREACHED
                    .iter()
                    .any(|(fs, u, _)| fs.contains(&f.as_str()) && *u == a)
        };
        for a in &called {
            if !allow.contains(a) {
                problems.push(format!("{f} calls {a}, which its role does not allow"));
            }
        }
        for a in allow {
            let needed = reached_or_listed(a)
                || IMPLIED
                    .iter()
                    .any(|(by, implied, _)| reached_or_listed(by) && implied == a)
                || (called.contains("sso:ProvisionPermissionSet")
                    && PROVISIONING.contains(&a.as_str()));
            if !needed {
                problems.push(format!(
                    "{f}'s role allows {a}, which no code path of {f} needs"
                ));
            }
        }
        println!(
            "{f}: calls {} actions, role allows {}",
            called.len(),
            allow.len()
        );
    }
    assert_eq!(roles.len(), 7, "seven functions: {:?}", roles.keys());
    assert!(
        problems.is_empty(),
        "least privilege:\n  {}",
        problems.join("\n  ")
    );
}

/// The chat function's paths: the Slack secret read at start, a signed slash command (its
/// signature recorded so it cannot be sent again), the job it queues, the job run (an ask, as
/// intake's), and the chat notice it wrote taken off the stream (cards posted and recorded).
/// Returns the actions they needed.
async fn chat_steps(w: &World) -> BTreeSet<String> {
    let carol = jit_slack::local::LocalUser::person("carol@example.com");
    let people = ["dave", "erin", "frank"]
        .iter()
        .map(|p| jit_slack::local::LocalUser::person(&format!("{p}@example.com")))
        .chain([carol.clone()])
        .collect();
    let slack = fake_slack::FakeSlack::start(people).await;
    let plain_secrets = aws_sdk_secretsmanager::Client::new(&w.sdk);
    let secret_name = format!("jit-slack-{}", w.group);
    plain_secrets
        .create_secret()
        .name(&secret_name)
        .secret_string(r#"{"signing_secret": "lp-secret", "bot_token": "xoxb-lp"}"#)
        .send()
        .await
        .unwrap();
    let plain_sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let queue_url = plain_sqs
        .create_queue()
        .queue_name(format!("jit-slack-jobs-{}", w.group))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    w.step_actions();
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&w.sdk)
            .interceptor(w.calls.clone())
            .build(),
    );
    let secret = chat::SlackSecret::read(&secrets, &secret_name)
        .await
        .unwrap();
    let queue = chat::SqsQueue {
        client: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&w.sdk)
                .interceptor(w.calls.clone())
                .build(),
        ),
        url: queue_url.clone(),
    };
    let web = jit_slack::HttpSlack::new(&slack.url, jit_slack::BotToken::new(fake_slack::TOKEN));
    let app = jit_slack::SlackApp::new(
        w.api.clone(),
        web.clone(),
        jit_slack::SlackSettings {
            secret: secret.signing_secret.clone(),
            team: None,
        },
    );
    let form = serde_urlencoded::to_string([
        ("user_id", carol.id.as_str()),
        ("channel_id", "C0GENERAL1"),
        (
            "text",
            "request rds-prod-pii --for 1h --reason \"order 2\" --ticket INC-2",
        ),
    ])
    .unwrap();
    let ts = jit_api::Api::now(&*w.api).timestamp();
    let event = serde_json::json!({
        "version": "2.0", "rawPath": "/slack/commands", "routeKey": "POST /slack/commands",
        "headers": { "x-slack-request-timestamp": ts.to_string(),
                     "x-slack-signature": secret.signing_secret.sign(ts, form.as_bytes()) },
        "requestContext": { "http": { "method": "POST", "path": "/slack/commands" },
                            "timeEpoch": 0 },
        "body": form, "isBase64Encoded": false });
    let chat::Event::Http(req) = chat::Event::classify(event).unwrap() else {
        panic!("not an HTTP event")
    };
    assert_eq!(chat::http(&app, &queue, &req).await.status_code, 200);
    let got = plain_sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let job = got.messages()[0].body().unwrap().to_string();
    let batch = serde_json::json!({ "Records": [{ "eventSource": "aws:sqs", "messageId": "1",
        "body": job }] });
    let chat::Event::Jobs(batch) = chat::Event::classify(batch).unwrap() else {
        panic!("not an SQS event")
    };
    chat::jobs(&app, batch).await;
    let asked = w
        .api
        .requests_of(&Email::parse("carol@example.com").unwrap(), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(asked.reason, "order 2");
    let notice = jit_core::ports::Notice {
        key: format!("{:06}-chat", asked.audit_seq),
        written_at: chrono::Utc::now(),
        message: jit_core::notify::status_notice(&asked, "asked"),
        chat: Some(Box::new(jit_core::ports::ChatNote {
            request: asked.clone(),
            ask: asked.plan.approvers_at(asked.tier).into_iter().collect(),
            tell: None,
            announce: false,
        })),
        prompt: None,
    };
    // As the stream delivers it (events/dynamodb-stream-chat-notice.json).
    let data = serde_json::to_string(&serde_json::to_string(&notice).unwrap()).unwrap();
    let text = std::fs::read_to_string(root().join("events/dynamodb-stream-chat-notice.json"))
        .unwrap()
        .replace("{{ID}}", asked.id.as_str())
        .replace("{{KEY}}", &notice.key)
        .replace("{{DATA}}", &data[1..data.len() - 1]);
    let record: Value = serde_json::from_str(&text).unwrap();
    let chat::Event::Notices(batch) = chat::Event::classify(record).unwrap() else {
        panic!("not a stream event")
    };
    let recorded_dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&w.sdk)
            .interceptor(w.calls.clone())
            .build(),
    );
    let cards = jit_aws::DynamoStore::new(recorded_dynamo, w.table.clone());
    let chat_port = jit_slack::SlackChat::new(web, cards, w.api.shared_catalog(), None);
    assert!(chat::notices(&chat_port, batch)
        .await
        .batch_item_failures
        .is_empty());
    assert!(slack
        .workspace
        .calls()
        .iter()
        .any(|c| c.method == "chat.postMessage"
            && c.args["text"].as_str().unwrap_or("").contains("asks for")));
    w.step_actions()
}
