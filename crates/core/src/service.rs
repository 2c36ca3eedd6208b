//! The application service: every operation of the product, run through the ports.
//!
//! Each operation reads the request, computes the transition with the pure state machine and
//! writes it conditionally (retrying on a concurrent change), then does its side effects. Side
//! effects that put or take away access are keyed on the request's *state*, not on whether this
//! call made the transition, so a retried invocation after a crash still finishes the job.
//! Email and schedule failures after a commit are logged, not returned: the IAM time condition
//! and the sweeper are the backstops, and failing the call would invite a duplicate request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{instrument, warn};

use crate::audit::AuditEvent;
use crate::catalog::{Bundle, Catalog, NotifyTarget, Strategy};
use crate::lifecycle::{Command, LifecycleError, Request, Status, Submission};
use crate::link::{nonce, LinkClaims, LinkError, LinkSigner};
use crate::notify;
use crate::plan::{grant_of_sid, GrantSpec, PolicyDocument, TooLarge, POLICY_BUDGET};
use crate::policy::{self, Membership, Refusal, RequestInput, Requester, MAX_REASON_CHARS};
use crate::ports::*;
use crate::prompt::{self, AccessDenied, Ignored, Offer, Prompt, PromptStatus};
use crate::types::{Email, GrantDuration, GroupName, RequestId};

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
}

impl SweepReport {
    /// Drift findings: what the sweeper had to remove or put back.
    pub fn drift(&self) -> usize {
        self.drift_removed + self.drift_restored
    }
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
        }
    }

    /// The same service reconciling at most `n` containers a sweep (at least 1).
    pub fn with_containers_per_sweep(mut self, n: usize) -> Self {
        self.containers_per_sweep = n.max(1);
        self
    }

    /// The same service with access changes left to the stream-fed function.
    pub fn with_effects(mut self, effects: Effects) -> Self {
        self.effects = effects;
        self
    }

    /// Brings AWS in line with one request's state (what the stream-fed function runs for each
    /// changed request): applies an approved grant whose start has come, puts an active grant's
    /// statements as the ledger has them (after an extension), removes the access of one that
    /// ended. Safe to run any number of times.
    pub async fn reconcile(&self, id: &RequestId) -> Result<Request, ServiceError> {
        let req = self.get(id).await?;
        match req.status {
            Status::Approved => self.activate_read(req).await,
            Status::Active => {
                // Puts the statements as the ledger has them (an extension moves the expiry in
                // the IAM condition); unchanged statements are not written again.
                let b = self.bundle_of(&req)?;
                self.ports
                    .grantor
                    .apply(&req.requester, &b.strategy, &spec(&req, b))
                    .await
                    .map_err(grant_error)?;
                Ok(req)
            }
            Status::Released | Status::Revoked | Status::Ended => {
                self.take_away(&req).await?;
                Ok(req)
            }
            _ => Ok(req),
        }
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

    /// Requests `person` can decide now and has not voted on.
    pub async fn approvals_for(&self, person: &Email) -> Result<Vec<Request>, ServiceError> {
        let groups = self.ports.directory.groups_of(person).await?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for g in &groups {
            for r in self.ports.store.pending_for_group(g).await? {
                let may = !r.plan.counts_for(r.tier, person, &groups).is_empty();
                let voted = r.votes.iter().any(|v| v.approver == *person);
                if may && !voted && seen.insert(r.id.clone()) {
                    out.push(r);
                }
            }
        }
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    async fn membership(&self, groups: &BTreeSet<GroupName>) -> Result<Membership, ServiceError> {
        let mut m = Membership::new();
        for g in groups {
            m.insert(g.clone(), self.ports.directory.members(g).await?);
        }
        Ok(m)
    }

    /// Asks for a bundle. Returns the stored request: approved (auto) or pending.
    #[instrument(skip(self, input), fields(requester = %caller))]
    pub async fn submit(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> Result<Request, ServiceError> {
        self.submit_as(caller, input, RequestId::generate(self.now()))
            .await
    }

    /// [`Self::submit`] under a given id: a second submission under the same id returns the
    /// first request unchanged (how a prompt's form stays single-use under double clicks).
    async fn submit_as(
        &self,
        caller: &Email,
        input: RequestInput,
        id: RequestId,
    ) -> Result<Request, ServiceError> {
        if let Some(existing) = self.ports.store.get(&id).await? {
            return Ok(existing);
        }
        let now = self.now();
        let bundle = input.bundle.clone().ok_or(Refusal::NoBundle)?;
        let groups = self.ports.directory.groups_of(caller).await?;
        let membership = self
            .membership(&policy::groups_needed(&self.catalog, &bundle))
            .await?;
        let requester = Requester {
            email: caller.clone(),
            groups,
        };
        let decision = policy::decide(&self.catalog, &requester, &membership, &input, now)?;
        let b = self
            .catalog
            .bundle(&decision.bundle)
            .expect("a decided bundle exists");
        if b.strategy == Strategy::Container {
            let expires = input.start_at.unwrap_or(now).max(now) + decision.duration.as_chrono();
            let spec = GrantSpec {
                id: RequestId::generate(now),
                statements: b.statements.clone(),
                accounts: decision.accounts.clone(),
                starts_at: input.start_at.filter(|s| *s > now),
                expires_at: expires,
            };
            self.check_room(caller, &spec).await?;
        }
        let sub = Submission {
            requester: caller.clone(),
            reason: input.reason.clone().unwrap_or_default().trim().to_string(),
            ticket: input
                .ticket
                .clone()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            start_at: input.start_at,
            catalog_version: self.catalog_version.clone(),
        };
        let t = Request::submit(id.clone(), &decision, sub, now);
        match self.ports.store.create(&t).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return self.get(&id).await,
            Err(e) => return Err(e.into()),
        }
        let req = t.request;
        match req.status {
            Status::Pending => {
                self.ask_approvers(&req, req.tier).await;
                if let Some((tier, at)) = req.next_escalation() {
                    self.schedule(
                        ScheduledAction::Escalate {
                            request_id: req.id.clone(),
                            tier,
                        },
                        at,
                    )
                    .await;
                }
                self.schedule(
                    ScheduledAction::ExpireRequest {
                        request_id: req.id.clone(),
                    },
                    req.decision_deadline(),
                )
                .await;
            }
            Status::Approved => self.on_approved(&req).await,
            _ => {}
        }
        Ok(req)
    }

    /// Refuses a grant that would not fit next to the person's live container grants.
    async fn check_room(&self, person: &Email, new: &GrantSpec) -> Result<(), ServiceError> {
        let live: Vec<GrantSpec> = self
            .ports
            .store
            .live_for(person)
            .await?
            .iter()
            .filter_map(|r| {
                self.catalog
                    .bundle(&r.bundle)
                    .filter(|b| b.strategy == Strategy::Container)
                    .map(|b| spec(r, b))
            })
            .collect();
        PolicyDocument::default()
            .rebuilt(&live, POLICY_BUDGET)?
            .with(new, POLICY_BUDGET)?;
        Ok(())
    }

    /// Reads, applies `command` and writes conditionally, retrying on conflict. Returns the
    /// request afterwards and whether this call changed it.
    async fn transition(
        &self,
        id: &RequestId,
        command: impl Fn(&Request) -> Result<Command, ServiceError>,
    ) -> Result<(Request, bool), ServiceError> {
        self.transition_from(id, None, command).await
    }

    /// [`Self::transition`], trying first from `known` (a copy just read) to save a read; the
    /// write is conditional on its version, so a stale copy only costs a retry.
    async fn transition_from(
        &self,
        id: &RequestId,
        mut known: Option<Request>,
        command: impl Fn(&Request) -> Result<Command, ServiceError>,
    ) -> Result<(Request, bool), ServiceError> {
        for _ in 0..MAX_ATTEMPTS {
            let current = match known.take() {
                Some(r) => r,
                None => self.get(id).await?,
            };
            let cmd = command(&current)?;
            let Some(t) = current.apply(&cmd, self.now())? else {
                return Ok((current, false));
            };
            match self
                .ports
                .store
                .update(current.version, current.status, &t)
                .await
            {
                Ok(()) => return Ok((t.request, true)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Busy(id.clone()))
    }

    /// An approver says yes, optionally for a shorter time.
    #[instrument(skip(self, message), fields(request_id = %id, approver = %caller))]
    pub async fn approve(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", false)?;
        let groups = self.ports.directory.groups_of(caller).await?;
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Approve {
                    approver: caller.clone(),
                    groups: groups.clone(),
                    message: message.clone(),
                    duration,
                })
            })
            .await?;
        if changed && req.status == Status::Approved {
            self.forget_waiting_schedules(&req).await;
            self.on_approved(&req).await;
        }
        Ok(req)
    }

    /// An approver says no; a message is required so the requester knows why.
    #[instrument(skip(self, message), fields(request_id = %id, approver = %caller))]
    pub async fn deny(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", true)?;
        let groups = self.ports.directory.groups_of(caller).await?;
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Deny {
                    approver: caller.clone(),
                    groups: groups.clone(),
                    message: message.clone(),
                })
            })
            .await?;
        if changed {
            self.forget_waiting_schedules(&req).await;
            self.tell(notify::status_notice(
                &req,
                &format!("{caller} denied your request: {message}"),
            ))
            .await;
        }
        Ok(req)
    }

    /// Checks a decision link without using it (for the confirmation page).
    pub async fn inspect_link(&self, token: &str) -> Result<(LinkClaims, Request), ServiceError> {
        let claims = self.signer.verify(token, self.now(), None)?;
        let req = self.get(&claims.request_id).await?;
        Ok((claims, req))
    }

    /// Acts on a decision link, once: the nonce is recorded before the decision, and the
    /// approver's right to decide is checked again against the directory now.
    #[instrument(skip(self, token, message))]
    pub async fn decide_by_link(
        &self,
        token: &str,
        verdict: Verdict,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> Result<Request, ServiceError> {
        let claims = self.signer.verify(token, self.now(), None)?;
        bounded_text(message, "message", verdict == Verdict::Deny)?;
        let expires = DateTime::from_timestamp(claims.expires, 0).unwrap_or_else(|| self.now());
        match self.ports.store.use_nonce(&claims.nonce, expires).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(ServiceError::LinkUsed),
            Err(e) => return Err(e.into()),
        }
        match verdict {
            Verdict::Approve => {
                self.approve(&claims.approver, &claims.request_id, message, duration)
                    .await
            }
            Verdict::Deny => {
                self.deny(&claims.approver, &claims.request_id, message)
                    .await
            }
        }
    }

    /// The requester withdraws a pending (or not yet started) request.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn cancel(&self, caller: &Email, id: &RequestId) -> Result<Request, ServiceError> {
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Cancel {
                    actor: caller.clone(),
                })
            })
            .await?;
        if changed {
            self.forget_waiting_schedules(&req).await;
            self.forget(ScheduledAction::StartGrant {
                request_id: req.id.clone(),
            })
            .await;
        }
        Ok(req)
    }

    /// The requester ends their grant early.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn release(&self, caller: &Email, id: &RequestId) -> Result<Request, ServiceError> {
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Release {
                    actor: caller.clone(),
                })
            })
            .await?;
        if self.effects == Effects::Inline {
            self.take_away(&req).await?;
        }
        if changed {
            self.tell(notify::status_notice(
                &req,
                "You released your grant; the access is gone.",
            ))
            .await;
        }
        Ok(req)
    }

    /// An admin ends a grant.
    #[instrument(skip(self, message), fields(request_id = %id, admin = %caller))]
    pub async fn revoke(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", true)?;
        let is_admin = self.is_admin(caller).await?;
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Revoke {
                    actor: caller.clone(),
                    is_admin,
                    message: message.clone(),
                })
            })
            .await?;
        if self.effects == Effects::Inline {
            self.take_away(&req).await?;
        }
        if changed {
            self.tell(notify::status_notice(
                &req,
                &format!("{caller} revoked your grant: {message}"),
            ))
            .await;
        }
        Ok(req)
    }

    /// An admin records the review of a break-glass grant.
    pub async fn review(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", true)?;
        let is_admin = self.is_admin(caller).await?;
        let (req, _) = self
            .transition(id, |_| {
                Ok(Command::Review {
                    actor: caller.clone(),
                    is_admin,
                    message: message.clone(),
                })
            })
            .await?;
        Ok(req)
    }

    async fn is_admin(&self, person: &Email) -> Result<bool, ServiceError> {
        Ok(self
            .ports
            .directory
            .groups_of(person)
            .await?
            .contains(&self.catalog.settings.admin_group))
    }

    /// The requester lengthens an active grant, within the flow's maximum and only as far as
    /// the flow would grant without approval.
    #[instrument(skip(self, reason), fields(request_id = %id))]
    pub async fn extend(
        &self,
        caller: &Email,
        id: &RequestId,
        by: GrantDuration,
        reason: &str,
    ) -> Result<Request, ServiceError> {
        let reason = bounded_text(reason, "reason", true)?;
        let current = self.get(id).await?;
        let flow = self.catalog.flows.get(&current.flow).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "flow {} is no longer in the catalog; ask for a new grant",
                current.flow
            ))
        })?;
        if !flow.extendable {
            return Err(ServiceError::Invalid(format!(
                "flow {} does not allow extensions; ask for a new grant",
                flow.name
            )));
        }
        let bundle = self.bundle_of(&current)?;
        let max_total = bundle
            .max_duration
            .map_or(flow.max_duration, |m| m.min(flow.max_duration));
        if let (Some(start), Some(end)) = (current.starts_at, current.expires_at) {
            if let Some(total) =
                GrantDuration::from_secs((end - start).num_seconds() + by.as_secs())
            {
                if total <= max_total {
                    self.extension_is_auto(caller, &current, total).await?;
                }
            }
        }
        let (req, changed) = self
            .transition(id, |r| {
                Ok(Command::Extend {
                    actor: caller.clone(),
                    from: r.expires_at.unwrap_or(r.created_at),
                    by,
                    reason: reason.clone(),
                    max_total,
                })
            })
            .await?;
        if changed {
            // The new expiry must reach the IAM condition, or the grant stops at the old one.
            if self.effects == Effects::Inline {
                let b = self.bundle_of(&req)?;
                self.ports
                    .grantor
                    .apply(&req.requester, &b.strategy, &spec(&req, b))
                    .await
                    .map_err(grant_error)?;
            }
            let end = req.expires_at.expect("active grants have a window");
            self.schedule(
                ScheduledAction::EndGrant {
                    request_id: req.id.clone(),
                },
                end,
            )
            .await;
            self.tell(notify::status_notice(
                &req,
                &format!("Your grant was extended until {end}."),
            ))
            .await;
        }
        Ok(req)
    }

    async fn extension_is_auto(
        &self,
        caller: &Email,
        req: &Request,
        total: GrantDuration,
    ) -> Result<(), ServiceError> {
        let groups = self.ports.directory.groups_of(caller).await?;
        let membership = self
            .membership(&policy::groups_needed(&self.catalog, &req.bundle))
            .await?;
        let input = RequestInput {
            bundle: Some(req.bundle.clone()),
            duration: Some(total),
            reason: Some(req.reason.clone())
                .filter(|r| !r.is_empty())
                .or(Some("extension".into())),
            ticket: req.ticket.clone(),
            accounts: Some(req.accounts.clone()),
            start_at: None,
            flow: Some(req.flow.clone()),
        };
        let decision = policy::decide(
            &self.catalog,
            &Requester {
                email: caller.clone(),
                groups,
            },
            &membership,
            &input,
            self.now(),
        )?;
        if !decision.plan.auto {
            return Err(ServiceError::Invalid(format!(
                "a {total} grant of {} needs approval ({}); ask for a new grant instead of extending",
                req.bundle, decision.plan.basis
            )));
        }
        Ok(())
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

    /// Applies an approved grant whose start has come (the grant function's job). Idempotent:
    /// does nothing unless the request is approved; a grant applied while the request was
    /// released or revoked is taken away again.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn activate(&self, id: &RequestId) -> Result<Request, ServiceError> {
        self.activate_read(self.get(id).await?).await
    }

    async fn activate_read(&self, req: Request) -> Result<Request, ServiceError> {
        let id = &req.id.clone();
        if req.status != Status::Approved || req.starts_at.is_some_and(|s| s > self.now()) {
            return Ok(req);
        }
        let Some(bundle) = self.catalog.bundle(&req.bundle) else {
            let reason = format!(
                "bundle {} was removed from the catalog before the grant was applied",
                req.bundle
            );
            return self.fail(id, reason).await;
        };
        let grant = spec(&req, bundle);
        match self
            .ports
            .grantor
            .apply(&req.requester, &bundle.strategy, &grant)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_retryable() => return Err(ServiceError::Retryable(e.to_string())),
            Err(e) => return self.fail(id, e.to_string()).await,
        }
        match self
            .transition_from(id, Some(req.clone()), |_| Ok(Command::Activate))
            .await
        {
            Ok((req, changed)) => {
                if changed {
                    let end = req.expires_at.expect("approved requests have a window");
                    self.schedule(
                        ScheduledAction::EndGrant {
                            request_id: req.id.clone(),
                        },
                        end,
                    )
                    .await;
                    self.tell(notify::status_notice(
                        &req,
                        &format!("Your access to {} is active until {end}.", req.bundle),
                    ))
                    .await;
                }
                Ok(req)
            }
            Err(ServiceError::Lifecycle(LifecycleError::WrongState { .. })) => {
                // Released, revoked or cancelled while we were applying: undo what we just did.
                let req = self.get(id).await?;
                self.take_away(&req).await?;
                Ok(req)
            }
            Err(e) => Err(e),
        }
    }

    async fn fail(&self, id: &RequestId, reason: String) -> Result<Request, ServiceError> {
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Fail {
                    reason: reason.clone(),
                })
            })
            .await?;
        if changed {
            self.tell(notify::status_notice(
                &req,
                &format!("Your grant could not be applied: {reason}"),
            ))
            .await;
        }
        Ok(req)
    }

    /// Ends a grant at its expiry (the revoke function's job). Early or stale calls do nothing.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn end(&self, id: &RequestId) -> Result<Request, ServiceError> {
        let (req, changed) = match self.transition(id, |_| Ok(Command::EndAtExpiry)).await {
            Err(ServiceError::Lifecycle(LifecycleError::NotYet(_))) => return self.get(id).await,
            other => other?,
        };
        self.take_away(&req).await?;
        if changed {
            self.tell(notify::status_notice(
                &req,
                &format!("Your access to {} has ended.", req.bundle),
            ))
            .await;
        }
        Ok(req)
    }

    /// Removes an ended grant's access; safe to repeat.
    async fn take_away(&self, req: &Request) -> Result<(), ServiceError> {
        if !matches!(
            req.status,
            Status::Released | Status::Revoked | Status::Ended
        ) || req.expires_at.is_none()
        {
            return Ok(());
        }
        let bundle = self.bundle_of(req)?;
        self.ports
            .grantor
            .remove(&req.requester, &bundle.strategy, &spec(req, bundle))
            .await
            .map_err(grant_error)
    }

    /// Asks the next tier when a tier stayed silent (the escalate function's job).
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn escalate(&self, id: &RequestId, tier: usize) -> Result<Request, ServiceError> {
        let (req, changed) = self
            .transition(id, |_| Ok(Command::Escalate { to_tier: tier }))
            .await?;
        if changed {
            self.ask_approvers(&req, req.tier).await;
            if let Some((next, at)) = req.next_escalation() {
                self.schedule(
                    ScheduledAction::Escalate {
                        request_id: req.id.clone(),
                        tier: next,
                    },
                    at,
                )
                .await;
            }
        }
        Ok(req)
    }

    /// Expires a request nobody decided.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn expire_request(&self, id: &RequestId) -> Result<Request, ServiceError> {
        let (req, changed) = match self.transition(id, |_| Ok(Command::ExpireUnanswered)).await {
            Err(ServiceError::Lifecycle(LifecycleError::NotYet(_))) => return self.get(id).await,
            other => other?,
        };
        if changed {
            // Only escalations still to come: the time-to-live schedule is the one firing now
            // (or, from the sweeper, due now and a no-op when it fires).
            for tier in req.tier + 1..=req.plan.last_tier() {
                self.forget(ScheduledAction::Escalate {
                    request_id: req.id.clone(),
                    tier,
                })
                .await;
            }
            self.tell(notify::status_notice(
                &req,
                "Nobody decided your request in time; it has expired.",
            ))
            .await;
        }
        Ok(req)
    }

    /// Runs what a fired schedule asks for.
    pub async fn fire(&self, action: &ScheduledAction) -> Result<Request, ServiceError> {
        match action {
            ScheduledAction::StartGrant { request_id } => self.activate(request_id).await,
            ScheduledAction::EndGrant { request_id } => self.end(request_id).await,
            ScheduledAction::Escalate { request_id, tier } => {
                self.escalate(request_id, *tier).await
            }
            ScheduledAction::ExpireRequest { request_id } => self.expire_request(request_id).await,
        }
    }

    /// The periodic backstop: ends grants past expiry and expires undecided requests whose
    /// schedules were lost. One failure does not stop the rest.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let now = self.now();
        let mut report = SweepReport::default();
        // Every live grant, read once: those past expiry are ended, and the rest are what the
        // containers and roles are kept to.
        let all_live = self.live_grants().await?;
        let overdue = all_live
            .iter()
            .filter(|r| r.expires_at.is_some_and(|e| e <= now));
        for r in overdue {
            match self.end(&r.id).await {
                Ok(_) => report.ended += 1,
                Err(e) => {
                    warn!(request_id = %r.id, error = %e, "sweeper could not end grant");
                    report.failed += 1;
                }
            }
        }
        for r in self.ports.store.undecided_before(now).await? {
            match self.expire_request(&r.id).await {
                Ok(_) => report.expired += 1,
                Err(e) => {
                    warn!(request_id = %r.id, error = %e, "sweeper could not expire request");
                    report.failed += 1;
                }
            }
        }
        for p in self.ports.store.prompts_unanswered_before(now).await? {
            match self.expire_prompt(p).await {
                Ok(true) => report.prompts_expired += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(error = %e, "sweeper could not expire prompt");
                    report.failed += 1;
                }
            }
        }
        // Grants just ended above are still listed, but not running: nothing is put back for
        // them, and their statements are gone already.
        let containers = self.ports.grantor.containers().await.map_err(grant_error)?;
        let holders = self
            .ports
            .grantor
            .role_holders()
            .await
            .map_err(grant_error)?;
        let mut live: BTreeMap<Email, Vec<Request>> = BTreeMap::new();
        for r in all_live {
            live.entry(r.requester.clone()).or_default().push(r);
        }
        for (kind, people) in [(Holding::Container, containers), (Holding::Role, holders)] {
            for person in self.my_turn(people, now) {
                let listed = live.get(&person).cloned().unwrap_or_default();
                let result = match kind {
                    Holding::Container => {
                        report.containers += 1;
                        self.reconcile_container_from(&person, listed).await
                    }
                    Holding::Role => {
                        report.roles += 1;
                        self.reconcile_role_from(&person, listed).await
                    }
                };
                match result {
                    Ok(d) => {
                        report.drift_removed += d.removed.len();
                        report.drift_restored += d.restored.len();
                    }
                    Err(e) => {
                        warn!(person = %person, error = %e, kind = ?kind, "sweeper could not reconcile");
                        report.failed += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// This run's share of `people`: past the per-sweep budget they take turns, the sorted list
    /// split into as many slices as needed and each run (every SWEEP_EVERY_SECS) taking one.
    fn my_turn(&self, mut people: Vec<Email>, now: DateTime<Utc>) -> Vec<Email> {
        people.sort();
        let slices = people.len().div_ceil(self.containers_per_sweep).max(1);
        let turn = (now.timestamp().div_euclid(SWEEP_EVERY_SECS) as usize) % slices;
        people
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % slices == turn)
            .map(|(_, p)| p)
            .collect()
    }

    /// Whether a grant is active and unexpired by a direct read of the ledger, not a list
    /// that may lag: nothing is put back for a grant released a moment ago.
    async fn still_running(&self, id: &RequestId) -> Result<bool, ServiceError> {
        let now = self.now();
        Ok(self
            .ports
            .store
            .get(id)
            .await?
            .is_some_and(|r| r.status == Status::Active && r.expires_at.is_some_and(|e| e > now)))
    }

    /// The `listed` live grants (approved or active) with bundles of `kind` (`container`,
    /// `iam-role`), plus any of `also` (grant ids found in AWS) that a direct read shows live
    /// though the (eventually consistent) list missed them.
    async fn live_of_kind(
        &self,
        listed: Vec<Request>,
        kind: &str,
        also: impl IntoIterator<Item = RequestId>,
    ) -> Result<Vec<(Request, Bundle)>, ServiceError> {
        let mut live = listed;
        for id in also {
            if !live.iter().any(|r| r.id == id) {
                if let Some(r) = self.ports.store.get(&id).await? {
                    if matches!(r.status, Status::Approved | Status::Active) {
                        live.push(r);
                    }
                }
            }
        }
        Ok(live
            .into_iter()
            .filter_map(|r| {
                let b = self
                    .catalog
                    .bundle(&r.bundle)
                    .filter(|b| b.strategy.as_str() == kind)?
                    .clone();
                Some((r, b))
            })
            .collect())
    }

    /// What the sweeper records on each grant whose access it put back.
    async fn record_restored(&self, person: &Email, restored: &[RequestId]) {
        for id in restored {
            warn!(person = %person, request_id = %id, "drift: restored a live grant's access");
            let detail =
                "the grant's statements were missing or altered in AWS; the sweeper put them back"
                    .to_string();
            if let Err(e) = self
                .transition(id, |_| {
                    Ok(Command::RecordDrift {
                        detail: detail.clone(),
                    })
                })
                .await
            {
                warn!(request_id = %id, error = %e, "drift repaired but not recorded");
            }
        }
    }

    /// [`Self::reconcile_container`] for the `iam-role` strategy: the person's role holds
    /// exactly one `jit-<grant>` policy per live grant, as the ledger has it. Policies on the
    /// role that are not this product's are left alone.
    pub async fn reconcile_role(&self, person: &Email) -> Result<Drift, ServiceError> {
        let listed = self.ports.store.live_for(person).await?;
        self.reconcile_role_from(person, listed).await
    }

    async fn reconcile_role_from(
        &self,
        person: &Email,
        listed: Vec<Request>,
    ) -> Result<Drift, ServiceError> {
        let Some(seen) = self
            .ports
            .grantor
            .role_policies(person)
            .await
            .map_err(grant_error)?
        else {
            return Ok(Drift::default());
        };
        let now = self.now();
        let found: Vec<RequestId> = seen
            .keys()
            .filter_map(|n| grant_of_role_policy(n))
            .collect();
        let live = self.live_of_kind(listed, "iam-role", found).await?;
        let mut next = RolePolicies::new();
        let mut restored = Vec::new();
        for (r, b) in &live {
            let name = role_policy_name(&r.id);
            let running = r.status == Status::Active && r.expires_at.is_some_and(|e| e > now);
            let wanted = spec(r, b).document();
            let current = seen.get(&name);
            if running && current != Some(&wanted) && self.still_running(&r.id).await? {
                next.insert(name, wanted);
                restored.push(r.id.clone());
            } else if let Some(doc) = current {
                next.insert(name, doc.clone());
            }
        }
        let removed: Vec<String> = seen
            .keys()
            .filter(|n| !next.contains_key(*n))
            .cloned()
            .collect();
        if removed.is_empty() && restored.is_empty() {
            return Ok(Drift::default());
        }
        let written = self
            .ports
            .grantor
            .replace_role_policies(person, &seen, &next)
            .await
            .map_err(grant_error)?;
        if !written {
            return Ok(Drift::default());
        }
        if !removed.is_empty() {
            warn!(person = %person, policies = ?removed, "drift: removed role policies no live grant explains");
        }
        self.record_restored(person, &restored).await;
        Ok(Drift { removed, restored })
    }

    /// Makes `person`'s container hold exactly what the ledger explains: statements of grants
    /// that are not live (or that this product did not write) are removed, and live grants'
    /// statements that are missing or altered (a deleted statement, a dropped time condition)
    /// are put back. Grants being applied right now are left as they are. The write happens only
    /// if the container still holds what was read, so a concurrent grant is never lost.
    pub async fn reconcile_container(&self, person: &Email) -> Result<Drift, ServiceError> {
        let listed = self.ports.store.live_for(person).await?;
        self.reconcile_container_from(person, listed).await
    }

    async fn reconcile_container_from(
        &self,
        person: &Email,
        listed: Vec<Request>,
    ) -> Result<Drift, ServiceError> {
        let Some(doc) = self
            .ports
            .grantor
            .container_policy(person)
            .await
            .map_err(grant_error)?
        else {
            return Ok(Drift::default());
        };
        let now = self.now();
        // A grant in the container but not in the list may have been approved since.
        let live = self
            .live_of_kind(listed, "container", doc.grant_ids())
            .await?;
        let mut explained = BTreeSet::new();
        let mut restore = Vec::new();
        for (r, b) in &live {
            explained.insert(r.id.clone());
            let wanted = spec(r, b);
            let current: Vec<_> = doc
                .statements
                .iter()
                .filter(|s| sid_grant(s).as_ref() == Some(&r.id))
                .cloned()
                .collect();
            let running = r.status == Status::Active && r.expires_at.is_some_and(|e| e > now);
            if running && current != wanted.statements() && self.still_running(&r.id).await? {
                restore.push(wanted);
            }
        }
        let mut next = PolicyDocument {
            version: doc.version.clone(),
            statements: Vec::new(),
        };
        let mut removed = Vec::new();
        for st in &doc.statements {
            match sid_grant(st) {
                Some(id) if explained.contains(&id) => next.statements.push(st.clone()),
                _ => removed.push(
                    st.get("Sid")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("(no Sid)")
                        .to_string(),
                ),
            }
        }
        for g in &restore {
            next = next.with(g, POLICY_BUDGET)?;
        }
        if removed.is_empty() && restore.is_empty() {
            return Ok(Drift::default());
        }
        let written = self
            .ports
            .grantor
            .replace_container_policy(person, &doc, &next)
            .await
            .map_err(grant_error)?;
        if !written {
            // Changed while we looked (a grant applied or removed): the next sweep looks again.
            return Ok(Drift::default());
        }
        if !removed.is_empty() {
            warn!(person = %person, statements = ?removed, "drift: removed statements no live grant explains");
        }
        let restored: Vec<RequestId> = restore.into_iter().map(|g| g.id).collect();
        self.record_restored(person, &restored).await;
        Ok(Drift { removed, restored })
    }

    /// Handles one CloudTrail access-denied event (the pod function's job): works out the IAM
    /// action and resource, finds the bundles that would allow it and that the person may ask
    /// for, and emails them a prompt with a signed link to a prefilled request form. One prompt
    /// per person and action per hour; a replayed event changes nothing.
    #[instrument(skip(self, event))]
    pub async fn on_access_denied(
        &self,
        event: &serde_json::Value,
    ) -> Result<PromptOutcome, ServiceError> {
        let denied = match prompt::parse_event(event) {
            Ok(d) => d,
            Err(why) => return Ok(PromptOutcome::Ignored(why)),
        };
        let now = self.now();
        let id = prompt_id(&denied, now);
        // A redelivered event: one read answers it, before any directory lookups.
        if self.ports.store.get_prompt(&id).await?.is_some() {
            return Ok(PromptOutcome::Quiet(denied));
        }
        let person = denied.person.clone();
        let service = denied.action.split(':').next().unwrap_or("").to_string();
        let mut p = Prompt {
            id,
            denied: denied.clone(),
            offers: Vec::new(),
            disabled_service: None,
            status: PromptStatus::Prompted,
            request_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        if self.catalog.service_disabled(&service) {
            p.disabled_service = Some(service);
        } else {
            let groups = self.ports.directory.groups_of(&person).await?;
            let requester = Requester {
                email: person.clone(),
                groups: groups.clone(),
            };
            // Only bundles a flow (not break-glass) would let this person ask for; the groups
            // deciding any of them are read once.
            let candidates: Vec<&Bundle> = prompt::matching_bundles(&self.catalog, &denied)
                .into_iter()
                .filter(|b| {
                    self.catalog
                        .flows_for(&b.name)
                        .any(|f| !f.break_glass && f.admits(&groups))
                })
                .collect();
            let needed: BTreeSet<GroupName> = candidates
                .iter()
                .flat_map(|b| policy::groups_needed(&self.catalog, &b.name))
                .collect();
            let membership = self.membership(&needed).await?;
            for b in candidates {
                let input = RequestInput {
                    bundle: Some(b.name.clone()),
                    reason: Some(p.reason()),
                    accounts: Some(vec![denied.account.clone()]),
                    ..RequestInput::default()
                };
                match policy::decide(&self.catalog, &requester, &membership, &input, now) {
                    Ok(d) => p.offers.push(Offer {
                        bundle: d.bundle.clone(),
                        flow: d.flow.clone(),
                        duration: d.duration,
                        auto: d.plan.auto,
                        self_approve: !d.plan.auto
                            && !d
                                .plan
                                .counts_for(d.plan.start_tier, &person, &groups)
                                .is_empty(),
                        needs_ticket: false,
                        approvers: d.plan.basis.clone(),
                    }),
                    Err(Refusal::TicketRequired { flow, .. }) => {
                        if let Some(f) = self.catalog.flows.get(&flow) {
                            p.offers.push(Offer {
                                bundle: b.name.clone(),
                                flow: flow.clone(),
                                duration: f.default_duration,
                                auto: false,
                                self_approve: false,
                                needs_ticket: true,
                                approvers: format!("flow {flow}, once you give a ticket"),
                            });
                        }
                    }
                    Err(Refusal::ServiceDisabled { service, .. }) => {
                        p.disabled_service.get_or_insert(service);
                    }
                    Err(_) => {}
                }
            }
            if !p.offers.is_empty() {
                p.disabled_service = None;
            } else if p.disabled_service.is_none() {
                return Ok(PromptOutcome::NoBundle(denied));
            }
        }
        if p.disabled_service.is_some() {
            p.status = PromptStatus::Disabled;
        }
        match self
            .ports
            .store
            .create_prompt(&p, now + prompt::QUIET_PERIOD)
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Ok(PromptOutcome::Quiet(denied)),
            Err(e) => return Err(e.into()),
        }
        if let Some(service) = &p.disabled_service {
            self.tell(notify::service_disabled(&p, service)).await;
            return Ok(PromptOutcome::ToldDisabled(p));
        }
        let links: Vec<String> = (0..p.offers.len())
            .map(|i| self.prompt_link(&p, i))
            .collect();
        self.tell(notify::access_prompt(&p, &links)).await;
        Ok(PromptOutcome::Prompted(p))
    }

    /// The signed link to the request form for offer `offer` of prompt `p`.
    pub fn prompt_link(&self, p: &Prompt, offer: usize) -> String {
        let claims = LinkClaims {
            request_id: p.id.clone(),
            approver: p.denied.person.clone(),
            tier: offer,
            expires: p.answer_by().timestamp(),
            nonce: nonce(),
        };
        format!(
            "{}/v1/prompts/{}",
            self.base_url,
            self.prompt_signer.sign(&claims)
        )
    }

    /// Checks a prompt link without using it (for the form page): the prompt and the offer.
    pub async fn inspect_prompt(&self, token: &str) -> Result<(Prompt, Offer), ServiceError> {
        let claims = self.prompt_signer.verify(token, self.now(), None)?;
        let p = self
            .ports
            .store
            .get_prompt(&claims.request_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(claims.request_id.clone()))?;
        let offer = p
            .offers
            .get(claims.tier)
            .cloned()
            .ok_or(ServiceError::Link(LinkError::Malformed))?;
        if p.denied.person != claims.approver {
            return Err(ServiceError::Link(LinkError::WrongApprover));
        }
        Ok((p, offer))
    }

    /// Answers a prompt through its link: asks for the offered bundle (as the person the prompt
    /// was sent to, decided by the catalog as any request is), or dismisses it. A person whose
    /// own approval counts has it recorded at once. Works once: a second use returns what the
    /// first did, or says the prompt was answered.
    #[instrument(skip(self, token, answer))]
    pub async fn answer_prompt(
        &self,
        token: &str,
        answer: PromptAnswer,
    ) -> Result<(Prompt, Option<Request>), ServiceError> {
        let (p, offer) = self.inspect_prompt(token).await?;
        let person = p.denied.person.clone();
        let request_id = derived_id(&format!("{}#{}", p.id, offer.bundle));
        match (&answer, p.status) {
            (_, PromptStatus::Prompted) => {}
            (PromptAnswer::Request { .. }, PromptStatus::Requested)
                if p.request_id.as_ref() == Some(&request_id) =>
            {
                let req = self.get(&request_id).await?;
                return Ok((p, Some(req)));
            }
            (_, status) => {
                return Err(ServiceError::Invalid(format!(
                    "this prompt is {}; each prompt is answered once",
                    status.as_str()
                )))
            }
        }
        let (status, req) = match answer {
            PromptAnswer::Dismiss => (PromptStatus::Abandoned, None),
            PromptAnswer::Request {
                duration,
                reason,
                ticket,
            } => {
                let input = RequestInput {
                    bundle: Some(offer.bundle.clone()),
                    duration: duration.or(Some(offer.duration)),
                    reason: Some(reason),
                    ticket,
                    accounts: Some(vec![p.denied.account.clone()]),
                    flow: Some(offer.flow.clone()),
                    ..RequestInput::default()
                };
                let mut req = self.submit_as(&person, input, request_id).await?;
                // The offer said whether their own approval counts; `approve` checks again
                // against the directory and refuses if it no longer does.
                if req.status == Status::Pending && offer.self_approve {
                    match self
                        .approve(
                            &person,
                            &req.id,
                            "approved by the requester, an approver of this bundle, from an access-denied prompt",
                            None,
                        )
                        .await
                    {
                        Ok(approved) => req = approved,
                        Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_))) => {}
                        Err(e) => return Err(e),
                    }
                }
                (PromptStatus::Requested, Some(req))
            }
        };
        let p = self
            .settle_prompt(p, status, req.as_ref().map(|r| r.id.clone()))
            .await?;
        Ok((p, req))
    }

    async fn settle_prompt(
        &self,
        mut p: Prompt,
        status: PromptStatus,
        request_id: Option<RequestId>,
    ) -> Result<Prompt, ServiceError> {
        for _ in 0..MAX_ATTEMPTS {
            if p.status != PromptStatus::Prompted {
                return Ok(p);
            }
            let mut next = p.clone();
            next.status = status;
            next.request_id = request_id.clone();
            next.updated_at = self.now();
            next.version += 1;
            match self.ports.store.update_prompt(p.version, &next).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => {
                    p = self
                        .ports
                        .store
                        .get_prompt(&p.id)
                        .await?
                        .ok_or_else(|| ServiceError::NotFound(p.id.clone()))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Busy(p.id))
    }

    /// Marks a prompt nobody answered as abandoned-expired; false if it was answered meanwhile.
    async fn expire_prompt(&self, p: Prompt) -> Result<bool, ServiceError> {
        if p.status != PromptStatus::Prompted || p.answer_by() > self.now() {
            return Ok(false);
        }
        let after = self
            .settle_prompt(p, PromptStatus::AbandonedExpired, None)
            .await?;
        Ok(after.status == PromptStatus::AbandonedExpired)
    }

    async fn on_approved(&self, req: &Request) {
        if req.plan.break_glass {
            let mut to = BTreeSet::new();
            for target in &req.plan.notify {
                match target {
                    NotifyTarget::Person(p) => {
                        to.insert(p.clone());
                    }
                    NotifyTarget::Group(g) => match self.ports.directory.members(g).await {
                        Ok(m) => to.extend(m),
                        Err(e) => {
                            warn!(group = %g, error = %e, "could not expand break-glass notify group")
                        }
                    },
                }
            }
            self.tell(notify::break_glass(req, to.into_iter().collect()))
                .await;
        }
        if let Some(start) = req.starts_at.filter(|s| *s > self.now()) {
            self.schedule(
                ScheduledAction::StartGrant {
                    request_id: req.id.clone(),
                },
                start,
            )
            .await;
        }
    }

    async fn ask_approvers(&self, req: &Request, tier: usize) {
        let expires = req.decision_deadline().timestamp();
        for approver in req.plan.approvers_at(tier) {
            let claims = LinkClaims {
                request_id: req.id.clone(),
                approver: approver.clone(),
                tier,
                expires,
                nonce: nonce(),
            };
            let url = format!(
                "{}/v1/decisions/{}",
                self.base_url,
                self.signer.sign(&claims)
            );
            self.tell(notify::approval_request(req, &approver, &url, tier))
                .await;
        }
    }

    async fn tell(&self, message: Message) {
        if message.to.is_empty() {
            return;
        }
        if let Err(e) = self.ports.mailer.send(&message).await {
            warn!(request_id = %message.request_id, error = %e, "email not sent");
        }
    }

    /// Deletes the escalation and time-to-live schedules of a request that is no longer
    /// pending. They would only fire as no-ops, but each costs an invocation; a failure to
    /// delete is harmless for the same reason.
    async fn forget_waiting_schedules(&self, req: &Request) {
        for tier in req.tier + 1..=req.plan.last_tier() {
            self.forget(ScheduledAction::Escalate {
                request_id: req.id.clone(),
                tier,
            })
            .await;
        }
        self.forget(ScheduledAction::ExpireRequest {
            request_id: req.id.clone(),
        })
        .await;
    }

    async fn forget(&self, action: ScheduledAction) {
        // These names do not depend on the time, so any time names the same schedule.
        let s = Schedule::new(action, self.now());
        if let Err(e) = self.ports.scheduler.cancel(&s.name).await {
            warn!(schedule = %s.name, error = %e, "schedule not deleted; it will fire as a no-op");
        }
    }

    async fn schedule(&self, action: ScheduledAction, at: DateTime<Utc>) {
        let s = Schedule::new(action, at);
        if let Err(e) = self.ports.scheduler.schedule(&s).await {
            warn!(schedule = %s.name, error = %e, "schedule not created; the sweeper will catch it");
        }
    }
}

/// What a request's grant puts in AWS.
pub fn spec(req: &Request, bundle: &Bundle) -> GrantSpec {
    GrantSpec {
        id: req.id.clone(),
        statements: bundle.statements.clone(),
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
    if t.chars().count() > MAX_REASON_CHARS {
        return Err(ServiceError::Invalid(format!(
            "the {field} is too long: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(t.to_string())
}
