//! What clients send: JSON bodies, query strings, path parameters and the link pages' forms.
//! Every struct refuses unknown fields, and each operation has its own body, so the document
//! says exactly what each one takes.

use chrono::{DateTime, Utc};
use jit_core::lifecycle::Status;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::text::{
    Account, DurationText, EmailText, FormDuration, Id, Name, Prose, Reason, SearchText,
    TicketText, Token,
};

/// Most accounts one request may name.
pub const MAX_ACCOUNTS: usize = 100;

/// `POST /v1/requests`: ask for a bundle.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The bundle.
    pub bundle: Name,
    /// How long; the flow's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationText>,
    /// Why (the flow may require it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Prose>,
    /// A ticket reference (the flow may require one matching its pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketText>,
    /// A subset of the bundle's accounts; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub accounts: Option<Vec<Account>>,
    /// A later start (RFC 3339), at most 30 days ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    /// A specific flow (required for break-glass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Name>,
}

/// `POST /v1/requests/{id}/approve`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// A note for the requester and the record.
    #[serde(default)]
    pub message: Prose,
    /// Approve for less than was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationText>,
}

/// `POST /v1/requests/{id}/deny`, `/revoke` and `/review`: a message and nothing else.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// Why (required to deny and to revoke).
    #[serde(default)]
    pub message: Prose,
}

/// `POST /v1/requests/{id}/extend`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// By how much.
    pub duration: DurationText,
    /// Why: some text that is not only white space.
    pub reason: Reason,
}

/// The one listing `GET /v1/requests` offers: the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Mine {
    /// The caller's own requests (everyone's are in `/v1/audit`).
    #[serde(rename = "true")]
    True,
}

/// `GET /v1/requests` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the caller's own: the only listing offered.
    pub mine: Option<Mine>,
    /// Only requests in this status.
    pub status: Option<Status>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// `GET /v1/catalog` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Only bundles whose name, description, owner team, services or actions contain this, in
    /// any case.
    pub q: Option<SearchText>,
    /// At most this many bundles (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Go on after this bundle: the `next_cursor` of the page before.
    pub cursor: Option<Name>,
}

/// `GET /v1/audit` format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditFormat {
    /// `application/json` (the default).
    Json,
    /// `text/csv`, for spreadsheets.
    Csv,
}

/// `GET /v1/audit` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Start (RFC 3339); default 7 days before `to`. Must be before `to`, at most 366 days.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// Only records by or about this person.
    pub user: Option<EmailText>,
    /// Only records about this bundle.
    pub bundle: Option<Name>,
    /// `json` (default) or `csv`.
    pub format: Option<AuditFormat>,
}

/// `GET /v1/prompts` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PromptsQuery {
    /// Start (RFC 3339); default 7 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// Only prompts sent to this person.
    pub user: Option<EmailText>,
}

/// `GET /v1/report` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start (RFC 3339); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
}

/// `{bundle}` in a path.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BundlePath {
    /// The bundle's name.
    pub bundle: Name,
}

/// `{id}` in a path.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// The request's id.
    pub id: Id,
}

/// `{token}` in a path.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The link's token.
    pub token: Token,
}

/// What an approver chose on a decision page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionAction {
    /// Approve.
    Approve,
    /// Deny (a message is required).
    Deny,
}

/// `GET /v1/decisions/{token}` query: which button the email link pointed at.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Preselects the decision on the page.
    pub action: Option<DecisionAction>,
}

/// `POST /v1/decisions/{token}`: the decision page's form.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionForm {
    /// Approve or deny.
    pub action: DecisionAction,
    /// The message (required to deny).
    #[serde(default)]
    pub message: Prose,
    /// A shorter duration when approving; empty for what was asked.
    #[serde(default)]
    pub duration: FormDuration,
}

/// What a person chose on a prompt page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PromptAction {
    /// Ask for the offered bundle.
    Request,
    /// "I don't need it."
    Dismiss,
}

/// `POST /v1/prompts/{token}`: the prompt page's request form.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptForm {
    /// Request or dismiss.
    pub action: PromptAction,
    /// Why (prefilled with what was denied).
    #[serde(default)]
    pub reason: Prose,
    /// How long; empty for the offer's duration.
    #[serde(default)]
    pub duration: FormDuration,
    /// A ticket reference, when the flow asks for one.
    #[serde(default)]
    pub ticket: TicketText,
}
