//! Identity Center containers and assignments, IAM role policies and the Identity Store
//! directory, against moto server.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::{DateTime, Duration, Utc};
use common::fault::FaultProxy;
use jit_aws::{AwsGrantor, IdentityConfig, IdentityStoreDirectory};
use jit_core::catalog::{Statement, Strategy};
use jit_core::plan::{grant_of_sid, GrantSpec};
use jit_core::ports::{AccountUse, Directory, GrantError, Grantor, RequestStore};
use jit_core::types::*;

struct World {
    config: SdkConfig,
    store: jit_aws::DynamoStore,
    grantor: Arc<AwsGrantor>,
    directory: IdentityStoreDirectory,
    instance_arn: String,
}

fn who(s: &str) -> Email {
    Email::parse(&format!("{s}@example.com")).unwrap()
}

/// A fresh identity store with `people` in it, a fresh table, and a grantor over them.
async fn world(config: SdkConfig, people: &[&str]) -> World {
    world_with(config, people, |_| {}).await
}

/// [`world`], with the grantor's configuration changed by `tune`.
async fn world_with(
    config: SdkConfig,
    people: &[&str],
    tune: impl FnOnce(&mut IdentityConfig),
) -> World {
    let (dynamo, table) = common::table(&config).await;
    let store = jit_aws::DynamoStore::new(dynamo.clone(), &table);
    let ids = aws_sdk_identitystore::Client::new(&config);
    let store_id = format!("d-{}", &jit_core::link::nonce()[..10]);
    for p in people {
        let email = aws_sdk_identitystore::types::Email::builder()
            .value(who(p).as_str())
            .primary(true)
            .r#type("work")
            .build();
        let name = aws_sdk_identitystore::types::Name::builder()
            .given_name(*p)
            .family_name("Test")
            .build();
        ids.create_user()
            .identity_store_id(&store_id)
            .user_name(who(p).as_str())
            .display_name(*p)
            .name(name)
            .emails(email)
            .send()
            .await
            .unwrap();
    }
    let sso = aws_sdk_ssoadmin::Client::new(&config);
    let instance_arn = sso.list_instances().send().await.unwrap().instances()[0]
        .instance_arn()
        .unwrap()
        .to_string();
    let directory = IdentityStoreDirectory::new(ids, store_id);
    let mut identity = IdentityConfig::new(&instance_arn);
    identity.rate_per_second = 500;
    identity.poll_interval = std::time::Duration::from_millis(20);
    tune(&mut identity);
    let grantor = AwsGrantor::new(
        sso,
        aws_sdk_iam::Client::new(&config),
        dynamo,
        table,
        directory.clone(),
        identity,
    );
    World {
        config,
        store,
        grantor: Arc::new(grantor),
        directory,
        instance_arn,
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn grant(n: usize, account: &str) -> GrantSpec {
    GrantSpec {
        id: RequestId::parse(&format!("grant{n:07}")).unwrap(),
        statements: vec![Statement {
            actions: vec![IamAction::parse("s3:GetObject").unwrap()],
            resources: vec![ResourceArn::parse(&format!("arn:aws:s3:::bucket-{n}/*")).unwrap()],
        }],
        accounts: vec![AccountId::parse(account).unwrap()],
        starts_at: None,
        expires_at: t0() + Duration::hours(n as i64 + 1),
    }
}

async fn sids(w: &World, person: &Email) -> BTreeSet<String> {
    let doc = w
        .grantor
        .container_policy(person)
        .await
        .unwrap()
        .unwrap_or_default();
    doc.grant_ids()
        .into_iter()
        .map(|id| id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn forty_concurrent_grants_and_revocations_leave_exactly_the_live_grants() {
    let w = world(common::sdk().await, &["alice"]).await;
    let alice = who("alice");
    // 15 grants exist first (which also creates the container); then 25 new grants are applied
    // and the 15 old ones revoked, all at once: 40 writes racing on one inline policy. A lost
    // apply shows as a missing grant, a lost revocation as a grant that comes back.
    for n in 100..115 {
        w.grantor
            .apply(&alice, &Strategy::Container, &grant(n, "111111111111"))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for n in (0..25).chain(100..115) {
        let g = w.grantor.clone();
        let person = alice.clone();
        tasks.push(tokio::spawn(async move {
            let spec = grant(n, "111111111111");
            if n < 100 {
                g.apply(&person, &Strategy::Container, &spec).await
            } else {
                g.remove(&person, &Strategy::Container, &spec).await
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let expected: BTreeSet<String> = (0..25)
        .map(|n| grant(n, "111111111111").id.to_string())
        .collect();
    assert_eq!(sids(&w, &alice).await, expected);

    // Checked straight from the service, not through the adapter.
    let sso = aws_sdk_ssoadmin::Client::new(&w.config);
    let arn = w.grantor.container_arn(&alice).await.unwrap();
    let described = sso
        .describe_permission_set()
        .instance_arn(&w.instance_arn)
        .permission_set_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.permission_set().and_then(|p| p.name()),
        Some(jit_aws::identity::container_name(&alice).as_str())
    );
    let policy = sso
        .get_inline_policy_for_permission_set()
        .instance_arn(&w.instance_arn)
        .permission_set_arn(&arn)
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.inline_policy().unwrap()).unwrap();
    let statements = doc["Statement"].as_array().unwrap();
    let ids: BTreeSet<String> = statements
        .iter()
        .filter_map(|s| grant_of_sid(s["Sid"].as_str()?))
        .map(|id| id.to_string())
        .collect();
    assert_eq!(ids, expected);
    for s in statements {
        assert!(s
            .pointer("/Condition/DateLessThan/aws:CurrentTime")
            .is_some());
    }
    // Exactly one assignment of the container in the account, however many grants raced.
    let assignments = sso
        .list_account_assignments()
        .instance_arn(&w.instance_arn)
        .account_id("111111111111")
        .permission_set_arn(w.grantor.container_arn(&alice).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(assignments.account_assignments().len(), 1);
}

#[tokio::test]
async fn applying_and_removing_are_idempotent_and_an_unknown_person_fails_cleanly() {
    let w = world(common::sdk().await, &["bob"]).await;
    let bob = who("bob");
    let g = grant(1, "222222222222");
    w.grantor
        .apply(&bob, &Strategy::Container, &g)
        .await
        .unwrap();
    w.grantor
        .apply(&bob, &Strategy::Container, &g)
        .await
        .unwrap();
    assert_eq!(sids(&w, &bob).await.len(), 1);
    w.grantor
        .remove(&bob, &Strategy::Container, &g)
        .await
        .unwrap();
    w.grantor
        .remove(&bob, &Strategy::Container, &g)
        .await
        .unwrap();
    assert!(sids(&w, &bob).await.is_empty());

    let nobody = who("nobody");
    let err = w
        .grantor
        .apply(&nobody, &Strategy::Container, &g)
        .await
        .unwrap_err();
    assert!(matches!(err, GrantError::NoIdentity(_)), "{err:?}");
    w.grantor
        .remove(&nobody, &Strategy::Container, &g)
        .await
        .unwrap();
}

#[tokio::test]
async fn overlapping_assignments_outlive_the_first_grant() {
    let w = world(common::sdk().await, &["carol"]).await;
    let carol = who("carol");
    let sso = aws_sdk_ssoadmin::Client::new(&w.config);
    // An existing permission set named by the catalog.
    let (ps, strategy) = shared_set(&w, "PT1H").await;
    let assigned = || async {
        sso.list_account_assignments()
            .instance_arn(&w.instance_arn)
            .account_id("333333333333")
            .permission_set_arn(&ps)
            .send()
            .await
            .unwrap()
            .account_assignments()
            .len()
    };
    let (a, b) = (grant(1, "333333333333"), grant(2, "333333333333"));
    w.grantor.apply(&carol, &strategy, &a).await.unwrap();
    w.grantor.apply(&carol, &strategy, &b).await.unwrap();
    assert_eq!(assigned().await, 1, "one assignment, held by two grants");
    w.grantor.remove(&carol, &strategy, &a).await.unwrap();
    assert_eq!(assigned().await, 1, "the second grant still holds it");
    w.grantor.remove(&carol, &strategy, &b).await.unwrap();
    assert_eq!(assigned().await, 0);
    w.grantor.remove(&carol, &strategy, &b).await.unwrap();
}

#[tokio::test]
async fn iam_role_grants_are_per_grant_policies_within_the_role_budget() {
    let w = world(common::sdk().await, &["dave"]).await;
    let dave = who("dave");
    let iam = aws_sdk_iam::Client::new(&w.config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("jit-dave")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();

    let g = grant(7, "111111111111");
    w.grantor
        .apply(&dave, &Strategy::IamRole, &g)
        .await
        .unwrap();
    let names = iam
        .list_role_policies()
        .role_name("jit-dave")
        .send()
        .await
        .unwrap()
        .policy_names;
    assert_eq!(names, vec![format!("jit-{}", g.id)]);
    let doc = iam
        .get_role_policy()
        .role_name("jit-dave")
        .policy_name(&names[0])
        .send()
        .await
        .unwrap()
        .policy_document;
    let doc = percent_encoding::percent_decode_str(&doc)
        .decode_utf8_lossy()
        .to_string();
    assert!(
        doc.contains("DateLessThan") && doc.contains(&format!("Jit{}S0", g.id)),
        "{doc}"
    );

    // The drift sweep's view: dave holds role grants; his grant policies, and only those.
    assert!(w.grantor.role_holders().await.unwrap().contains(&dave));
    let seen = w.grantor.role_policies(&dave).await.unwrap().unwrap();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), names);
    // A stale view changes nothing; a current one is written (here: the grant policy removed,
    // then put back).
    let empty = jit_core::ports::RolePolicies::new();
    assert!(!w
        .grantor
        .replace_role_policies(&dave, &empty, &empty)
        .await
        .unwrap());
    assert!(w
        .grantor
        .replace_role_policies(&dave, &seen, &empty)
        .await
        .unwrap());
    assert_eq!(
        w.grantor.role_policies(&dave).await.unwrap(),
        Some(empty.clone())
    );
    assert!(w
        .grantor
        .replace_role_policies(&dave, &empty, &seen)
        .await
        .unwrap());
    assert_eq!(w.grantor.role_policies(&dave).await.unwrap(), Some(seen));

    // A big hand-written policy leaves too little room: refused, nothing written.
    let big: Vec<String> = (0..300)
        .map(|i| format!("\"arn:aws:s3:::legacy-bucket-{i:04}/*\""))
        .collect();
    let filler = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":[{}]}}]}}"#,
        big.join(",")
    );
    iam.put_role_policy()
        .role_name("jit-dave")
        .policy_name("legacy")
        .policy_document(&filler)
        .send()
        .await
        .unwrap();
    let err = w
        .grantor
        .apply(&dave, &Strategy::IamRole, &grant(8, "111111111111"))
        .await
        .unwrap_err();
    assert!(matches!(err, GrantError::TooLarge(_)), "{err:?}");

    w.grantor
        .remove(&dave, &Strategy::IamRole, &g)
        .await
        .unwrap();
    w.grantor
        .remove(&dave, &Strategy::IamRole, &g)
        .await
        .unwrap();
    let names = iam
        .list_role_policies()
        .role_name("jit-dave")
        .send()
        .await
        .unwrap()
        .policy_names;
    assert_eq!(names, vec!["legacy".to_string()]);

    let err = w
        .grantor
        .apply(&who("erin"), &Strategy::IamRole, &g)
        .await
        .unwrap_err();
    assert!(matches!(err, GrantError::NoIdentity(m) if m.contains("jit-erin")));
}

#[tokio::test]
async fn throttling_and_conflicts_from_identity_center_are_retried_to_the_right_state() {
    let proxy = FaultProxy::start(&common::endpoint()).await;
    let config = common::sdk_at(&proxy.url).await;
    let w = world(config, &["frank"]).await;
    let frank = who("frank");
    proxy.fail("PutInlinePolicyToPermissionSet", 2, "ConflictException");
    proxy.fail("CreateAccountAssignment", 2, "ThrottlingException");
    proxy.fail("ProvisionPermissionSet", 1, "ConflictException");
    w.grantor
        .apply(&frank, &Strategy::Container, &grant(3, "111111111111"))
        .await
        .unwrap();
    let injected = proxy.injected();
    assert_eq!(
        injected
            .iter()
            .filter(|o| *o == "PutInlinePolicyToPermissionSet")
            .count(),
        2,
        "{injected:?}"
    );
    assert_eq!(
        injected
            .iter()
            .filter(|o| *o == "CreateAccountAssignment")
            .count(),
        2,
        "{injected:?}"
    );
    assert_eq!(
        injected
            .iter()
            .filter(|o| *o == "ProvisionPermissionSet")
            .count(),
        1,
        "{injected:?}"
    );
    assert_eq!(
        sids(&w, &frank).await.len(),
        1,
        "the grant is in place after the retries"
    );

    // A conflict that never clears ends as a retryable error, with nothing half-done recorded.
    proxy.fail("PutInlinePolicyToPermissionSet", 100, "ConflictException");
    let err = w
        .grantor
        .apply(&frank, &Strategy::Container, &grant(4, "111111111111"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(sids(&w, &frank).await.len(), 1);
}

#[tokio::test]
async fn the_directory_answers_groups_and_members_by_email() {
    let w = world(common::sdk().await, &["gina", "hugo"]).await;
    let config = &w.config;
    let ids = aws_sdk_identitystore::Client::new(config);
    let store_id = w.directory_store_id();
    let mut group_ids = Vec::new();
    for g in ["data-dbas", "security"] {
        group_ids.push(
            ids.create_group()
                .identity_store_id(&store_id)
                .display_name(g)
                .send()
                .await
                .unwrap()
                .group_id,
        );
    }
    for (person, group) in [("gina", 0), ("gina", 1), ("hugo", 1)] {
        let user = w.directory.user_id(&who(person)).await.unwrap().unwrap();
        ids.create_group_membership()
            .identity_store_id(&store_id)
            .group_id(&group_ids[group])
            .member_id(aws_sdk_identitystore::types::MemberId::UserId(user))
            .send()
            .await
            .unwrap();
    }
    let gina: Vec<String> = w
        .directory
        .groups_of(&who("gina"))
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.to_string())
        .collect();
    assert_eq!(gina, vec!["data-dbas", "security"]);
    let security = w
        .directory
        .members(&GroupName::parse("security").unwrap())
        .await
        .unwrap();
    assert_eq!(security, [who("gina"), who("hugo")].into());
    assert!(w
        .directory
        .groups_of(&who("nobody"))
        .await
        .unwrap()
        .is_empty());
    assert!(w
        .directory
        .members(&GroupName::parse("no-such-group").unwrap())
        .await
        .unwrap()
        .is_empty());
}

impl World {
    fn directory_store_id(&self) -> String {
        self.directory.store_id().to_string()
    }
}

/// A refusal that retrying cannot cure fails the grant with a reason a person can act on: the
/// call, the permission set, what AWS said, and what to fix (it used to read "service error").
#[tokio::test]
async fn an_access_denied_write_names_the_call_the_resource_and_the_fix() {
    let proxy = FaultProxy::start(&common::endpoint()).await;
    let config = common::sdk_at(&proxy.url).await;
    let w = world(config, &["frank"]).await;
    proxy.fail("PutInlinePolicyToPermissionSet", 1, "AccessDeniedException");
    let err = w
        .grantor
        .apply(
            &who("frank"),
            &Strategy::Container,
            &grant(4, "111111111111"),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let reason = err.to_string();
    for part in [
        "PutInlinePolicyToPermissionSet failed: AccessDeniedException: injected by the test",
        "(on arn:aws:sso:::",
        "/ps-",
        "the grant function's role is not allowed this call",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    assert_eq!(proxy.injected(), ["PutInlinePolicyToPermissionSet"]);
}

/// A shared permission set of the given session duration, and the strategy that assigns it.
async fn shared_set(w: &World, session: &str) -> (String, Strategy) {
    let ps = aws_sdk_ssoadmin::Client::new(&w.config)
        .create_permission_set()
        .instance_arn(&w.instance_arn)
        .name(common::unique("shared"))
        .session_duration(session)
        .send()
        .await
        .unwrap()
        .permission_set
        .unwrap()
        .permission_set_arn
        .unwrap();
    let strategy = Strategy::Assignment {
        permission_set: PermissionSetArn::parse(&ps).expect("moto names sets as AWS does"),
    };
    (ps, strategy)
}

/// The assignments of `ps` in `account` (moto's answer).
async fn assignments(w: &World, ps: &str, account: &str) -> Vec<String> {
    aws_sdk_ssoadmin::Client::new(&w.config)
        .list_account_assignments()
        .instance_arn(&w.instance_arn)
        .account_id(account)
        .permission_set_arn(ps)
        .send()
        .await
        .unwrap()
        .account_assignments()
        .iter()
        .filter_map(|a| a.principal_id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_container_leaves_an_account_when_the_last_grant_there_ends() {
    let w = world(common::sdk().await, &["bob"]).await;
    let bob = who("bob");
    let (a, b, c) = (
        grant(1, "111111111111"),
        grant(2, "111111111111"),
        grant(3, "222222222222"),
    );
    for g in [&a, &b, &c] {
        w.grantor
            .apply(&bob, &Strategy::Container, g)
            .await
            .unwrap();
    }
    let ps = w.grantor.container_arn(&bob).await.unwrap();
    assert_eq!(assignments(&w, &ps, "111111111111").await.len(), 1);
    assert_eq!(assignments(&w, &ps, "222222222222").await.len(), 1);
    // The only grant in 222222222222 ends: the container is no longer assigned there.
    w.grantor
        .remove(&bob, &Strategy::Container, &c)
        .await
        .unwrap();
    assert!(assignments(&w, &ps, "222222222222").await.is_empty());
    assert_eq!(assignments(&w, &ps, "111111111111").await.len(), 1);
    // One of two grants in 111111111111 ends: the other still needs the assignment.
    w.grantor
        .remove(&bob, &Strategy::Container, &a)
        .await
        .unwrap();
    assert_eq!(assignments(&w, &ps, "111111111111").await.len(), 1);
    w.grantor
        .remove(&bob, &Strategy::Container, &b)
        .await
        .unwrap();
    assert!(assignments(&w, &ps, "111111111111").await.is_empty());
    // Replayed, nothing changes and nothing fails.
    w.grantor
        .remove(&bob, &Strategy::Container, &b)
        .await
        .unwrap();
    // A new grant assigns it again.
    w.grantor
        .apply(&bob, &Strategy::Container, &c)
        .await
        .unwrap();
    assert_eq!(assignments(&w, &ps, "222222222222").await.len(), 1);
}

/// A grant that would not fit in the container is refused before it is assigned anywhere new:
/// no assignment is left in an account the person has no grant in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_that_does_not_fit_is_refused_before_anything_is_assigned() {
    let w = world(common::sdk().await, &["dana"]).await;
    let dana = who("dana");
    let mut n = 0;
    let full = loop {
        let g = grant(n, "111111111111");
        match w.grantor.apply(&dana, &Strategy::Container, &g).await {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 200, "the container never filled");
    };
    assert!(matches!(full, GrantError::TooLarge(_)), "{full:?}");
    let ps = w.grantor.container_arn(&dana).await.unwrap();
    let elsewhere = grant(n + 1, "222222222222");
    let err = w
        .grantor
        .apply(&dana, &Strategy::Container, &elsewhere)
        .await
        .unwrap_err();
    assert!(matches!(err, GrantError::TooLarge(_)), "{err:?}");
    assert!(assignments(&w, &ps, "222222222222").await.is_empty());
    assert_eq!(sids(&w, &dana).await.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_end_through_a_shared_set_denies_the_sessions_it_issued_until_they_lapse() {
    let w = world(common::sdk().await, &["carol", "dave", "erin"]).await;
    let sso = aws_sdk_ssoadmin::Client::new(&w.config);
    let own = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnly","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let (ps, strategy) = shared_set(&w, "PT2H").await;
    sso.put_inline_policy_to_permission_set()
        .instance_arn(&w.instance_arn)
        .permission_set_arn(&ps)
        .inline_policy(own)
        .send()
        .await
        .unwrap();
    let policy = || async {
        let text = sso
            .get_inline_policy_for_permission_set()
            .instance_arn(&w.instance_arn)
            .permission_set_arn(&ps)
            .send()
            .await
            .unwrap()
            .inline_policy
            .unwrap_or_default();
        jit_core::plan::PolicyDocument::parse(&text).unwrap()
    };
    let account = "444444444444";
    let (carol, dave, erin) = (who("carol"), who("dave"), who("erin"));
    let (c1, c2, d1, e1) = (
        grant(1, account),
        grant(2, account),
        grant(3, account),
        grant(4, account),
    );
    for (p, g) in [(&carol, &c1), (&carol, &c2), (&dave, &d1)] {
        w.grantor.apply(p, &strategy, g).await.unwrap();
    }
    // Carol's first grant ends while her second still holds the assignment: no deny.
    w.grantor.remove(&carol, &strategy, &c1).await.unwrap();
    assert!(policy().await.session_denies().is_empty());

    // Carol's and Dave's last grants end at once, while Erin is granted through the same set.
    let before = Utc::now() - Duration::seconds(1);
    let (r1, r2, r3) = tokio::join!(
        w.grantor.remove(&carol, &strategy, &c2),
        w.grantor.remove(&dave, &strategy, &d1),
        w.grantor.apply(&erin, &strategy, &e1),
    );
    r1.unwrap();
    r2.unwrap();
    r3.unwrap();
    let after = Utc::now() + Duration::seconds(1);
    let doc = policy().await;
    assert_eq!(
        doc.statements[0],
        serde_json::from_str::<serde_json::Value>(own).unwrap()["Statement"][0],
        "the set's own statement is kept as it was"
    );
    assert_eq!(doc.session_denies().len(), 2, "{}", doc.to_json());
    let erin_id = w.directory.user_id(&erin).await.unwrap().unwrap();
    assert_eq!(
        assignments(&w, &ps, account).await,
        std::slice::from_ref(&erin_id)
    );
    let mut denied = BTreeSet::new();
    for d in doc.statements.iter().filter(|s| s["Effect"] == "Deny") {
        assert_eq!(d["Action"], "*");
        assert_eq!(d["Resource"], "*");
        assert_eq!(
            d["Condition"]["StringEquals"]["aws:PrincipalAccount"],
            account
        );
        let issued: DateTime<Utc> = d["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let lapses: DateTime<Utc> = d["Condition"]["DateLessThan"]["aws:CurrentTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(issued >= before && issued <= after, "{issued}");
        assert_eq!(
            lapses - issued,
            Duration::hours(2),
            "the set's session duration"
        );
        denied.insert(
            d["Condition"]["StringEquals"]["identitystore:userId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let id = |p: &Email| {
        let d = w.directory.clone();
        let p = p.clone();
        async move { d.user_id(&p).await.unwrap().unwrap() }
    };
    assert_eq!(denied, BTreeSet::from([id(&carol).await, id(&dave).await]));
    assert!(
        !denied.contains(&erin_id),
        "Erin's new sessions are not touched"
    );

    // Not yet lapsed an hour on; lapsed after the session duration, and only the denies go.
    assert_eq!(
        w.grantor
            .lapse_session_denies(after + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(policy().await.session_denies().len(), 2);
    let later = after + Duration::hours(2) + Duration::minutes(1);
    assert_eq!(w.grantor.lapse_session_denies(later).await.unwrap(), 2);
    let doc = policy().await;
    assert!(doc.session_denies().is_empty());
    assert_eq!(doc.statements.len(), 1, "{}", doc.to_json());
    assert_eq!(
        w.grantor.lapse_session_denies(later).await.unwrap(),
        0,
        "nothing left to lapse"
    );
}

#[tokio::test]
async fn grants_past_identity_centers_quotas_are_refused_with_the_quota_named() {
    // An account of its own, so that other tests' assignments do not count.
    let account = format!(
        "{:012}",
        u64::from_str_radix(&jit_core::link::nonce()[..10], 16).unwrap() % 1_000_000_000_000
    );
    let w = world_with(common::sdk().await, &["fay", "gus"], |c| {
        c.account_quota = 1
    })
    .await;
    let (fay, gus) = (who("fay"), who("gus"));
    let (f1, g1) = (grant(1, &account), grant(2, &account));
    w.grantor
        .apply(&fay, &Strategy::Container, &f1)
        .await
        .unwrap();
    // What the account holds is kept where the API functions read it, to refuse at submit.
    let acct = AccountId::parse(&account).unwrap();
    let use_of = || async { w.store.account_use(&acct).await.unwrap() };
    assert_eq!(use_of().await, Some(AccountUse { used: 1, limit: 1 }));
    // Gus's container would be a second permission set provisioned in an account allowed one.
    let refused = w
        .grantor
        .apply(&gus, &Strategy::Container, &g1)
        .await
        .unwrap_err();
    assert!(!refused.is_retryable());
    let said = refused.to_string();
    assert!(
        said.contains("quota of 1 permission sets provisioned per account in account")
            && said.contains(&account)
            && said.contains("(1 in use)")
            && said.contains("Service Quotas"),
        "{said}"
    );
    let gus_ps = w.grantor.container_arn(&gus).await.unwrap();
    assert!(
        assignments(&w, &gus_ps, &account).await.is_empty(),
        "nothing assigned"
    );
    // Fay's grant ends: her container leaves the account, and Gus's grant fits.
    w.grantor
        .remove(&fay, &Strategy::Container, &f1)
        .await
        .unwrap();
    assert_eq!(use_of().await, Some(AccountUse { used: 0, limit: 1 }));
    w.grantor
        .apply(&gus, &Strategy::Container, &g1)
        .await
        .unwrap();
    assert_eq!(assignments(&w, &gus_ps, &account).await.len(), 1);
    assert_eq!(use_of().await, Some(AccountUse { used: 1, limit: 1 }));

    // An instance at its quota of permission sets: a person's first grant is refused before
    // a container is made.
    let sso = aws_sdk_ssoadmin::Client::new(&w.config);
    let sets = sso
        .list_permission_sets()
        .instance_arn(&w.instance_arn)
        .send()
        .await
        .unwrap()
        .permission_sets()
        .len() as u32;
    let full = world_with(w.config.clone(), &["hal"], |c| {
        c.permission_set_quota = sets
    })
    .await;
    let said = full
        .grantor
        .apply(&who("hal"), &Strategy::Container, &grant(3, "111111111111"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        said.contains(&format!("quota of {sets} permission sets per instance")),
        "{said}"
    );
    assert!(
        full.grantor.container_arn(&who("hal")).await.is_err(),
        "no container made"
    );
}
