//! The ports: one narrow trait per capability the core needs from the outside world. Adapters
//! (DynamoDB, Identity Center, IAM, Scheduler, SES, Identity Store, and their in-memory twins)
//! implement them; the service depends only on these traits.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::catalog::Strategy;
use crate::database::{Database, DbHoldings, IssuedPassword};
use crate::lifecycle::{Request, Status, Transition};
use crate::plan::{GrantSpec, PolicyDocument, TooLarge};
use crate::prompt::Prompt;
use crate::types::{Email, GroupName, RequestId};

/// The time. A port so that tests and local mode can move it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// One clock shared by several services (tests that run each function's service on one
/// test clock).
impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// A store operation that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A put-if-absent found the item already there.
    #[error("already exists")]
    AlreadyExists,
    /// A conditional update found the item changed since it was read.
    #[error("changed by someone else since it was read")]
    Conflict,
    /// The store is throttling or briefly unavailable; retrying later may succeed.
    #[error("the store is busy: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// One person's open requests (pending, approved or active), each read as last written, and
/// the admission version that the next [`RequestStore::create`] for that person must find
/// unchanged. Room in a container and caps on pending requests are decided on this copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenRequests {
    /// How many requests the person has been admitted, as a version.
    pub version: u64,
    /// Their requests that are not final yet.
    pub requests: Vec<Request>,
}

/// A notification written in the same transaction as the transition that caused it, then
/// delivered at least once: at once by the call that made the transition, or by the sweep if
/// that call died before it was acknowledged. Its key is unique within its request (the
/// audit record that caused it and a position), so a replayed transition writes none again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Unique within the request.
    pub key: String,
    /// When it was written.
    pub written_at: DateTime<Utc>,
    /// What is sent (its `request_id` names the request). For a chat notice, the same words
    /// as an email would carry: the chat message's plain-text fallback.
    pub message: Message,
    /// Present on a chat notice: what the chat channel shows (cards, the requester's messages);
    /// absent on an email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Box<ChatNote>>,
    /// Present on a chat notice of an access-denied prompt (its `request_id` is the
    /// prompt's id): what the chat channel offers the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Box<PromptNote>>,
}

impl Notice {
    /// Whether it goes to the chat channel rather than by email.
    pub fn is_chat(&self) -> bool {
        self.chat.is_some() || self.prompt.is_some()
    }
}

/// An access-denied prompt as chat shows it: the bundles offered, each with the signed link
/// the email carries (its last segment is the token an answer uses), so a click answers as
/// the link would, and only for the person prompted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptNote {
    /// The prompt as sent.
    pub prompt: Prompt,
    /// One signed link per offer, in the order of `prompt.offers`.
    pub links: Vec<String>,
}

/// What a transition shows in chat: the request as the transition left it, so every card
/// about it can be drawn again, and who is to be asked or told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatNote {
    /// The request afterwards.
    pub request: Request,
    /// Approvers to send a card to (those of the tier just reached); empty when nobody new is
    /// asked.
    #[serde(default)]
    pub ask: Vec<Email>,
    /// One line for the requester (granted, denied, ended…), when they are told something.
    #[serde(default)]
    pub tell: Option<String>,
    /// Announced in the flow's channel (a break-glass grant).
    #[serde(default)]
    pub announce: bool,
}

/// The ledger of requests, their grants and their audit records.
///
/// Contract: `create` is put-if-absent and admit-if-unchanged, `update` is
/// update-if-version-and-status; each writes the request, its transition's audit records and
/// its notices together or not at all.
pub trait RequestStore: Send + Sync {
    /// Stores a new request with its first records, admitted to its requester's open requests
    /// only if nobody else was admitted since `open` was read: `AlreadyExists` if the id is
    /// taken, `Conflict` if another request of the person's was created first.
    fn create(
        &self,
        t: &Transition,
        open: &OpenRequests,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The person's open requests and their admission version (see [`OpenRequests`]).
    fn open_for(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<OpenRequests, StoreError>> + Send;
    /// Replaces the request if it is still at `expected_version` and `expected_status`;
    /// `Conflict` otherwise.
    fn update(
        &self,
        expected_version: u64,
        expected_status: Status,
        t: &Transition,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// One request.
    fn get(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Option<Request>, StoreError>> + Send;
    /// A request's audit records, oldest first.
    fn timeline(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;
    /// A person's requests, newest first.
    fn by_requester(
        &self,
        email: &Email,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Request>, StoreError>> + Send;
    /// Pending requests that `group` is asked to decide (first tier or a reached tier).
    fn pending_for_group(
        &self,
        group: &GroupName,
    ) -> impl Future<Output = Result<Vec<Request>, StoreError>> + Send;
    /// A person's live (approved or active) grants.
    fn live_for(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Vec<Request>, StoreError>> + Send;
    /// Live grants whose expiry is at or before `t`, soonest first (the sweeper's query).
    fn expiring_before(
        &self,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Request>, StoreError>> + Send;
    /// Pending requests whose decision deadline is at or before `t`.
    fn undecided_before(
        &self,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Request>, StoreError>> + Send;
    /// Audit records with `from <= at < to`, oldest first.
    fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;
    /// Whether a decision link's nonce has been used (a consistent read).
    fn nonce_used(&self, nonce: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a decision link's nonce; `AlreadyExists` if it was used before.
    fn use_nonce(
        &self,
        nonce: &str,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Stores a new prompt unless the same person was prompted for the same action (its
    /// [`Prompt::quiet_key`]) and that quiet period has not passed: `AlreadyExists` then.
    /// The key, the prompt and its `notices` (outbox items under the prompt's id) are
    /// written together or not at all.
    fn create_prompt(
        &self,
        prompt: &Prompt,
        quiet_until: DateTime<Utc>,
        notices: &[Notice],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// One prompt.
    fn get_prompt(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Option<Prompt>, StoreError>> + Send;
    /// Replaces a prompt if it is still at `expected_version`; `Conflict` otherwise.
    fn update_prompt(
        &self,
        expected_version: u64,
        prompt: &Prompt,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Prompts sent with `from <= created_at < to`, oldest first.
    fn prompts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Prompt>, StoreError>> + Send;
    /// Prompts still waiting for an answer whose answer-by time is at or before `t`.
    fn prompts_unanswered_before(
        &self,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Prompt>, StoreError>> + Send;
    /// Notices written at or before `t` and not acknowledged yet, oldest first (the sweep's
    /// query: what a call that died between its commit and its emails left behind).
    fn notices_before(
        &self,
        t: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Notice>, StoreError>> + Send;
    /// Acknowledges a delivered notice; acknowledging one already gone succeeds.
    fn notice_delivered(
        &self,
        request: &RequestId,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The permission sets provisioned in `account` against its quota, as the grantor last
    /// counted them there; `None` where nothing is recorded (local mode, or no grant there yet).
    fn account_use(
        &self,
        _account: &crate::types::AccountId,
    ) -> impl Future<Output = Result<Option<AccountUse>, StoreError>> + Send {
        async { Ok(None) }
    }
}

/// An account's permission sets provisioned against Identity Center's quota, as the grantor
/// counted them at its last assignment or removal there. Advisory: the grantor counts again,
/// in the account's turn, before it assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUse {
    /// Sets provisioned there.
    pub used: u32,
    /// The quota.
    pub limit: u32,
}

/// A published catalog: its validated source files, under the version they hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogVersion {
    /// The content hash ([`crate::catalog::Catalog::version`]).
    pub version: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Who published it.
    pub published_by: String,
    /// The files, as (name, contents); `catalog::parse_files` reads them back.
    pub files: Vec<(String, String)>,
}

/// Published catalog versions: the current one and the history.
pub trait CatalogStore: Send + Sync {
    /// Makes `v` current. Returns false (and changes nothing) when it is already current.
    fn publish(&self, v: &CatalogVersion) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The current version.
    fn current(&self) -> impl Future<Output = Result<Option<CatalogVersion>, StoreError>> + Send;
    /// Past and current versions, newest first (without their files).
    fn history(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CatalogVersion>, StoreError>> + Send;
}

/// Applying or removing a grant did not work.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The person's container would overflow the policy budget.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The person has no identity (user, role) to grant to.
    #[error("{0}")]
    NoIdentity(String),
    /// The grant would take AWS past one of its quotas (nothing was created).
    #[error(transparent)]
    Quota(#[from] QuotaReached),
    /// Throttled or a concurrent change (ConflictException); retrying later may succeed.
    #[error("AWS is busy: {0}")]
    Retryable(String),
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// An AWS quota a grant would exceed, named with its limit and use, refused before anything is
/// created (Identity Center would refuse the call itself, with less to act on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Identity Center's quota of {limit} {quota}{place} is reached ({used} in use): end grants that are no longer needed there, or raise the quota in Service Quotas and set the new value in the stack's parameters")]
pub struct QuotaReached {
    /// Which quota, as AWS names it ("permission sets per instance", "permission sets
    /// provisioned per account").
    pub quota: &'static str,
    /// The quota's value.
    pub limit: u32,
    /// What is in use now.
    pub used: u32,
    /// Where (" in account 111111111111"), or empty.
    pub place: String,
}

impl GrantError {
    /// Whether trying again later may succeed (as opposed to failing the grant).
    pub fn is_retryable(&self) -> bool {
        matches!(self, GrantError::Retryable(_))
    }
}

/// A role's grant policies by name (`jit-<grant>`).
pub type RolePolicies = BTreeMap<String, PolicyDocument>;

/// The name of a grant's policy on a role.
pub fn role_policy_name(grant: &RequestId) -> String {
    format!("jit-{grant}")
}

/// The grant a role policy name belongs to, if it is one of this product's.
pub fn grant_of_role_policy(name: &str) -> Option<RequestId> {
    RequestId::parse(name.strip_prefix("jit-")?).ok()
}

/// Puts grants in place in AWS and takes them away. Both are idempotent: applying a grant that
/// is in place, or removing one that is gone, succeeds and changes nothing.
pub trait Grantor: Send + Sync {
    /// Puts `grant` in place for `person` with `strategy`.
    fn apply(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> impl Future<Output = Result<(), GrantError>> + Send;
    /// Removes exactly `grant` (other grants of the same person stay).
    fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> impl Future<Output = Result<(), GrantError>> + Send;
    /// The people who have a container (a permission set of their own), for reconciliation.
    fn containers(&self) -> impl Future<Output = Result<Vec<Email>, GrantError>> + Send;
    /// The policy in `person`'s container now; `None` when they have no container.
    fn container_policy(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Option<PolicyDocument>, GrantError>> + Send;
    /// Writes `next` to `person`'s container if it still holds `seen` (checked under the
    /// person's lease, so a grant applied meanwhile is never overwritten). Returns false, having
    /// written nothing, when the container changed since it was read.
    fn replace_container_policy(
        &self,
        person: &Email,
        seen: &PolicyDocument,
        next: &PolicyDocument,
    ) -> impl Future<Output = Result<bool, GrantError>> + Send;
    /// The people whose IAM role this product has put grant policies on (`iam-role`).
    fn role_holders(&self) -> impl Future<Output = Result<Vec<Email>, GrantError>> + Send;
    /// The grant policies (`jit-<grant>`, by name) on `person`'s role now; the role's other
    /// policies are not this product's and are not shown. `None` when the role is gone.
    fn role_policies(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Option<RolePolicies>, GrantError>> + Send;
    /// Makes `person`'s grant policies `next` if they are still `seen` (under the person's
    /// lease): deletes those `next` lacks, puts those that differ. False, having changed
    /// nothing, when they changed since they were read.
    fn replace_role_policies(
        &self,
        person: &Email,
        seen: &RolePolicies,
        next: &RolePolicies,
    ) -> impl Future<Output = Result<bool, GrantError>> + Send;
    /// Removes the session denies that have lapsed by `now` from the shared permission sets
    /// (see [`crate::sessions`]); how many were removed. Nothing for a grantor that writes none.
    fn lapse_session_denies(
        &self,
        _now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, GrantError>> + Send {
        async { Ok(0) }
    }
    /// Sets a new password on `person`'s role on `db`'s instance, valid until `until`
    /// (`postgres` bundles with `auth = "password"`); a grantor without databases refuses.
    fn db_password(
        &self,
        _person: &Email,
        db: &Database,
        _until: DateTime<Utc>,
    ) -> impl Future<Output = Result<IssuedPassword, GrantError>> + Send {
        let message = format!("this function does not reach databases (database {db})");
        async move { Err(GrantError::Unknown(anyhow::anyhow!(message))) }
    }
    /// What this product holds on `db`'s instance ([`crate::database::Databases::holdings`]);
    /// nothing for a grantor without databases.
    fn db_holdings(
        &self,
        _db: &Database,
    ) -> impl Future<Output = Result<DbHoldings, GrantError>> + Send {
        async { Ok(DbHoldings::default()) }
    }
    /// Stops `person`'s database role logging in unless they hold a grant there.
    fn db_lock_out(
        &self,
        _person: &Email,
        db: &Database,
    ) -> impl Future<Output = Result<(), GrantError>> + Send {
        let message = format!("this function does not reach databases (database {db})");
        async move { Err(GrantError::Unknown(anyhow::anyhow!(message))) }
    }
}

/// The grantor of a function that writes only the ledger ([`crate::service::Effects::Stream`]):
/// the stream-fed grant function changes access for it. Such a function then links no Identity
/// Center or IAM client (a shorter cold start) and its role allows none of their actions. The
/// service never calls a grantor under `Effects::Stream`; if a bug made it, the call fails as
/// retryable, so nothing is marked failed and the event is retried where it shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct LedgerOnly;

impl LedgerOnly {
    fn refuse<T>() -> Result<T, GrantError> {
        Err(GrantError::Retryable(
            "this function writes only the ledger; the grant function changes access".into(),
        ))
    }
}

impl Grantor for LedgerOnly {
    async fn apply(&self, _: &Email, _: &Strategy, _: &GrantSpec) -> Result<(), GrantError> {
        Self::refuse()
    }
    async fn remove(&self, _: &Email, _: &Strategy, _: &GrantSpec) -> Result<(), GrantError> {
        Self::refuse()
    }
    async fn containers(&self) -> Result<Vec<Email>, GrantError> {
        Self::refuse()
    }
    async fn container_policy(&self, _: &Email) -> Result<Option<PolicyDocument>, GrantError> {
        Self::refuse()
    }
    async fn replace_container_policy(
        &self,
        _: &Email,
        _: &PolicyDocument,
        _: &PolicyDocument,
    ) -> Result<bool, GrantError> {
        Self::refuse()
    }
    async fn role_holders(&self) -> Result<Vec<Email>, GrantError> {
        Self::refuse()
    }
    async fn role_policies(&self, _: &Email) -> Result<Option<RolePolicies>, GrantError> {
        Self::refuse()
    }
    async fn replace_role_policies(
        &self,
        _: &Email,
        _: &RolePolicies,
        _: &RolePolicies,
    ) -> Result<bool, GrantError> {
        Self::refuse()
    }
}

/// What a one-shot schedule does when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ScheduledAction {
    /// Apply a grant whose start has come.
    StartGrant {
        /// The request.
        request_id: RequestId,
    },
    /// End a grant at its expiry.
    EndGrant {
        /// The request.
        request_id: RequestId,
    },
    /// Ask the next approval tier.
    Escalate {
        /// The request.
        request_id: RequestId,
        /// The tier to reach.
        tier: usize,
    },
    /// Expire an undecided request.
    ExpireRequest {
        /// The request.
        request_id: RequestId,
    },
}

/// A one-shot schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Unique, derived from what it acts on (so creating it twice is harmless).
    pub name: String,
    /// When it fires (UTC, whole seconds).
    pub at: DateTime<Utc>,
    /// What it does.
    pub action: ScheduledAction,
}

impl Schedule {
    /// The schedule for `action` at `at`, named after what it acts on. End schedules carry the
    /// expiry in their name, so an extended grant gets a new one and the old one finds nothing
    /// to do.
    pub fn new(action: ScheduledAction, at: DateTime<Utc>) -> Self {
        let name = match &action {
            ScheduledAction::StartGrant { request_id } => format!("jit-start-{request_id}"),
            ScheduledAction::EndGrant { request_id } => {
                format!("jit-end-{request_id}-{}", at.timestamp())
            }
            ScheduledAction::Escalate { request_id, tier } => {
                format!("jit-esc-{request_id}-{tier}")
            }
            ScheduledAction::ExpireRequest { request_id } => format!("jit-ttl-{request_id}"),
        };
        Self { name, at, action }
    }
}

/// A schedule could not be created or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Throttled; retrying later may succeed.
    #[error("the scheduler is busy: {0}")]
    Retryable(String),
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// One-shot schedules. Creating one that exists, or deleting one that is gone, succeeds.
pub trait Scheduler: Send + Sync {
    /// Creates `schedule` unless it exists.
    fn schedule(
        &self,
        schedule: &Schedule,
    ) -> impl Future<Output = Result<(), ScheduleError>> + Send;
    /// Deletes the schedule called `name` if it exists.
    fn cancel(&self, name: &str) -> impl Future<Output = Result<(), ScheduleError>> + Send;
}

/// Why an email was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageKind {
    /// Asks an approver to decide, with links.
    ApprovalRequest,
    /// Tells the requester what was decided or what happened to the grant.
    StatusNotice,
    /// Tells the notify list about a break-glass grant.
    BreakGlass,
    /// Offers a person the bundles that would allow what they were just denied.
    AccessPrompt,
}

/// An email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Recipients.
    pub to: Vec<Email>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Why it was sent.
    pub kind: MessageKind,
    /// The request it is about.
    pub request_id: RequestId,
}

/// An email could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Throttled; retrying later may succeed.
    #[error("the mail service is busy: {0}")]
    Retryable(String),
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Sends email.
pub trait Mailer: Send + Sync {
    /// Sends `message`.
    fn send(&self, message: &Message) -> impl Future<Output = Result<(), MailError>> + Send;
    /// Delivers one notice of the outbox: an email is sent; a chat notice goes nowhere unless
    /// the mailer is paired with a chat channel ([`WithChat`]).
    fn deliver(&self, notice: &Notice) -> impl Future<Output = Result<(), MailError>> + Send {
        async move {
            match notice.is_chat() {
                false => self.send(&notice.message).await,
                true => Ok(()),
            }
        }
    }
}

/// A chat workspace (Slack; Microsoft Teams could follow): the second notification channel,
/// beside email. Delivery is at least once: a notice may come again after a crash, so an
/// adapter posts a card for one approver and one request once, and otherwise redraws it.
pub trait Chat: Send + Sync {
    /// Shows `notice` (its `chat` part) in chat.
    fn deliver(&self, notice: &Notice) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// No chat channel configured: chat notices are dropped (and acknowledged).
impl<C: Chat> Chat for Option<C> {
    async fn deliver(&self, notice: &Notice) -> Result<(), MailError> {
        match self {
            Some(chat) => chat.deliver(notice).await,
            None => Ok(()),
        }
    }
}

/// Email and chat as the service's one notification port: emails go to the mailer, chat
/// notices to the chat channel.
#[derive(Debug, Clone)]
pub struct WithChat<M, Ch> {
    /// Email.
    pub mail: M,
    /// Chat.
    pub chat: Ch,
}

impl<M: Mailer, Ch: Chat> Mailer for WithChat<M, Ch> {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        self.mail.send(message).await
    }
    async fn deliver(&self, notice: &Notice) -> Result<(), MailError> {
        match notice.is_chat() {
            false => self.mail.send(&notice.message).await,
            true => self.chat.deliver(notice).await,
        }
    }
}

/// A message a chat adapter posted about a request (a card), so it can be found and drawn
/// again whenever the request changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// Unique within the request: who it was posted for and why (`ask:<email>`, `tell:<key>`).
    pub key: String,
    /// Where it is (a channel or direct-message id).
    pub channel: String,
    /// Which message there (Slack's `ts`).
    pub ts: String,
    /// Whether it is redrawn on every change (an approval card) or left as posted.
    pub live: bool,
    /// The request's version it shows: an older notice delivered late never draws over a
    /// newer one.
    pub version: u64,
}

/// Where a chat adapter keeps the cards it posted.
pub trait CardStore: Send + Sync {
    /// Records `card` for `request` (replacing one with the same key).
    fn put_card(
        &self,
        request: &RequestId,
        card: &Card,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The cards posted about `request`.
    fn cards(
        &self,
        request: &RequestId,
    ) -> impl Future<Output = Result<Vec<Card>, StoreError>> + Send;
}

/// The directory could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Throttled; retrying later may succeed.
    #[error("the directory is busy: {0}")]
    Retryable(String),
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// People and groups (the Identity Store).
pub trait Directory: Send + Sync {
    /// The groups `person` is in (empty for an unknown person).
    fn groups_of(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<GroupName>, DirectoryError>> + Send;
    /// The members of `group` (empty for an unknown group).
    fn members(
        &self,
        group: &GroupName,
    ) -> impl Future<Output = Result<BTreeSet<Email>, DirectoryError>> + Send;
}
