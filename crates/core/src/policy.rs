//! The approval engine: given the catalog, who is asking, for what and for how long, decide
//! whether the request is refused (with a reason a person can act on) or what approval it needs.
//!
//! Pure: group membership comes in as a snapshot ([`Membership`]), time as an argument.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{
    Approval, Bundle, Catalog, Flow, Justification, MatrixCell, NotifyTarget, Require,
};
use crate::lifecycle::{Request, Status};
use crate::types::{AccountId, BundleName, Email, FlowName, GrantDuration, GroupName};

/// Members of each group that matters to a decision, as the directory had them.
pub type Membership = BTreeMap<GroupName, BTreeSet<Email>>;

/// The person asking, with their groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// Who.
    pub email: Email,
    /// Their Identity Store groups.
    pub groups: Vec<GroupName>,
}

/// Longest reason or approval message accepted.
pub const MAX_REASON_CHARS: usize = 1_000;
/// Longest ticket reference accepted.
pub const MAX_TICKET_CHARS: usize = 100;
/// Furthest in the future a grant may be scheduled to start.
pub const MAX_START_AHEAD_DAYS: i64 = 30;

/// What a person asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RequestInput {
    /// The bundle.
    pub bundle: Option<BundleName>,
    /// How long; the flow's default when absent.
    pub duration: Option<GrantDuration>,
    /// Why.
    pub reason: Option<String>,
    /// Ticket reference, when the flow asks for one.
    pub ticket: Option<String>,
    /// A subset of the bundle's accounts; all of them when absent.
    pub accounts: Option<Vec<AccountId>>,
    /// A later start; now when absent.
    pub start_at: Option<DateTime<Utc>>,
    /// A specific flow (required to use a break-glass flow); the least demanding one when absent.
    pub flow: Option<FlowName>,
}

/// Why a request is refused. Each message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request named no bundle.
    #[error("name the bundle you need")]
    NoBundle,
    /// No such bundle, with the nearest name when one is close.
    #[error("there is no bundle {name:?}{}; `jit bundles` lists the bundles you can ask for", near.as_ref().map(|n| format!(" (did you mean {n}?)")).unwrap_or_default())]
    UnknownBundle {
        /// What was asked for.
        name: String,
        /// The nearest bundle name.
        near: Option<BundleName>,
    },
    /// The bundle is deprecated.
    #[error("bundle {bundle} is deprecated{}", successor.as_ref().map(|s| format!("; ask for {s} instead")).unwrap_or_default())]
    Deprecated {
        /// The deprecated bundle.
        bundle: BundleName,
        /// What to ask for instead.
        successor: Option<BundleName>,
    },
    /// The bundle touches a switched-off service.
    #[error("bundle {bundle} grants access to {service}, which is disabled in the catalog; ask the platform team")]
    ServiceDisabled {
        /// The bundle.
        bundle: BundleName,
        /// The disabled service prefix.
        service: String,
    },
    /// No flow offers the bundle.
    #[error("no access flow offers bundle {0}; ask its owners to add it to a flow")]
    NoFlow(BundleName),
    /// The named flow does not exist or does not offer the bundle.
    #[error("flow {flow} does not offer bundle {bundle}")]
    FlowMismatch {
        /// The flow named.
        flow: FlowName,
        /// The bundle asked for.
        bundle: BundleName,
    },
    /// The person is in none of the requester groups.
    #[error("you may not request {bundle}: it is offered to members of {}", groups.join(", "))]
    NotEligible {
        /// The bundle.
        bundle: BundleName,
        /// The groups that may ask.
        groups: Vec<String>,
    },
    /// Only a break-glass flow would admit the person.
    #[error("{bundle} is only available to you through break-glass flow {flow}; ask again naming that flow if this is an incident")]
    BreakGlassOnly {
        /// The bundle.
        bundle: BundleName,
        /// The break-glass flow.
        flow: FlowName,
    },
    /// Too long.
    #[error("{requested} is longer than the {max} that flow {flow} allows for {bundle}; ask for {max} or less")]
    DurationTooLong {
        /// What was asked.
        requested: GrantDuration,
        /// The limit.
        max: GrantDuration,
        /// The flow.
        flow: FlowName,
        /// The bundle.
        bundle: BundleName,
    },
    /// A reason is required.
    #[error("flow {0} requires a reason: say what you will do with the access")]
    ReasonRequired(FlowName),
    /// Free text with a line break, control or text-direction character.
    #[error("{field} contains U+{code:04X} at character {at} (a line break, control or text-direction character): write it on one line, as plain text")]
    ControlCharacter {
        /// Which field.
        field: &'static str,
        /// The character's code point.
        code: u32,
        /// Its position, from 1.
        at: usize,
    },
    /// Free text over its bound.
    #[error("{field} is too long: at most {max} characters")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// The bound.
        max: usize,
    },
    /// A ticket is required.
    #[error("flow {flow} requires a ticket reference matching {pattern}")]
    TicketRequired {
        /// The flow.
        flow: FlowName,
        /// The pattern.
        pattern: String,
    },
    /// The ticket does not match.
    #[error("ticket {ticket:?} does not match {pattern}, which flow {flow} requires")]
    TicketMismatch {
        /// What was given.
        ticket: String,
        /// The pattern.
        pattern: String,
        /// The flow.
        flow: FlowName,
    },
    /// An account outside the bundle.
    #[error("bundle {bundle} does not cover account {account}; it covers {}", covered.join(", "))]
    AccountNotCovered {
        /// The bundle.
        bundle: BundleName,
        /// The account asked for.
        account: AccountId,
        /// The accounts it covers.
        covered: Vec<String>,
    },
    /// A start time in the past or too far ahead.
    #[error("start_at must be between now and {MAX_START_AHEAD_DAYS} days from now")]
    BadStart,
    /// Nobody but the requester could approve.
    #[error("nobody but you can approve {0} and self-approval is off; ask the platform team to add an approver")]
    NoApprover(BundleName),
    /// The person already has as many pending requests as one may (for the bundle, or in all).
    #[error("you already have {count} pending requests{}; at most {max} may wait at once: cancel one you no longer need (`jit cancel ID`) or wait for a decision", bundle.as_ref().map(|b| format!(" for {b}")).unwrap_or_default())]
    TooManyPending {
        /// The bundle, when the per-bundle cap was reached.
        bundle: Option<BundleName>,
        /// How many are pending.
        count: usize,
        /// The cap.
        max: usize,
    },
}

impl Refusal {
    /// There is no bundle `name` in `catalog`; names the nearest one when one is close.
    pub fn unknown_bundle(catalog: &Catalog, name: &str) -> Self {
        Refusal::UnknownBundle {
            name: name.to_string(),
            near: catalog.bundle_like(name).cloned(),
        }
    }
}

/// How many requests for one bundle one person may have waiting for approval at once.
pub const MAX_PENDING_PER_BUNDLE: usize = 3;
/// How many requests in all one person may have waiting for approval at once.
pub const MAX_PENDING: usize = 10;

/// Refuses a new pending request past the caps, so that nobody can flood approvers.
pub fn check_pending_caps(open: &[Request], bundle: &BundleName) -> Result<(), Refusal> {
    let pending: Vec<&Request> = open
        .iter()
        .filter(|r| r.status == Status::Pending)
        .collect();
    let for_bundle = pending.iter().filter(|r| r.bundle == *bundle).count();
    if for_bundle >= MAX_PENDING_PER_BUNDLE {
        return Err(Refusal::TooManyPending {
            bundle: Some(bundle.clone()),
            count: for_bundle,
            max: MAX_PENDING_PER_BUNDLE,
        });
    }
    if pending.len() >= MAX_PENDING {
        return Err(Refusal::TooManyPending {
            bundle: None,
            count: pending.len(),
            max: MAX_PENDING,
        });
    }
    Ok(())
}

/// One approver group of the first tier, with the people who may vote for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRule {
    /// The group.
    pub group: GroupName,
    /// Any member, or all of them.
    pub require: Require,
    /// Who may vote for it, as of the request (the requester removed unless self-approval is on).
    pub members: BTreeSet<Email>,
}

/// An escalation tier: one group, any member of which may decide the whole request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// The group.
    pub group: GroupName,
    /// Who may decide, as of the request.
    pub members: BTreeSet<Email>,
}

/// What a request needs before it is granted, fixed when it is submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPlan {
    /// Granted without approval.
    pub auto: bool,
    /// How first-tier groups combine.
    pub between: Require,
    /// First-tier groups (tier 0).
    pub groups: Vec<GroupRule>,
    /// Escalation tiers 1, 2, ...
    pub tiers: Vec<Tier>,
    /// The tier the request starts at: 1 when nobody but the requester could approve tier 0.
    pub start_tier: usize,
    /// Seconds a tier may stay silent.
    pub escalate_after_secs: i64,
    /// Seconds the request may wait for a decision.
    pub request_ttl_secs: i64,
    /// A break-glass grant: notified broadly, reviewed afterwards.
    pub break_glass: bool,
    /// Who is told of the grant.
    pub notify: Vec<NotifyTarget>,
    /// Why this plan, in words: "risk matrix: high, up to 1 week, not on api-team → owner".
    pub basis: String,
    /// Whether approvers may approve from a chat card (otherwise the card opens the portal).
    #[serde(default = "yes")]
    pub approve_in_chat: bool,
    /// The flow's chat channel for cards and announcements, when it names one.
    #[serde(default)]
    pub chat_channel: Option<crate::types::ChatChannel>,
}

fn yes() -> bool {
    true
}

/// A recorded approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Who.
    pub approver: Email,
    /// The groups (tier 0) or tier groups it counts for.
    pub counts_for: Vec<GroupName>,
    /// When.
    pub at: DateTime<Utc>,
    /// Their message.
    pub message: String,
    /// A shorter duration the approver chose.
    pub duration: Option<GrantDuration>,
}

impl ApprovalPlan {
    /// The highest tier number.
    pub fn last_tier(&self) -> usize {
        self.tiers.len()
    }

    /// The groups `person` (now in `groups`) may vote for when the request is at `tier`; empty
    /// when they may not decide. Both the membership recorded at submission and the person's
    /// current groups must agree, so someone who left a group can no longer decide.
    pub fn counts_for(&self, tier: usize, person: &Email, groups: &[GroupName]) -> Vec<GroupName> {
        if self.auto {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.start_tier == 0 {
            out.extend(
                self.groups
                    .iter()
                    .filter(|g| g.members.contains(person) && groups.contains(&g.group))
                    .map(|g| g.group.clone()),
            );
        }
        for t in self.tiers.iter().take(tier) {
            if t.members.contains(person) && groups.contains(&t.group) && !out.contains(&t.group) {
                out.push(t.group.clone());
            }
        }
        out
    }

    /// Whether `votes` satisfy the plan at `tier`.
    pub fn satisfied(&self, tier: usize, votes: &[Vote]) -> bool {
        if self.auto {
            return true;
        }
        let tier_groups: Vec<&GroupName> = self.tiers.iter().take(tier).map(|t| &t.group).collect();
        if votes
            .iter()
            .any(|v| v.counts_for.iter().any(|g| tier_groups.contains(&g)))
        {
            return true;
        }
        if self.start_tier > 0 || self.groups.is_empty() {
            return false;
        }
        let group_done = |rule: &GroupRule| {
            let voters: BTreeSet<&Email> = votes
                .iter()
                .filter(|v| v.counts_for.contains(&rule.group))
                .map(|v| &v.approver)
                .collect();
            match rule.require {
                Require::Any => !voters.is_empty(),
                Require::All => {
                    !rule.members.is_empty() && rule.members.iter().all(|m| voters.contains(m))
                }
            }
        };
        match self.between {
            Require::Any => self.groups.iter().any(group_done),
            Require::All => self.groups.iter().all(group_done),
        }
    }

    /// The people asked to decide at `tier` (first tier, or that escalation tier).
    pub fn approvers_at(&self, tier: usize) -> BTreeSet<Email> {
        if tier == 0 {
            self.groups
                .iter()
                .flat_map(|g| g.members.iter().cloned())
                .collect()
        } else {
            self.tiers
                .get(tier - 1)
                .map(|t| t.members.clone())
                .unwrap_or_default()
        }
    }

    /// What the request is waiting for, in words: "data-dbas (any) AND security (any)".
    pub fn waiting_for(&self, tier: usize, votes: &[Vote]) -> String {
        if self.auto {
            return "nothing: approved automatically".into();
        }
        let mut parts = Vec::new();
        if self.start_tier == 0 {
            let join = match self.between {
                Require::Any => " OR ",
                Require::All => " AND ",
            };
            let open: Vec<String> = self
                .groups
                .iter()
                .filter(|g| {
                    !votes.iter().any(|v| v.counts_for.contains(&g.group))
                        || g.require == Require::All
                })
                .map(|g| format!("{} ({})", g.group, g.require))
                .collect();
            if !open.is_empty() {
                parts.push(open.join(join));
            }
        }
        for t in self.tiers.iter().take(tier) {
            parts.push(format!("{} (escalated)", t.group));
        }
        parts.join(" OR ")
    }
}

/// The engine's answer for an admissible request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The flow the request goes through.
    pub flow: FlowName,
    /// The bundle.
    pub bundle: BundleName,
    /// Granted length.
    pub duration: GrantDuration,
    /// Targeted accounts.
    pub accounts: Vec<AccountId>,
    /// What approval it needs.
    pub plan: ApprovalPlan,
}

/// The groups whose members the engine needs for `bundle`: the caller fetches these from the
/// directory before calling [`decide`].
pub fn groups_needed(catalog: &Catalog, bundle: &BundleName) -> BTreeSet<GroupName> {
    let mut out = BTreeSet::new();
    out.insert(catalog.settings.platform_group.clone());
    if let Some(b) = catalog.bundle(bundle) {
        out.insert(b.owner_team.clone());
    }
    for flow in catalog.flows_for(bundle) {
        out.extend(flow.escalate_to.iter().cloned());
        if let Approval::Groups(g) = &flow.approval {
            out.extend(g.groups.iter().map(|(n, _)| n.clone()));
        }
    }
    out
}

/// Decides a request that nobody needs to approve from the requester's own groups alone, so a
/// submit granted at once never lists a group's members (its cost does not grow with them).
/// `Some` exactly when [`decide`] with any membership approves it automatically, with the same
/// flow, duration and accounts: whether a flow's plan is automatic depends only on the
/// requester's groups, and such a flow ranks first whoever is in the approver groups. `None`
/// when the decision needs the members (an approval, or a refusal to explain with them).
pub fn decide_auto(
    catalog: &Catalog,
    requester: &Requester,
    input: &RequestInput,
    now: DateTime<Utc>,
) -> Option<Decision> {
    decide(catalog, requester, &Membership::new(), input, now)
        .ok()
        .filter(|d| d.plan.auto)
}

/// Decides a request. `membership` must hold at least the groups of [`groups_needed`].
pub fn decide(
    catalog: &Catalog,
    requester: &Requester,
    membership: &Membership,
    input: &RequestInput,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let name = input.bundle.as_ref().ok_or(Refusal::NoBundle)?;
    let bundle = catalog
        .bundle(name)
        .ok_or_else(|| Refusal::unknown_bundle(catalog, name.as_str()))?;
    if let Some(d) = &bundle.deprecated {
        return Err(Refusal::Deprecated {
            bundle: name.clone(),
            successor: d.successor.clone(),
        });
    }
    if let Some(service) = bundle
        .services()
        .into_iter()
        .find(|s| catalog.service_disabled(s))
    {
        return Err(Refusal::ServiceDisabled {
            bundle: name.clone(),
            service: service.to_string(),
        });
    }
    check_text(input)?;
    let accounts = accounts(bundle, input)?;
    if let Some(start) = input.start_at {
        if start < now - Duration::minutes(1) || start > now + Duration::days(MAX_START_AHEAD_DAYS)
        {
            return Err(Refusal::BadStart);
        }
    }

    let flow = choose_flow(catalog, bundle, requester, membership, input)?;
    let max = bundle
        .max_duration
        .map_or(flow.max_duration, |b| b.min(flow.max_duration));
    let duration = input.duration.unwrap_or(flow.default_duration.min(max));
    if duration > max {
        return Err(Refusal::DurationTooLong {
            requested: duration,
            max,
            flow: flow.name.clone(),
            bundle: name.clone(),
        });
    }
    check_flow_fields(flow, input)?;
    let plan = plan_for(catalog, flow, bundle, requester, membership, duration)?;
    Ok(Decision {
        flow: flow.name.clone(),
        bundle: name.clone(),
        duration,
        accounts,
        plan,
    })
}

fn check_text(input: &RequestInput) -> Result<(), Refusal> {
    for (field, text) in [("reason", &input.reason), ("ticket", &input.ticket)] {
        if let Some((at, c)) = text.as_deref().and_then(crate::text::forbidden_char) {
            return Err(Refusal::ControlCharacter {
                field,
                code: c as u32,
                at,
            });
        }
    }
    if input
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(Refusal::TooLong {
            field: "reason",
            max: MAX_REASON_CHARS,
        });
    }
    if input
        .ticket
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TICKET_CHARS)
    {
        return Err(Refusal::TooLong {
            field: "ticket",
            max: MAX_TICKET_CHARS,
        });
    }
    Ok(())
}

fn accounts(bundle: &Bundle, input: &RequestInput) -> Result<Vec<AccountId>, Refusal> {
    let Some(asked) = &input.accounts else {
        return Ok(bundle.accounts.clone());
    };
    let covered = || bundle.accounts.iter().map(|a| a.to_string()).collect();
    if asked.is_empty() {
        return Ok(bundle.accounts.clone());
    }
    let mut out = Vec::new();
    for a in asked {
        if !bundle.accounts.contains(a) {
            return Err(Refusal::AccountNotCovered {
                bundle: bundle.name.clone(),
                account: a.clone(),
                covered: covered(),
            });
        }
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    Ok(out)
}

fn check_flow_fields(flow: &Flow, input: &RequestInput) -> Result<(), Refusal> {
    let reason = input.reason.as_deref().map(str::trim).unwrap_or("");
    if flow.justification == Justification::Required && reason.is_empty() {
        return Err(Refusal::ReasonRequired(flow.name.clone()));
    }
    if let Some(pattern) = &flow.ticket_pattern {
        let ticket = input.ticket.as_deref().map(str::trim).unwrap_or("");
        if ticket.is_empty() {
            return Err(Refusal::TicketRequired {
                flow: flow.name.clone(),
                pattern: pattern.source.clone(),
            });
        }
        if !pattern.regex.is_match(ticket) {
            return Err(Refusal::TicketMismatch {
                ticket: ticket.to_string(),
                pattern: pattern.source.clone(),
                flow: flow.name.clone(),
            });
        }
    }
    Ok(())
}

/// The named flow, or among the flows that admit the requester (break-glass ones only when named)
/// the one needing the least approval.
fn choose_flow<'c>(
    catalog: &'c Catalog,
    bundle: &Bundle,
    requester: &Requester,
    membership: &Membership,
    input: &RequestInput,
) -> Result<&'c Flow, Refusal> {
    let offering: Vec<&Flow> = catalog.flows_for(&bundle.name).collect();
    if let Some(named) = &input.flow {
        let flow =
            offering
                .iter()
                .find(|f| f.name == *named)
                .ok_or_else(|| Refusal::FlowMismatch {
                    flow: named.clone(),
                    bundle: bundle.name.clone(),
                })?;
        return if flow.admits(&requester.groups) {
            Ok(flow)
        } else {
            Err(not_eligible(bundle, &[flow]))
        };
    }
    if offering.is_empty() {
        return Err(Refusal::NoFlow(bundle.name.clone()));
    }
    let admitting: Vec<&Flow> = offering
        .iter()
        .copied()
        .filter(|f| f.admits(&requester.groups))
        .collect();
    let ordinary: Vec<&Flow> = admitting
        .iter()
        .copied()
        .filter(|f| !f.break_glass)
        .collect();
    if ordinary.is_empty() {
        return match admitting.first() {
            Some(bg) => Err(Refusal::BreakGlassOnly {
                bundle: bundle.name.clone(),
                flow: bg.name.clone(),
            }),
            None => Err(not_eligible(bundle, &offering)),
        };
    }
    // Rank by how little approval the flow would need for this person, then by name.
    let rank = |f: &Flow| {
        let d = input.duration.unwrap_or(f.default_duration);
        match plan_for(catalog, f, bundle, requester, membership, d) {
            Ok(p) if p.auto => 0,
            Ok(p) => 1 + p.groups.len() + p.start_tier,
            Err(_) => usize::MAX,
        }
    };
    Ok(ordinary
        .into_iter()
        .min_by_key(|f| (rank(f), f.name.clone()))
        .expect("non-empty"))
}

fn not_eligible(bundle: &Bundle, flows: &[&Flow]) -> Refusal {
    let mut groups: Vec<String> = flows
        .iter()
        .flat_map(|f| f.requesters.iter().map(|g| g.to_string()))
        .collect();
    groups.sort();
    groups.dedup();
    Refusal::NotEligible {
        bundle: bundle.name.clone(),
        groups,
    }
}

fn members(
    membership: &Membership,
    group: &GroupName,
    requester: &Email,
    self_approval: bool,
) -> BTreeSet<Email> {
    let mut m = membership.get(group).cloned().unwrap_or_default();
    if !self_approval {
        m.remove(requester);
    }
    m
}

/// Builds the plan for one flow; refuses when nobody but the requester could ever approve.
fn plan_for(
    catalog: &Catalog,
    flow: &Flow,
    bundle: &Bundle,
    requester: &Requester,
    membership: &Membership,
    duration: GrantDuration,
) -> Result<ApprovalPlan, Refusal> {
    let on_team = requester.groups.contains(&bundle.owner_team);
    let owner = || vec![(bundle.owner_team.clone(), Require::Any)];
    let platform = || vec![(catalog.settings.platform_group.clone(), Require::Any)];
    let (between, wanted, basis): (Require, Vec<(GroupName, Require)>, String) =
        match &flow.approval {
            Approval::Auto if flow.break_glass => (
                Require::All,
                vec![],
                format!("break-glass flow {}", flow.name),
            ),
            Approval::Auto => (
                Require::All,
                vec![],
                format!("flow {} approves automatically", flow.name),
            ),
            Approval::Groups(g) => (
                g.between,
                g.groups.clone(),
                format!("flow {} names its approvers", flow.name),
            ),
            Approval::Matrix => {
                let (cell, column) = catalog.matrix.cell(bundle.risk, duration);
                let team = if on_team {
                    format!("on {}", bundle.owner_team)
                } else {
                    format!("not on {}", bundle.owner_team)
                };
                let groups = match cell {
                    MatrixCell::Auto => vec![],
                    MatrixCell::AutoOwner if on_team => vec![],
                    MatrixCell::AutoOwner | MatrixCell::Owner => owner(),
                    MatrixCell::Platform => platform(),
                };
                let outcome = if groups.is_empty() {
                    "auto"
                } else if cell == MatrixCell::Platform {
                    "platform approval"
                } else {
                    "owner approval"
                };
                (
                    Require::Any,
                    groups,
                    format!(
                        "risk matrix: {} risk, {column}, {team} → {outcome}",
                        bundle.risk
                    ),
                )
            }
        };
    let groups: Vec<GroupRule> = wanted
        .into_iter()
        .map(|(group, require)| {
            let members = members(membership, &group, &requester.email, flow.self_approval);
            GroupRule {
                group,
                require,
                members,
            }
        })
        .collect();
    let tiers: Vec<Tier> = flow
        .escalate_to
        .iter()
        .map(|g| Tier {
            group: g.clone(),
            members: members(membership, g, &requester.email, flow.self_approval),
        })
        .collect();
    let auto = groups.is_empty();
    let mut plan = ApprovalPlan {
        auto,
        between,
        groups,
        tiers,
        start_tier: 0,
        escalate_after_secs: flow.escalate_after.num_seconds(),
        request_ttl_secs: flow.request_ttl.num_seconds(),
        break_glass: flow.break_glass,
        notify: flow.notify.clone(),
        basis,
        approve_in_chat: flow
            .approve_in_chat
            .unwrap_or(bundle.risk != crate::types::Risk::Critical),
        chat_channel: flow.chat_channel.clone(),
    };
    if !auto {
        let reachable = |rule: &GroupRule| !rule.members.is_empty();
        let first_tier_possible = match plan.between {
            Require::Any => plan.groups.iter().any(reachable),
            Require::All => plan.groups.iter().all(reachable),
        };
        if !first_tier_possible {
            // Nobody but the requester could approve the first tier: start where someone can.
            let next = plan
                .tiers
                .iter()
                .position(|t| !t.members.is_empty())
                .ok_or(Refusal::NoApprover(bundle.name.clone()))?;
            plan.start_tier = next + 1;
            plan.basis.push_str(&format!(
                "; nobody else can approve, so it goes to {}",
                plan.tiers[next].group
            ));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_votes_satisfy_the_whole_request_once_reached() {
        let g = |s: &str| GroupName::parse(s).unwrap();
        let e = |s: &str| Email::parse(s).unwrap();
        let plan = ApprovalPlan {
            auto: false,
            between: Require::All,
            groups: vec![GroupRule {
                group: g("dbas"),
                require: Require::Any,
                members: [e("d@x.io")].into(),
            }],
            tiers: vec![Tier {
                group: g("platform"),
                members: [e("p@x.io")].into(),
            }],
            start_tier: 0,
            escalate_after_secs: 3600,
            request_ttl_secs: 86400,
            break_glass: false,
            notify: vec![],
            basis: String::new(),
            approve_in_chat: true,
            chat_channel: None,
        };
        assert!(
            plan.counts_for(0, &e("p@x.io"), &[g("platform")])
                .is_empty(),
            "tier 1 not reached yet"
        );
        let counts = plan.counts_for(1, &e("p@x.io"), &[g("platform")]);
        assert_eq!(counts, vec![g("platform")]);
        let vote = Vote {
            approver: e("p@x.io"),
            counts_for: counts,
            at: Utc::now(),
            message: "ok".into(),
            duration: None,
        };
        assert!(plan.satisfied(1, std::slice::from_ref(&vote)));
        assert!(
            plan.counts_for(0, &e("d@x.io"), &[]).is_empty(),
            "left the group since"
        );
    }
}
