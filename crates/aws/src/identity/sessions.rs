//! Ending the sessions a shared permission set's assignment issued, at the end of a person's
//! last grant through it in an account ([`jit_core::sessions`]), and removing those denies
//! once every such session has ended.

use chrono::{DateTime, Utc};
use jit_core::sessions::{parse_session_duration, LONGEST_SESSION};

use super::*;

/// The lease that serialises writes to a shared permission set's inline policy.
fn set_lease(ps: &str) -> String {
    format!("permission-set#{}", hex_prefix(ps, 24))
}

impl AwsGrantor {
    /// How long a session of `ps` lasts; the longest Identity Center allows when its duration
    /// cannot be read.
    async fn session_duration(&self, ps: &str) -> Result<chrono::Duration, GrantError> {
        let out = call(&self.limiter, self.retry, || {
            self.sso
                .describe_permission_set()
                .instance_arn(&self.config.instance_arn)
                .permission_set_arn(ps)
                .send()
        })
        .await
        .map_err(|f| failed(f, Some(ps)))?;
        Ok(out
            .permission_set()
            .and_then(|p| p.session_duration())
            .and_then(parse_session_duration)
            .unwrap_or(LONGEST_SESSION))
    }

    /// Denies `user`'s sessions of `ps` in `account` issued before now, for as long as such a
    /// session lasts, merged into the set's inline policy under the set's lease (so two ends,
    /// or an end and the sweep, never lose each other's statements). Called once the
    /// assignment is gone, so no session issued after now can be one it made.
    pub(super) async fn end_sessions(
        &self,
        ps: &str,
        user: &str,
        account: &str,
    ) -> Result<(), GrantError> {
        let lasts = self.session_duration(ps).await?;
        self.under_lease_of(&set_lease(ps), async {
            let now = Utc::now();
            let current = self.inline_policy(ps).await?;
            let next = current
                .without_lapsed_denies(now)
                .with_session_deny(user, account, now, now + lasts);
            if next.size() > POLICY_BUDGET {
                return Err(GrantError::Unknown(anyhow::anyhow!(
                    "the deny that ends {user}'s sessions in {account} does not fit in {ps}'s inline policy \
                     ({} of {POLICY_BUDGET} characters): shorten the set's own policy or its session duration",
                    next.size()
                )));
            }
            let here = std::collections::BTreeSet::from([account.to_string()]);
            self.write_policy(ps, &next, Reach::Only(&here)).await?;
            self.dynamo
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("SESSIONDENY#{ps}")))
                .item("sk", s("SESSIONDENY"))
                .item("gsi1pk", s("SESSIONDENIES"))
                .item("gsi1sk", s(ps))
                .send()
                .await
                .map_err(|e| grant_fault(crate::error::fault(e)))?;
            Ok(())
        })
        .await
    }

    /// Removes the denies that lapsed by `now` from every set that has some; how many.
    pub(super) async fn lapse_denies(&self, now: DateTime<Utc>) -> Result<usize, GrantError> {
        let mut removed = 0;
        for ps in self.keys_under("SESSIONDENIES").await? {
            removed += self
                .under_lease_of(&set_lease(&ps), async {
                    let current = self.inline_policy(&ps).await?;
                    let next = current.without_lapsed_denies(now);
                    let gone = current.session_denies().len() - next.session_denies().len();
                    if gone > 0 {
                        // Only the accounts whose denies lapsed need the change.
                        let accounts = current
                            .session_deny_accounts()
                            .difference(&next.session_deny_accounts())
                            .cloned()
                            .collect();
                        self.write_policy(&ps, &next, Reach::Only(&accounts))
                            .await?;
                    }
                    if next.session_denies().is_empty() {
                        self.dynamo
                            .delete_item()
                            .table_name(&self.table)
                            .key("pk", s(format!("SESSIONDENY#{ps}")))
                            .key("sk", s("SESSIONDENY"))
                            .send()
                            .await
                            .map_err(|e| grant_fault(crate::error::fault(e)))?;
                    }
                    Ok(gone)
                })
                .await?;
        }
        Ok(removed)
    }
}
