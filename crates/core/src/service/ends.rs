//! Ends: release, revoke, break-glass review, expiry, escalation, schedules firing, and the sweep that backs them up.

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
    /// The requester ends their grant early. The ledger says released at once; whether the
    /// access is gone yet is in the answer ([`Ending::removal`]).
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn release(&self, caller: &Email, id: &RequestId) -> Result<Ending, ServiceError> {
        let (known, removed) = Box::pin(self.database_end_first(caller, id, false)).await?;
        let (req, _) = self
            .transition_from(id, known, |_| {
                Ok(Command::Release {
                    actor: caller.clone(),
                })
            })
            .await?;
        let removal = if removed {
            self.record_removed(&req).await;
            None
        } else {
            self.remove_now(&req).await
        };
        Ok(Ending {
            request: req,
            removal,
        })
    }

    /// An admin ends a grant; as [`Self::release`], the answer says whether the access is gone.
    #[instrument(skip(self, message), fields(request_id = %id, admin = %caller))]
    pub async fn revoke(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> Result<Ending, ServiceError> {
        let message = bounded_text(message, "message", true)?;
        let is_admin = self.is_admin(caller).await?;
        let (known, removed) = Box::pin(self.database_end_first(caller, id, is_admin)).await?;
        let (req, _) = self
            .transition_from(id, known, |_| {
                Ok(Command::Revoke {
                    actor: caller.clone(),
                    is_admin,
                    message: message.clone(),
                })
            })
            .await?;
        let removal = if removed {
            self.record_removed(&req).await;
            None
        } else {
            self.remove_now(&req).await
        };
        Ok(Ending {
            request: req,
            removal,
        })
    }

    /// Before a release or revoke of a database grant, where effects are inline: the access is
    /// taken away first, so a database that cannot be reached leaves the grant active (and the
    /// caller told why) rather than released with its access in place. Only for a call the
    /// lifecycle would accept: the requester's own grant, or an admin's revoke. Returns the
    /// request as read (for the transition, which then reads it no second time) and whether
    /// the access was taken away here.
    async fn database_end_first(
        &self,
        caller: &Email,
        id: &RequestId,
        admin: bool,
    ) -> Result<(Option<Request>, bool), ServiceError> {
        if self.effects != Effects::Inline {
            return Ok((None, false));
        }
        let req = self.get(id).await?;
        let removed = if admin || &req.requester == caller {
            self.remove_database_first(&req).await?
        } else {
            false
        };
        Ok((Some(req), removed))
    }

    /// Takes an ended grant's access away in this call where the effects are inline; `None`
    /// once it is gone, otherwise what is still to happen. A failure here is not the caller's
    /// to retry: the ledger already says ended, the change is retried from the table's stream
    /// (the change feed locally) and the sweep, and the IAM condition ends it at its expiry.
    async fn remove_now(&self, req: &Request) -> Option<String> {
        if req.starts_at.is_none_or(|s| s > self.now()) {
            // It never held access (pending, or a start still to come): nothing to take away.
            return None;
        }
        match self.effects {
            Effects::Stream => Some(
                "the grant function is removing the access (from the table's stream); it is gone within seconds"
                    .to_string(),
            ),
            Effects::Inline => match self.take_away(req).await {
                Ok(()) => None,
                Err(e) => {
                    warn!(request_id = %req.id, error = %e, "ended; removing the access failed and is retried");
                    Some(format!(
                        "removing the access failed for now and is being retried ({}); it stops working at {} in any case",
                        crate::text::one_line(&e.to_string()),
                        req.expires_at.map_or_else(|| "its expiry".to_string(), |t| t.to_rfc3339())
                    ))
                }
            },
        }
    }

    /// An admin records the review of a break-glass grant.
    pub async fn review(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", true)?;
        let is_admin = self.is_admin(caller).await?;
        let (req, _) = self
            .transition(id, |_| {
                Ok(Command::Review {
                    actor: caller.clone(),
                    is_admin,
                    message: message.clone(),
                })
            })
            .await?;
        Ok(req)
    }

    /// The groups `person` is in, as the directory says now.
    pub async fn groups_of(&self, person: &Email) -> Result<Vec<GroupName>, ServiceError> {
        Ok(self.ports.directory.groups_of(person).await?)
    }

    pub(super) async fn is_admin(&self, person: &Email) -> Result<bool, ServiceError> {
        Ok(self
            .ports
            .directory
            .groups_of(person)
            .await?
            .contains(&self.catalog.settings.admin_group))
    }

    /// Ends a grant at its expiry (the revoke function's job). Early or stale calls do nothing.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn end(&self, id: &RequestId) -> Result<Request, ServiceError> {
        let before = self.get(id).await?;
        let overdue = before.expires_at.is_some_and(|e| e <= self.now());
        let removed = overdue && Box::pin(self.remove_database_first(&before)).await?;
        let (req, _) = match self
            .transition_from(id, Some(before), |_| Ok(Command::EndAtExpiry))
            .await
        {
            Err(ServiceError::Lifecycle(LifecycleError::NotYet(_))) => {
                // Extended meanwhile: what was just taken away is put back.
                return Box::pin(self.reconcile(id)).await;
            }
            other => other?,
        };
        if removed {
            self.record_removed(&req).await;
        } else {
            self.take_away(&req).await?;
        }
        Ok(req)
    }

    /// Removes an ended grant's access; safe to repeat.
    pub(super) async fn take_away(&self, req: &Request) -> Result<(), ServiceError> {
        if !matches!(
            req.status,
            Status::Released | Status::Revoked | Status::Ended
        ) || req.expires_at.is_none()
        {
            return Ok(());
        }
        let bundle = self.bundle_of(req)?;
        self.ports
            .grantor
            .remove(&req.requester, &bundle.strategy, &spec(req, bundle))
            .await
            .map_err(grant_error)?;
        self.record_removed(req).await;
        Ok(())
    }

    /// Records on an ended grant that held access when that access was confirmed gone
    /// (`access-removed`, once): the grantor returns only after AWS finished the removal,
    /// provisioning included. A failure to record is logged; the removal itself stands.
    pub(super) async fn record_removed(&self, req: &Request) {
        if req.removed_at.is_some() || req.starts_at.is_none_or(|s| s > self.now()) {
            return;
        }
        if let Err(e) = self
            .transition_from(&req.id, Some(req.clone()), |_| Ok(Command::AccessRemoved))
            .await
        {
            warn!(request_id = %req.id, error = %e, "access removed, not recorded");
        }
    }

    /// Asks the next tier when a tier stayed silent (the escalate function's job).
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn escalate(&self, id: &RequestId, tier: usize) -> Result<Request, ServiceError> {
        let (req, changed) = self
            .transition(id, |_| Ok(Command::Escalate { to_tier: tier }))
            .await?;
        if changed {
            if let Some((next, at)) = req.next_escalation() {
                self.schedule(
                    ScheduledAction::Escalate {
                        request_id: req.id.clone(),
                        tier: next,
                    },
                    at,
                )
                .await;
            }
        }
        Ok(req)
    }

    /// Expires a request nobody decided.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn expire_request(&self, id: &RequestId) -> Result<Request, ServiceError> {
        let (req, changed) = match self.transition(id, |_| Ok(Command::ExpireUnanswered)).await {
            Err(ServiceError::Lifecycle(LifecycleError::NotYet(_))) => return self.get(id).await,
            other => other?,
        };
        if changed {
            // Only escalations still to come: the time-to-live schedule is the one firing now
            // (or, from the sweeper, due now and a no-op when it fires).
            for tier in req.tier + 1..=req.plan.last_tier() {
                self.forget(ScheduledAction::Escalate {
                    request_id: req.id.clone(),
                    tier,
                })
                .await;
            }
        }
        Ok(req)
    }

    /// Runs what a fired schedule asks for.
    pub async fn fire(&self, action: &ScheduledAction) -> Result<Request, ServiceError> {
        match action {
            ScheduledAction::StartGrant { request_id } => self.activate(request_id).await,
            ScheduledAction::EndGrant { request_id } => self.end(request_id).await,
            ScheduledAction::Escalate { request_id, tier } => {
                self.escalate(request_id, *tier).await
            }
            ScheduledAction::ExpireRequest { request_id } => self.expire_request(request_id).await,
        }
    }

    /// The periodic backstop: ends grants past expiry and expires undecided requests whose
    /// schedules were lost. One failure does not stop the rest.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let now = self.now();
        let mut report = SweepReport::default();
        // Every live grant, read once: those past expiry are ended, and the rest are what the
        // containers and roles are kept to.
        let all_live = self.live_grants().await?;
        let overdue = all_live
            .iter()
            .filter(|r| r.expires_at.is_some_and(|e| e <= now));
        for r in overdue {
            match self.end(&r.id).await {
                Ok(_) => report.ended += 1,
                Err(e) => {
                    warn!(request_id = %r.id, error = %e, "sweeper could not end grant");
                    report.failed += 1;
                }
            }
        }
        // With chat on, a grant about to end is announced with an Extend button.
        if self.chat {
            for r in all_live.iter().filter(|r| super::warning_due(r, now)) {
                let expiry = r.expires_at.expect("warned grants have a window");
                match self
                    .transition_from(&r.id, Some(r.clone()), |_| {
                        Ok(Command::WarnExpiry { expiry })
                    })
                    .await
                {
                    Ok((_, true)) => report.warned += 1,
                    Ok((_, false)) => {}
                    Err(e) => {
                        warn!(request_id = %r.id, error = %e, "sweeper could not warn of expiry");
                        report.failed += 1;
                    }
                }
            }
        }
        for r in self.ports.store.undecided_before(now).await? {
            match self.expire_request(&r.id).await {
                Ok(_) => report.expired += 1,
                Err(e) => {
                    warn!(request_id = %r.id, error = %e, "sweeper could not expire request");
                    report.failed += 1;
                }
            }
        }
        for p in self.ports.store.prompts_unanswered_before(now).await? {
            match self.expire_prompt(p).await {
                Ok(true) => report.prompts_expired += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(error = %e, "sweeper could not expire prompt");
                    report.failed += 1;
                }
            }
        }
        // Grants just ended above are still listed, but not running: nothing is put back for
        // them, and their statements are gone already.
        let containers = self.ports.grantor.containers().await.map_err(grant_error)?;
        let holders = self
            .ports
            .grantor
            .role_holders()
            .await
            .map_err(grant_error)?;
        let (checked, removed, failed) = Box::pin(self.sweep_databases(&all_live)).await;
        report.databases += checked;
        report.drift_removed += removed;
        report.failed += failed;
        let mut live: BTreeMap<Email, Vec<Request>> = BTreeMap::new();
        for r in all_live {
            live.entry(r.requester.clone()).or_default().push(r);
        }
        for (kind, people) in [(Holding::Container, containers), (Holding::Role, holders)] {
            for person in self.my_turn(people, now) {
                let listed = live.get(&person).cloned().unwrap_or_default();
                let result = match kind {
                    Holding::Container => {
                        report.containers += 1;
                        self.reconcile_container_from(&person, listed).await
                    }
                    Holding::Role => {
                        report.roles += 1;
                        self.reconcile_role_from(&person, listed).await
                    }
                };
                match result {
                    Ok(d) => {
                        report.drift_removed += d.removed.len();
                        report.drift_restored += d.restored.len();
                    }
                    Err(e) => {
                        warn!(person = %person, error = %e, kind = ?kind, "sweeper could not reconcile");
                        report.failed += 1;
                    }
                }
            }
        }
        // Session denies on shared permission sets (the assignment strategy's ends) whose
        // sessions have all ended by now.
        match self.ports.grantor.lapse_session_denies(now).await {
            Ok(n) => report.session_denies_lapsed += n,
            Err(e) => {
                warn!(error = %e, "sweeper could not remove lapsed session denies");
                report.failed += 1;
            }
        }
        // Notifications a call wrote with its transition but died before sending: past a grace
        // period (the call sends its own at once), the sweep sends them.
        match self
            .ports
            .store
            .notices_before(now - chrono::Duration::seconds(NOTICE_GRACE_SECS))
            .await
        {
            Ok(left) => report.notices_sent += self.deliver(&left).await,
            Err(e) => {
                warn!(error = %e, "sweeper could not read the notices left unsent");
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// This run's share of `people`: past the per-sweep budget they take turns, the sorted list
    /// split into as many slices as needed and each run (every SWEEP_EVERY_SECS) taking one.
    pub(super) fn my_turn(&self, mut people: Vec<Email>, now: DateTime<Utc>) -> Vec<Email> {
        people.sort();
        let slices = people.len().div_ceil(self.containers_per_sweep).max(1);
        let turn = (now.timestamp().div_euclid(SWEEP_EVERY_SECS) as usize) % slices;
        people
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % slices == turn)
            .map(|(_, p)| p)
            .collect()
    }

    /// Whether a grant is active and unexpired by a direct read of the ledger, not a list
    /// that may lag: nothing is put back for a grant released a moment ago.
    pub(super) async fn still_running(&self, id: &RequestId) -> Result<bool, ServiceError> {
        let now = self.now();
        Ok(self
            .ports
            .store
            .get(id)
            .await?
            .is_some_and(|r| r.status == Status::Active && r.expires_at.is_some_and(|e| e > now)))
    }

    /// The `listed` live grants (approved or active) with bundles of `kind` (`container`,
    /// `iam-role`), plus any of `also` (grant ids found in AWS) that a direct read shows live
    /// though the (eventually consistent) list missed them.
    pub(super) async fn live_of_kind(
        &self,
        listed: Vec<Request>,
        kind: &str,
        also: impl IntoIterator<Item = RequestId>,
    ) -> Result<Vec<(Request, Bundle)>, ServiceError> {
        let mut live = listed;
        for id in also {
            if !live.iter().any(|r| r.id == id) {
                if let Some(r) = self.ports.store.get(&id).await? {
                    if matches!(r.status, Status::Approved | Status::Active) {
                        live.push(r);
                    }
                }
            }
        }
        Ok(live
            .into_iter()
            .filter_map(|r| {
                let b = self
                    .catalog
                    .bundle(&r.bundle)
                    .filter(|b| match kind {
                        "container" => b.strategy.uses_container(),
                        _ => b.strategy.as_str() == kind,
                    })?
                    .clone();
                Some((r, b))
            })
            .collect())
    }
}
