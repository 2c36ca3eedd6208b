//! What the API returns: requests with what they wait for, bundles, audit rows, prompts and the
//! report. Each is built from the core's types here, once, for every route that shows it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jit_core::audit::{Action, AuditEvent};
use jit_core::catalog::{Approval, Bundle, Catalog, Flow, Require};
use jit_core::lifecycle::{Request, Status};
use jit_core::prompt::{Prompt, PromptStatus};
use jit_core::types::Risk;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a grant lives in AWS, so the person can use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccessView {
    /// `permission-set` (the person's own, statements per grant), `assignment` (an existing
    /// permission set assigned for the grant) or `iam-role` (the person's IAM role).
    pub kind: String,
    /// The role to sign in with: the permission set's name, as the access portal and the AWS
    /// CLI (`sso_role_name`) show it. Absent where the grant alone does not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The assigned permission set (`assignment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_set_arn: Option<String>,
    /// The accounts it is in.
    pub accounts: Vec<String>,
    /// Where to sign in (`database`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseAccess>,
}

/// How to reach a database grant (`postgres` bundles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatabaseAccess {
    /// Host name.
    pub endpoint: String,
    /// Port.
    pub port: u16,
    /// The database.
    pub database: String,
    /// The database user to sign in as.
    pub user: String,
    /// `iam` (an RDS IAM token) or `password` (`POST /v1/requests/{id}/db-credentials`).
    pub auth: String,
    /// With `iam`: the region to make a token in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A database password for the requester of an active grant
/// (`POST /v1/requests/{id}/db-credentials`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DbCredentialsView {
    /// The grant.
    pub request_id: String,
    /// Host name.
    pub endpoint: String,
    /// Port.
    pub port: u16,
    /// The database.
    pub database: String,
    /// The database user.
    pub user: String,
    /// The password: shown once, kept nowhere.
    pub password: String,
    /// When the password stops working.
    pub valid_until: DateTime<Utc>,
    /// A psql command that signs in (it asks for the password).
    pub psql: String,
}

impl DbCredentialsView {
    /// The view of issued credentials.
    pub fn of(c: &jit_core::service::DbCredentials) -> Self {
        let sslmode = if c.database.tls {
            "verify-full"
        } else {
            "disable"
        };
        Self {
            request_id: c.request.id.to_string(),
            endpoint: c.host.clone(),
            port: c.port,
            database: c.database.database.clone(),
            user: c.user.clone(),
            password: c.password.clone(),
            valid_until: c.valid_until,
            psql: format!(
                "psql {}",
                shell_quote(&format!(
                    "host={} port={} dbname={} user={} sslmode={sslmode}",
                    c.host,
                    c.port,
                    libpq_value(&c.database.database),
                    c.user
                ))
            ),
        }
    }
}

/// `v` as one POSIX shell word.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// A libpq connection-string value: quoted when it holds spaces or quotes.
fn libpq_value(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

impl AccessView {
    /// The view of where `r`'s grant lives, while it is approved or active.
    pub fn of(r: &Request) -> Option<Self> {
        use jit_core::access::Place;
        if !r.status.is_live() {
            return None;
        }
        let place = r.place.as_ref()?;
        let mut database = None;
        let (kind, role_name, permission_set_arn) = match place {
            Place::PermissionSet { name } => ("permission-set", Some(name.clone()), None),
            Place::Assignment { permission_set_arn } => {
                ("assignment", None, Some(permission_set_arn.clone()))
            }
            Place::IamRole { role_name } => (
                "iam-role",
                Some(role_name.clone()).filter(|n| !n.is_empty()),
                None,
            ),
            Place::Database {
                endpoint,
                port,
                database: db,
                user,
                auth,
                region,
            } => {
                database = Some(DatabaseAccess {
                    endpoint: endpoint.clone(),
                    port: *port,
                    database: db.clone(),
                    user: user.clone(),
                    auth: auth.clone(),
                    region: region.clone(),
                });
                ("database", None, None)
            }
        };
        Some(Self {
            kind: kind.to_string(),
            role_name,
            permission_set_arn,
            accounts: r.accounts.iter().map(|a| a.to_string()).collect(),
            database,
        })
    }
}

/// How a request is approved, for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Granted without approval.
    pub auto: bool,
    /// Why this approval: the flow, or the matrix cell.
    pub basis: String,
    /// The tier reached (0: first approvers).
    pub tier: u32,
    /// What it waits for, in words, while pending.
    pub waiting_for: Option<String>,
    /// When it escalates next, while pending.
    pub escalates_at: Option<DateTime<Utc>>,
    /// The group it escalates to next.
    pub escalates_to: Option<String>,
    /// When it expires if nobody decides.
    pub decide_by: DateTime<Utc>,
    /// The people asked at the tier reached, while pending.
    #[serde(default)]
    pub asked: Vec<String>,
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VoteView {
    /// Who approved.
    pub approver: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Their message.
    pub message: String,
    /// A shorter duration they chose.
    pub duration: Option<String>,
    /// The groups the vote counts for.
    #[serde(rename = "for")]
    pub counts_for: Vec<String>,
}

/// One audit record, with its request's requester and bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRow {
    /// When.
    pub at: DateTime<Utc>,
    /// The request.
    pub request_id: String,
    /// 1, 2, 3... within the request.
    pub seq: u64,
    /// Who: an email, or `system`.
    pub actor: String,
    /// What happened.
    pub action: Action,
    /// The request's status afterwards.
    pub status: Status,
    /// The reason or message given.
    pub message: Option<String>,
    /// Who asked.
    pub requester: String,
    /// For what.
    pub bundle: String,
    /// SHA-256 over this record and `prev_hash`.
    pub hash: String,
    /// The previous record's hash.
    pub prev_hash: String,
}

impl AuditRow {
    /// The row for `e`, a record of `r`.
    pub fn of(e: &AuditEvent, r: &Request) -> Self {
        Self {
            at: e.at,
            request_id: e.request_id.to_string(),
            seq: e.seq,
            actor: e.actor.clone(),
            action: e.action,
            status: e.status,
            message: e.message.clone(),
            requester: r.requester.to_string(),
            bundle: r.bundle.to_string(),
            hash: e.hash.clone(),
            prev_hash: e.prev_hash.clone(),
        }
    }
}

/// A request as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
    pub votes: Vec<VoteView>,
    /// Break-glass grant.
    pub break_glass: bool,
    /// Break-glass review done.
    pub reviewed: bool,
    /// Catalog version decided under.
    pub catalog_version: String,
    /// The audit records, when one request is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<AuditRow>>,
    /// Where the grant lives and which role to use, while it is approved or active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessView>,
    /// In the answer to a release or revocation (202): the request is ended, but taking the
    /// access away is still under way; why, and when it stops working regardless. Absent
    /// once the access is gone (200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal: Option<String>,
    /// When the ended grant's access was confirmed gone from AWS (its removal finished,
    /// Identity Center's provisioning included); absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
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
            removed_at: r.removed_at,
            approval: ApprovalView {
                auto: r.plan.auto,
                basis: r.plan.basis.clone(),
                tier: u32::try_from(r.tier).unwrap_or(u32::MAX),
                waiting_for: pending.then(|| r.waiting_for()),
                escalates_at: next.map(|(_, at)| at),
                escalates_to: next
                    .and_then(|(t, _)| r.plan.tiers.get(t - 1))
                    .map(|t| t.group.to_string()),
                decide_by: r.decision_deadline(),
                asked: if pending {
                    r.plan
                        .approvers_at(r.tier)
                        .iter()
                        .map(|a| a.to_string())
                        .collect()
                } else {
                    Vec::new()
                },
            },
            votes: r
                .votes
                .iter()
                .map(|v| VoteView {
                    approver: v.approver.to_string(),
                    at: v.at,
                    message: v.message.clone(),
                    duration: v.duration.map(|d| d.to_string()),
                    counts_for: v.counts_for.iter().map(|g| g.to_string()).collect(),
                })
                .collect(),
            break_glass: r.plan.break_glass,
            reviewed: r.reviewed,
            catalog_version: r.catalog_version.clone(),
            removal: None,
            access: AccessView::of(r),
            timeline: timeline.map(|t| t.iter().map(|e| AuditRow::of(e, r)).collect()),
        }
    }
}

/// `GET /v1/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    /// The caller's requests, newest first.
    pub requests: Vec<RequestView>,
}

/// `GET /v1/approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    /// Pending requests the caller may decide.
    pub approvals: Vec<RequestView>,
}

/// One IAM statement a grant adds (Allow only; the expiry condition is added per grant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    /// IAM actions.
    pub actions: Vec<String>,
    /// Resource ARNs.
    pub resources: Vec<String>,
}

/// A flow that offers a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FlowView {
    /// Name.
    pub name: String,
    /// Groups who may use it (`*`: everyone).
    pub requesters: Vec<String>,
    /// Longest grant.
    pub max_duration: String,
    /// Length when a request names none.
    pub default_duration: String,
    /// `required` or `optional`.
    pub justification: String,
    /// The pattern a ticket must match, when one is required.
    pub ticket_pattern: Option<String>,
    /// How it is approved, in words: `auto`, `break-glass`, `risk matrix`, or the groups.
    pub approval: String,
    /// A break-glass flow.
    pub break_glass: bool,
}

impl FlowView {
    /// The view of `f`.
    pub fn of(f: &Flow) -> Self {
        let approval = match &f.approval {
            Approval::Auto if f.break_glass => "break-glass".to_string(),
            Approval::Auto => "auto".to_string(),
            Approval::Matrix => "risk matrix".to_string(),
            Approval::Groups(g) => {
                let join = if g.between == Require::All {
                    " AND "
                } else {
                    " OR "
                };
                g.groups
                    .iter()
                    .map(|(n, r)| format!("{n} ({r})"))
                    .collect::<Vec<_>>()
                    .join(join)
            }
        };
        Self {
            name: f.name.to_string(),
            requesters: if f.everyone {
                vec!["*".to_string()]
            } else {
                f.requesters.iter().map(|g| g.to_string()).collect()
            },
            max_duration: f.max_duration.to_string(),
            default_duration: f.default_duration.to_string(),
            justification: serde_json::to_value(f.justification)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            ticket_pattern: f.ticket_pattern.as_ref().map(|t| t.source.clone()),
            approval,
            break_glass: f.break_glass,
        }
    }
}

/// A bundle with the flows that offer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BundleView {
    /// Name.
    pub name: String,
    /// One line for people choosing.
    pub description: String,
    /// The group that owns it.
    pub owner_team: String,
    /// Risk level.
    pub risk: Risk,
    /// How a grant is applied: `container`, `assignment` or `iam-role`.
    pub strategy: String,
    /// Accounts a grant may target.
    pub accounts: Vec<String>,
    /// Longest grant of it any flow may give.
    pub max_duration: Option<String>,
    /// IAM service prefixes it uses.
    pub services: Vec<String>,
    /// What it grants.
    pub statements: Vec<StatementView>,
    /// Takes no new requests.
    pub deprecated: bool,
    /// What to ask for instead, when deprecated.
    pub successor: Option<String>,
    /// Flows that offer it.
    pub flows: Vec<FlowView>,
    /// The caller's recent requests for it (`GET /v1/catalog/{bundle}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_requests: Option<Vec<RequestView>>,
}

impl BundleView {
    /// The view of `b` in `cat`.
    pub fn of(cat: &Catalog, b: &Bundle) -> Self {
        Self {
            name: b.name.to_string(),
            description: b.description.clone(),
            owner_team: b.owner_team.to_string(),
            risk: b.risk,
            strategy: b.strategy.as_str().to_string(),
            accounts: b.accounts.iter().map(|a| a.to_string()).collect(),
            max_duration: b.max_duration.map(|d| d.to_string()),
            services: b.services().into_iter().map(str::to_string).collect(),
            statements: b
                .statements
                .iter()
                .map(|s| StatementView {
                    actions: s.actions.iter().map(|a| a.to_string()).collect(),
                    resources: s.resources.iter().map(|r| r.to_string()).collect(),
                })
                .collect(),
            deprecated: b.deprecated.is_some(),
            successor: b
                .deprecated
                .as_ref()
                .and_then(|d| d.successor.as_ref().map(|s| s.to_string())),
            flows: cat.flows_for(&b.name).map(FlowView::of).collect(),
            recent_requests: None,
        }
    }
}

/// `POST /v1/requests/preview`: what asking would do now, without asking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    /// The request as it would be stored: its flow, duration, accounts, where the grant would
    /// live, and the approval it would need (`approval.auto`, `approval.waiting_for`,
    /// `approval.decide_by`). Its id is not kept: nothing was stored.
    pub request: RequestView,
    /// The longest grant the flow gives.
    pub max_duration: String,
    /// The person's container policy with this grant in it, when the bundle goes there.
    pub room: Option<RoomView>,
}

/// How full a person's container policy would be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoomView {
    /// Its size with the grant (bytes, as IAM counts them: no whitespace).
    pub used_bytes: u32,
    /// The most an inline policy may hold.
    pub budget_bytes: u32,
}

/// A flow the caller may use, in `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MyFlow {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowView,
    /// One line for people.
    pub description: String,
    /// The bundles it offers.
    pub bundles: Vec<String>,
}

/// `GET /v1/me`: who the API says the caller is, and what that lets them do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The caller (the token's `email` claim; locally, the `X-Jit-User` header).
    pub email: String,
    /// The caller's groups in the directory.
    pub groups: Vec<String>,
    /// Whether the caller is in the catalog's admin group (may revoke and review).
    pub admin: bool,
    /// The flows the caller may ask through, with their bundles.
    pub flows: Vec<MyFlow>,
}

impl WhoAmI {
    /// What `person`, in `groups`, may do under `cat`.
    pub fn of(cat: &Catalog, person: &str, groups: &[jit_core::types::GroupName]) -> Self {
        Self {
            email: person.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            admin: groups.contains(&cat.settings.admin_group),
            flows: cat
                .flows
                .values()
                .filter(|f| f.admits(groups))
                .map(|f| MyFlow {
                    flow: FlowView::of(f),
                    description: f.description.clone(),
                    bundles: f.bundles.iter().map(|b| b.to_string()).collect(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/catalog`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CatalogView {
    /// The catalog version in force (a content hash).
    pub version: String,
    /// How many bundles match (every bundle without `q`).
    pub matched: usize,
    /// The bundles of this page, by name.
    pub bundles: Vec<BundleView>,
    /// Set when more bundles match than this page holds: pass it as `cursor` for the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /v1/audit` (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The records, oldest first.
    pub records: Vec<AuditRow>,
}

/// The columns of the audit trail as CSV, in order.
pub const AUDIT_CSV_COLUMNS: [&str; 9] = [
    "at",
    "request_id",
    "seq",
    "actor",
    "action",
    "status",
    "requester",
    "bundle",
    "message",
];

impl AuditRow {
    /// The row's cells in [`AUDIT_CSV_COLUMNS`] order, as text.
    pub fn cells(&self) -> [String; 9] {
        [
            self.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            self.request_id.clone(),
            self.seq.to_string(),
            self.actor.clone(),
            self.action.as_str().to_string(),
            self.status.as_str().to_string(),
            self.requester.clone(),
            self.bundle.clone(),
            self.message.clone().unwrap_or_default(),
        ]
    }
}

/// One access-denied prompt (never its links).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptRow {
    /// Id.
    pub id: String,
    /// Who was denied.
    pub person: String,
    /// The IAM action denied.
    pub action: String,
    /// The resource, when the event named one.
    pub resource: Option<String>,
    /// The account.
    pub account: String,
    /// When the call was denied.
    pub denied_at: DateTime<Utc>,
    /// The bundles offered.
    pub offered: Vec<String>,
    /// The service, when it is disabled in the catalog.
    pub disabled_service: Option<String>,
    /// Where the prompt stands.
    pub status: PromptStatus,
    /// The request made from it.
    pub request_id: Option<String>,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl PromptRow {
    /// The row for `p`.
    pub fn of(p: &Prompt) -> Self {
        Self {
            id: p.id.to_string(),
            person: p.denied.person.to_string(),
            action: p.denied.action.clone(),
            resource: p.denied.resource.clone(),
            account: p.denied.account.to_string(),
            denied_at: p.denied.at,
            offered: p.offers.iter().map(|o| o.bundle.to_string()).collect(),
            disabled_service: p.disabled_service.clone(),
            status: p.status,
            request_id: p.request_id.as_ref().map(|r| r.to_string()),
            sent_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// `GET /v1/prompts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptsPage {
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The prompts, oldest first.
    pub prompts: Vec<PromptRow>,
}

/// How prompts fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptFigures {
    /// Prompts sent.
    pub sent: u64,
    /// Turned into requests.
    pub requested: u64,
    /// Dismissed.
    pub abandoned: u64,
    /// Left unanswered until they expired.
    pub abandoned_expired: u64,
    /// Still waiting for the person.
    pub waiting: u64,
    /// About a service disabled in the catalog.
    pub service_disabled: u64,
    /// Requested / prompts that offered a bundle.
    pub conversion_rate: Option<f64>,
}

impl PromptFigures {
    /// The figures of `prompts`.
    pub fn of(prompts: &[Prompt]) -> Self {
        let count = |s: PromptStatus| prompts.iter().filter(|p| p.status == s).count() as u64;
        let offered = prompts.iter().filter(|p| !p.offers.is_empty()).count();
        let requested = count(PromptStatus::Requested);
        Self {
            sent: prompts.len() as u64,
            requested,
            abandoned: count(PromptStatus::Abandoned),
            abandoned_expired: count(PromptStatus::AbandonedExpired),
            waiting: count(PromptStatus::Prompted),
            service_disabled: count(PromptStatus::Disabled),
            conversion_rate: (offered > 0).then(|| requested as f64 / offered as f64),
        }
    }
}

/// Live grants longer than a week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StandingExceptions {
    /// What counts.
    pub description: String,
    /// The requests.
    pub ids: Vec<String>,
}

/// `GET /v1/report`: how access is being used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// Requests made.
    pub requests: u64,
    /// Granted without approval.
    pub auto_approved: u64,
    /// auto_approved / requests.
    pub auto_approval_rate: Option<f64>,
    /// Approved by people.
    pub approved: u64,
    /// Denied.
    pub denied: u64,
    /// Nobody decided in time.
    pub expired: u64,
    /// Could not be applied.
    pub failed: u64,
    /// Ended by an admin.
    pub revoked: u64,
    /// Median seconds from request to active access.
    pub median_seconds_to_access: Option<f64>,
    /// Grants active now.
    pub active_grants: u64,
    /// Live grants longer than 7 days.
    pub standing_exceptions: StandingExceptions,
    /// Break-glass grants nobody has reviewed yet.
    pub break_glass_awaiting_review: Vec<String>,
    /// The longest live grants (at most 10), longest first.
    pub longest_grants: Vec<LongGrant>,
    /// How access-denied prompts fared.
    pub prompts: PromptFigures,
}

/// A live grant and how long it lasts, in `GET /v1/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LongGrant {
    /// The request.
    pub id: String,
    /// The bundle.
    pub bundle: String,
    /// Who holds it.
    pub requester: String,
    /// How long it lasts, from start to expiry (e.g. `14d`).
    pub duration: String,
    /// The same in seconds, for sorting and charts.
    pub seconds: i64,
}

impl Report {
    /// The report over `events` (of the period), `live` grants and `prompts`.
    pub fn of(
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        events: &[AuditEvent],
        live: &[Request],
        break_glass_awaiting_review: Vec<String>,
        prompts: &[Prompt],
        now: DateTime<Utc>,
    ) -> Self {
        let mut requested: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        let mut waits: Vec<i64> = Vec::new();
        let count = |a: Action| events.iter().filter(|e| e.action == a).count() as u64;
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
        let total = count(Action::Requested);
        let auto = count(Action::AutoApproved);
        let standing = live
            .iter()
            .filter(|r| {
                r.starts_at
                    .zip(r.expires_at)
                    .is_some_and(|(s, e)| e - s > chrono::Duration::days(7))
            })
            .map(|r| r.id.to_string())
            .collect();
        let mut longest: Vec<LongGrant> = live
            .iter()
            .map(|r| LongGrant {
                id: r.id.to_string(),
                bundle: r.bundle.to_string(),
                requester: r.requester.to_string(),
                duration: r.duration.to_string(),
                seconds: r.duration.as_chrono().num_seconds(),
            })
            .collect();
        longest.sort_by(|a, b| b.seconds.cmp(&a.seconds).then_with(|| a.id.cmp(&b.id)));
        longest.truncate(10);
        Self {
            from,
            to,
            generated_at: now,
            requests: total,
            auto_approved: auto,
            auto_approval_rate: (total > 0).then(|| auto as f64 / total as f64),
            approved: count(Action::Approved),
            denied: count(Action::Denied),
            expired: count(Action::Expired),
            failed: count(Action::Failed),
            revoked: count(Action::Revoked),
            median_seconds_to_access: (!waits.is_empty())
                .then(|| waits[waits.len() / 2] as f64 / 1000.0),
            active_grants: live.iter().filter(|r| r.status == Status::Active).count() as u64,
            standing_exceptions: StandingExceptions {
                description: "live grants longer than 7 days".to_string(),
                ids: standing,
            },
            break_glass_awaiting_review,
            longest_grants: longest,
            prompts: PromptFigures::of(prompts),
        }
    }
}
