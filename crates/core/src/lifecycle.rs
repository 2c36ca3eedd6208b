//! The request and grant lifecycle as a pure state machine.
//!
//! [`Request::apply`] takes a command and the time and returns either a typed error (wrong
//! state, not allowed, too early), `Ok(None)` when the command has already taken effect (a replay:
//! nothing changes and no audit record is written), or the new request with the audit records
//! the transition produced, already chained. Only [`Request::submit`] creates a request.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Action, AuditEvent, GENESIS, SYSTEM};
use crate::policy::{ApprovalPlan, Decision, Vote};
use crate::types::{AccountId, BundleName, Email, FlowName, GrantDuration, GroupName, RequestId};

/// Where a request is; what a person sees.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Just asked (only ever seen in the first audit record).
    Requested,
    /// Waiting for approvers.
    Pending,
    /// Approved; the grant is being applied (or waits for its start).
    Approved,
    /// The grant is in place.
    Active,
    /// An approver said no.
    Denied,
    /// The requester withdrew it before it was active.
    Cancelled,
    /// Nobody decided in time.
    Expired,
    /// The requester ended it early.
    Released,
    /// An admin ended it.
    Revoked,
    /// It reached its expiry.
    Ended,
    /// The grant could not be applied.
    Failed,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 11] = [
        Status::Requested,
        Status::Pending,
        Status::Approved,
        Status::Active,
        Status::Denied,
        Status::Cancelled,
        Status::Expired,
        Status::Released,
        Status::Revoked,
        Status::Ended,
        Status::Failed,
    ];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Active => "active",
            Status::Denied => "denied",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::Released => "released",
            Status::Revoked => "revoked",
            Status::Ended => "ended",
            Status::Failed => "failed",
        }
    }

    /// Whether nothing more can happen to the request's grant.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            Status::Requested | Status::Pending | Status::Approved | Status::Active
        )
    }

    /// Whether the request holds (or is about to hold) permissions in AWS.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Approved | Status::Active)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = crate::types::InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| crate::types::InvalidValue {
                kind: "status",
                value: s.chars().take(80).collect(),
                hint: format!("use one of {}", Status::ALL.map(|s| s.as_str()).join(", ")),
            })
    }
}

/// One extension of an active grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The expiry it extended from (what makes a replay recognisable).
    pub from: DateTime<Utc>,
    /// The new expiry.
    pub to: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A request and, once approved, its grant: they share an id and a lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Also the grant's id.
    pub id: RequestId,
    /// Who asked.
    pub requester: Email,
    /// For what.
    pub bundle: BundleName,
    /// Through which flow.
    pub flow: FlowName,
    /// The catalog version it was decided under.
    pub catalog_version: String,
    /// Targeted accounts.
    pub accounts: Vec<AccountId>,
    /// The requested length.
    pub duration: GrantDuration,
    /// Why.
    pub reason: String,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// Requested start, if later than approval.
    pub start_at: Option<DateTime<Utc>>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// What approval it needs.
    pub plan: ApprovalPlan,
    /// The approval tier it has reached.
    pub tier: usize,
    /// Approvals so far.
    pub votes: Vec<Vote>,
    /// Where it is.
    pub status: Status,
    /// Who moved it to its current status, when a person did.
    pub status_by: Option<String>,
    /// Why it is in its current status (denial message, failure reason...).
    pub status_reason: Option<String>,
    /// The grant window's start, once approved.
    pub starts_at: Option<DateTime<Utc>>,
    /// The grant window's end, once approved.
    pub expires_at: Option<DateTime<Utc>>,
    /// Extensions applied.
    pub extensions: Vec<Extension>,
    /// For break-glass grants: whether the after-the-fact review is done.
    pub reviewed: bool,
    /// Bumped by every transition; conditional writes compare it.
    pub version: u64,
    /// The number of audit records so far.
    pub audit_seq: u64,
    /// The hash of the last audit record.
    pub audit_head: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Where the grant lives in AWS, for people to use it (absent on records from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<crate::access::Place>,
    /// The expiry the requester was last warned of ([`Command::WarnExpiry`]): an extension
    /// moves the expiry, so the new one is warned of again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_for: Option<DateTime<Utc>>,
    /// When the ended grant's access was confirmed gone from AWS ([`Command::AccessRemoved`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
}

/// Something that may happen to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// An approver says yes (optionally for a shorter time).
    Approve {
        /// Who.
        approver: Email,
        /// Their groups now.
        groups: Vec<GroupName>,
        /// Their message.
        message: String,
        /// A shorter duration.
        duration: Option<GrantDuration>,
    },
    /// An approver says no.
    Deny {
        /// Who.
        approver: Email,
        /// Their groups now.
        groups: Vec<GroupName>,
        /// Why.
        message: String,
    },
    /// The requester withdraws a pending or not-yet-started request.
    Cancel {
        /// Who.
        actor: Email,
    },
    /// A tier's timeout passed: ask tier `to_tier`.
    Escalate {
        /// The tier to reach.
        to_tier: usize,
    },
    /// The request's time to live passed.
    ExpireUnanswered,
    /// The grant was applied.
    Activate,
    /// The grant could not be applied.
    Fail {
        /// Why, for the requester.
        reason: String,
    },
    /// The requester ends the grant early.
    Release {
        /// Who.
        actor: Email,
    },
    /// An admin ends the grant.
    Revoke {
        /// Who.
        actor: Email,
        /// Whether they are in the admin group (checked by the caller against the directory).
        is_admin: bool,
        /// Why.
        message: String,
    },
    /// The requester lengthens an active grant.
    Extend {
        /// Who.
        actor: Email,
        /// The expiry being extended (a replay names an old one and is a no-op).
        from: DateTime<Utc>,
        /// By how much.
        by: GrantDuration,
        /// Why.
        reason: String,
        /// The longest total window the policy allows.
        max_total: GrantDuration,
    },
    /// The grant reached its expiry.
    EndAtExpiry,
    /// The sweeper tells the requester that the grant ends soon (at `expiry`), so they can
    /// extend it; once per expiry.
    WarnExpiry {
        /// The expiry warned of (a replay, or a warning after an extension moved it, is a
        /// no-op).
        expiry: DateTime<Utc>,
    },
    /// The sweeper found the grant's statements missing or altered in AWS and put them back.
    RecordDrift {
        /// What was found and done.
        detail: String,
    },
    /// Taking the grant's access away failed for now (a database unreachable): the reason is
    /// kept and shown, the status does not change, and the removal is retried. Recorded once
    /// per distinct reason.
    RemovalPending {
        /// Why, in one line.
        reason: String,
    },
    /// An ended grant's access is gone from AWS: its removal finished, provisioning included.
    /// Recorded once, at the time it became effective.
    AccessRemoved,
    /// An admin records the review of a break-glass grant.
    Review {
        /// Who.
        actor: Email,
        /// Whether they are in the admin group.
        is_admin: bool,
        /// Findings.
        message: String,
    },
}

impl Command {
    /// A short verb for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Approve { .. } => "approved",
            Command::Deny { .. } => "denied",
            Command::Cancel { .. } => "cancelled",
            Command::Escalate { .. } => "escalated",
            Command::ExpireUnanswered => "expired",
            Command::Activate => "activated",
            Command::Fail { .. } => "failed",
            Command::Release { .. } => "released",
            Command::Revoke { .. } => "revoked",
            Command::Extend { .. } => "extended",
            Command::EndAtExpiry => "ended",
            Command::WarnExpiry { .. } => "warned",
            Command::Review { .. } => "reviewed",
            Command::RecordDrift { .. } => "repaired",
            Command::RemovalPending { .. } => "marked removal-pending",
            Command::AccessRemoved => "recorded as removed",
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The request is not in a state where the command applies.
    #[error("request {id} is {status}; it cannot be {verb}")]
    WrongState {
        /// The request.
        id: RequestId,
        /// Its status.
        status: Status,
        /// What was attempted.
        verb: &'static str,
    },
    /// The actor may not do this.
    #[error("{0}")]
    NotAllowed(String),
    /// Too early (a grant before its start or expiry, a request before its time to live).
    #[error("too early: {0}")]
    NotYet(String),
    /// An approver tried to lengthen the grant.
    #[error(
        "approvers may shorten a grant, not lengthen it: {requested} was asked, {given} given"
    )]
    CannotLengthen {
        /// Asked for.
        requested: GrantDuration,
        /// Given by the approver.
        given: GrantDuration,
    },
    /// An extension over the policy's limit.
    #[error(
        "extending by {by} would make the grant {total} long; flow {flow} allows at most {max}"
    )]
    ExtensionTooLong {
        /// The extension.
        by: GrantDuration,
        /// The resulting total.
        total: String,
        /// The limit.
        max: GrantDuration,
        /// The flow.
        flow: FlowName,
    },
    /// The extension was computed from an expiry that has since changed.
    #[error("the grant's expiry changed while you were extending it; look at it again and retry")]
    StaleExtension,
}

/// The result of a command that changed something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The request afterwards (version bumped).
    pub request: Request,
    /// The records to append, chained from the request's previous head.
    pub events: Vec<AuditEvent>,
    /// The notifications it causes, written with it (the service fills these in).
    pub notices: Vec<crate::ports::Notice>,
}

/// The details of a submission that are not part of the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Who.
    pub requester: Email,
    /// Why.
    pub reason: String,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// Requested start.
    pub start_at: Option<DateTime<Utc>>,
    /// The catalog version decided under.
    pub catalog_version: String,
    /// Where the grant will live in AWS.
    pub place: Option<crate::access::Place>,
}

/// Accumulates the records of one transition.
struct Recorder<'a> {
    request: &'a mut Request,
    events: Vec<AuditEvent>,
    now: DateTime<Utc>,
}

impl Recorder<'_> {
    fn record(&mut self, actor: &str, action: Action, status: Status, message: Option<String>) {
        self.request.status = status;
        self.request.audit_seq += 1;
        let e = AuditEvent::new(
            &self.request.id,
            self.request.audit_seq,
            self.now,
            actor,
            action,
            status,
            message,
            &self.request.audit_head,
        );
        self.request.audit_head = e.hash.clone();
        self.events.push(e);
    }
}

impl Request {
    /// A new request from the engine's decision: pending, or approved at once.
    pub fn submit(
        id: RequestId,
        decision: &Decision,
        sub: Submission,
        now: DateTime<Utc>,
    ) -> Transition {
        let mut request = Request {
            id,
            requester: sub.requester,
            bundle: decision.bundle.clone(),
            flow: decision.flow.clone(),
            catalog_version: sub.catalog_version,
            accounts: decision.accounts.clone(),
            duration: decision.duration,
            reason: sub.reason,
            ticket: sub.ticket,
            start_at: sub.start_at,
            created_at: now,
            plan: decision.plan.clone(),
            tier: decision.plan.start_tier,
            votes: Vec::new(),
            status: Status::Requested,
            status_by: None,
            status_reason: None,
            starts_at: None,
            expires_at: None,
            extensions: Vec::new(),
            reviewed: false,
            version: 1,
            audit_seq: 0,
            audit_head: GENESIS.to_string(),
            updated_at: now,
            place: sub.place,
            warned_for: None,
            removed_at: None,
        };
        let requester = request.requester.to_string();
        let reason = Some(request.reason.clone()).filter(|r| !r.is_empty());
        let mut rec = Recorder {
            request: &mut request,
            events: Vec::new(),
            now,
        };
        rec.record(&requester, Action::Requested, Status::Requested, reason);
        if decision.plan.auto {
            rec.request.open_window(decision.duration, now);
            rec.record(
                SYSTEM,
                Action::AutoApproved,
                Status::Approved,
                Some(decision.plan.basis.clone()),
            );
        } else {
            let waiting = format!(
                "{}; waiting for {}",
                decision.plan.basis,
                rec.request.waiting_for()
            );
            rec.record(
                SYSTEM,
                Action::AwaitingApproval,
                Status::Pending,
                Some(waiting),
            );
        }
        let events = rec.events;
        Transition {
            request,
            events,
            notices: Vec::new(),
        }
    }

    /// The groups a pending request is waiting on: the first tier's unless it was skipped,
    /// plus every escalation tier reached. Empty once it is not pending.
    pub fn waiting_on(&self) -> std::collections::BTreeSet<GroupName> {
        let mut out = std::collections::BTreeSet::new();
        if self.status != Status::Pending {
            return out;
        }
        if self.plan.start_tier == 0 {
            out.extend(self.plan.groups.iter().map(|g| g.group.clone()));
        }
        out.extend(
            self.plan
                .tiers
                .iter()
                .take(self.tier)
                .map(|t| t.group.clone()),
        );
        out
    }

    /// What the request waits for, in words.
    pub fn waiting_for(&self) -> String {
        self.plan.waiting_for(self.tier, &self.votes)
    }

    /// When the request expires if nobody decides.
    pub fn decision_deadline(&self) -> DateTime<Utc> {
        self.created_at + Duration::seconds(self.plan.request_ttl_secs)
    }

    /// When the current tier escalates, if there is a next tier.
    pub fn next_escalation(&self) -> Option<(usize, DateTime<Utc>)> {
        (self.status == Status::Pending && self.tier < self.plan.last_tier()).then(|| {
            let since = self.created_at
                + Duration::seconds(
                    self.plan.escalate_after_secs * (self.tier - self.plan.start_tier) as i64,
                );
            (
                self.tier + 1,
                since + Duration::seconds(self.plan.escalate_after_secs),
            )
        })
    }

    fn open_window(&mut self, duration: GrantDuration, now: DateTime<Utc>) {
        let start = self.start_at.map_or(now, |s| s.max(now));
        self.starts_at = Some(start);
        self.expires_at = Some(start + duration.as_chrono());
    }

    fn wrong(&self, cmd: &Command) -> LifecycleError {
        LifecycleError::WrongState {
            id: self.id.clone(),
            status: self.status,
            verb: cmd.verb(),
        }
    }

    fn only_requester(&self, actor: &Email, what: &str) -> Result<(), LifecycleError> {
        if *actor != self.requester {
            return Err(LifecycleError::NotAllowed(format!(
                "only the requester ({}) may {what} this request",
                self.requester
            )));
        }
        Ok(())
    }

    /// Applies `cmd` at `now`. `Ok(None)` means it had already taken effect.
    pub fn apply(
        &self,
        cmd: &Command,
        now: DateTime<Utc>,
    ) -> Result<Option<Transition>, LifecycleError> {
        let mut next = self.clone();
        let mut rec = Recorder {
            request: &mut next,
            events: Vec::new(),
            now,
        };
        let s = self.status;
        match cmd {
            Command::Approve {
                approver,
                groups,
                message,
                duration,
            } => {
                if self.votes.iter().any(|v| v.approver == *approver)
                    && matches!(s, Status::Pending | Status::Approved | Status::Active)
                {
                    return Ok(None);
                }
                if s != Status::Pending {
                    return Err(self.wrong(cmd));
                }
                let counts_for = self.decider(approver, groups)?;
                if let Some(given) = duration {
                    if *given > self.duration {
                        return Err(LifecycleError::CannotLengthen {
                            requested: self.duration,
                            given: *given,
                        });
                    }
                }
                rec.request.votes.push(Vote {
                    approver: approver.clone(),
                    counts_for,
                    at: now,
                    message: message.clone(),
                    duration: *duration,
                });
                let msg = Some(message.clone()).filter(|m| !m.is_empty());
                if rec
                    .request
                    .plan
                    .satisfied(rec.request.tier, &rec.request.votes)
                {
                    let granted = rec
                        .request
                        .votes
                        .iter()
                        .filter_map(|v| v.duration)
                        .fold(self.duration, GrantDuration::min);
                    rec.request.open_window(granted, now);
                    rec.request.status_by = Some(approver.to_string());
                    rec.record(approver.as_str(), Action::Approved, Status::Approved, msg);
                } else {
                    let waiting = format!("waiting for {}", rec.request.waiting_for());
                    let msg = Some(match msg {
                        Some(m) => format!("{m} ({waiting})"),
                        None => waiting,
                    });
                    rec.record(approver.as_str(), Action::Voted, Status::Pending, msg);
                }
            }
            Command::Deny {
                approver,
                groups,
                message,
            } => {
                if s == Status::Denied {
                    return Ok(None);
                }
                if s != Status::Pending {
                    return Err(self.wrong(cmd));
                }
                self.decider(approver, groups)?;
                rec.request.status_by = Some(approver.to_string());
                rec.request.status_reason = Some(message.clone());
                rec.record(
                    approver.as_str(),
                    Action::Denied,
                    Status::Denied,
                    Some(message.clone()),
                );
            }
            Command::Cancel { actor } => {
                self.only_requester(actor, "cancel")?;
                match s {
                    Status::Cancelled => return Ok(None),
                    Status::Pending => {}
                    Status::Approved if self.starts_at.is_some_and(|t| t > now) => {}
                    _ => return Err(self.wrong(cmd)),
                }
                rec.request.status_by = Some(actor.to_string());
                rec.record(actor.as_str(), Action::Cancelled, Status::Cancelled, None);
            }
            Command::Escalate { to_tier } => {
                // A decision made meanwhile, or an escalation already done, makes this a no-op.
                if s != Status::Pending || *to_tier <= self.tier {
                    return Ok(None);
                }
                let to = (*to_tier).min(self.plan.last_tier());
                if to <= self.tier {
                    return Ok(None);
                }
                rec.request.tier = to;
                let group = self.plan.tiers[to - 1].group.clone();
                rec.record(
                    SYSTEM,
                    Action::Escalated,
                    Status::Pending,
                    Some(format!("nobody decided in time; asking {group}")),
                );
            }
            Command::ExpireUnanswered => {
                if s != Status::Pending {
                    return Ok(None);
                }
                if now < self.decision_deadline() {
                    return Err(LifecycleError::NotYet(format!(
                        "the request waits for a decision until {}",
                        self.decision_deadline()
                    )));
                }
                rec.request.status_reason = Some("nobody decided in time".into());
                rec.record(
                    SYSTEM,
                    Action::Expired,
                    Status::Expired,
                    Some("nobody decided in time".into()),
                );
            }
            Command::Activate => match s {
                Status::Active => return Ok(None),
                Status::Approved => {
                    let start = self.starts_at.expect("an approved request has a window");
                    if start > now {
                        return Err(LifecycleError::NotYet(format!(
                            "the grant starts at {start}"
                        )));
                    }
                    rec.record(SYSTEM, Action::Activated, Status::Active, None);
                }
                _ => return Err(self.wrong(cmd)),
            },
            Command::Fail { reason } => match s {
                Status::Failed => return Ok(None),
                Status::Approved => {
                    rec.request.status_reason = Some(reason.clone());
                    rec.record(SYSTEM, Action::Failed, Status::Failed, Some(reason.clone()));
                }
                _ => return Err(self.wrong(cmd)),
            },
            Command::Release { actor } => {
                self.only_requester(actor, "release")?;
                match s {
                    Status::Released => return Ok(None),
                    Status::Active | Status::Approved => {}
                    _ => return Err(self.wrong(cmd)),
                }
                rec.request.status_by = Some(actor.to_string());
                rec.record(actor.as_str(), Action::Released, Status::Released, None);
            }
            Command::Revoke {
                actor,
                is_admin,
                message,
            } => {
                if !is_admin {
                    return Err(LifecycleError::NotAllowed(
                        "only members of the admin group may revoke a grant".into(),
                    ));
                }
                match s {
                    Status::Revoked => return Ok(None),
                    Status::Active | Status::Approved => {}
                    _ => return Err(self.wrong(cmd)),
                }
                rec.request.status_by = Some(actor.to_string());
                rec.request.status_reason = Some(message.clone());
                rec.record(
                    actor.as_str(),
                    Action::Revoked,
                    Status::Revoked,
                    Some(message.clone()),
                );
            }
            Command::Extend {
                actor,
                from,
                by,
                reason,
                max_total,
            } => {
                self.only_requester(actor, "extend")?;
                if self.extensions.iter().any(|e| e.from == *from) {
                    return Ok(None);
                }
                if s != Status::Active {
                    return Err(self.wrong(cmd));
                }
                let (start, expiry) = (
                    self.starts_at.expect("window"),
                    self.expires_at.expect("window"),
                );
                if expiry != *from {
                    return Err(LifecycleError::StaleExtension);
                }
                let to = expiry + by.as_chrono();
                let total = to - start;
                if total.num_seconds() > max_total.as_secs() {
                    let total = GrantDuration::from_secs(total.num_seconds())
                        .map_or("too".into(), |d| d.to_string());
                    return Err(LifecycleError::ExtensionTooLong {
                        by: *by,
                        total,
                        max: *max_total,
                        flow: self.flow.clone(),
                    });
                }
                rec.request.expires_at = Some(to);
                rec.request.extensions.push(Extension {
                    from: *from,
                    to,
                    reason: reason.clone(),
                    at: now,
                });
                rec.record(
                    actor.as_str(),
                    Action::Extended,
                    Status::Active,
                    Some(format!("until {to}: {reason}")),
                );
            }
            Command::EndAtExpiry => match s {
                Status::Ended | Status::Released | Status::Revoked => return Ok(None),
                Status::Active | Status::Approved => {
                    let expiry = self.expires_at.expect("window");
                    if now < expiry {
                        return Err(LifecycleError::NotYet(format!(
                            "the grant lasts until {expiry}"
                        )));
                    }
                    rec.record(SYSTEM, Action::Ended, Status::Ended, None);
                }
                _ => return Err(self.wrong(cmd)),
            },
            Command::Review {
                actor,
                is_admin,
                message,
            } => {
                if !is_admin {
                    return Err(LifecycleError::NotAllowed(
                        "only members of the admin group may review break-glass grants".into(),
                    ));
                }
                if !self.plan.break_glass || self.reviewed {
                    return if self.reviewed {
                        Ok(None)
                    } else {
                        Err(self.wrong(cmd))
                    };
                }
                if !matches!(
                    s,
                    Status::Active | Status::Released | Status::Revoked | Status::Ended
                ) {
                    return Err(self.wrong(cmd));
                }
                rec.request.reviewed = true;
                rec.record(actor.as_str(), Action::Reviewed, s, Some(message.clone()));
            }
            Command::WarnExpiry { expiry } => {
                if s != Status::Active
                    || self.expires_at != Some(*expiry)
                    || self.warned_for == Some(*expiry)
                {
                    return Ok(None);
                }
                rec.request.warned_for = Some(*expiry);
                rec.record(
                    SYSTEM,
                    Action::ExpiryWarned,
                    Status::Active,
                    Some(format!("ends at {expiry}")),
                );
            }
            Command::RecordDrift { detail } => {
                if !matches!(s, Status::Approved | Status::Active) {
                    return Err(self.wrong(cmd));
                }
                rec.record(SYSTEM, Action::DriftRepaired, s, Some(detail.clone()));
            }
            Command::RemovalPending { reason } => {
                if !matches!(
                    s,
                    Status::Active | Status::Released | Status::Revoked | Status::Ended
                ) {
                    return Err(self.wrong(cmd));
                }
                if self.status_reason.as_deref() == Some(reason.as_str()) {
                    return Ok(None);
                }
                rec.request.status_reason = Some(reason.clone());
                rec.record(SYSTEM, Action::RemovalPending, s, Some(reason.clone()));
            }
            Command::AccessRemoved => {
                if !matches!(s, Status::Released | Status::Revoked | Status::Ended) {
                    return Err(self.wrong(cmd));
                }
                if self.removed_at.is_some() {
                    return Ok(None);
                }
                rec.request.removed_at = Some(now);
                if self
                    .status_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("removing the"))
                {
                    // The removal that was pending has happened.
                    rec.request.status_reason = None;
                }
                rec.record(
                    SYSTEM,
                    Action::AccessRemoved,
                    s,
                    Some("the access is gone from AWS".into()),
                );
            }
        }
        let events = rec.events;
        next.version += 1;
        next.updated_at = now;
        Ok(Some(Transition {
            request: next,
            events,
            notices: Vec::new(),
        }))
    }

    /// The groups `approver` would vote for; refuses the requester and non-approvers.
    fn decider(
        &self,
        approver: &Email,
        groups: &[GroupName],
    ) -> Result<Vec<GroupName>, LifecycleError> {
        let counts = self.plan.counts_for(self.tier, approver, groups);
        if counts.is_empty() {
            let why = if *approver == self.requester {
                "you cannot decide your own request".to_string()
            } else {
                format!(
                    "you are not an approver of this request at this stage; it is waiting for {}",
                    self.waiting_for()
                )
            };
            return Err(LifecycleError::NotAllowed(why));
        }
        Ok(counts)
    }
}
