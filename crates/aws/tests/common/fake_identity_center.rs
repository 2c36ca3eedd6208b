//! A fake of Identity Center (the SSO Admin API and the Identity Store's GetUserId) that holds
//! callers to the rules AWS documents and moto does not model, for the simulation of a fleet
//! granting at once (`examples/identity_center_simulation.rs`) and its test:
//!
//! - **one rate for the account**: every SSO Admin call takes a token from one bucket
//!   (`rate` a second, a second's worth at once); an empty bucket answers ThrottlingException;
//! - **one change per account at a time**: creating or deleting an assignment, or provisioning,
//!   keeps the accounts it changes busy for a while (`change` long); another change there
//!   meanwhile answers ConflictException;
//! - **quotas**: permission sets per instance, and permission sets provisioned per account
//!   (a set counts in an account while it is assigned there): ServiceQuotaExceededException.
//!
//! Time runs `scale` times faster than the wall clock: rates are multiplied and durations
//! divided by it, so a simulated minute takes `60 / scale` seconds. Every refusal is counted.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The rules the fake holds callers to, in simulated time.
#[derive(Debug, Clone)]
pub struct Rules {
    /// SSO Admin calls a second for the whole account.
    pub rate: f64,
    /// How long a change keeps its accounts busy.
    pub change: Duration,
    /// Permission sets per instance.
    pub sets_quota: usize,
    /// Permission sets provisioned per account.
    pub account_quota: usize,
    /// Simulated seconds per wall-clock second.
    pub scale: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            rate: 20.0,
            change: Duration::from_millis(1500),
            sets_quota: 2_000,
            account_quota: 250,
            scale: 1.0,
        }
    }
}

/// What the fake answered, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// SSO Admin calls answered (refusals included).
    pub calls: usize,
    /// ThrottlingException answers.
    pub throttled: usize,
    /// ConflictException answers (a change in a busy account).
    pub conflicts: usize,
    /// ServiceQuotaExceededException answers.
    pub over_quota: usize,
    /// Calls by operation.
    pub by_operation: BTreeMap<String, usize>,
}

#[derive(Debug, Default)]
struct Set {
    name: String,
    policy: String,
}

#[derive(Debug)]
struct State {
    rules: Rules,
    tokens: f64,
    refilled: Instant,
    sets: BTreeMap<String, Set>,
    /// (account, set, principal).
    assignments: BTreeSet<(String, String, String)>,
    /// Each account's change in progress ends at.
    busy: BTreeMap<String, Instant>,
    /// Each asynchronous request's end.
    requests: BTreeMap<String, Instant>,
    tally: Tally,
    next_id: u64,
}

/// The fake, serving on 127.0.0.1.
#[derive(Clone)]
pub struct FakeIdentityCenter {
    state: Arc<Mutex<State>>,
    /// Where it listens (`http://127.0.0.1:port`).
    pub url: String,
    /// The instance it serves.
    pub instance_arn: String,
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amzn-errortype", kind),
        ],
        json!({ "__type": kind, "message": message }).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

fn page(items: Vec<String>, body: &Value, key: &str) -> Response {
    let size = body
        .get("MaxResults")
        .and_then(Value::as_u64)
        .unwrap_or(100)
        .min(100) as usize;
    let start: usize = s(body, "NextToken").parse().unwrap_or(0);
    let mut out = json!({ key: items.iter().skip(start).take(size).collect::<Vec<_>>() });
    if start + size < items.len() {
        out["NextToken"] = json!((start + size).to_string());
    }
    ok(out)
}

impl State {
    fn wall(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.rules.scale)
    }

    /// Takes a token; false when the account's rate is spent.
    fn take(&mut self, now: Instant) -> bool {
        let rate = self.rules.rate * self.rules.scale;
        let burst = self.rules.rate.max(1.0);
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:016x}", self.next_id)
    }

    /// Starts a change in `accounts`: a request id, or the account that is busy.
    fn change(&mut self, accounts: &[String], now: Instant) -> Result<String, String> {
        if let Some(a) = accounts
            .iter()
            .find(|a| self.busy.get(*a).is_some_and(|until| *until > now))
        {
            return Err(a.clone());
        }
        let until = now + self.wall(self.rules.change);
        for a in accounts {
            self.busy.insert(a.clone(), until);
        }
        let id = self.id("req-");
        self.requests.insert(id.clone(), until);
        Ok(id)
    }

    fn status(&self, id: &str, now: Instant) -> Value {
        let done = self.requests.get(id).is_none_or(|until| *until <= now);
        json!({ "Status": if done { "SUCCEEDED" } else { "IN_PROGRESS" }, "RequestId": id })
    }

    fn provisioned_in(&self, account: &str) -> BTreeSet<String> {
        self.assignments
            .iter()
            .filter(|(a, _, _)| a == account)
            .map(|(_, set, _)| set.clone())
            .collect()
    }

    fn answer(&mut self, target: &str, body: &Value) -> Response {
        let now = Instant::now();
        if let Some(op) = target.strip_prefix("AWSIdentityStore.") {
            // The Identity Store has a rate of its own: not counted here.
            return match op {
                "GetUserId" => {
                    let email = body
                        .pointer("/AlternateIdentifier/UniqueAttribute/AttributeValue")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    ok(
                        json!({ "UserId": format!("u-{email}"), "IdentityStoreId": s(body, "IdentityStoreId") }),
                    )
                }
                other => error("ValidationException", &format!("{other} is not faked")),
            };
        }
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        self.tally.calls += 1;
        *self.tally.by_operation.entry(op.clone()).or_default() += 1;
        if !self.take(now) {
            self.tally.throttled += 1;
            return error("ThrottlingException", "Rate exceeded");
        }
        match op.as_str() {
            "CreatePermissionSet" => {
                let name = s(body, "Name").to_string();
                if self.sets.values().any(|p| p.name == name) {
                    return error("ConflictException", "a permission set of that name exists");
                }
                if self.sets.len() >= self.rules.sets_quota {
                    self.tally.over_quota += 1;
                    return error(
                        "ServiceQuotaExceededException",
                        "permission sets per instance",
                    );
                }
                let instance = self.instance_id();
                let arn = format!(
                    "arn:aws:sso:::permissionSet/{instance}/ps-{}",
                    &self.id("")[..16]
                );
                self.sets.insert(
                    arn.clone(),
                    Set {
                        name: name.clone(),
                        policy: String::new(),
                    },
                );
                ok(json!({ "PermissionSet": {
                    "Name": name, "PermissionSetArn": arn,
                    "SessionDuration": s(body, "SessionDuration"), "CreatedDate": 1.8e9 } }))
            }
            "ListPermissionSets" => {
                page(self.sets.keys().cloned().collect(), body, "PermissionSets")
            }
            "DescribePermissionSet" => match self.sets.get(s(body, "PermissionSetArn")) {
                Some(p) => ok(json!({ "PermissionSet": {
                    "Name": p.name, "PermissionSetArn": s(body, "PermissionSetArn"),
                    "SessionDuration": "PT8H", "CreatedDate": 1.8e9 } })),
                None => error("ResourceNotFoundException", "no such permission set"),
            },
            "GetInlinePolicyForPermissionSet" => match self.sets.get(s(body, "PermissionSetArn")) {
                Some(p) => ok(json!({ "InlinePolicy": p.policy })),
                None => error("ResourceNotFoundException", "no such permission set"),
            },
            "PutInlinePolicyToPermissionSet" | "DeleteInlinePolicyFromPermissionSet" => {
                let policy = s(body, "InlinePolicy").to_string();
                match self.sets.get_mut(s(body, "PermissionSetArn")) {
                    Some(p) => {
                        p.policy = policy;
                        ok(json!({}))
                    }
                    None => error("ResourceNotFoundException", "no such permission set"),
                }
            }
            "ProvisionPermissionSet" => {
                let set = s(body, "PermissionSetArn").to_string();
                let accounts: Vec<String> = if s(body, "TargetType") == "AWS_ACCOUNT" {
                    vec![s(body, "TargetId").to_string()]
                } else {
                    self.assignments
                        .iter()
                        .filter(|(_, p, _)| *p == set)
                        .map(|(a, _, _)| a.clone())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect()
                };
                match self.change(&accounts, now) {
                    Ok(id) => {
                        ok(json!({ "PermissionSetProvisioningStatus": self.status(&id, now) }))
                    }
                    Err(a) => {
                        self.tally.conflicts += 1;
                        error(
                            "ConflictException",
                            &format!("a change in {a} is in progress"),
                        )
                    }
                }
            }
            "DescribePermissionSetProvisioningStatus" => ok(json!({
                "PermissionSetProvisioningStatus":
                    self.status(s(body, "ProvisionPermissionSetRequestId"), now) })),
            "ListAccountAssignments" => {
                let (account, set) = (s(body, "AccountId"), s(body, "PermissionSetArn"));
                let items: Vec<Value> = self
                    .assignments
                    .iter()
                    .filter(|(a, p, _)| a == account && p == set)
                    .map(|(a, p, u)| {
                        json!({ "AccountId": a, "PermissionSetArn": p,
                        "PrincipalType": "USER", "PrincipalId": u })
                    })
                    .collect();
                ok(json!({ "AccountAssignments": items }))
            }
            "ListPermissionSetsProvisionedToAccount" => {
                let sets = self
                    .provisioned_in(s(body, "AccountId"))
                    .into_iter()
                    .collect();
                page(sets, body, "PermissionSets")
            }
            "CreateAccountAssignment" | "DeleteAccountAssignment" => {
                let key = (
                    s(body, "TargetId").to_string(),
                    s(body, "PermissionSetArn").to_string(),
                    s(body, "PrincipalId").to_string(),
                );
                let create = op == "CreateAccountAssignment";
                if create
                    && !self.provisioned_in(&key.0).contains(&key.1)
                    && self.provisioned_in(&key.0).len() >= self.rules.account_quota
                {
                    self.tally.over_quota += 1;
                    return error(
                        "ServiceQuotaExceededException",
                        "permission sets provisioned per account",
                    );
                }
                match self.change(std::slice::from_ref(&key.0), now) {
                    Ok(id) => {
                        if create {
                            self.assignments.insert(key);
                        } else {
                            self.assignments.remove(&key);
                        }
                        let field = if create {
                            "AccountAssignmentCreationStatus"
                        } else {
                            "AccountAssignmentDeletionStatus"
                        };
                        ok(json!({ field: self.status(&id, now) }))
                    }
                    Err(a) => {
                        self.tally.conflicts += 1;
                        error(
                            "ConflictException",
                            &format!("a change in {a} is in progress"),
                        )
                    }
                }
            }
            "DescribeAccountAssignmentCreationStatus" => ok(json!({
                "AccountAssignmentCreationStatus":
                    self.status(s(body, "AccountAssignmentCreationRequestId"), now) })),
            "DescribeAccountAssignmentDeletionStatus" => ok(json!({
                "AccountAssignmentDeletionStatus":
                    self.status(s(body, "AccountAssignmentDeletionRequestId"), now) })),
            other => error("ValidationException", &format!("{other} is not faked")),
        }
    }

    fn instance_id(&self) -> String {
        "ssoins-0000000000000001".into()
    }
}

impl FakeIdentityCenter {
    /// Starts the fake on a free port.
    pub async fn start(rules: Rules) -> Self {
        let state = Arc::new(Mutex::new(State {
            tokens: rules.rate.max(1.0),
            rules,
            refilled: Instant::now(),
            sets: BTreeMap::new(),
            assignments: BTreeSet::new(),
            busy: BTreeMap::new(),
            requests: BTreeMap::new(),
            tally: Tally::default(),
            next_id: 0,
        }));
        let shared = state.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    state.lock().unwrap().answer(&target, &body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            state,
            url,
            instance_arn: "arn:aws:sso:::instance/ssoins-0000000000000001".into(),
        }
    }

    /// What it answered so far.
    pub fn tally(&self) -> Tally {
        self.state.lock().unwrap().tally.clone()
    }

    /// The inline policy of the set named `name`.
    pub fn policy_named(&self, name: &str) -> Option<String> {
        let st = self.state.lock().unwrap();
        st.sets
            .values()
            .find(|p| p.name == name)
            .map(|p| p.policy.clone())
    }

    /// How many assignments there are.
    pub fn assignments(&self) -> usize {
        self.state.lock().unwrap().assignments.len()
    }
}
