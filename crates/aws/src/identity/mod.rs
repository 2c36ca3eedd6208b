//! Granting in AWS: Identity Center containers (a permission set per person, statements per
//! grant), temporary account assignments, and per-grant inline policies on IAM roles.
//!
//! All writes for one person run under that person's lease in the table, so the
//! read-modify-write of their one inline policy never loses a concurrent grant's statements,
//! and an assignment is never deleted while another grant is being added beside it.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_ssoadmin::types::{PrincipalType, ProvisionTargetType, StatusValues, TargetType};
use jit_core::catalog::Strategy;
use jit_core::plan::{GrantSpec, PolicyDocument, TooLarge, POLICY_BUDGET};
use jit_core::ports::{
    grant_of_role_policy, role_policy_name, GrantError, Grantor, QuotaReached, RolePolicies,
};
use jit_core::types::Email;
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::dynamo::Leases;
use crate::error::Fault;
use crate::messaging::IdentityStoreDirectory;
use crate::retry::{call, RateLimiter, RetryPolicy};

mod role;
mod sessions;
mod sso;

/// Where and how to grant.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The Identity Center instance (arn:aws:sso:::instance/ssoins-...).
    pub instance_arn: String,
    /// Session length of the container permission sets (ISO-8601, e.g. PT8H).
    pub session_duration: String,
    /// The IAM role name for a person, `{user}` standing for their email's local part.
    pub role_name_template: String,
    /// Calls per second this process makes to Identity Center on average (the service allows
    /// about 20 per second for the whole account).
    pub rate_per_second: u32,
    /// Calls this process may make at once after a quiet spell, before the rate applies (a
    /// grant is about ten calls: with a burst of ten it is not spaced out at all).
    pub burst: u32,
    /// How many times to poll asynchronous provisioning.
    pub poll_attempts: u32,
    /// The longest pause between polls: the first is a tenth of it, and each pause doubles up
    /// to it (most operations finish within the first few hundred milliseconds).
    pub poll_interval: Duration,
    /// How hard to retry throttling and conflicts (on top of the SDK's own retries).
    pub retry: RetryPolicy,
    /// Calls a second for every process of the stack together (Identity Center allows about
    /// 20 for the whole account, shared with every other caller): when set, each call reserves
    /// a slot in one item of the table ([`crate::budget`]) and `rate_per_second` is only the
    /// fallback for when the table cannot be reached.
    pub shared_rate: Option<u32>,
    /// How long to wait for an account's turn: one permission-set role per account is updated
    /// at a time, so assignments and provisioning in one account take turns under a lease.
    pub account_wait: Duration,
    /// The longest pause between attempts at an account's lease.
    pub account_poll: Duration,
    /// Identity Center's quota of permission sets per instance: a person's first grant, which
    /// makes their container, is refused with it named when the instance is at it.
    pub permission_set_quota: u32,
    /// Identity Center's quota of permission sets provisioned per account: an assignment that
    /// would provision one more set in an account at it is refused with it named.
    pub account_quota: u32,
}

impl IdentityConfig {
    /// Sensible defaults for `instance_arn`.
    pub fn new(instance_arn: impl Into<String>) -> Self {
        Self {
            instance_arn: instance_arn.into(),
            session_duration: "PT8H".into(),
            role_name_template: "jit-{user}".into(),
            rate_per_second: 10,
            burst: 10,
            poll_attempts: 30,
            poll_interval: Duration::from_millis(500),
            retry: RetryPolicy::default(),
            shared_rate: None,
            account_wait: Duration::from_secs(60),
            account_poll: Duration::from_millis(250),
            permission_set_quota: 2_000,
            account_quota: 250,
        }
    }
}

/// The container permission set's name for a person (the core names it: the request view and
/// emails tell people which role to use).
pub use jit_core::access::container_name;

fn hex_prefix(text: &str, n: usize) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..n]
        .to_string()
}

/// The IAM role of a person under `template` (the core names it: the request view and emails
/// tell people which role to switch to).
pub use jit_core::access::iam_role_name as role_name;

fn grant_fault(f: Fault) -> GrantError {
    failed(f, None)
}

/// A fault as a grant error whose message a person can act on: the call, the resource, what
/// AWS said, and what to fix. It becomes a failed grant's reason.
fn failed(f: Fault, resource: Option<&str>) -> GrantError {
    let on = resource.map(|r| format!(" (on {r})")).unwrap_or_default();
    match f {
        Fault::Retryable(m) | Fault::Conflict(m) => GrantError::Retryable(m),
        Fault::ConditionFailed(m) => GrantError::Retryable(format!("concurrent change: {m}")),
        Fault::NotFound(m) => GrantError::Unknown(anyhow::anyhow!(
            "not found{on}: {m}; it may have been deleted outside jit, and the sweeper recreates what a live grant needs"
        )),
        Fault::Other(e) => {
            let said = e.to_string();
            let fix = if said.contains("AccessDenied") || said.contains("not authorized") {
                "the grant function's role is not allowed this call, or an SCP or permissions \
                 boundary denies it: give the role the actions the README lists for the Identity \
                 Center and IAM adapters"
            } else if said.contains("Validation") || said.contains("MalformedPolicy") {
                "AWS refused the request as invalid: check the bundle's statements, accounts and \
                 the Identity Center instance in the function's configuration"
            } else if said.contains("ServiceQuotaExceeded") || said.contains("LimitExceeded") {
                "an AWS quota is reached: raise it in Service Quotas or end grants that are not needed"
            } else {
                "the grant function's log has the whole error"
            };
            GrantError::Unknown(e.context(format!("{said}{on}; {fix}")))
        }
    }
}

fn store_to_grant(e: jit_core::ports::StoreError) -> GrantError {
    match e {
        jit_core::ports::StoreError::Unavailable(m) => GrantError::Retryable(m),
        other => GrantError::Unknown(anyhow::anyhow!(other)),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// What the asynchronous Identity Center operations report.
trait AsyncStatus {
    fn state(&self) -> Option<&StatusValues>;
    fn request(&self) -> Option<&str>;
    fn reason(&self) -> Option<&str>;
}

impl AsyncStatus for aws_sdk_ssoadmin::types::PermissionSetProvisioningStatus {
    fn state(&self) -> Option<&StatusValues> {
        self.status()
    }
    fn request(&self) -> Option<&str> {
        self.request_id()
    }
    fn reason(&self) -> Option<&str> {
        self.failure_reason()
    }
}

impl AsyncStatus for aws_sdk_ssoadmin::types::AccountAssignmentOperationStatus {
    fn state(&self) -> Option<&StatusValues> {
        self.status()
    }
    fn request(&self) -> Option<&str> {
        self.request_id()
    }
    fn reason(&self) -> Option<&str> {
        self.failure_reason()
    }
}

/// Where a permission set's new policy is provisioned.
#[derive(Debug, Clone, Copy)]
enum Reach<'a> {
    /// Every account it is assigned in; these are the accounts whose turn it takes (a
    /// container's: the accounts its grants, before and after, are pinned to).
    Assigned(&'a std::collections::BTreeSet<String>),
    /// Only these accounts (a shared set's session deny, pinned to one).
    Only(&'a std::collections::BTreeSet<String>),
}

/// The accounts a container's change reaches: those its grants are pinned to before and
/// after, and `also`.
fn touched(
    before: &PolicyDocument,
    after: &PolicyDocument,
    also: &[jit_core::types::AccountId],
) -> std::collections::BTreeSet<String> {
    let mut accounts: std::collections::BTreeSet<String> =
        also.iter().map(|a| a.to_string()).collect();
    for doc in [before, after] {
        accounts.extend(doc.grant_accounts().unwrap_or_default());
    }
    accounts
}

/// Grants through Identity Center and IAM.
#[derive(Debug)]
pub struct AwsGrantor {
    sso: aws_sdk_ssoadmin::Client,
    iam: aws_sdk_iam::Client,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    directory: IdentityStoreDirectory,
    leases: Leases,
    /// One writer per account at a time (assignments, provisioning).
    account_leases: Leases,
    config: IdentityConfig,
    limiter: RateLimiter,
    retry: RetryPolicy,
    /// The instance's permission sets as last counted, and when: counted again after five
    /// minutes, or when near the quota (a person's first grant would otherwise list them all).
    sets_counted: std::sync::Mutex<Option<(u32, std::time::Instant)>>,
}

impl AwsGrantor {
    /// A grantor. `table` is the ledger table, which also holds leases and container records.
    pub fn new(
        sso: aws_sdk_ssoadmin::Client,
        iam: aws_sdk_iam::Client,
        dynamo: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        directory: IdentityStoreDirectory,
        config: IdentityConfig,
    ) -> Self {
        let table = table.into();
        let leases = Leases::new(dynamo.clone(), table.clone());
        let mut account_leases = Leases::new(dynamo.clone(), table.clone());
        account_leases.wait = config.account_wait;
        account_leases.max_pause = config.account_poll;
        let mut limiter = RateLimiter::with_burst(config.rate_per_second, config.burst);
        if let Some(rate) = config.shared_rate {
            limiter = limiter.shared(crate::budget::SharedBudget::new(
                dynamo.clone(),
                table.clone(),
                rate,
                config.burst.min(rate),
            ));
        }
        let retry = config.retry;
        Self {
            sso,
            iam,
            dynamo,
            table,
            directory,
            leases,
            account_leases,
            config,
            limiter,
            retry,
            sets_counted: std::sync::Mutex::new(None),
        }
    }

    async fn under_lease<T>(
        &self,
        person: &Email,
        work: impl std::future::Future<Output = Result<T, GrantError>>,
    ) -> Result<T, GrantError> {
        self.under_lease_of(&format!("person#{person}"), work).await
    }

    /// Runs `work` holding the leases of `accounts` (taken in order, so two writers never wait
    /// for each other): Identity Center updates one permission-set role per account at a
    /// time, so assignments and provisioning in an account take turns.
    async fn under_accounts<T>(
        &self,
        accounts: &std::collections::BTreeSet<String>,
        work: impl std::future::Future<Output = Result<T, GrantError>>,
    ) -> Result<T, GrantError> {
        let mut held = Vec::new();
        for account in accounts {
            match self
                .account_leases
                .acquire(&format!("account#{account}"))
                .await
            {
                Ok(lease) => held.push(lease),
                Err(e) => {
                    for lease in held {
                        let _ = self.account_leases.release(lease).await;
                    }
                    return Err(store_to_grant(e));
                }
            }
        }
        let result = work.await;
        let mut released = Ok(());
        for lease in held {
            if let Err(e) = self.account_leases.release(lease).await {
                released = Err(store_to_grant(e));
            }
        }
        let value = result?;
        released.map(|()| value)
    }

    /// Runs `work` holding the lease `key` (a person's, or a shared permission set's).
    async fn under_lease_of<T>(
        &self,
        key: &str,
        work: impl std::future::Future<Output = Result<T, GrantError>>,
    ) -> Result<T, GrantError> {
        let lease = self.leases.acquire(key).await.map_err(store_to_grant)?;
        let result = work.await;
        self.leases.release(lease).await.map_err(store_to_grant)?;
        result
    }

    /// The people recorded under `key` in gsi1 (containers, role holders).
    async fn people_under(&self, key: &str) -> Result<Vec<Email>, GrantError> {
        Ok(self
            .keys_under(key)
            .await?
            .iter()
            .filter_map(|e| Email::parse(e).ok())
            .collect())
    }

    /// What is recorded under `key` in gsi1 (people, or permission sets with session denies).
    async fn keys_under(&self, key: &str) -> Result<Vec<String>, GrantError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(key))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| grant_fault(crate::error::fault(e)))?;
            keys.extend(
                page.items()
                    .iter()
                    .filter_map(|i| i.get("gsi1sk").and_then(|v| v.as_s().ok()).cloned()),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// The ARN of a person's container permission set, if they have one.
    pub async fn container_arn(&self, person: &Email) -> Result<String, GrantError> {
        self.container(person, false)
            .await?
            .ok_or_else(|| GrantError::NoIdentity(format!("{person} has no container yet")))
    }
}

/// A database grant reached the AWS grantor alone: the function was built without the
/// database adapter (`WithDatabases`), which is a deployment mistake, not a passing failure.
fn no_database(db: &jit_core::database::Database) -> GrantError {
    GrantError::Unknown(anyhow::anyhow!(
        "database {db}: this function is not set up to reach databases (see the README's Databases section)"
    ))
}

impl Grantor for AwsGrantor {
    #[instrument(skip(self, grant), fields(grant_id = %grant.id, strategy = strategy.as_str()))]
    async fn apply(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        // Boxed: with its waits for Identity Center, the work is a large future.
        self.under_lease(
            person,
            Box::pin(async {
                match strategy {
                    Strategy::Container => {
                        let user = self.user_id(person).await?;
                        let ps = self
                            .container(person, true)
                            .await?
                            .expect("created on demand");
                        // The room check comes first, so a grant that does not fit is refused
                        // before anything is assigned.
                        let current = self.inline_policy(&ps).await?;
                        let next = current.with(grant, POLICY_BUDGET)?;
                        // One turn of the accounts for the assignments and the provisioning.
                        let accounts = touched(&current, &next, &grant.accounts);
                        Box::pin(self.under_accounts(&accounts, async {
                            for account in &grant.accounts {
                                self.assign_held(account.as_str(), &ps, &user).await?;
                            }
                            if next != current {
                                self.write_policy_held(&ps, &next).await?;
                            }
                            Ok(())
                        }))
                        .await
                    }
                    Strategy::Assignment { permission_set } => {
                        let user = self.user_id(person).await?;
                        for account in &grant.accounts {
                            self.hold(
                                person,
                                account.as_str(),
                                permission_set.as_str(),
                                grant,
                                true,
                            )
                            .await?;
                            let assigned = self
                                .assign(account.as_str(), permission_set.as_str(), &user)
                                .await;
                            if let Err(e) = assigned {
                                if !e.is_retryable() {
                                    // The grant fails for good (a quota, say): it holds nothing,
                                    // or the assignment would outlive the grants that do.
                                    self.hold(
                                        person,
                                        account.as_str(),
                                        permission_set.as_str(),
                                        grant,
                                        false,
                                    )
                                    .await?;
                                }
                                return Err(e);
                            }
                        }
                        Ok(())
                    }
                    Strategy::IamRole => self.role_apply(person, grant).await,
                    Strategy::Postgres(db) => Err(no_database(db)),
                }
            }),
        )
        .await
    }

    #[instrument(skip(self, grant), fields(grant_id = %grant.id, strategy = strategy.as_str()))]
    async fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        // Boxed: with its waits for Identity Center, the work is a large future.
        self.under_lease(
            person,
            Box::pin(async {
                match strategy {
                    Strategy::Container => {
                        let Some(ps) = self.container(person, false).await? else {
                            return Ok(());
                        };
                        let current = self.inline_policy(&ps).await?;
                        let next = current.without(&grant.id);
                        // An account none of the person's other grants is pinned to no longer
                        // needs the container there: unassigned, so what is provisioned in each
                        // account tracks the people with live grants in it (the quota AWS counts).
                        // Decided from the policy about to be written, under the person's lease.
                        let unused: Vec<&str> = match next.grant_accounts() {
                            Some(in_use) => grant
                                .accounts
                                .iter()
                                .map(|a| a.as_str())
                                .filter(|a| !in_use.contains(*a))
                                .collect(),
                            None => Vec::new(),
                        };
                        if next == current && unused.is_empty() {
                            return Ok(());
                        }
                        let user = if unused.is_empty() {
                            None
                        } else {
                            Some(self.user_id(person).await?)
                        };
                        // One turn of the accounts for the provisioning and the unassignments:
                        // the statements leave every account before the container leaves any.
                        let accounts = touched(&current, &next, &grant.accounts);
                        Box::pin(self.under_accounts(&accounts, async {
                            if next != current {
                                self.write_policy_held(&ps, &next).await?;
                            }
                            if let Some(user) = &user {
                                for account in &unused {
                                    self.unassign_held(account, &ps, user).await?;
                                }
                            }
                            Ok(())
                        }))
                        .await
                    }
                    Strategy::Assignment { permission_set } => {
                        for account in &grant.accounts {
                            let left = self
                                .hold(
                                    person,
                                    account.as_str(),
                                    permission_set.as_str(),
                                    grant,
                                    false,
                                )
                                .await?;
                            if left == 0 {
                                // The person's last grant through this set in this account: the
                                // assignment goes, then the sessions it already issued are denied
                                // (deleting an assignment does not end them).
                                let user = self.user_id(person).await?;
                                self.unassign(account.as_str(), permission_set.as_str(), &user)
                                    .await?;
                                self.end_sessions(permission_set.as_str(), &user, account.as_str())
                                    .await?;
                            }
                        }
                        Ok(())
                    }
                    Strategy::IamRole => self.role_remove(person, grant).await,
                    Strategy::Postgres(db) => Err(no_database(db)),
                }
            }),
        )
        .await
    }

    async fn containers(&self) -> Result<Vec<Email>, GrantError> {
        self.people_under("CONTAINERS").await
    }

    async fn lapse_session_denies(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, GrantError> {
        self.lapse_denies(now).await
    }

    async fn role_holders(&self) -> Result<Vec<Email>, GrantError> {
        self.people_under("ROLEHOLDERS").await
    }

    async fn role_policies(&self, person: &Email) -> Result<Option<RolePolicies>, GrantError> {
        self.read_role_policies(person).await
    }

    #[instrument(skip(self, seen, next))]
    async fn replace_role_policies(
        &self,
        person: &Email,
        seen: &RolePolicies,
        next: &RolePolicies,
    ) -> Result<bool, GrantError> {
        self.under_lease(
            person,
            Box::pin(async {
                if self.read_role_policies(person).await?.as_ref() != Some(seen) {
                    return Ok(false);
                }
                let role = role_name(&self.config.role_name_template, person);
                for name in seen.keys().filter(|n| !next.contains_key(*n)) {
                    match self
                        .iam
                        .delete_role_policy()
                        .role_name(&role)
                        .policy_name(name)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) => match crate::error::fault(e) {
                            Fault::NotFound(_) => {}
                            f => return Err(grant_fault(f)),
                        },
                    }
                }
                for (name, doc) in next.iter().filter(|(n, d)| seen.get(*n) != Some(*d)) {
                    self.iam
                        .put_role_policy()
                        .role_name(&role)
                        .policy_name(name)
                        .policy_document(doc.to_json())
                        .send()
                        .await
                        .map_err(|e| grant_fault(crate::error::fault(e)))?;
                }
                Ok(true)
            }),
        )
        .await
    }

    async fn container_policy(&self, person: &Email) -> Result<Option<PolicyDocument>, GrantError> {
        match self.container(person, false).await? {
            Some(ps) => Ok(Some(self.inline_policy(&ps).await?)),
            None => Ok(None),
        }
    }

    #[instrument(skip(self, seen, next))]
    async fn replace_container_policy(
        &self,
        person: &Email,
        seen: &PolicyDocument,
        next: &PolicyDocument,
    ) -> Result<bool, GrantError> {
        self.under_lease(
            person,
            Box::pin(async {
                let Some(ps) = self.container(person, false).await? else {
                    return Ok(false);
                };
                if self.inline_policy(&ps).await? != *seen {
                    return Ok(false);
                }
                let accounts = touched(seen, next, &[]);
                self.write_policy(&ps, next, Reach::Assigned(&accounts))
                    .await?;
                Ok(true)
            }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_short_readable_and_distinct() {
        let a = container_name(&Email::parse("alice.longname.from.finance@example.com").unwrap());
        let b = container_name(&Email::parse("alice.longname.from.finance@example.org").unwrap());
        assert!(a.len() <= 32 && b.len() <= 32, "{a} {b}");
        assert!(a.starts_with("jit-alice.longname.fr"));
        assert_ne!(a, b);
        assert_eq!(
            role_name("jit-{user}", &Email::parse("a+b@example.com").unwrap()),
            "jit-a+b"
        );
    }
}
