//! The application service: every operation of the product, run through the ports.
//!
//! Each operation reads the request, computes the transition with the pure state machine and
//! writes it conditionally (retrying on a concurrent change), then does its side effects. Side
//! effects that put or take away access are keyed on the request's *state*, not on whether this
//! call made the transition, so a retried invocation after a crash still finishes the job.
//! Email and schedule failures after a commit are logged, not returned: the IAM time condition
//! and the sweeper are the backstops, and failing the call would invite a duplicate request.

mod databases;
mod drift;
mod effects;
mod ends;
mod grants;
mod prompts;
mod requests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{instrument, warn};

use crate::access::Place;
use crate::audit::{Action, AuditEvent};
use crate::catalog::{Bundle, Catalog, NotifyTarget, Strategy};
use crate::lifecycle::{Command, LifecycleError, Request, Status, Submission, Transition};
use crate::link::{nonce, LinkClaims, LinkError, LinkSigner};
use crate::notify;
use crate::plan::{grant_of_sid, GrantSpec, PolicyDocument, TooLarge, POLICY_BUDGET};
use crate::policy::{self, Membership, Refusal, RequestInput, Requester, MAX_REASON_CHARS};
use crate::ports::*;
use crate::prompt::{self, AccessDenied, Ignored, Offer, Prompt, PromptStatus};
use crate::types::{Email, GrantDuration, GroupName, RequestId};

pub use databases::DbCredentials;

/// How often a transition is retried when another writer got there first.
const MAX_ATTEMPTS: usize = 8;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request was refused by the catalog's rules.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The command does not apply to the request now.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// No such request.
    #[error("there is no request {0}")]
    NotFound(RequestId),
    /// A decision link was refused.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A decision link was used before.
    #[error("this link has already been used; each link works once")]
    LinkUsed,
    /// Input that is not acceptable, with what to do about it.
    #[error("{0}")]
    Invalid(String),
    /// The grant would not fit in the person's container.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// An AWS quota the grant would exceed.
    #[error(transparent)]
    Quota(#[from] crate::ports::QuotaReached),
    /// Too many concurrent writers on one request.
    #[error("request {0} is changing too quickly; try again")]
    Busy(RequestId),
    /// A downstream service is throttling or briefly unavailable.
    #[error("a downstream service is busy: {0}")]
    Retryable(String),
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl ServiceError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ServiceError::Busy(_) | ServiceError::Retryable(_))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ServiceError::Retryable(m),
            StoreError::Unknown(e) => ServiceError::Unknown(e),
            other => ServiceError::Unknown(anyhow::anyhow!("unexpected store answer: {other}")),
        }
    }
}

impl From<DirectoryError> for ServiceError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Retryable(m) => ServiceError::Retryable(m),
            DirectoryError::Unknown(e) => ServiceError::Unknown(e),
        }
    }
}

/// The adapters the service runs on.
pub struct Ports<S, G, Sc, M, D, C> {
    /// The ledger.
    pub store: S,
    /// AWS identity side.
    pub grantor: G,
    /// One-shot schedules.
    pub scheduler: Sc,
    /// Email.
    pub mailer: M,
    /// People and groups.
    pub directory: D,
    /// Time.
    pub clock: C,
}

/// An approver's answer through a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Yes.
    Approve,
    /// No.
    Deny,
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Grants ended because their expiry passed (their schedule did not fire, or not yet).
    pub ended: usize,
    /// Requests expired because nobody decided.
    pub expired: usize,
    /// Access-denied prompts nobody answered in time.
    pub prompts_expired: usize,
    /// Containers compared with the ledger.
    pub containers: usize,
    /// People's IAM roles compared with the ledger (`iam-role` grants).
    pub roles: usize,
    /// Statements in a container that no live grant explains, removed.
    pub drift_removed: usize,
    /// Live grants whose statements were missing or altered, put back.
    pub drift_restored: usize,
    /// Items that failed and will be tried at the next sweep.
    pub failed: usize,
    /// Notifications left unsent by a call that died after its commit, sent now.
    pub notices_sent: usize,
    /// Requesters warned that their grant ends soon (with chat on).
    pub warned: usize,
    /// Database instances compared with the ledger (`postgres` bundles).
    pub databases: usize,
    /// Session denies removed from shared permission sets once every session they were
    /// there for had ended ([`crate::sessions`]).
    pub session_denies_lapsed: usize,
}

/// How long before its expiry a requester is warned (by the sweep, so up to one sweep period
/// later: deployed, between 15 and 10 minutes before).
pub const WARN_BEFORE_MINUTES: i64 = 15;

/// Grants shorter than this are not warned: the warning would come with the grant itself.
pub const WARN_MIN_GRANT_MINUTES: i64 = 30;

/// Whether the sweep at `now` warns `req`'s requester that it ends soon: an active grant of
/// at least [`WARN_MIN_GRANT_MINUTES`] whose expiry, not warned of yet, is at most
/// [`WARN_BEFORE_MINUTES`] away.
pub fn warning_due(req: &Request, now: DateTime<Utc>) -> bool {
    match (req.status, req.starts_at, req.expires_at) {
        (Status::Active, Some(start), Some(end)) => {
            end > now
                && end - now <= chrono::Duration::minutes(WARN_BEFORE_MINUTES)
                && end - start >= chrono::Duration::minutes(WARN_MIN_GRANT_MINUTES)
                && req.warned_for != Some(end)
        }
        _ => false,
    }
}

/// How long a notice is left to the call that wrote it before the sweep sends it.
pub const NOTICE_GRACE_SECS: i64 = 120;

impl SweepReport {
    /// Drift findings: what the sweeper had to remove or put back.
    pub fn drift(&self) -> usize {
        self.drift_removed + self.drift_restored
    }
}

/// A grant ended by a person (release, revoke): the request afterwards, and whether its
/// access is gone yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// The request, released or revoked.
    pub request: Request,
    /// `None` when the access is gone; otherwise what is still happening, in words.
    pub removal: Option<String>,
}

/// What the sweeper keeps to the ledger.
#[derive(Debug, Clone, Copy)]
enum Holding {
    /// A person's permission set.
    Container,
    /// The grant policies on a person's IAM role.
    Role,
}

/// What one container's (or role's) reconciliation found and fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Statements removed (their Sid, or `(no Sid)`), or role policies removed (their name).
    pub removed: Vec<String>,
    /// Grants whose statements were put back.
    pub restored: Vec<RequestId>,
}

/// What the pod function did with one CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptOutcome {
    /// The person was emailed the bundles that would allow it.
    Prompted(Prompt),
    /// The person was told the service is disabled.
    ToldDisabled(Prompt),
    /// They were prompted for this action within the quiet period (or this event was seen).
    Quiet(AccessDenied),
    /// No bundle the person may ask for allows it.
    NoBundle(AccessDenied),
    /// Not an event to prompt for.
    Ignored(Ignored),
}

/// A person's answer to an access-denied prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptAnswer {
    /// Ask for the offered bundle.
    Request {
        /// How long (the offer's duration when absent).
        duration: Option<GrantDuration>,
        /// Why.
        reason: String,
        /// Ticket reference.
        ticket: Option<String>,
    },
    /// Not needed.
    Dismiss,
}

/// Where access is put in place and taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effects {
    /// Release and revoke remove access in the same call (local mode, tests).
    Inline,
    /// Only the ledger changes; the function fed by the table's stream calls
    /// [`Service::reconcile`], so the API function needs no right to change access in AWS.
    Stream,
}

/// The product's operations.
pub struct Service<S, G, Sc, M, D, C> {
    catalog: Arc<Catalog>,
    catalog_version: String,
    /// The adapters (public so tests and local mode can look inside in-memory ones).
    pub ports: Ports<S, G, Sc, M, D, C>,
    signer: LinkSigner,
    prompt_signer: LinkSigner,
    base_url: String,
    effects: Effects,
    containers_per_sweep: usize,
    access_portal: Option<String>,
    /// How people's IAM roles are named (see [`Service::with_role_name_template`]).
    role_name_template: String,
    /// The web portal's address, linked from approval emails (see [`Service::with_portal`]).
    portal: Option<String>,
    /// Whether transitions write chat notices too (see [`Service::with_chat`]).
    chat: bool,
}

/// How many containers one sweep reconciles at most, by default: with Identity Center's limit
/// of about 20 calls a second shared by everything, 1,000 reads fit well inside a run.
pub const CONTAINERS_PER_SWEEP: usize = 1_000;

/// How often the sweeper runs (the template's `rate(5 minutes)`); sweeps take turns by it.
pub const SWEEP_EVERY_SECS: i64 = 300;

impl<S, G, Sc, M, D, C> Service<S, G, Sc, M, D, C>
where
    S: RequestStore,
    G: Grantor,
    Sc: Scheduler,
    M: Mailer,
    D: Directory,
    C: Clock,
{
    /// A service over `catalog`; decision links point at `base_url` (no trailing slash).
    pub fn new(
        catalog: Arc<Catalog>,
        ports: Ports<S, G, Sc, M, D, C>,
        signer: LinkSigner,
        base_url: &str,
    ) -> Self {
        let catalog_version = catalog.version();
        Self {
            catalog,
            catalog_version,
            ports,
            prompt_signer: signer.derive("jit access-denied prompt links"),
            signer,
            base_url: base_url.trim_end_matches('/').to_string(),
            effects: Effects::Inline,
            containers_per_sweep: CONTAINERS_PER_SWEEP,
            access_portal: None,
            role_name_template: "jit-{user}".to_string(),
            portal: None,
            chat: false,
        }
    }

    /// The same service writing a chat notice with every transition, for a mailer paired with
    /// a chat channel ([`WithChat`]).
    pub fn with_chat(mut self, on: bool) -> Self {
        self.chat = on;
        self
    }

    /// Records `key` as used until `until`: true the first time, false when it was used
    /// before (how a signed chat request is refused when it is sent again).
    pub async fn use_once(&self, key: &str, until: DateTime<Utc>) -> Result<bool, ServiceError> {
        match self.ports.store.use_nonce(key, until).await {
            Ok(()) => Ok(true),
            Err(StoreError::AlreadyExists) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The web portal's address, when there is one.
    pub fn portal(&self) -> Option<&str> {
        self.portal.as_deref()
    }

    /// The same service reconciling at most `n` containers a sweep (at least 1).
    pub fn with_containers_per_sweep(mut self, n: usize) -> Self {
        self.containers_per_sweep = n.max(1);
        self
    }

    /// The same service naming people's IAM roles by `template` (`{user}`: the email's local
    /// part), as the grantor does, in what it tells them; `jit-{user}` when not given.
    pub fn with_role_name_template(mut self, template: Option<String>) -> Self {
        if let Some(t) = template.filter(|t| !t.is_empty()) {
            self.role_name_template = t;
        }
        self
    }

    /// The same service linking the web portal's approvals inbox (its address) from every
    /// approval email, beside the signed links.
    pub fn with_portal(mut self, url: Option<String>) -> Self {
        self.portal = url.filter(|u| !u.is_empty());
        self
    }

    /// The same service naming the Identity Center access portal (its start URL) in what it
    /// tells people, so a granted person gets the link that opens their role.
    pub fn with_access_portal(mut self, start_url: Option<String>) -> Self {
        self.access_portal = start_url.filter(|u| !u.is_empty());
        self
    }

    /// Where `req`'s grant lives and how to open it, in one line (`None` for records that
    /// predate it).
    pub fn how_to_use(&self, req: &Request) -> Option<String> {
        req.place
            .as_ref()
            .map(|p| p.describe(&req.accounts, self.access_portal.as_deref()))
    }

    /// The same service with access changes left to the stream-fed function.
    pub fn with_effects(mut self, effects: Effects) -> Self {
        self.effects = effects;
        self
    }

    /// The catalog in force, shared (for an adapter that draws what it names).
    pub fn shared_catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    /// The catalog in force's version (its content hash, computed once).
    pub fn catalog_version(&self) -> &str {
        &self.catalog_version
    }

    /// The catalog in force.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    /// One request.
    pub async fn get(&self, id: &RequestId) -> Result<Request, ServiceError> {
        self.ports
            .store
            .get(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.clone()))
    }

    /// A request's audit records, oldest first.
    pub async fn timeline(&self, id: &RequestId) -> Result<Vec<AuditEvent>, ServiceError> {
        self.get(id).await?;
        Ok(self.ports.store.timeline(id).await?)
    }

    /// A person's requests, newest first.
    pub async fn requests_of(
        &self,
        person: &Email,
        limit: usize,
    ) -> Result<Vec<Request>, ServiceError> {
        Ok(self.ports.store.by_requester(person, limit).await?)
    }

    /// Audit records in a time range, oldest first.
    pub async fn audit(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        Ok(self.ports.store.audit_between(from, to).await?)
    }

    /// Access-denied prompts sent in a time range, oldest first.
    pub async fn prompts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Prompt>, ServiceError> {
        Ok(self.ports.store.prompts_between(from, to).await?)
    }

    /// Every live (approved or active) grant, soonest expiry first.
    pub async fn live_grants(&self) -> Result<Vec<Request>, ServiceError> {
        let horizon = self.now() + chrono::Duration::days(GrantDuration::MAX_DAYS + 31);
        Ok(self.ports.store.expiring_before(horizon).await?)
    }

    fn bundle_of(&self, req: &Request) -> Result<&Bundle, ServiceError> {
        self.catalog.bundle(&req.bundle).ok_or_else(|| {
            ServiceError::Unknown(anyhow::anyhow!(
                "bundle {} of request {} is no longer in the catalog",
                req.bundle,
                req.id
            ))
        })
    }
}

/// What a request's grant puts in AWS.
pub fn spec(req: &Request, bundle: &Bundle) -> GrantSpec {
    GrantSpec {
        id: req.id.clone(),
        statements: match &bundle.strategy {
            Strategy::Postgres(db) => db.connect_statements(&req.accounts, &req.requester),
            _ => bundle.statements.clone(),
        },
        accounts: req.accounts.clone(),
        starts_at: req.start_at.and(req.starts_at),
        expires_at: req.expires_at.unwrap_or(req.created_at),
    }
}

fn sid_grant(statement: &serde_json::Value) -> Option<RequestId> {
    statement
        .get("Sid")
        .and_then(serde_json::Value::as_str)
        .and_then(grant_of_sid)
}

/// A request-shaped id derived from `seed`, so that a retried operation names the same thing.
fn derived_id(seed: &str) -> RequestId {
    use sha2::{Digest, Sha256};
    let hex = hex::encode(Sha256::digest(seed.as_bytes()));
    RequestId::parse(&hex[..20]).expect("20 hex digits are a request id")
}

/// A prompt's id: derived from CloudTrail's event id, so a redelivered event names the same
/// prompt; generated when the event has none.
fn prompt_id(denied: &AccessDenied, now: DateTime<Utc>) -> RequestId {
    if denied.event_id.is_empty() {
        RequestId::generate(now)
    } else {
        derived_id(&format!("prompt#{}", denied.event_id))
    }
}

fn grant_error(e: GrantError) -> ServiceError {
    match e {
        GrantError::TooLarge(t) => ServiceError::TooLarge(t),
        GrantError::Quota(q) => ServiceError::Quota(q),
        GrantError::Retryable(m) => ServiceError::Retryable(m),
        other => ServiceError::Unknown(anyhow::anyhow!(other)),
    }
}

fn bounded_text(text: &str, field: &str, required: bool) -> Result<String, ServiceError> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "a {field} is required: say why"
        )));
    }
    if let Some((at, c)) = crate::text::forbidden_char(t) {
        return Err(ServiceError::Invalid(format!(
            "the {field} contains U+{:04X} at character {at} (a line break, control or \
             text-direction character): write it on one line, as plain text",
            c as u32
        )));
    }
    if t.chars().count() > MAX_REASON_CHARS {
        return Err(ServiceError::Invalid(format!(
            "the {field} is too long: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(t.to_string())
}
