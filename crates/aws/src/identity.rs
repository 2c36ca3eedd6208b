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
use jit_core::ports::{grant_of_role_policy, role_policy_name, GrantError, Grantor, RolePolicies};
use jit_core::types::Email;
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::dynamo::Leases;
use crate::error::Fault;
use crate::messaging::IdentityStoreDirectory;
use crate::retry::{call, RateLimiter, RetryPolicy};

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

/// Grants through Identity Center and IAM.
#[derive(Debug)]
pub struct AwsGrantor {
    sso: aws_sdk_ssoadmin::Client,
    iam: aws_sdk_iam::Client,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    directory: IdentityStoreDirectory,
    leases: Leases,
    config: IdentityConfig,
    limiter: RateLimiter,
    retry: RetryPolicy,
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
        let limiter = RateLimiter::with_burst(config.rate_per_second, config.burst);
        let retry = config.retry;
        Self {
            sso,
            iam,
            dynamo,
            table,
            directory,
            leases,
            config,
            limiter,
            retry,
        }
    }

    async fn user_id(&self, person: &Email) -> Result<String, GrantError> {
        self.directory
            .user_id(person)
            .await
            .map_err(|e| GrantError::Retryable(e.to_string()))?
            .ok_or_else(|| {
                GrantError::NoIdentity(format!("{person} has no user in the Identity Store"))
            })
    }

    /// The person's container permission set, created on first use. Its ARN is kept in the
    /// table so that finding it costs one read, not a listing of every permission set.
    async fn container(&self, person: &Email, create: bool) -> Result<Option<String>, GrantError> {
        let key = format!("CONTAINER#{person}");
        let got = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .key("sk", s("CONTAINER"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| grant_fault(crate::error::fault(e)))?;
        if let Some(arn) = got
            .item
            .as_ref()
            .and_then(|i| i.get("arn"))
            .and_then(|v| v.as_s().ok())
        {
            return Ok(Some(arn.clone()));
        }
        if !create {
            return Ok(None);
        }
        let name = container_name(person);
        // No retry on conflict here: for creation, ConflictException means "it exists", which is
        // answered by finding it, not by asking again.
        self.limiter.wait().await;
        let created = self
            .sso
            .create_permission_set()
            .instance_arn(&self.config.instance_arn)
            .name(&name)
            .description(format!("jit grants for {person}"))
            .session_duration(&self.config.session_duration)
            .send()
            .await
            .map_err(crate::error::fault);
        let arn = match created {
            Ok(out) => out
                .permission_set
                .and_then(|p| p.permission_set_arn)
                .ok_or_else(|| GrantError::Unknown(anyhow::anyhow!("no ARN returned")))?,
            // Created by an earlier attempt that crashed before recording it: find it by name.
            Err(Fault::Conflict(_)) => self.find_permission_set(&name).await?,
            Err(f) => return Err(grant_fault(f)),
        };
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&key))
            .item("sk", s("CONTAINER"))
            .item("arn", s(&arn))
            .item("name", s(&name))
            .item("person", s(person.as_str()))
            .item("gsi1pk", s("CONTAINERS"))
            .item("gsi1sk", s(person.as_str()))
            .send()
            .await
            .map_err(|e| grant_fault(crate::error::fault(e)))?;
        Ok(Some(arn))
    }

    async fn find_permission_set(&self, name: &str) -> Result<String, GrantError> {
        let mut token = None;
        loop {
            let page = call(&self.limiter, self.retry, || {
                self.sso
                    .list_permission_sets()
                    .instance_arn(&self.config.instance_arn)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(grant_fault)?;
            for arn in page.permission_sets() {
                let d = call(&self.limiter, self.retry, || {
                    self.sso
                        .describe_permission_set()
                        .instance_arn(&self.config.instance_arn)
                        .permission_set_arn(arn)
                        .send()
                })
                .await
                .map_err(|f| failed(f, Some(arn)))?;
                if d.permission_set().and_then(|p| p.name()) == Some(name) {
                    return Ok(arn.clone());
                }
            }
            token = page.next_token;
            if token.is_none() {
                return Err(GrantError::Unknown(anyhow::anyhow!(
                    "permission set {name} exists but could not be found"
                )));
            }
        }
    }

    async fn inline_policy(&self, ps: &str) -> Result<PolicyDocument, GrantError> {
        let out = call(&self.limiter, self.retry, || {
            self.sso
                .get_inline_policy_for_permission_set()
                .instance_arn(&self.config.instance_arn)
                .permission_set_arn(ps)
                .send()
        })
        .await
        .map_err(|f| failed(f, Some(ps)))?;
        PolicyDocument::parse(out.inline_policy().unwrap_or(""))
            .map_err(|e| GrantError::Unknown(e.into()))
    }

    async fn write_policy(&self, ps: &str, doc: &PolicyDocument) -> Result<(), GrantError> {
        if doc.statements.is_empty() {
            call(&self.limiter, self.retry, || {
                self.sso
                    .delete_inline_policy_from_permission_set()
                    .instance_arn(&self.config.instance_arn)
                    .permission_set_arn(ps)
                    .send()
            })
            .await
            .map(|_| ())
            .or_else(|f| {
                if matches!(f, Fault::NotFound(_)) {
                    Ok(())
                } else {
                    Err(failed(f, Some(ps)))
                }
            })?;
        } else {
            let json = doc.to_json();
            call(&self.limiter, self.retry, || {
                self.sso
                    .put_inline_policy_to_permission_set()
                    .instance_arn(&self.config.instance_arn)
                    .permission_set_arn(ps)
                    .inline_policy(&json)
                    .send()
            })
            .await
            .map_err(|f| failed(f, Some(ps)))?;
        }
        self.provision(ps).await
    }

    /// Pushes the permission set to every account it is assigned in, waiting (bounded) for it.
    async fn provision(&self, ps: &str) -> Result<(), GrantError> {
        let out = call(&self.limiter, self.retry, || {
            self.sso
                .provision_permission_set()
                .instance_arn(&self.config.instance_arn)
                .permission_set_arn(ps)
                .target_type(ProvisionTargetType::AllProvisionedAccounts)
                .send()
        })
        .await
        .map_err(|f| failed(f, Some(ps)))?;
        self.wait_for(
            "provisioning",
            out.permission_set_provisioning_status,
            |request_id| async move {
                call(&self.limiter, self.retry, || {
                    self.sso
                        .describe_permission_set_provisioning_status()
                        .instance_arn(&self.config.instance_arn)
                        .provision_permission_set_request_id(&request_id)
                        .send()
                })
                .await
                .map(|o| o.permission_set_provisioning_status)
                .map_err(grant_fault)
            },
        )
        .await
    }

    /// Waits (bounded) for an asynchronous Identity Center operation: done when it is no longer
    /// in progress; an error when it failed or is still running after the last poll.
    async fn wait_for<S, F, Fut>(
        &self,
        what: &str,
        mut status: Option<S>,
        mut describe: F,
    ) -> Result<(), GrantError>
    where
        S: AsyncStatus,
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<S>, GrantError>>,
    {
        let mut pause = (self.config.poll_interval / 10).max(Duration::from_millis(1));
        for _ in 0..self.config.poll_attempts {
            match status.as_ref().and_then(|s| s.state()) {
                Some(StatusValues::InProgress) => {}
                Some(StatusValues::Failed) => {
                    let why = status
                        .as_ref()
                        .and_then(|s| s.reason())
                        .unwrap_or("no reason given");
                    return Err(GrantError::Unknown(anyhow::anyhow!("{what} failed: {why}")));
                }
                _ => return Ok(()),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.config.poll_interval);
            let Some(request_id) = status
                .as_ref()
                .and_then(|s| s.request())
                .map(str::to_string)
            else {
                return Ok(());
            };
            status = describe(request_id).await?;
        }
        Err(GrantError::Retryable(format!(
            "{what} is still in progress"
        )))
    }

    async fn assigned(&self, account: &str, ps: &str, user: &str) -> Result<bool, GrantError> {
        let mut token = None;
        loop {
            let page = call(&self.limiter, self.retry, || {
                self.sso
                    .list_account_assignments()
                    .instance_arn(&self.config.instance_arn)
                    .account_id(account)
                    .permission_set_arn(ps)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|f| failed(f, Some(ps)))?;
            if page
                .account_assignments()
                .iter()
                .any(|a| a.principal_id() == Some(user))
            {
                return Ok(true);
            }
            token = page.next_token;
            if token.is_none() {
                return Ok(false);
            }
        }
    }

    async fn assign(&self, account: &str, ps: &str, user: &str) -> Result<(), GrantError> {
        if self.assigned(account, ps, user).await? {
            return Ok(());
        }
        let out = call(&self.limiter, self.retry, || {
            self.sso
                .create_account_assignment()
                .instance_arn(&self.config.instance_arn)
                .target_id(account)
                .target_type(TargetType::AwsAccount)
                .permission_set_arn(ps)
                .principal_type(PrincipalType::User)
                .principal_id(user)
                .send()
        })
        .await
        .map_err(|f| failed(f, Some(ps)))?;
        let what = format!("assignment in {account}");
        self.wait_for(
            &what,
            out.account_assignment_creation_status,
            |request_id| async move {
                call(&self.limiter, self.retry, || {
                    self.sso
                        .describe_account_assignment_creation_status()
                        .instance_arn(&self.config.instance_arn)
                        .account_assignment_creation_request_id(&request_id)
                        .send()
                })
                .await
                .map(|o| o.account_assignment_creation_status)
                .map_err(grant_fault)
            },
        )
        .await
    }

    async fn unassign(&self, account: &str, ps: &str, user: &str) -> Result<(), GrantError> {
        if !self.assigned(account, ps, user).await? {
            return Ok(());
        }
        let out = call(&self.limiter, self.retry, || {
            self.sso
                .delete_account_assignment()
                .instance_arn(&self.config.instance_arn)
                .target_id(account)
                .target_type(TargetType::AwsAccount)
                .permission_set_arn(ps)
                .principal_type(PrincipalType::User)
                .principal_id(user)
                .send()
        })
        .await
        .map_err(|f| failed(f, Some(ps)))?;
        match out
            .account_assignment_deletion_status
            .as_ref()
            .and_then(|s| s.status())
        {
            Some(StatusValues::Failed) => Err(GrantError::Unknown(anyhow::anyhow!(
                "removing the assignment in {account} failed"
            ))),
            _ => Ok(()),
        }
    }

    /// Adds or removes `grant` from the set of grants holding an assignment; returns how many
    /// hold it afterwards.
    async fn hold(
        &self,
        person: &Email,
        account: &str,
        ps: &str,
        grant: &GrantSpec,
        add: bool,
    ) -> Result<usize, GrantError> {
        let key = format!("HOLD#{person}#{account}#{}", hex_prefix(ps, 16));
        let set = AttributeValue::Ss(vec![grant.id.to_string()]);
        let out = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .key("sk", s("HOLD"))
            .update_expression(if add {
                "ADD holders :g"
            } else {
                "DELETE holders :g"
            })
            .expression_attribute_values(":g", set)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| grant_fault(crate::error::fault(e)))?;
        let held = out
            .attributes
            .as_ref()
            .and_then(|a: &HashMap<String, AttributeValue>| a.get("holders"))
            .and_then(|h| h.as_ss().ok())
            .map_or(0, Vec::len);
        Ok(held)
    }

    /// Remembers that `person`'s role carries grant policies (the drift sweep's list).
    async fn record_role_holder(&self, person: &Email) -> Result<(), GrantError> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("ROLEHOLDER#{person}")))
            .item("sk", s("ROLEHOLDER"))
            .item("gsi1pk", s("ROLEHOLDERS"))
            .item("gsi1sk", s(person.as_str()))
            .send()
            .await
            .map_err(|e| grant_fault(crate::error::fault(e)))?;
        Ok(())
    }

    /// The people recorded under `key` in gsi1 (containers, role holders).
    async fn people_under(&self, key: &str) -> Result<Vec<Email>, GrantError> {
        let mut people = Vec::new();
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
            people.extend(page.items().iter().filter_map(|i| {
                i.get("gsi1sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|e| Email::parse(e).ok())
            }));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(people);
            }
        }
    }

    /// The role's grant policies, read one by one; `None` when the role is gone.
    async fn read_role_policies(&self, person: &Email) -> Result<Option<RolePolicies>, GrantError> {
        let role = role_name(&self.config.role_name_template, person);
        let names = match self
            .iam
            .list_role_policies()
            .role_name(&role)
            .send()
            .await
            .map_err(crate::error::fault)
        {
            Ok(out) => out.policy_names,
            Err(Fault::NotFound(_)) => return Ok(None),
            Err(f) => return Err(grant_fault(f)),
        };
        let mut out = RolePolicies::new();
        for name in names
            .into_iter()
            .filter(|n| grant_of_role_policy(n).is_some())
        {
            let doc = self
                .iam
                .get_role_policy()
                .role_name(&role)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| grant_fault(crate::error::fault(e)))?;
            let text = percent_encoding::percent_decode_str(&doc.policy_document)
                .decode_utf8_lossy()
                .to_string();
            let doc = PolicyDocument::parse(&text).map_err(|e| GrantError::Unknown(e.into()))?;
            out.insert(name, doc);
        }
        Ok(Some(out))
    }

    async fn role_apply(&self, person: &Email, grant: &GrantSpec) -> Result<(), GrantError> {
        let role = role_name(&self.config.role_name_template, person);
        let name = role_policy_name(&grant.id);
        let listed = self
            .iam
            .list_role_policies()
            .role_name(&role)
            .send()
            .await
            .map_err(crate::error::fault);
        let names = match listed {
            Ok(out) => out.policy_names,
            Err(Fault::NotFound(_)) => {
                return Err(GrantError::NoIdentity(format!(
                    "{person} has no IAM role {role}"
                )))
            }
            Err(f) => return Err(grant_fault(f)),
        };
        let mut used = 0;
        for other in names.iter().filter(|n| **n != name) {
            let doc = self
                .iam
                .get_role_policy()
                .role_name(&role)
                .policy_name(other)
                .send()
                .await
                .map_err(|e| grant_fault(crate::error::fault(e)))?;
            let text = percent_encoding::percent_decode_str(&doc.policy_document)
                .decode_utf8_lossy()
                .to_string();
            used += text.chars().filter(|c| !c.is_whitespace()).count();
        }
        let doc = grant.document();
        if used + doc.size() > POLICY_BUDGET {
            return Err(GrantError::TooLarge(TooLarge {
                needed: doc.size(),
                room: POLICY_BUDGET.saturating_sub(used),
                budget: POLICY_BUDGET,
            }));
        }
        self.iam
            .put_role_policy()
            .role_name(&role)
            .policy_name(&name)
            .policy_document(doc.to_json())
            .send()
            .await
            .map_err(|e| grant_fault(crate::error::fault(e)))?;
        self.record_role_holder(person).await
    }

    async fn role_remove(&self, person: &Email, grant: &GrantSpec) -> Result<(), GrantError> {
        let role = role_name(&self.config.role_name_template, person);
        match self
            .iam
            .delete_role_policy()
            .role_name(&role)
            .policy_name(role_policy_name(&grant.id))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match crate::error::fault(e) {
                Fault::NotFound(_) => Ok(()),
                f => Err(grant_fault(f)),
            },
        }
    }

    async fn under_lease<T>(
        &self,
        person: &Email,
        work: impl std::future::Future<Output = Result<T, GrantError>>,
    ) -> Result<T, GrantError> {
        let lease = self
            .leases
            .acquire(&format!("person#{person}"))
            .await
            .map_err(store_to_grant)?;
        let result = work.await;
        self.leases.release(lease).await.map_err(store_to_grant)?;
        result
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
        self.under_lease(person, async {
            match strategy {
                Strategy::Container => {
                    let user = self.user_id(person).await?;
                    let ps = self
                        .container(person, true)
                        .await?
                        .expect("created on demand");
                    for account in &grant.accounts {
                        self.assign(account.as_str(), &ps, &user).await?;
                    }
                    let current = self.inline_policy(&ps).await?;
                    let next = current.with(grant, POLICY_BUDGET)?;
                    if next != current {
                        self.write_policy(&ps, &next).await?;
                    }
                    Ok(())
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
                        self.assign(account.as_str(), permission_set.as_str(), &user)
                            .await?;
                    }
                    Ok(())
                }
                Strategy::IamRole => self.role_apply(person, grant).await,
                Strategy::Postgres(db) => Err(no_database(db)),
            }
        })
        .await
    }

    #[instrument(skip(self, grant), fields(grant_id = %grant.id, strategy = strategy.as_str()))]
    async fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.under_lease(person, async {
            match strategy {
                Strategy::Container => {
                    let Some(ps) = self.container(person, false).await? else {
                        return Ok(());
                    };
                    let current = self.inline_policy(&ps).await?;
                    let next = current.without(&grant.id);
                    if next != current {
                        self.write_policy(&ps, &next).await?;
                    }
                    Ok(())
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
                            let user = self.user_id(person).await?;
                            self.unassign(account.as_str(), permission_set.as_str(), &user)
                                .await?;
                        }
                    }
                    Ok(())
                }
                Strategy::IamRole => self.role_remove(person, grant).await,
                Strategy::Postgres(db) => Err(no_database(db)),
            }
        })
        .await
    }

    async fn containers(&self) -> Result<Vec<Email>, GrantError> {
        self.people_under("CONTAINERS").await
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
        self.under_lease(person, async {
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
        })
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
        self.under_lease(person, async {
            let Some(ps) = self.container(person, false).await? else {
                return Ok(false);
            };
            if self.inline_policy(&ps).await? != *seen {
                return Ok(false);
            }
            self.write_policy(&ps, next).await?;
            Ok(true)
        })
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
