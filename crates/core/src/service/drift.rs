//! Drift repair: keeping each person's container and IAM role to exactly the statements their live grants explain.

use super::*;

impl<S, G, Sc, M, D, C> Service<S, G, Sc, M, D, C>
where
    S: RequestStore,
    G: Grantor,
    Sc: Scheduler,
    M: Mailer,
    D: Directory,
    C: Clock,
{
    /// What the sweeper records on each grant whose access it put back.
    pub(super) async fn record_restored(&self, person: &Email, restored: &[RequestId]) {
        for id in restored {
            warn!(person = %person, request_id = %id, "drift: restored a live grant's access");
            let detail =
                "the grant's statements were missing or altered in AWS; the sweeper put them back"
                    .to_string();
            if let Err(e) = self
                .transition(id, |_| {
                    Ok(Command::RecordDrift {
                        detail: detail.clone(),
                    })
                })
                .await
            {
                warn!(request_id = %id, error = %e, "drift repaired but not recorded");
            }
        }
    }

    /// [`Self::reconcile_container`] for the `iam-role` strategy: the person's role holds
    /// exactly one `jit-<grant>` policy per live grant, as the ledger has it. Policies on the
    /// role that are not this product's are left alone.
    pub async fn reconcile_role(&self, person: &Email) -> Result<Drift, ServiceError> {
        let listed = self.ports.store.live_for(person).await?;
        self.reconcile_role_from(person, listed).await
    }

    pub(super) async fn reconcile_role_from(
        &self,
        person: &Email,
        listed: Vec<Request>,
    ) -> Result<Drift, ServiceError> {
        let Some(seen) = self
            .ports
            .grantor
            .role_policies(person)
            .await
            .map_err(grant_error)?
        else {
            return Ok(Drift::default());
        };
        let now = self.now();
        let found: Vec<RequestId> = seen
            .keys()
            .filter_map(|n| grant_of_role_policy(n))
            .collect();
        let live = self.live_of_kind(listed, "iam-role", found).await?;
        let mut next = RolePolicies::new();
        let mut restored = Vec::new();
        for (r, b) in &live {
            let name = role_policy_name(&r.id);
            let running = r.status == Status::Active && r.expires_at.is_some_and(|e| e > now);
            let wanted = spec(r, b).document();
            let current = seen.get(&name);
            if running && current != Some(&wanted) && self.still_running(&r.id).await? {
                next.insert(name, wanted);
                restored.push(r.id.clone());
            } else if let Some(doc) = current {
                next.insert(name, doc.clone());
            }
        }
        let removed: Vec<String> = seen
            .keys()
            .filter(|n| !next.contains_key(*n))
            .cloned()
            .collect();
        if removed.is_empty() && restored.is_empty() {
            return Ok(Drift::default());
        }
        let written = self
            .ports
            .grantor
            .replace_role_policies(person, &seen, &next)
            .await
            .map_err(grant_error)?;
        if !written {
            return Ok(Drift::default());
        }
        if !removed.is_empty() {
            warn!(person = %person, policies = ?removed, "drift: removed role policies no live grant explains");
        }
        self.record_restored(person, &restored).await;
        Ok(Drift { removed, restored })
    }

    /// Makes `person`'s container hold exactly what the ledger explains: statements of grants
    /// that are not live (or that this product did not write) are removed, and live grants'
    /// statements that are missing or altered (a deleted statement, a dropped time condition)
    /// are put back. Grants being applied right now are left as they are. The write happens only
    /// if the container still holds what was read, so a concurrent grant is never lost.
    pub async fn reconcile_container(&self, person: &Email) -> Result<Drift, ServiceError> {
        let listed = self.ports.store.live_for(person).await?;
        self.reconcile_container_from(person, listed).await
    }

    pub(super) async fn reconcile_container_from(
        &self,
        person: &Email,
        listed: Vec<Request>,
    ) -> Result<Drift, ServiceError> {
        let Some(doc) = self
            .ports
            .grantor
            .container_policy(person)
            .await
            .map_err(grant_error)?
        else {
            return Ok(Drift::default());
        };
        let now = self.now();
        // A grant in the container but not in the list may have been approved since.
        let live = self
            .live_of_kind(listed, "container", doc.grant_ids())
            .await?;
        let mut explained = BTreeSet::new();
        let mut restore = Vec::new();
        for (r, b) in &live {
            explained.insert(r.id.clone());
            let wanted = spec(r, b);
            let current: Vec<_> = doc
                .statements
                .iter()
                .filter(|s| sid_grant(s).as_ref() == Some(&r.id))
                .cloned()
                .collect();
            let running = r.status == Status::Active && r.expires_at.is_some_and(|e| e > now);
            if running && current != wanted.statements() && self.still_running(&r.id).await? {
                restore.push(wanted);
            }
        }
        let mut next = PolicyDocument {
            version: doc.version.clone(),
            statements: Vec::new(),
        };
        let mut removed = Vec::new();
        for st in &doc.statements {
            match sid_grant(st) {
                Some(id) if explained.contains(&id) => next.statements.push(st.clone()),
                _ => removed.push(
                    st.get("Sid")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("(no Sid)")
                        .to_string(),
                ),
            }
        }
        for g in &restore {
            next = next.with(g, POLICY_BUDGET)?;
        }
        if removed.is_empty() && restore.is_empty() {
            return Ok(Drift::default());
        }
        let written = self
            .ports
            .grantor
            .replace_container_policy(person, &doc, &next)
            .await
            .map_err(grant_error)?;
        if !written {
            // Changed while we looked (a grant applied or removed): the next sweep looks again.
            return Ok(Drift::default());
        }
        if !removed.is_empty() {
            warn!(person = %person, statements = ?removed, "drift: removed statements no live grant explains");
        }
        let restored: Vec<RequestId> = restore.into_iter().map(|g| g.id).collect();
        self.record_restored(person, &restored).await;
        Ok(Drift { removed, restored })
    }
}
