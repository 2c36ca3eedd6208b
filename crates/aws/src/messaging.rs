//! EventBridge Scheduler one-shot schedules, SES v2 email, and the Identity Store directory.

use std::collections::BTreeSet;

use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy as SchedulerRetry, Target,
};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message as SesMessage};
use aws_smithy_types::Document;
use jit_core::ports::*;
use jit_core::types::{Email, GroupName};
use tracing::instrument;

use crate::error::{fault, Fault};

/// Where schedules go and what they invoke.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The schedule group.
    pub group: String,
    /// The role Scheduler assumes to invoke the targets.
    pub role_arn: String,
    /// Target for start and end of grants (the revoke function handles both ends; the grant
    /// function handles starts).
    pub grant_target_arn: String,
    /// Target for grant expiry.
    pub revoke_target_arn: String,
    /// Target for escalation and request expiry.
    pub escalate_target_arn: String,
    /// The dead-letter queue for invocations that keep failing.
    pub dead_letter_arn: Option<String>,
    /// Retries of a failed invocation.
    pub max_retries: i32,
    /// How long Scheduler keeps retrying an invocation, in seconds.
    pub max_event_age_secs: i32,
}

/// One-shot schedules on EventBridge Scheduler.
#[derive(Debug, Clone)]
pub struct AwsScheduler {
    client: aws_sdk_scheduler::Client,
    config: SchedulerConfig,
}

impl AwsScheduler {
    /// A scheduler writing into `config.group`.
    pub fn new(client: aws_sdk_scheduler::Client, config: SchedulerConfig) -> Self {
        Self { client, config }
    }

    fn target_for(&self, action: &ScheduledAction) -> &str {
        match action {
            ScheduledAction::StartGrant { .. } => &self.config.grant_target_arn,
            ScheduledAction::EndGrant { .. } => &self.config.revoke_target_arn,
            ScheduledAction::Escalate { .. } | ScheduledAction::ExpireRequest { .. } => {
                &self.config.escalate_target_arn
            }
        }
    }
}

fn schedule_error(f: Fault) -> ScheduleError {
    match f {
        Fault::Retryable(m) => ScheduleError::Retryable(m),
        Fault::Other(e) => ScheduleError::Unknown(e),
        other => ScheduleError::Unknown(anyhow::anyhow!("{other:?}")),
    }
}

/// The `at()` expression for a time: UTC, whole seconds (Scheduler's precision is a minute).
pub fn at_expression(t: chrono::DateTime<chrono::Utc>) -> String {
    format!("at({})", t.format("%Y-%m-%dT%H:%M:%S"))
}

impl Scheduler for AwsScheduler {
    #[instrument(skip(self, schedule), fields(schedule = %schedule.name))]
    async fn schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let input = serde_json::to_string(&schedule.action)
            .map_err(|e| ScheduleError::Unknown(e.into()))?;
        let target = Target::builder()
            .arn(self.target_for(&schedule.action))
            .role_arn(&self.config.role_arn)
            .input(input)
            .retry_policy(
                SchedulerRetry::builder()
                    .maximum_retry_attempts(self.config.max_retries)
                    .maximum_event_age_in_seconds(self.config.max_event_age_secs)
                    .build(),
            )
            .set_dead_letter_config(
                self.config
                    .dead_letter_arn
                    .as_ref()
                    .map(|a| DeadLetterConfig::builder().arn(a).build()),
            )
            .build()
            .map_err(|e| ScheduleError::Unknown(e.into()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| ScheduleError::Unknown(e.into()))?;
        let result = self
            .client
            .create_schedule()
            .name(&schedule.name)
            .group_name(&self.config.group)
            .schedule_expression(at_expression(schedule.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match fault(e) {
                // It exists: it is already scheduled, which is what was asked.
                Fault::Conflict(_) => Ok(()),
                other => Err(schedule_error(other)),
            },
        }
    }

    async fn cancel(&self, name: &str) -> Result<(), ScheduleError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.config.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match fault(e) {
                Fault::NotFound(_) => Ok(()),
                other => Err(schedule_error(other)),
            },
        }
    }
}

/// Email through SES v2.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    /// A mailer sending from `from` (a verified SES identity).
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Unknown(e.into()))
}

impl Mailer for SesMailer {
    #[instrument(skip(self, message), fields(request_id = %message.request_id, kind = ?message.kind))]
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let body = Body::builder()
            .text(content(&message.text)?)
            .html(content(&message.html)?)
            .build();
        let email = EmailContent::builder()
            .simple(
                SesMessage::builder()
                    .subject(content(&message.subject)?)
                    .body(body)
                    .build(),
            )
            .build();
        let to = Destination::builder()
            .set_to_addresses(Some(message.to.iter().map(|e| e.to_string()).collect()))
            .build();
        match self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(to)
            .content(email)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match fault(e) {
                Fault::Retryable(m) => Err(MailError::Retryable(m)),
                Fault::Other(e) => Err(MailError::Unknown(e)),
                other => Err(MailError::Unknown(anyhow::anyhow!("{other:?}"))),
            },
        }
    }
}

/// People and groups from the Identity Store.
///
/// Memberships are read live on every question, so a person removed from a group stops counting
/// at once. What an id names (a user's email, a group's name, and the reverse) is remembered for
/// [`IdentityStoreDirectory::ID_TTL`] per process: ids do not change, and a warm function then
/// makes one call per membership question instead of one per member.
#[derive(Debug, Clone)]
pub struct IdentityStoreDirectory {
    client: aws_sdk_identitystore::Client,
    store_id: String,
    names: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
    >,
}

fn directory_error(f: Fault) -> DirectoryError {
    match f {
        Fault::Retryable(m) => DirectoryError::Retryable(m),
        Fault::Other(e) => DirectoryError::Unknown(e),
        other => DirectoryError::Unknown(anyhow::anyhow!("{other:?}")),
    }
}

fn unique(path: &str, value: &str) -> Result<AlternateIdentifier, DirectoryError> {
    let attr = UniqueAttribute::builder()
        .attribute_path(path)
        .attribute_value(Document::String(value.to_string()))
        .build()
        .map_err(|e| DirectoryError::Unknown(e.into()))?;
    Ok(AlternateIdentifier::UniqueAttribute(attr))
}

impl IdentityStoreDirectory {
    /// A directory on the identity store `store_id` (d-xxxxxxxxxx).
    pub fn new(client: aws_sdk_identitystore::Client, store_id: impl Into<String>) -> Self {
        Self {
            client,
            store_id: store_id.into(),
            names: Default::default(),
        }
    }

    /// How long what an id names is remembered.
    pub const ID_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    /// Forgets every remembered name, as a new process would start (tests model cold starts).
    pub fn forget_names(&self) {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn remembered(&self, key: &str) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .get(key)
            .filter(|(_, at)| at.elapsed() < Self::ID_TTL)
            .map(|(v, _)| v.clone())
    }

    fn remember(&self, key: String, value: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() > 10_000 {
            names.clear(); // bounded: a directory larger than this just asks again
        }
        names.insert(key, (value.to_string(), std::time::Instant::now()));
    }

    /// The identity store this directory reads.
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// The Identity Store user id of `person`, found by email; `None` for an unknown person.
    pub async fn user_id(&self, person: &Email) -> Result<Option<String>, DirectoryError> {
        let key = format!("email:{person}");
        if let Some(id) = self.remembered(&key) {
            return Ok(Some(id));
        }
        let found = self
            .client
            .get_user_id()
            .identity_store_id(&self.store_id)
            .alternate_identifier(unique("emails.value", person.as_str())?)
            .send()
            .await;
        match found {
            Ok(out) => {
                self.remember(key, &out.user_id);
                Ok(Some(out.user_id))
            }
            Err(e) => match fault(e) {
                Fault::NotFound(_) => Ok(None),
                other => Err(directory_error(other)),
            },
        }
    }

    /// Whether the Identity Store has a group of that display name (`jit catalog push` checks
    /// every group a catalog names).
    pub async fn group_exists(&self, group: &GroupName) -> Result<bool, DirectoryError> {
        Ok(self.group_id(group).await?.is_some())
    }

    async fn group_id(&self, group: &GroupName) -> Result<Option<String>, DirectoryError> {
        let key = format!("group:{group}");
        if let Some(id) = self.remembered(&key) {
            return Ok(Some(id));
        }
        let found = self
            .client
            .get_group_id()
            .identity_store_id(&self.store_id)
            .alternate_identifier(unique("displayName", group.as_str())?)
            .send()
            .await;
        match found {
            Ok(out) => {
                self.remember(key, &out.group_id);
                Ok(Some(out.group_id))
            }
            Err(e) => match fault(e) {
                Fault::NotFound(_) => Ok(None),
                other => Err(directory_error(other)),
            },
        }
    }
}

impl Directory for IdentityStoreDirectory {
    async fn groups_of(&self, person: &Email) -> Result<Vec<GroupName>, DirectoryError> {
        let Some(user) = self.user_id(person).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_group_memberships_for_member()
                .identity_store_id(&self.store_id)
                .member_id(aws_sdk_identitystore::types::MemberId::UserId(user.clone()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| directory_error(fault(e)))?;
            for m in page.group_memberships() {
                let Some(gid) = m.group_id() else { continue };
                let key = format!("group-id:{gid}");
                let name = match self.remembered(&key) {
                    Some(name) => Some(name),
                    None => {
                        let g = self
                            .client
                            .describe_group()
                            .identity_store_id(&self.store_id)
                            .group_id(gid)
                            .send()
                            .await
                            .map_err(|e| directory_error(fault(e)))?;
                        let name = g.display_name().map(str::to_string);
                        if let Some(n) = &name {
                            self.remember(key, n);
                        }
                        name
                    }
                };
                // Groups whose names this product cannot use are ignored rather than failing.
                if let Some(name) = name.and_then(|n| GroupName::parse(&n).ok()) {
                    out.push(name);
                }
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        out.sort();
        Ok(out)
    }

    async fn members(&self, group: &GroupName) -> Result<BTreeSet<Email>, DirectoryError> {
        let Some(gid) = self.group_id(group).await? else {
            return Ok(BTreeSet::new());
        };
        let mut out = BTreeSet::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_group_memberships()
                .identity_store_id(&self.store_id)
                .group_id(&gid)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| directory_error(fault(e)))?;
            for m in page.group_memberships() {
                let Some(aws_sdk_identitystore::types::MemberId::UserId(uid)) = m.member_id()
                else {
                    continue;
                };
                let key = format!("user-id:{uid}");
                let email = match self.remembered(&key) {
                    Some(email) => Some(email),
                    None => {
                        let u = self
                            .client
                            .describe_user()
                            .identity_store_id(&self.store_id)
                            .user_id(uid)
                            .send()
                            .await
                            .map_err(|e| directory_error(fault(e)))?;
                        let email = u
                            .emails()
                            .iter()
                            .find(|e| e.primary())
                            .or_else(|| u.emails().first())
                            .and_then(|e| e.value())
                            .map(str::to_string);
                        if let Some(e) = &email {
                            self.remember(key, e);
                        }
                        email
                    }
                };
                if let Some(email) = email.and_then(|e| Email::parse(&e).ok()) {
                    out.insert(email);
                }
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }
}
