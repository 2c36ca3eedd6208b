//! Identity Center calls: containers, their inline policies and provisioning, account assignments.

use super::*;

impl AwsGrantor {
    pub(super) async fn user_id(&self, person: &Email) -> Result<String, GrantError> {
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
    pub(super) async fn container(
        &self,
        person: &Email,
        create: bool,
    ) -> Result<Option<String>, GrantError> {
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
        self.room_for_a_set().await?;
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
            Ok(out) => {
                if let Some((n, _)) = self.sets_counted.lock().expect("not poisoned").as_mut() {
                    *n += 1;
                }
                out.permission_set
                    .and_then(|p| p.permission_set_arn)
                    .ok_or_else(|| GrantError::Unknown(anyhow::anyhow!("no ARN returned")))?
            }
            // Counted a while ago, and since filled by others: AWS's refusal, named as ours.
            Err(Fault::Other(e)) if e.to_string().contains("ServiceQuotaExceeded") => {
                return Err(QuotaReached {
                    quota: "permission sets per instance",
                    limit: self.config.permission_set_quota,
                    used: self.config.permission_set_quota,
                    place: String::new(),
                }
                .into())
            }
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

    /// Refuses, with the quota named, a new permission set in an instance at its quota. The
    /// count is kept for five minutes (plus the sets this process made), and taken again when
    /// within 50 of the quota, so a person's first grant does not list every set each time.
    async fn room_for_a_set(&self) -> Result<(), GrantError> {
        let quota = self.config.permission_set_quota;
        let cached = *self.sets_counted.lock().expect("not poisoned");
        let used = match cached {
            Some((n, at))
                if at.elapsed() < Duration::from_secs(300) && n.saturating_add(50) < quota =>
            {
                n
            }
            _ => {
                let n = self.count_permission_sets().await?;
                *self.sets_counted.lock().expect("not poisoned") =
                    Some((n, std::time::Instant::now()));
                n
            }
        };
        if used >= quota {
            return Err(QuotaReached {
                quota: "permission sets per instance",
                limit: quota,
                used,
                place: String::new(),
            }
            .into());
        }
        Ok(())
    }

    /// How many permission sets the instance has (its quota counts them all, jit's or not).
    async fn count_permission_sets(&self) -> Result<u32, GrantError> {
        Ok(u32::try_from(self.permission_sets().await?.len()).unwrap_or(u32::MAX))
    }

    /// Every permission set of the instance, a hundred a page.
    async fn permission_sets(&self) -> Result<Vec<String>, GrantError> {
        let mut token = None;
        let mut sets = Vec::new();
        loop {
            let page = call(&self.limiter, self.retry, || {
                self.sso
                    .list_permission_sets()
                    .instance_arn(&self.config.instance_arn)
                    .max_results(100)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(grant_fault)?;
            token = page.next_token;
            sets.extend(page.permission_sets.unwrap_or_default());
            if token.is_none() {
                return Ok(sets);
            }
        }
    }

    /// The permission sets provisioned in `account`: whether `ps` is one, and how many.
    async fn provisioned_in(&self, account: &str, ps: &str) -> Result<(bool, u32), GrantError> {
        let mut token = None;
        let (mut there, mut used) = (false, 0u32);
        loop {
            let page = call(&self.limiter, self.retry, || {
                self.sso
                    .list_permission_sets_provisioned_to_account()
                    .instance_arn(&self.config.instance_arn)
                    .account_id(account)
                    .max_results(100)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|f| failed(f, Some(account)))?;
            there |= page.permission_sets().iter().any(|p| p == ps);
            used = used
                .saturating_add(u32::try_from(page.permission_sets().len()).unwrap_or(u32::MAX));
            token = page.next_token;
            if token.is_none() {
                return Ok((there, used));
            }
        }
    }

    /// Keeps what `account` has provisioned against its quota where the API functions read it
    /// (they refuse a request for an account at its quota before it is approved).
    async fn record_account_use(&self, account: &str, used: u32) -> Result<(), GrantError> {
        let mut item = crate::dynamo::account_use_key(account);
        item.insert("used".into(), AttributeValue::N(used.to_string()));
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .item(
                "limit",
                AttributeValue::N(self.config.account_quota.to_string()),
            )
            .send()
            .await
            .map_err(|e| grant_fault(crate::error::fault(e)))?;
        Ok(())
    }

    pub(super) async fn find_permission_set(&self, name: &str) -> Result<String, GrantError> {
        for arn in self.permission_sets().await? {
            let d = call(&self.limiter, self.retry, || {
                self.sso
                    .describe_permission_set()
                    .instance_arn(&self.config.instance_arn)
                    .permission_set_arn(&arn)
                    .send()
            })
            .await
            .map_err(|f| failed(f, Some(&arn)))?;
            if d.permission_set().and_then(|p| p.name()) == Some(name) {
                return Ok(arn);
            }
        }
        Err(GrantError::Unknown(anyhow::anyhow!(
            "permission set {name} exists but could not be found"
        )))
    }

    pub(super) async fn inline_policy(&self, ps: &str) -> Result<PolicyDocument, GrantError> {
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

    /// Writes `ps`'s inline policy and provisions it: to every account it is assigned in
    /// (`Reach::Assigned`, whose accounts are those its leases are taken for), or only to the
    /// given ones (`Reach::Only`).
    pub(super) async fn write_policy(
        &self,
        ps: &str,
        doc: &PolicyDocument,
        reach: Reach<'_>,
    ) -> Result<(), GrantError> {
        self.put_policy(ps, doc).await?;
        match reach {
            Reach::Assigned(accounts) => {
                Box::pin(self.under_accounts(accounts, self.provision(ps, None))).await
            }
            Reach::Only(accounts) => {
                Box::pin(self.under_accounts(accounts, async {
                    for account in accounts {
                        self.provision(ps, Some(account)).await?;
                    }
                    Ok(())
                }))
                .await
            }
        }
    }

    /// Writes `ps`'s inline policy and provisions it to every account it is assigned in; the
    /// caller holds those accounts' leases.
    pub(super) async fn write_policy_held(
        &self,
        ps: &str,
        doc: &PolicyDocument,
    ) -> Result<(), GrantError> {
        self.put_policy(ps, doc).await?;
        self.provision(ps, None).await
    }

    /// Writes `ps`'s inline policy (deleted when it has no statement), not yet provisioned.
    async fn put_policy(&self, ps: &str, doc: &PolicyDocument) -> Result<(), GrantError> {
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
        Ok(())
    }

    /// Pushes the permission set to `account`, or to every account it is assigned in, waiting
    /// (bounded) for it. The caller holds the accounts' leases.
    async fn provision(&self, ps: &str, account: Option<&str>) -> Result<(), GrantError> {
        let out = call(&self.limiter, self.retry, || {
            self.sso
                .provision_permission_set()
                .instance_arn(&self.config.instance_arn)
                .permission_set_arn(ps)
                .target_type(if account.is_some() {
                    ProvisionTargetType::AwsAccount
                } else {
                    ProvisionTargetType::AllProvisionedAccounts
                })
                .set_target_id(account.map(str::to_string))
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
    pub(super) async fn wait_for<S, F, Fut>(
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

    pub(super) async fn assigned(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<bool, GrantError> {
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

    pub(super) async fn assign(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<(), GrantError> {
        if self.assigned(account, ps, user).await? {
            return Ok(());
        }
        let only = std::collections::BTreeSet::from([account.to_string()]);
        Box::pin(self.under_accounts(&only, self.create_assignment(account, ps, user))).await
    }

    /// [`Self::assign`] with the account's lease already held by the caller.
    pub(super) async fn assign_held(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<(), GrantError> {
        if self.assigned(account, ps, user).await? {
            return Ok(());
        }
        Box::pin(self.create_assignment(account, ps, user)).await
    }

    /// Creates the assignment and waits for it, the account's lease held: the quota is
    /// counted and the role made with no other change in that account under way.
    async fn create_assignment(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<(), GrantError> {
        let (there, used) = self.provisioned_in(account, ps).await?;
        if !there && used >= self.config.account_quota {
            self.record_account_use(account, used).await?;
            return Err(QuotaReached {
                quota: "permission sets provisioned per account",
                limit: self.config.account_quota,
                used,
                place: format!(" in account {account}"),
            }
            .into());
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
        .await?;
        self.record_account_use(account, used + u32::from(!there))
            .await
    }

    pub(super) async fn unassign(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<(), GrantError> {
        if !self.assigned(account, ps, user).await? {
            return Ok(());
        }
        let only = std::collections::BTreeSet::from([account.to_string()]);
        Box::pin(self.under_accounts(&only, self.delete_assignment(account, ps, user))).await
    }

    /// [`Self::unassign`] with the account's lease already held by the caller.
    pub(super) async fn unassign_held(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<(), GrantError> {
        if !self.assigned(account, ps, user).await? {
            return Ok(());
        }
        Box::pin(self.delete_assignment(account, ps, user)).await
    }

    /// Deletes the assignment and waits for it, the account's lease held.
    async fn delete_assignment(
        &self,
        account: &str,
        ps: &str,
        user: &str,
    ) -> Result<(), GrantError> {
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
        let what = format!("removing the assignment in {account}");
        self.wait_for(
            &what,
            out.account_assignment_deletion_status,
            |request_id| async move {
                call(&self.limiter, self.retry, || {
                    self.sso
                        .describe_account_assignment_deletion_status()
                        .instance_arn(&self.config.instance_arn)
                        .account_assignment_deletion_request_id(&request_id)
                        .send()
                })
                .await
                .map(|o| o.account_assignment_deletion_status)
                .map_err(grant_fault)
            },
        )
        .await?;
        // Counted again, not decremented: a shared set stays provisioned while others hold it.
        let (_, used) = self.provisioned_in(account, ps).await?;
        self.record_account_use(account, used).await
    }

    /// Adds or removes `grant` from the set of grants holding an assignment; returns how many
    /// hold it afterwards.
    pub(super) async fn hold(
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
}
