//! Whole lifecycles through the function handlers, against moto server, as they run in AWS:
//! intake (API Gateway events) and approval (decision and prompt links) write the ledger; the
//! grant handler is fed the records moto's DynamoDB stream holds; the revoke handler is invoked
//! with the input of the schedule moto's Scheduler stored; approvers follow the links in the
//! emails moto's SES captured; pod is fed a CloudTrail event. Every AWS operation the service
//! makes is counted per step and printed (`cargo test -p jit-e2e -- --nocapture`).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use common::*;
use jit_core::audit::Action;
use jit_core::ports::Grantor;
use jit_core::types::{Email, RequestId};
use jit_e2e::summary;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_approved_request_is_granted_from_the_stream_and_ended_by_its_schedule() {
    let w = world().await;
    let mut steps = BTreeMap::new();

    let resp = intake::route(w.api.clone(), apigw("apigw-post-request.json", |_| {})).await;
    let (status, text) = body(resp).await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["status"], "approved");
    let id: RequestId = created["id"].as_str().unwrap().parse().unwrap();
    steps.insert("1 intake POST /v1/requests", w.step());

    w.run_grant().await;
    steps.insert("2 grant (stream)", w.step());
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
    w.look();

    let input = w.end_schedule_input(&id).await;
    w.svc
        .ports
        .clock
        .advance(Duration::hours(4) + Duration::minutes(1));
    let out = revoke::handle(&w.svc, &input).await.unwrap();
    assert_eq!(out["status"], "ended");
    steps.insert("3 revoke (schedule input)", w.step());
    assert!(
        w.container("alice@example.com").await.is_empty(),
        "the statement is gone"
    );

    // The stream's activation and end records are filtered out: nothing more to do.
    let rest = w.stream_batch().await;
    let out = grant::handle(&w.svc, rest).await;
    assert!(out.batch_item_failures.is_empty());
    assert!(
        w.step().is_empty(),
        "the grant function skips the activation and end records"
    );

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
            Action::Ended,
            Action::AccessRemoved
        ]
    );
    let ended = w.svc.get(&id).await.unwrap();
    assert!(
        ended
            .removed_at
            .is_some_and(|t| t >= ended.expires_at.unwrap()),
        "when the access was confirmed gone is kept: {:?}",
        ended.removed_at
    );
    let total = summary("auto-approved", &steps, w.units());
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
    // The shared budget reserves four Identity Center calls a write.
    for step in ["2 grant (stream)", "3 revoke (schedule input)"] {
        let sso: usize = steps[step]
            .iter()
            .filter(|(op, _)| op.starts_with("SSO Admin."))
            .map(|(_, n)| n)
            .sum();
        let budget = steps[step].get("DynamoDB.UpdateItem").copied().unwrap_or(0);
        assert!(
            budget <= sso.div_ceil(4) + 1,
            "{step}: {budget} budget writes for {sso} Identity Center calls"
        );
    }

    // The same lifecycle again on warm functions (what they remember of the Identity Store's
    // ids and of the person's container is reused).
    w.look();
    let mut warm = 0;
    let resp = intake::route(w.api.clone(), apigw("apigw-post-request.json", |_| {})).await;
    let (status, text) = body(resp).await;
    assert_eq!(status, 201, "{text}");
    let id: RequestId = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    warm += w.calls.take().values().sum::<usize>();
    w.run_grant().await;
    warm += w.calls.take().values().sum::<usize>();
    let input = w.end_schedule_input(&id).await;
    w.svc
        .ports
        .clock
        .advance(Duration::hours(4) + Duration::minutes(1));
    revoke::handle(&w.svc, &input).await.unwrap();
    warm += w.calls.take().values().sum::<usize>();
    println!("auto-approved lifecycle on warm functions: {warm} AWS calls in all (cold: {total})");
    assert!(warm < total, "warm functions reuse what they know");
}

/// A submit granted at once costs the same AWS calls whatever the size of the groups that
/// could approve the bundle (its owner team and the platform group): it is decided from the
/// requester's own groups, so nobody's members are listed. Measured cold (nothing remembered)
/// with 1, 100 and 1,000 people in each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_granted_at_once_costs_the_same_whatever_the_group_sizes() {
    let w = world().await;
    let ids = aws_sdk_identitystore::Client::new(&w.sdk);
    let store = w.api.ports.directory.store_id().to_string();
    let catalog = jit_core::catalog::load_dir(&root().join("catalog/examples")).unwrap();
    let bundle = jit_core::types::BundleName::parse("api-logs-read").unwrap();
    let mut groups = Vec::new();
    for g in jit_core::policy::groups_needed(&catalog, &bundle) {
        let id = ids
            .get_group_id()
            .identity_store_id(&store)
            .alternate_identifier(group_name(g.as_str()))
            .send()
            .await
            .unwrap()
            .group_id;
        groups.push(id);
    }
    assert!(
        groups.len() >= 2,
        "owner team and platform group: {groups:?}"
    );
    let mut per_size = Vec::new();
    let mut people = 0;
    for size in [1, 100, 1_000] {
        let mut adding = tokio::task::JoinSet::new();
        while people < size {
            let (ids, store, groups) = (ids.clone(), store.clone(), groups.clone());
            let n = people;
            adding.spawn(async move { add_member(&ids, &store, &groups, n).await });
            people += 1;
            if adding.len() >= 16 {
                adding.join_next().await.unwrap().unwrap();
            }
        }
        while let Some(done) = adding.join_next().await {
            done.unwrap();
        }
        w.api.ports.directory.forget_names();
        w.look();
        let resp = intake::route(w.api.clone(), apigw("apigw-post-request.json", |_| {})).await;
        let (status, text) = body(resp).await;
        assert_eq!(status, 201, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["status"],
            "approved"
        );
        let calls = w.step();
        println!(
            "submit granted at once, {size} people in each approver group: {} AWS calls",
            calls.values().sum::<usize>()
        );
        per_size.push((size, calls));
    }
    // The directory's calls are the same; the ledger's depend on alice's own earlier requests.
    let directory = |calls: &BTreeMap<String, usize>| {
        calls
            .iter()
            .filter(|(op, _)| op.starts_with("identitystore."))
            .map(|(op, n)| (op.clone(), *n))
            .collect::<BTreeMap<_, _>>()
    };
    for (size, calls) in &per_size {
        assert_eq!(
            directory(calls),
            directory(&per_size[0].1),
            "{size} members cost what 1 did: {per_size:?}"
        );
        // The request's own item is not read first: a fresh id names no request yet.
        assert!(
            calls.values().sum::<usize>() <= 8,
            "{size} members: {calls:?}"
        );
    }
    assert!(
        !per_size[0]
            .1
            .contains_key("identitystore.ListGroupMemberships")
            && !per_size[0].1.contains_key("identitystore.DescribeUser"),
        "no group's members are listed: {:?}",
        per_size[0].1
    );
}

fn group_name(name: &str) -> aws_sdk_identitystore::types::AlternateIdentifier {
    aws_sdk_identitystore::types::AlternateIdentifier::UniqueAttribute(
        aws_sdk_identitystore::types::UniqueAttribute::builder()
            .attribute_path("displayName")
            .attribute_value(aws_smithy_types::Document::String(name.into()))
            .build()
            .unwrap(),
    )
}

/// Makes person `n` of the bench's crowd and puts them in every group of `groups` (ids).
async fn add_member(ids: &aws_sdk_identitystore::Client, store: &str, groups: &[String], n: usize) {
    let email = format!("member{n}@example.com");
    let user = ids
        .create_user()
        .identity_store_id(store)
        .user_name(&email)
        .display_name(&email)
        .name(
            aws_sdk_identitystore::types::Name::builder()
                .given_name("Member")
                .family_name(n.to_string())
                .build(),
        )
        .emails(
            aws_sdk_identitystore::types::Email::builder()
                .value(&email)
                .primary(true)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .user_id;
    for g in groups {
        ids.create_group_membership()
            .identity_store_id(store)
            .group_id(g)
            .member_id(aws_sdk_identitystore::types::MemberId::UserId(user.clone()))
            .send()
            .await
            .unwrap();
    }
}

/// carol asks for the two-group bundle through the intake handler.
async fn carol_asks_for_pii(w: &World, reason: &str, ticket: &str) -> (u16, String) {
    let resp = intake::route(
        w.api.clone(),
        apigw("apigw-post-request.json", |v| {
            as_user(v, "carol@example.com");
            v["body"] = json!(json!({
                "bundle": "rds-prod-pii", "duration": "1h", "reason": reason, "ticket": ticket
            })
            .to_string());
        }),
    )
    .await;
    body(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_group_request_is_decided_through_the_emailed_links() {
    let w = world().await;
    let mut steps = BTreeMap::new();
    let (status, text) = carol_asks_for_pii(&w, "investigate order 4411", "INC-4411").await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["status"], "pending");
    let id: RequestId = created["id"].as_str().unwrap().parse().unwrap();
    steps.insert("1 intake POST /v1/requests", w.step());

    for (n, approver) in ["dave@example.com", "erin@example.com"].iter().enumerate() {
        let path = link_in_mail(approver, "/v1/decisions/");
        let resp = approval::route(
            w.api.clone(),
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
            w.step(),
        );
    }
    assert_eq!(w.svc.get(&id).await.unwrap().status.as_str(), "approved");
    w.run_grant().await;
    steps.insert("4 grant (stream)", w.step());
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
    steps.insert("5 revoke (schedule input)", w.step());
    assert!(w.container("carol@example.com").await.is_empty());
    let timeline = w.svc.timeline(&id).await.unwrap();
    let approvers: Vec<&str> = timeline
        .iter()
        .filter(|e| matches!(e.action, Action::Voted | Action::Approved))
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(approvers, vec!["dave@example.com", "erin@example.com"]);
    let ends: Vec<Action> = timeline
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|e| e.action)
        .collect();
    assert_eq!(ends, [Action::Ended, Action::AccessRemoved]);
    summary("two-group approval", &steps, w.units());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudtrail_denial_ends_in_a_granted_request() {
    let w = world().await;
    let mut steps = BTreeMap::new();
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/cloudtrail-s3-access-denied.json")).unwrap(),
    )
    .unwrap();
    let out = pod::handle(&w.api, &event).await.unwrap();
    assert_eq!(out["outcome"], "prompted", "{out}");
    steps.insert("1 pod (CloudTrail event)", w.step());
    let again = pod::handle(&w.api, &event).await.unwrap();
    assert_eq!(
        again["outcome"], "quiet",
        "a redelivered event sends nothing"
    );
    steps.insert("2 pod (same event again)", w.step());

    let path = link_in_mail("alice@example.com", "/v1/prompts/");
    let resp = approval::route(
        w.api.clone(),
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
    steps.insert("3 approval POST /v1/prompts (request)", w.step());

    w.run_grant().await;
    steps.insert("4 grant (stream)", w.step());
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
    summary("permission-on-demand", &steps, w.units());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_are_quiet_for_an_hour_and_expire_unanswered_on_dynamodb() {
    let w = world().await;
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/cloudtrail-logs-access-denied.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        pod::handle(&w.api, &event).await.unwrap()["outcome"],
        "prompted"
    );
    event["detail"]["eventID"] = json!("second-denial-same-action");
    assert_eq!(
        pod::handle(&w.api, &event).await.unwrap()["outcome"],
        "quiet",
        "the quiet key's condition holds on DynamoDB"
    );
    w.svc.ports.clock.advance(Duration::minutes(61));
    event["detail"]["eventID"] = json!("third-denial-an-hour-later");
    assert_eq!(
        pod::handle(&w.api, &event).await.unwrap()["outcome"],
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
    let now = w.svc.now();
    let listed = w.svc.prompts(now - Duration::days(3), now).await.unwrap();
    let statuses: Vec<&str> = listed.iter().map(|p| p.status.as_str()).collect();
    assert_eq!(
        statuses,
        vec!["abandoned-expired", "abandoned-expired"],
        "by day, on DynamoDB"
    );
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
    w.look();
    let report = w.svc.sweep().await.unwrap();
    jit_e2e::report("sweep with drift", &w.step());
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
    jit_e2e::report("sweep without drift", &w.step());
    assert_eq!((calm.drift(), calm.failed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_decides_is_escalated_then_expires() {
    let w = world().await;
    let mut steps = BTreeMap::new();
    let (status, text) = carol_asks_for_pii(&w, "nobody answers", "INC-9").await;
    assert_eq!(status, 201, "{text}");
    let id: RequestId = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    steps.insert("1 intake POST /v1/requests", w.step());
    w.svc.ports.clock.advance(Duration::minutes(61));
    let out = escalate::handle(
        &w.api,
        &json!({"action": "escalate", "request_id": id, "tier": 1}),
    )
    .await
    .unwrap();
    assert_eq!(out["tier"], 1);
    steps.insert("2 escalate (tier 1 asked)", w.step());
    w.svc.ports.clock.advance(Duration::hours(23));
    let out = escalate::handle(
        &w.api,
        &json!({"action": "expire-request", "request_id": id}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "expired");
    steps.insert("3 escalate (expired)", w.step());
    let again = escalate::handle(
        &w.api,
        &json!({"action": "expire-request", "request_id": id}),
    )
    .await
    .unwrap();
    assert_eq!(
        again["status"], "expired",
        "a late schedule changes nothing"
    );
    steps.insert("4 escalate (the same schedule again)", w.step());
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
            Action::AwaitingApproval,
            Action::Escalated,
            Action::Expired
        ]
    );
    summary("expired", &steps, w.units());
}
