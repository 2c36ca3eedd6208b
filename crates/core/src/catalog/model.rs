//! The validated catalog: bundles, flows, settings and the risk matrix, as the rest of the core
//! sees them. Built only by [`super::parse`], so every value here has passed validation.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Duration;
use regex::Regex;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::types::{
    AccountId, BundleName, ChatChannel, Email, FlowName, GrantDuration, GroupName, IamAction,
    PermissionSetArn, ResourceArn, Risk,
};

/// A published catalog: a content-addressed set of bundles and flows.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// Every bundle, by name.
    pub bundles: BTreeMap<BundleName, Bundle>,
    /// Every access flow, by name.
    pub flows: BTreeMap<FlowName, Flow>,
    /// Catalog-wide settings.
    pub settings: Settings,
    /// The risk × duration matrix used by flows without explicit approval groups.
    pub matrix: RiskMatrix,
}

impl Catalog {
    /// The content hash of the validated catalog (not of its files: reformatting a file or
    /// moving a bundle between files does not make a new version).
    pub fn version(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("the catalog model always serializes");
        let digest = Sha256::digest(canonical);
        format!("v{}", &hex::encode(digest)[..16])
    }

    /// Looks a bundle up by name.
    pub fn bundle(&self, name: &BundleName) -> Option<&Bundle> {
        self.bundles.get(name)
    }

    /// The bundle whose name is nearest to a misspelt `name`, if one is close.
    pub fn bundle_like(&self, name: &str) -> Option<&BundleName> {
        let names: Vec<&str> = self.bundles.keys().map(|b| b.as_str()).collect();
        let near = super::parse::closest(name, &names)?;
        self.bundles.keys().find(|b| b.as_str() == near)
    }

    /// The flows that offer `bundle`, in name order.
    pub fn flows_for<'a>(&'a self, bundle: &BundleName) -> impl Iterator<Item = &'a Flow> + 'a {
        let bundle = bundle.clone();
        self.flows
            .values()
            .filter(move |f| f.bundles.contains(&bundle))
    }

    /// Whether `service` (an IAM service prefix such as `s3`) is switched off catalog-wide.
    pub fn service_disabled(&self, service: &str) -> bool {
        self.settings.disabled_services.iter().any(|s| s == service)
    }
}

/// An owner-maintained set of permissions on a service.
#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    /// Unique name.
    pub name: BundleName,
    /// One line for people choosing a bundle.
    pub description: String,
    /// The Identity Store group that owns the bundle and approves "owner" requests.
    pub owner_team: GroupName,
    /// Risk level, one axis of the matrix.
    pub risk: Risk,
    /// How a grant of this bundle is applied.
    pub strategy: Strategy,
    /// The accounts a grant may target; a request targets all of them unless it names some.
    pub accounts: Vec<AccountId>,
    /// The longest grant of this bundle any flow may give.
    pub max_duration: Option<GrantDuration>,
    /// The IAM statements a grant adds (Allow only).
    pub statements: Vec<Statement>,
    /// Present when the bundle takes no new requests.
    pub deprecated: Option<Deprecation>,
}

impl Bundle {
    /// The IAM service prefixes the bundle's actions use (`s3`, `rds`, ...), sorted, unique.
    pub fn services(&self) -> Vec<&str> {
        let mut services: Vec<&str> = self
            .statements
            .iter()
            .flat_map(|s| s.actions.iter())
            .map(|a| a.as_str().split(':').next().unwrap_or("*"))
            .collect();
        services.sort_unstable();
        services.dedup();
        services
    }
}

/// A deprecated bundle refuses new requests and names its successor.
#[derive(Debug, Clone, Serialize)]
pub struct Deprecation {
    /// The bundle to ask for instead.
    pub successor: Option<BundleName>,
}

/// One Allow statement of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// IAM actions, at least one.
    pub actions: Vec<IamAction>,
    /// Resource ARNs, at least one.
    pub resources: Vec<ResourceArn>,
}

/// How a grant is applied in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Strategy {
    /// Statements added to the person's own permission set (the default).
    Container,
    /// A temporary account assignment of an existing permission set.
    Assignment {
        /// The permission set assigned for the grant's duration.
        permission_set: PermissionSetArn,
    },
    /// A per-grant inline policy on the person's IAM role.
    IamRole,
    /// A role of the grant's own on a Postgres database, granted to the person's database role
    /// (with `auth = "iam"`, also an `rds-db:connect` statement in their container).
    Postgres(Box<crate::database::Database>),
}

impl Strategy {
    /// The database a `postgres` bundle's grants are made on.
    pub fn database(&self) -> Option<&crate::database::Database> {
        match self {
            Strategy::Postgres(db) => Some(db),
            _ => None,
        }
    }

    /// Whether grants put statements in the person's container (a `postgres` bundle with IAM
    /// sign-in puts its `rds-db:connect` there).
    pub fn uses_container(&self) -> bool {
        match self {
            Strategy::Container => true,
            Strategy::Postgres(db) => db.auth == crate::database::DbAuth::Iam,
            _ => false,
        }
    }

    /// The catalog spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Container => "container",
            Strategy::Assignment { .. } => "assignment",
            Strategy::IamRole => "iam-role",
            Strategy::Postgres(_) => "postgres",
        }
    }
}

/// "any" or "all": how many members of a group, or how many groups, must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    /// One is enough.
    Any,
    /// Every one must.
    All,
}

impl fmt::Display for Require {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Require::Any => "any",
            Require::All => "all",
        })
    }
}

/// Whether a request must carry a justification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Justification {
    /// A reason is required (the default).
    Required,
    /// A reason may be given.
    Optional,
}

/// A regular expression a ticket reference must match, kept with its source text.
#[derive(Debug, Clone)]
pub struct TicketPattern {
    /// The pattern as written.
    pub source: String,
    /// The compiled pattern.
    pub regex: Regex,
}

impl Serialize for TicketPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// Who is told about a break-glass grant: a person or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum NotifyTarget {
    /// One person.
    Person(Email),
    /// Every member of a group.
    Group(GroupName),
}

/// Explicit approval groups.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalGroups {
    /// How the groups combine.
    pub between: Require,
    /// The groups, each with how many of its members must approve.
    pub groups: Vec<(GroupName, Require)>,
}

/// How a flow's requests are approved.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Approval {
    /// Granted at once.
    Auto,
    /// Decided by the risk × duration × owning-team matrix.
    Matrix,
    /// Decided by explicit approver groups.
    Groups(ApprovalGroups),
}

/// Who may ask for which bundles, and how they are approved.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    /// Unique name.
    pub name: FlowName,
    /// One line for people.
    pub description: String,
    /// Groups whose members may use the flow; empty with `everyone` set means all employees.
    pub requesters: Vec<GroupName>,
    /// True when the requesters list is `["*"]`.
    pub everyone: bool,
    /// Bundles the flow offers.
    pub bundles: Vec<BundleName>,
    /// Duration used when a request names none.
    pub default_duration: GrantDuration,
    /// Longest duration a request may ask for.
    pub max_duration: GrantDuration,
    /// Whether a reason is required.
    pub justification: Justification,
    /// When set, a ticket reference is required and must match.
    pub ticket_pattern: Option<TicketPattern>,
    /// Whether the requester's own vote counts.
    pub self_approval: bool,
    /// A break-glass flow grants at once, is broadly notified and reviewed afterwards.
    pub break_glass: bool,
    /// Who is told of every grant through this flow (required for break-glass).
    pub notify: Vec<NotifyTarget>,
    /// Whether an active grant may be extended (within `max_duration` in total).
    pub extendable: bool,
    /// How requests are approved.
    pub approval: Approval,
    /// How long a tier may stay silent before the next is asked.
    pub escalate_after: Duration,
    /// Escalation tiers, in order: each entry is the group asked next.
    pub escalate_to: Vec<GroupName>,
    /// How long a request may wait for a decision before it expires.
    pub request_ttl: Duration,
    /// Whether an approver may approve from a chat card; `None` means yes except for a
    /// critical bundle (chat has no step-up sign-in, so those go to the portal).
    pub approve_in_chat: Option<bool>,
    /// Where chat cards and break-glass announcements go instead of direct messages.
    pub chat_channel: Option<ChatChannel>,
}

impl Flow {
    /// Whether a person in `groups` may use this flow.
    pub fn admits(&self, groups: &[GroupName]) -> bool {
        self.everyone || self.requesters.iter().any(|r| groups.contains(r))
    }
}

/// Catalog-wide settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The group that approves "platform" cells of the matrix and is the last escalation tier.
    pub platform_group: GroupName,
    /// The group whose members may revoke any grant.
    pub admin_group: GroupName,
    /// Default tier timeout.
    pub escalate_after: Duration,
    /// Default escalation chain: each entry is the group asked next.
    pub escalate_to: Vec<GroupName>,
    /// Default time a request may wait for a decision.
    pub request_ttl: Duration,
    /// Default grant duration for flows that name none.
    pub default_duration: GrantDuration,
    /// IAM service prefixes that no bundle may be granted on (a kill switch).
    pub disabled_services: Vec<String>,
}

/// What one matrix cell decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatrixCell {
    /// Granted at once for anyone the flow admits.
    Auto,
    /// Granted at once for members of the owning team; others need owner approval.
    AutoOwner,
    /// The owning team approves.
    Owner,
    /// The platform group approves.
    Platform,
}

impl MatrixCell {
    /// The catalog spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatrixCell::Auto => "auto",
            MatrixCell::AutoOwner => "auto-owner",
            MatrixCell::Owner => "owner",
            MatrixCell::Platform => "platform",
        }
    }
}

/// Risk × duration → cell. Columns: up to 1 day, up to 1 week, up to 2 weeks, longer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskMatrix {
    /// One row per risk level, lowest first.
    pub rows: [[MatrixCell; 4]; 4],
}

impl RiskMatrix {
    /// The column limits: a duration falls in the first column whose limit it does not exceed.
    pub const COLUMNS: [(&'static str, i64); 3] = [
        ("1 day", 86_400),
        ("1 week", 604_800),
        ("2 weeks", 1_209_600),
    ];

    /// The cell for a risk level and duration, with a description of the column.
    pub fn cell(&self, risk: Risk, duration: GrantDuration) -> (MatrixCell, &'static str) {
        let row = Risk::ALL
            .iter()
            .position(|r| *r == risk)
            .expect("every risk has a row");
        let col = Self::COLUMNS
            .iter()
            .position(|(_, limit)| duration.as_secs() <= *limit);
        let label = col.map_or("longer than 2 weeks", |c| match c {
            0 => "up to 1 day",
            1 => "up to 1 week",
            _ => "up to 2 weeks",
        });
        (self.rows[row][col.unwrap_or(3)], label)
    }
}

impl Default for RiskMatrix {
    /// The matrix in DESIGN.md §1.
    fn default() -> Self {
        use MatrixCell::*;
        Self {
            rows: [
                [Auto, Auto, AutoOwner, Owner],
                [Auto, AutoOwner, Owner, Owner],
                [AutoOwner, Owner, Owner, Platform],
                [Owner, Owner, Platform, Platform],
            ],
        }
    }
}
