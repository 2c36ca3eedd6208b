//! In-memory adapters for every port, a fake clock, and helpers to build a whole service on
//! them. Used by the core's tests and by local mode. The store honours the same conditional
//! semantics the DynamoDB adapter does: put-if-absent, update-if-version-and-status, and a
//! transition's audit records written together with it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use jit_core::audit::AuditEvent;
use jit_core::catalog::{Catalog, Strategy, DIRECTORY_FILE};
use jit_core::database::{Database, DbHoldings, HeldGrant, IssuedPassword};
use jit_core::lifecycle::{Request, Status, Transition};
use jit_core::link::LinkSigner;
use jit_core::plan::{GrantSpec, PolicyDocument, TooLarge, POLICY_BUDGET};
use jit_core::ports::*;
use jit_core::prompt::{Prompt, PromptStatus};
use jit_core::service::{Ports, Service, ServiceError};
use jit_core::types::{AccountId, Email, GroupName, RequestId};
use serde::{Deserialize, Serialize};

mod side;
pub use side::PersonSide;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The ledger in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<StoreState>,
}

#[derive(Debug, Default)]
struct StoreState {
    requests: BTreeMap<RequestId, Request>,
    audit: Vec<AuditEvent>,
    nonces: BTreeMap<String, DateTime<Utc>>,
    prompts: BTreeMap<RequestId, Prompt>,
    quiet: BTreeMap<String, DateTime<Utc>>,
    /// Each person's admission version (see [`OpenRequests`]).
    admissions: BTreeMap<Email, u64>,
    /// Notices not acknowledged yet, by request and key.
    notices: BTreeMap<(RequestId, String), Notice>,
    /// What accounts have provisioned against their quota, as a grantor would record it.
    account_use: BTreeMap<AccountId, AccountUse>,
}

impl StoreState {
    fn write(&mut self, t: &Transition) {
        self.requests
            .insert(t.request.id.clone(), t.request.clone());
        self.audit.extend(t.events.iter().cloned());
        for n in &t.notices {
            self.notices
                .insert((t.request.id.clone(), n.key.clone()), n.clone());
        }
    }
}

impl MemoryStore {
    /// Every audit record, in write order.
    pub fn all_audit(&self) -> Vec<AuditEvent> {
        lock(&self.state).audit.clone()
    }

    /// Every request.
    pub fn all_requests(&self) -> Vec<Request> {
        lock(&self.state).requests.values().cloned().collect()
    }

    /// Records what `account` has provisioned against its quota (as the AWS grantor does).
    pub fn set_account_use(&self, account: AccountId, used: AccountUse) {
        lock(&self.state).account_use.insert(account, used);
    }
}

impl RequestStore for MemoryStore {
    async fn create(&self, t: &Transition, open: &OpenRequests) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if s.requests.contains_key(&t.request.id) {
            return Err(StoreError::AlreadyExists);
        }
        let admitted = s.admissions.entry(t.request.requester.clone()).or_default();
        if *admitted != open.version {
            return Err(StoreError::Conflict);
        }
        *admitted += 1;
        s.write(t);
        Ok(())
    }

    async fn open_for(&self, person: &Email) -> Result<OpenRequests, StoreError> {
        let s = lock(&self.state);
        Ok(OpenRequests {
            version: s.admissions.get(person).copied().unwrap_or_default(),
            requests: s
                .requests
                .values()
                .filter(|r| r.requester == *person && !r.status.is_final())
                .cloned()
                .collect(),
        })
    }

    async fn update(
        &self,
        expected_version: u64,
        expected_status: Status,
        t: &Transition,
    ) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        match s.requests.get(&t.request.id) {
            Some(cur) if cur.version == expected_version && cur.status == expected_status => {}
            _ => return Err(StoreError::Conflict),
        }
        s.write(t);
        Ok(())
    }

    async fn get(&self, id: &RequestId) -> Result<Option<Request>, StoreError> {
        Ok(lock(&self.state).requests.get(id).cloned())
    }

    async fn timeline(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let mut events: Vec<AuditEvent> = lock(&self.state)
            .audit
            .iter()
            .filter(|e| e.request_id == *id)
            .cloned()
            .collect();
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    async fn by_requester(&self, email: &Email, limit: usize) -> Result<Vec<Request>, StoreError> {
        let s = lock(&self.state);
        let mut out: Vec<Request> = s
            .requests
            .values()
            .filter(|r| r.requester == *email)
            .cloned()
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out.truncate(limit);
        Ok(out)
    }

    async fn pending_for_group(&self, group: &GroupName) -> Result<Vec<Request>, StoreError> {
        let s = lock(&self.state);
        Ok(s.requests
            .values()
            .filter(|r| r.waiting_on().contains(group))
            .cloned()
            .collect())
    }

    async fn live_for(&self, email: &Email) -> Result<Vec<Request>, StoreError> {
        let s = lock(&self.state);
        Ok(s.requests
            .values()
            .filter(|r| r.requester == *email && r.status.is_live())
            .cloned()
            .collect())
    }

    async fn expiring_before(&self, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        let s = lock(&self.state);
        let mut out: Vec<Request> = s
            .requests
            .values()
            .filter(|r| r.status.is_live() && r.expires_at.is_some_and(|e| e <= t))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.expires_at);
        Ok(out)
    }

    async fn undecided_before(&self, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        let s = lock(&self.state);
        Ok(s.requests
            .values()
            .filter(|r| r.status == Status::Pending && r.decision_deadline() <= t)
            .cloned()
            .collect())
    }

    async fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let s = lock(&self.state);
        let mut out: Vec<AuditEvent> = s
            .audit
            .iter()
            .filter(|e| e.at >= from && e.at < to)
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then(a.request_id.cmp(&b.request_id))
                .then(a.seq.cmp(&b.seq))
        });
        Ok(out)
    }

    async fn nonce_used(&self, nonce: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.state).nonces.contains_key(nonce))
    }

    async fn use_nonce(&self, nonce: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if s.nonces.contains_key(nonce) {
            return Err(StoreError::AlreadyExists);
        }
        s.nonces.insert(nonce.to_string(), expires);
        Ok(())
    }

    async fn create_prompt(
        &self,
        prompt: &Prompt,
        quiet_until: DateTime<Utc>,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        let key = prompt.quiet_key();
        let quiet = s
            .quiet
            .get(&key)
            .is_some_and(|until| *until >= prompt.created_at);
        if quiet || s.prompts.contains_key(&prompt.id) {
            return Err(StoreError::AlreadyExists);
        }
        s.quiet.insert(key, quiet_until);
        s.prompts.insert(prompt.id.clone(), prompt.clone());
        for n in notices {
            s.notices
                .insert((prompt.id.clone(), n.key.clone()), n.clone());
        }
        Ok(())
    }

    async fn get_prompt(&self, id: &RequestId) -> Result<Option<Prompt>, StoreError> {
        Ok(lock(&self.state).prompts.get(id).cloned())
    }

    async fn update_prompt(
        &self,
        expected_version: u64,
        prompt: &Prompt,
    ) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        match s.prompts.get(&prompt.id) {
            Some(current) if current.version == expected_version => {
                s.prompts.insert(prompt.id.clone(), prompt.clone());
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn prompts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Prompt>, StoreError> {
        let mut out: Vec<Prompt> = lock(&self.state)
            .prompts
            .values()
            .filter(|p| p.created_at >= from && p.created_at < to)
            .cloned()
            .collect();
        out.sort_by_key(|p| p.created_at);
        Ok(out)
    }

    async fn notices_before(&self, t: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
        let mut out: Vec<Notice> = lock(&self.state)
            .notices
            .values()
            .filter(|n| n.written_at <= t)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.written_at.cmp(&b.written_at).then(a.key.cmp(&b.key)));
        Ok(out)
    }

    async fn notice_delivered(&self, request: &RequestId, key: &str) -> Result<(), StoreError> {
        lock(&self.state)
            .notices
            .remove(&(request.clone(), key.to_string()));
        Ok(())
    }

    async fn prompts_unanswered_before(&self, t: DateTime<Utc>) -> Result<Vec<Prompt>, StoreError> {
        Ok(lock(&self.state)
            .prompts
            .values()
            .filter(|p| p.status == PromptStatus::Prompted && p.answer_by() <= t)
            .cloned()
            .collect())
    }

    async fn account_use(&self, account: &AccountId) -> Result<Option<AccountUse>, StoreError> {
        Ok(lock(&self.state).account_use.get(account).copied())
    }
}

/// Published catalog versions in memory.
#[derive(Debug, Default)]
pub struct MemoryCatalogs {
    versions: Mutex<Vec<CatalogVersion>>,
}

impl CatalogStore for MemoryCatalogs {
    async fn publish(&self, v: &CatalogVersion) -> Result<bool, StoreError> {
        let mut versions = lock(&self.versions);
        if versions.last().is_some_and(|c| c.version == v.version) {
            return Ok(false);
        }
        versions.push(v.clone());
        Ok(true)
    }

    async fn current(&self) -> Result<Option<CatalogVersion>, StoreError> {
        Ok(lock(&self.versions).last().cloned())
    }

    async fn history(&self, limit: usize) -> Result<Vec<CatalogVersion>, StoreError> {
        let versions = lock(&self.versions);
        Ok(versions
            .iter()
            .rev()
            .take(limit)
            .map(|v| CatalogVersion {
                files: Vec::new(),
                ..v.clone()
            })
            .collect())
    }
}

/// The simulated AWS identity side: per-person permission sets with their inline policy,
/// account assignments, and IAM role inline policies.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct IdentitySide {
    /// Each person's container permission set's inline policy.
    pub containers: BTreeMap<Email, PolicyDocument>,
    /// The accounts each person's container is assigned in.
    pub container_accounts: BTreeMap<Email, BTreeSet<AccountId>>,
    /// Temporary assignments: "person account permission-set" → the grants holding it.
    pub assignments: BTreeMap<String, BTreeSet<RequestId>>,
    /// Each person's role's inline policies, by policy name (`jit-<grant>`).
    pub role_policies: BTreeMap<Email, BTreeMap<String, PolicyDocument>>,
    /// Simulated database grants (`postgres` bundles without a server), by grant.
    #[serde(default)]
    pub database_grants: BTreeMap<RequestId, SimulatedDbGrant>,
}

/// A database grant as the simulation holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedDbGrant {
    /// Whose.
    pub person: Email,
    /// The instance.
    pub instance: String,
    /// The database.
    pub database: String,
}

/// A failure the fake grantor will return on its next calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Throttling / ConflictException: retryable.
    Throttle,
    /// The person has no identity in AWS: permanent.
    NoIdentity,
}

/// Applies grants to [`IdentitySide`].
#[derive(Debug, Default)]
pub struct MemoryGrantor {
    side: Mutex<IdentitySide>,
    faults: Mutex<VecDeque<Fault>>,
    calls: Mutex<usize>,
}

impl MemoryGrantor {
    /// A grantor whose identity side starts as `side` (one saved earlier).
    pub fn with_side(side: IdentitySide) -> Self {
        Self {
            side: Mutex::new(side),
            ..Self::default()
        }
    }

    /// A copy of the identity side.
    pub fn snapshot(&self) -> IdentitySide {
        lock(&self.side).clone()
    }

    /// Changes a person's container behind the product's back (tests of drift repair),
    /// creating it if needed.
    pub fn tamper(&self, person: &Email, change: impl FnOnce(&mut PolicyDocument)) {
        change(
            lock(&self.side)
                .containers
                .entry(person.clone())
                .or_default(),
        );
    }

    /// Changes a person's role policies behind the product's back (tests of drift repair).
    pub fn tamper_role(&self, person: &Email, change: impl FnOnce(&mut RolePolicies)) {
        change(
            lock(&self.side)
                .role_policies
                .entry(person.clone())
                .or_default(),
        );
    }

    /// Makes the next calls fail with `fault`, in order.
    pub fn inject(&self, faults: &[Fault]) {
        lock(&self.faults).extend(faults.iter().copied());
    }

    /// How many apply/remove calls were made.
    pub fn calls(&self) -> usize {
        *lock(&self.calls)
    }

    fn fault(&self, person: &Email) -> Result<(), GrantError> {
        *lock(&self.calls) += 1;
        match lock(&self.faults).pop_front() {
            None => Ok(()),
            Some(Fault::Throttle) => Err(GrantError::Retryable(
                "ThrottlingException: rate exceeded".into(),
            )),
            Some(Fault::NoIdentity) => Err(GrantError::NoIdentity(format!(
                "{person} has no user in Identity Center"
            ))),
        }
    }
}

/// Adds `grant`'s statements to `person`'s container and assigns it in the grant's accounts.
fn put_in_container(
    side: &mut IdentitySide,
    person: &Email,
    grant: &GrantSpec,
) -> Result<(), GrantError> {
    let doc = side.containers.get(person).cloned().unwrap_or_default();
    let next = doc.with(grant, POLICY_BUDGET)?;
    side.containers.insert(person.clone(), next);
    side.container_accounts
        .entry(person.clone())
        .or_default()
        .extend(grant.accounts.iter().cloned());
    Ok(())
}

/// Removes `grant`'s statements from `person`'s container, if they have one.
fn take_from_container(side: &mut IdentitySide, person: &Email, grant: &GrantSpec) {
    if let Some(doc) = side.containers.get(person) {
        let next = doc.without(&grant.id);
        side.containers.insert(person.clone(), next);
    }
}

fn assignment_key(person: &Email, account: &AccountId, ps: &str) -> String {
    format!("{person} {account} {ps}")
}

impl Grantor for MemoryGrantor {
    async fn apply(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.fault(person)?;
        let mut side = lock(&self.side);
        match strategy {
            Strategy::Postgres(db) => {
                side.database_grants.insert(
                    grant.id.clone(),
                    SimulatedDbGrant {
                        person: person.clone(),
                        instance: db.instance.clone(),
                        database: db.database.clone(),
                    },
                );
                // With IAM sign-in, its rds-db:connect statement goes to the container.
                if !grant.statements.is_empty() {
                    put_in_container(&mut side, person, grant)?;
                }
            }
            Strategy::Container => put_in_container(&mut side, person, grant)?,
            Strategy::Assignment { permission_set } => {
                for account in &grant.accounts {
                    let key = assignment_key(person, account, permission_set.as_str());
                    side.assignments
                        .entry(key)
                        .or_default()
                        .insert(grant.id.clone());
                }
            }
            Strategy::IamRole => {
                let name = role_policy_name(&grant.id);
                let policies = side.role_policies.entry(person.clone()).or_default();
                let doc = grant.document();
                let others: usize = policies
                    .iter()
                    .filter(|(n, _)| **n != name)
                    .map(|(_, d)| d.size())
                    .sum();
                if others + doc.size() > POLICY_BUDGET {
                    let room = POLICY_BUDGET.saturating_sub(others);
                    return Err(GrantError::TooLarge(TooLarge {
                        needed: doc.size(),
                        room,
                        budget: POLICY_BUDGET,
                    }));
                }
                policies.insert(name, doc);
            }
        }
        Ok(())
    }

    async fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.fault(person)?;
        let mut side = lock(&self.side);
        match strategy {
            Strategy::Postgres(_) => {
                side.database_grants.remove(&grant.id);
                take_from_container(&mut side, person, grant);
            }
            Strategy::Container => take_from_container(&mut side, person, grant),
            Strategy::Assignment { permission_set } => {
                for account in &grant.accounts {
                    let key = assignment_key(person, account, permission_set.as_str());
                    if let Some(holders) = side.assignments.get_mut(&key) {
                        holders.remove(&grant.id);
                        // The assignment goes only when no other live grant holds it.
                        if holders.is_empty() {
                            side.assignments.remove(&key);
                        }
                    }
                }
            }
            Strategy::IamRole => {
                if let Some(p) = side.role_policies.get_mut(person) {
                    p.remove(&role_policy_name(&grant.id));
                }
            }
        }
        Ok(())
    }

    async fn role_holders(&self) -> Result<Vec<Email>, GrantError> {
        Ok(lock(&self.side).role_policies.keys().cloned().collect())
    }

    async fn role_policies(&self, person: &Email) -> Result<Option<RolePolicies>, GrantError> {
        self.fault(person)?;
        Ok(lock(&self.side).role_policies.get(person).map(|p| {
            p.iter()
                .filter(|(n, _)| grant_of_role_policy(n).is_some())
                .map(|(n, d)| (n.clone(), d.clone()))
                .collect()
        }))
    }

    async fn replace_role_policies(
        &self,
        person: &Email,
        seen: &RolePolicies,
        next: &RolePolicies,
    ) -> Result<bool, GrantError> {
        self.fault(person)?;
        let mut side = lock(&self.side);
        let Some(policies) = side.role_policies.get_mut(person) else {
            return Ok(false);
        };
        let ours: RolePolicies = policies
            .iter()
            .filter(|(n, _)| grant_of_role_policy(n).is_some())
            .map(|(n, d)| (n.clone(), d.clone()))
            .collect();
        if ours != *seen {
            return Ok(false);
        }
        policies.retain(|n, _| grant_of_role_policy(n).is_none() || next.contains_key(n));
        for (n, d) in next {
            policies.insert(n.clone(), d.clone());
        }
        Ok(true)
    }

    async fn containers(&self) -> Result<Vec<Email>, GrantError> {
        Ok(lock(&self.side).containers.keys().cloned().collect())
    }

    async fn db_password(
        &self,
        person: &Email,
        db: &Database,
        _until: DateTime<Utc>,
    ) -> Result<IssuedPassword, GrantError> {
        self.fault(person)?;
        let holds = lock(&self.side)
            .database_grants
            .values()
            .any(|g| &g.person == person && g.instance == db.instance);
        if !holds {
            return Err(GrantError::NoIdentity(format!(
                "{person} holds no grant on database instance {}",
                db.instance
            )));
        }
        // Simulated: no server checks it (jit-local --postgres URL makes real ones).
        Ok(IssuedPassword {
            password: format!("simulated-{:016x}", rand::random::<u64>()),
            host: db.endpoint.clone(),
            port: db.port,
            tls: db.tls,
        })
    }

    async fn db_holdings(&self, db: &Database) -> Result<DbHoldings, GrantError> {
        Ok(DbHoldings {
            grants: lock(&self.side)
                .database_grants
                .iter()
                .filter(|(_, g)| g.instance == db.instance)
                .map(|(id, g)| HeldGrant {
                    person: g.person.clone(),
                    grant: id.clone(),
                    database: g.database.clone(),
                })
                .collect(),
            idle_logins: Vec::new(),
        })
    }

    async fn container_policy(&self, person: &Email) -> Result<Option<PolicyDocument>, GrantError> {
        self.fault(person)?;
        Ok(lock(&self.side).containers.get(person).cloned())
    }

    async fn replace_container_policy(
        &self,
        person: &Email,
        seen: &PolicyDocument,
        next: &PolicyDocument,
    ) -> Result<bool, GrantError> {
        self.fault(person)?;
        let mut side = lock(&self.side);
        if side.containers.get(person) != Some(seen) {
            return Ok(false);
        }
        side.containers.insert(person.clone(), next.clone());
        Ok(true)
    }
}

/// One-shot schedules held in memory; [`MemoryScheduler::take_due`] hands out those whose time
/// has come and deletes them (as ActionAfterCompletion=DELETE does).
#[derive(Debug, Default)]
pub struct MemoryScheduler {
    schedules: Mutex<BTreeMap<String, Schedule>>,
}

impl MemoryScheduler {
    /// Every schedule not yet fired.
    pub fn all(&self) -> Vec<Schedule> {
        lock(&self.schedules).values().cloned().collect()
    }

    /// Removes and returns the schedules due at `now`, earliest first.
    pub fn take_due(&self, now: DateTime<Utc>) -> Vec<Schedule> {
        let mut s = lock(&self.schedules);
        let due: Vec<String> = s
            .iter()
            .filter(|(_, v)| v.at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Schedule> = due.iter().filter_map(|k| s.remove(k)).collect();
        out.sort_by(|a, b| a.at.cmp(&b.at).then(a.name.cmp(&b.name)));
        out
    }

    /// Drops a schedule without firing it, as if Scheduler had lost it.
    pub fn lose(&self, name: &str) -> bool {
        lock(&self.schedules).remove(name).is_some()
    }
}

impl Scheduler for MemoryScheduler {
    async fn schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        lock(&self.schedules)
            .entry(schedule.name.clone())
            .or_insert_with(|| schedule.clone());
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), ScheduleError> {
        lock(&self.schedules).remove(name);
        Ok(())
    }
}

/// An outbox that keeps every message.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    outbox: Mutex<Vec<Message>>,
    failures: Mutex<usize>,
}

impl MemoryMailer {
    /// Every message sent, oldest first.
    pub fn sent(&self) -> Vec<Message> {
        lock(&self.outbox).clone()
    }

    /// The next `n` sends fail, as if the process died before it could send (tests of the
    /// notification outbox).
    pub fn fail_next(&self, n: usize) {
        *lock(&self.failures) = n;
    }
}

/// The chat cards an adapter posted, by request (see [`CardStore`]).
#[derive(Debug, Default)]
pub struct MemoryCards {
    cards: Mutex<BTreeMap<RequestId, BTreeMap<String, Card>>>,
}

impl CardStore for MemoryCards {
    async fn put_card(&self, request: &RequestId, card: &Card) -> Result<(), StoreError> {
        lock(&self.cards)
            .entry(request.clone())
            .or_default()
            .insert(card.key.clone(), card.clone());
        Ok(())
    }

    async fn cards(&self, request: &RequestId) -> Result<Vec<Card>, StoreError> {
        Ok(lock(&self.cards)
            .get(request)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        {
            let mut failures = lock(&self.failures);
            if *failures > 0 {
                *failures -= 1;
                return Err(MailError::Retryable("injected failure".into()));
            }
        }
        lock(&self.outbox).push(message.clone());
        Ok(())
    }
}

/// `directory.toml`: `[[group]]` tables with `name` and `members`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    group: Vec<GroupEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEntry {
    name: GroupName,
    #[serde(default)]
    members: Vec<Email>,
}

/// A directory file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryFileError {
    /// Not readable.
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    /// Not valid.
    #[error("{0}: {1}")]
    Invalid(String, String),
}

/// People and groups held in memory.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    groups: Mutex<BTreeMap<GroupName, BTreeSet<Email>>>,
}

impl MemoryDirectory {
    /// Reads the `directory.toml` format.
    pub fn from_toml(name: &str, text: &str) -> Result<Self, DirectoryFileError> {
        let file: DirectoryFile = toml::from_str(text)
            .map_err(|e| DirectoryFileError::Invalid(name.into(), e.to_string()))?;
        let dir = Self::default();
        for g in file.group {
            let mut groups = lock(&dir.groups);
            if groups.contains_key(&g.name) {
                return Err(DirectoryFileError::Invalid(
                    name.into(),
                    format!("group {} is listed twice", g.name),
                ));
            }
            groups.insert(g.name, g.members.into_iter().collect());
        }
        Ok(dir)
    }

    /// Reads `directory.toml` from a catalog directory.
    pub fn load(catalog_dir: &Path) -> Result<Self, DirectoryFileError> {
        let path = catalog_dir.join(DIRECTORY_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| DirectoryFileError::Io(path.display().to_string(), e))?;
        Self::from_toml(&path.display().to_string(), &text)
    }

    /// Puts `person` in `group`.
    pub fn add(&self, group: &GroupName, person: &Email) {
        lock(&self.groups)
            .entry(group.clone())
            .or_default()
            .insert(person.clone());
    }

    /// Every group with its members (to seed a real Identity Store from `directory.toml`).
    pub fn groups(&self) -> Vec<(GroupName, BTreeSet<Email>)> {
        lock(&self.groups)
            .iter()
            .map(|(g, m)| (g.clone(), m.clone()))
            .collect()
    }

    /// Takes `person` out of `group`.
    pub fn remove(&self, group: &GroupName, person: &Email) {
        if let Some(m) = lock(&self.groups).get_mut(group) {
            m.remove(person);
        }
    }
}

impl Directory for MemoryDirectory {
    async fn groups_of(&self, person: &Email) -> Result<Vec<GroupName>, DirectoryError> {
        Ok(lock(&self.groups)
            .iter()
            .filter(|(_, m)| m.contains(person))
            .map(|(g, _)| g.clone())
            .collect())
    }

    async fn members(&self, group: &GroupName) -> Result<BTreeSet<Email>, DirectoryError> {
        Ok(lock(&self.groups).get(group).cloned().unwrap_or_default())
    }
}

/// A test clock: stopped (it moves only when told) or running (real time plus every
/// advance, as local mode uses it).
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<DateTime<Utc>>,
    running_since: Option<std::time::Instant>,
}

impl FakeClock {
    /// A clock stopped at `start`.
    pub fn at(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
            running_since: None,
        }
    }

    /// A clock that runs with real time from `start` (and moves further when advanced).
    pub fn running_from(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
            running_since: Some(std::time::Instant::now()),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        let base = *lock(&self.now);
        match self.running_since {
            Some(since) => base + Duration::from_std(since.elapsed()).unwrap_or_default(),
            None => base,
        }
    }
}

/// A service running entirely on the in-memory adapters.
pub type MemoryService =
    Service<MemoryStore, MemoryGrantor, MemoryScheduler, MemoryMailer, MemoryDirectory, FakeClock>;

/// Builds a [`MemoryService`] with its clock at `start`.
pub fn memory_service(
    catalog: Arc<Catalog>,
    directory: MemoryDirectory,
    start: DateTime<Utc>,
    signing_key: &[u8],
    base_url: &str,
) -> Result<MemoryService, jit_core::link::WeakKey> {
    memory_service_with_clock(
        catalog,
        directory,
        FakeClock::at(start),
        signing_key,
        base_url,
    )
}

/// Builds a [`MemoryService`] on the given clock.
pub fn memory_service_with_clock(
    catalog: Arc<Catalog>,
    directory: MemoryDirectory,
    clock: FakeClock,
    signing_key: &[u8],
    base_url: &str,
) -> Result<MemoryService, jit_core::link::WeakKey> {
    let ports = Ports {
        store: MemoryStore::default(),
        grantor: MemoryGrantor::default(),
        scheduler: MemoryScheduler::default(),
        mailer: MemoryMailer::default(),
        directory,
        clock,
    };
    Ok(Service::new(
        catalog,
        ports,
        LinkSigner::new(signing_key)?,
        base_url,
    ))
}

/// Applies every approved grant whose start has come, as the stream-fed grant function does
/// in AWS. Returns the outcome for each.
pub async fn settle(service: &MemoryService) -> Vec<Result<Request, ServiceError>> {
    let now = service.now();
    let mut out = Vec::new();
    for r in service.ports.store.all_requests() {
        if r.status == Status::Approved && r.starts_at.is_some_and(|s| s <= now) {
            out.push(service.activate(&r.id).await);
        }
    }
    out
}

/// Fires every schedule due by the service's clock (repeatedly, as firing may create schedules
/// that are already due), then activates any approved grant whose start has come, as the
/// stream-fed grant function would. Returns the schedules fired, with each outcome.
pub async fn run_due(service: &MemoryService) -> Vec<(Schedule, Result<Request, ServiceError>)> {
    let mut fired = Vec::new();
    loop {
        let due = service.ports.scheduler.take_due(service.now());
        if due.is_empty() {
            break;
        }
        for s in due {
            let outcome = service.fire(&s.action).await;
            fired.push((s, outcome));
        }
    }
    fired
}

/// A [`MemoryService`] on the catalog and `directory.toml` in `catalog_dir`, its clock stopped
/// at `start` (the handler tests' and examples' starting point).
pub fn demo(catalog_dir: &Path, start: DateTime<Utc>) -> MemoryService {
    let catalog = jit_core::catalog::load_dir(catalog_dir).expect("the demo catalog is valid");
    let directory = MemoryDirectory::load(catalog_dir).expect("the demo directory is valid");
    memory_service(
        Arc::new(catalog),
        directory,
        start,
        b"demo-signing-key-of-at-least-32-bytes",
        "https://jit.example.com",
    )
    .expect("the demo key is long enough")
}
