//! What the API returns: requests with what they wait for, bundles, audit rows, the report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jit_core::audit::{Action, AuditEvent};
use jit_core::catalog::{Approval, Bundle, Catalog};
use jit_core::lifecycle::{Request, Status};
use serde::Serialize;
use serde_json::{json, Value};

/// How a request is approved, for people.
#[derive(Debug, Serialize)]
pub struct ApprovalView {
    /// Granted without approval.
    pub auto: bool,
    /// Why this approval: the flow, or the matrix cell.
    pub basis: String,
    /// The tier reached (0: first approvers).
    pub tier: usize,
    /// What it waits for, in words, while pending.
    pub waiting_for: Option<String>,
    /// When it escalates next, while pending.
    pub escalates_at: Option<DateTime<Utc>>,
    /// The group it escalates to next.
    pub escalates_to: Option<String>,
    /// When it expires if nobody decides.
    pub decide_by: DateTime<Utc>,
}

/// A request as the API shows it.
#[derive(Debug, Serialize)]
pub struct RequestView {
    /// Id.
    pub id: String,
    /// Who asked.
    pub requester: String,
    /// For what.
    pub bundle: String,
    /// Through which flow.
    pub flow: String,
    /// Where it is.
    pub status: Status,
    /// Who moved it there.
    pub status_by: Option<String>,
    /// Why it is there.
    pub status_reason: Option<String>,
    /// Accounts.
    pub accounts: Vec<String>,
    /// Requested length.
    pub duration: String,
    /// Why.
    pub reason: String,
    /// Ticket.
    pub ticket: Option<String>,
    /// When asked.
    pub created_at: DateTime<Utc>,
    /// Grant window start.
    pub starts_at: Option<DateTime<Utc>>,
    /// Grant window end.
    pub expires_at: Option<DateTime<Utc>>,
    /// Approval.
    pub approval: ApprovalView,
    /// Approvals so far.
    pub votes: Vec<Value>,
    /// Break-glass grant.
    pub break_glass: bool,
    /// Break-glass review done.
    pub reviewed: bool,
    /// Catalog version decided under.
    pub catalog_version: String,
    /// The audit records, when one request is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<Value>>,
}

impl RequestView {
    /// The view of `r`, with its timeline if given.
    pub fn of(r: &Request, timeline: Option<Vec<AuditEvent>>) -> Self {
        let pending = r.status == Status::Pending;
        let next = r.next_escalation();
        Self {
            id: r.id.to_string(),
            requester: r.requester.to_string(),
            bundle: r.bundle.to_string(),
            flow: r.flow.to_string(),
            status: r.status,
            status_by: r.status_by.clone(),
            status_reason: r.status_reason.clone(),
            accounts: r.accounts.iter().map(|a| a.to_string()).collect(),
            duration: r.duration.to_string(),
            reason: r.reason.clone(),
            ticket: r.ticket.clone(),
            created_at: r.created_at,
            starts_at: r.starts_at,
            expires_at: r.expires_at,
            approval: ApprovalView {
                auto: r.plan.auto,
                basis: r.plan.basis.clone(),
                tier: r.tier,
                waiting_for: pending.then(|| r.waiting_for()),
                escalates_at: next.map(|(_, at)| at),
                escalates_to: next.and_then(|(t, _)| r.plan.tiers.get(t - 1)).map(|t| t.group.to_string()),
                decide_by: r.decision_deadline(),
            },
            votes: r
                .votes
                .iter()
                .map(|v| json!({ "approver": v.approver, "at": v.at, "message": v.message, "duration": v.duration, "for": v.counts_for }))
                .collect(),
            break_glass: r.plan.break_glass,
            reviewed: r.reviewed,
            catalog_version: r.catalog_version.clone(),
            timeline: timeline.map(|t| t.iter().map(|e| audit_row(e, r)).collect()),
        }
    }
}

/// A bundle with the flows that offer it.
pub fn bundle(cat: &Catalog, b: &Bundle) -> Value {
    let flows: Vec<Value> = cat
        .flows_for(&b.name)
        .map(|f| {
            let approval = match &f.approval {
                Approval::Auto if f.break_glass => "break-glass".to_string(),
                Approval::Auto => "auto".to_string(),
                Approval::Matrix => "risk matrix".to_string(),
                Approval::Groups(g) => {
                    let join = if g.between == jit_core::catalog::Require::All { " AND " } else { " OR " };
                    g.groups.iter().map(|(n, r)| format!("{n} ({r})")).collect::<Vec<_>>().join(join)
                }
            };
            json!({
                "name": f.name, "requesters": if f.everyone { json!(["*"]) } else { json!(f.requesters) },
                "max_duration": f.max_duration, "default_duration": f.default_duration,
                "justification": f.justification, "ticket_pattern": f.ticket_pattern, "approval": approval,
                "break_glass": f.break_glass,
            })
        })
        .collect();
    json!({
        "name": b.name, "description": b.description, "owner_team": b.owner_team, "risk": b.risk,
        "strategy": b.strategy.as_str(), "accounts": b.accounts, "max_duration": b.max_duration,
        "services": b.services(), "statements": b.statements,
        "deprecated": b.deprecated.is_some(),
        "successor": b.deprecated.as_ref().and_then(|d| d.successor.clone()),
        "flows": flows,
    })
}

/// One audit record with the request's requester and bundle.
pub fn audit_row(e: &AuditEvent, r: &Request) -> Value {
    json!({
        "at": e.at, "request_id": e.request_id, "seq": e.seq, "actor": e.actor, "action": e.action,
        "status": e.status, "message": e.message, "requester": r.requester, "bundle": r.bundle,
        "hash": e.hash, "prev_hash": e.prev_hash,
    })
}

/// A CSV cell: quoted when needed; a leading formula character is neutralised so that a
/// reason typed by a requester cannot run as a spreadsheet formula.
pub fn csv_cell(v: &Value) -> String {
    let mut text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.starts_with(['=', '+', '-', '@']) {
        text.insert(0, '\'');
    }
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The metrics of `GET /v1/report`.
pub fn report(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    events: &[AuditEvent],
    live: &[Request],
    break_glass_unreviewed: Vec<String>,
    now: DateTime<Utc>,
) -> Value {
    let mut requested: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    let mut waits: Vec<i64> = Vec::new();
    let count = |a: Action| events.iter().filter(|e| e.action == a).count();
    for e in events {
        match e.action {
            Action::Requested => {
                requested.insert(e.request_id.as_str(), e.at);
            }
            Action::Activated => {
                if let Some(at) = requested.get(e.request_id.as_str()) {
                    waits.push((e.at - *at).num_milliseconds());
                }
            }
            _ => {}
        }
    }
    waits.sort_unstable();
    let median = (!waits.is_empty()).then(|| waits[waits.len() / 2] as f64 / 1000.0);
    let total = count(Action::Requested);
    let auto = count(Action::AutoApproved);
    let standing: Vec<String> = live
        .iter()
        .filter(|r| {
            r.starts_at
                .zip(r.expires_at)
                .is_some_and(|(s, e)| e - s > chrono::Duration::days(7))
        })
        .map(|r| r.id.to_string())
        .collect();
    json!({
        "from": from, "to": to, "generated_at": now,
        "requests": total,
        "auto_approved": auto,
        "auto_approval_rate": if total == 0 { Value::Null } else { json!(auto as f64 / total as f64) },
        "approved": count(Action::Approved), "denied": count(Action::Denied), "expired": count(Action::Expired),
        "failed": count(Action::Failed), "revoked": count(Action::Revoked),
        "median_seconds_to_access": median,
        "active_grants": live.iter().filter(|r| r.status == Status::Active).count(),
        "standing_exceptions": { "description": "live grants longer than 7 days", "ids": standing },
        "break_glass_awaiting_review": break_glass_unreviewed,
    })
}

/// One access-denied prompt as the API shows it (never its links).
pub fn prompt_row(p: &jit_core::prompt::Prompt) -> Value {
    json!({
        "id": p.id,
        "person": p.denied.person,
        "action": p.denied.action,
        "resource": p.denied.resource,
        "account": p.denied.account,
        "denied_at": p.denied.at,
        "offered": p.offers.iter().map(|o| o.bundle.as_str()).collect::<Vec<_>>(),
        "disabled_service": p.disabled_service,
        "status": p.status.as_str(),
        "request_id": p.request_id,
        "sent_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

/// How prompts fared: sent, turned into requests, dismissed, left unanswered.
pub fn prompt_figures(prompts: &[jit_core::prompt::Prompt]) -> Value {
    use jit_core::prompt::PromptStatus as S;
    let count = |s: S| prompts.iter().filter(|p| p.status == s).count();
    let offered = prompts.iter().filter(|p| !p.offers.is_empty()).count();
    let requested = count(S::Requested);
    json!({
        "sent": prompts.len(),
        "requested": requested,
        "abandoned": count(S::Abandoned),
        "abandoned_expired": count(S::AbandonedExpired),
        "waiting": count(S::Prompted),
        "service_disabled": count(S::Disabled),
        "conversion_rate": if offered == 0 { Value::Null } else { json!((requested as f64) / (offered as f64)) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell(&json!("plain")), "plain");
        assert_eq!(csv_cell(&json!("a, \"b\"")), "\"a, \"\"b\"\"\"");
        assert_eq!(
            csv_cell(&json!("=HYPERLINK(\"x\")")),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(csv_cell(&json!(3)), "3");
        assert_eq!(csv_cell(&Value::Null), "");
    }
}
