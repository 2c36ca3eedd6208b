//! The `iam-role` strategy: one inline policy per grant on the person's own IAM role.

use super::*;

impl AwsGrantor {
    /// Remembers that `person`'s role carries grant policies (the drift sweep's list).
    pub(super) async fn record_role_holder(&self, person: &Email) -> Result<(), GrantError> {
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

    /// The role's grant policies, read one by one; `None` when the role is gone.
    pub(super) async fn read_role_policies(
        &self,
        person: &Email,
    ) -> Result<Option<RolePolicies>, GrantError> {
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

    pub(super) async fn role_apply(
        &self,
        person: &Email,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
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

    pub(super) async fn role_remove(
        &self,
        person: &Email,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
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
}
