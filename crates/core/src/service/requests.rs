//! Asking and deciding: submit (with the room check), approve, deny, decide by link, cancel, extend, and the conditional-write transitions they share.

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
    /// Requests `person` can decide now and has not voted on.
    pub async fn approvals_for(&self, person: &Email) -> Result<Vec<Request>, ServiceError> {
        let groups = self.ports.directory.groups_of(person).await?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for g in &groups {
            for r in self.ports.store.pending_for_group(g).await? {
                let may = !r.plan.counts_for(r.tier, person, &groups).is_empty();
                let voted = r.votes.iter().any(|v| v.approver == *person);
                if may && !voted && seen.insert(r.id.clone()) {
                    out.push(r);
                }
            }
        }
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    pub(super) async fn membership(
        &self,
        groups: &BTreeSet<GroupName>,
    ) -> Result<Membership, ServiceError> {
        let mut m = Membership::new();
        for g in groups {
            m.insert(g.clone(), self.ports.directory.members(g).await?);
        }
        Ok(m)
    }

    /// Asks for a bundle. Returns the stored request: approved (auto) or pending.
    #[instrument(skip(self, input), fields(requester = %caller))]
    pub async fn submit(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> Result<Request, ServiceError> {
        // A fresh id names no request yet: nothing to look up before judging.
        self.submit_under(caller, input, RequestId::generate(self.now()), true)
            .await
    }

    /// [`Self::submit`] under a given id: a second submission under the same id returns the
    /// first request unchanged (how a prompt's form stays single-use under double clicks).
    pub(super) async fn submit_as(
        &self,
        caller: &Email,
        input: RequestInput,
        id: RequestId,
    ) -> Result<Request, ServiceError> {
        if let Some(existing) = self.ports.store.get(&id).await? {
            return Ok(existing);
        }
        self.submit_under(caller, input, id, false).await
    }

    /// Judges and creates the request `id`. `fresh`: the id was just generated, so a request
    /// already under it is someone else's (a collision of the id's random part), never returned.
    async fn submit_under(
        &self,
        caller: &Email,
        input: RequestInput,
        id: RequestId,
        fresh: bool,
    ) -> Result<Request, ServiceError> {
        let now = self.now();
        let (decision, sub) = self.judge(caller, &input, now).await?;
        let mut t = Request::submit(id.clone(), &decision, sub, now);
        t.notices = self.notices_for(&t).await;
        // Room and caps are judged on the copy of the person's open requests that the create
        // checks is unchanged: parallel submits cannot each pass on the same copy.
        let mut attempts = 0;
        loop {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                return Err(ServiceError::Busy(id));
            }
            let open = self.ports.store.open_for(caller).await?;
            if !decision.plan.auto {
                policy::check_pending_caps(&open.requests, &decision.bundle)?;
            }
            self.check_room(&open.requests, &t.request)?;
            self.check_account_quota(&open.requests, &t.request).await?;
            match self.ports.store.create(&t, &open).await {
                Ok(()) => break,
                Err(StoreError::AlreadyExists) if fresh => return Err(ServiceError::Busy(id)),
                Err(StoreError::AlreadyExists) => return self.get(&id).await,
                // Another request of the person's came first, or (where a store cannot tell
                // the two apart) this very id did: look, then judge again on the new copy.
                Err(StoreError::Conflict) => {
                    if !fresh {
                        if let Some(existing) = self.ports.store.get(&id).await? {
                            return Ok(existing);
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.deliver(&t.notices).await;
        let req = t.request;
        match req.status {
            Status::Pending => {
                if let Some((tier, at)) = req.next_escalation() {
                    self.schedule(
                        ScheduledAction::Escalate {
                            request_id: req.id.clone(),
                            tier,
                        },
                        at,
                    )
                    .await;
                }
                self.schedule(
                    ScheduledAction::ExpireRequest {
                        request_id: req.id.clone(),
                    },
                    req.decision_deadline(),
                )
                .await;
            }
            Status::Approved => self.on_approved(&req).await,
            _ => {}
        }
        Ok(req)
    }

    /// What submitting `input` would do now, without doing it: the same policy, caps, room and
    /// quota checks as [`Self::submit`] (refused the same way), on the request it would store, with
    /// the size of the person's container policy afterwards (`None` for bundles that do not
    /// use the container). Nothing is written, scheduled or sent.
    pub async fn preview(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> Result<(Request, Option<usize>), ServiceError> {
        let now = self.now();
        let (decision, sub) = self.judge(caller, &input, now).await?;
        let t = Request::submit(RequestId::generate(now), &decision, sub, now);
        let open = self.ports.store.open_for(caller).await?;
        if !decision.plan.auto {
            policy::check_pending_caps(&open.requests, &decision.bundle)?;
        }
        let room = self.room_after(&open.requests, &t.request)?;
        self.check_account_quota(&open.requests, &t.request).await?;
        Ok((t.request, room))
    }

    /// The policy's decision on `input` from `caller`, and the submission it would record.
    async fn judge(
        &self,
        caller: &Email,
        input: &RequestInput,
        now: DateTime<Utc>,
    ) -> Result<(policy::Decision, Submission), ServiceError> {
        let bundle = input.bundle.clone().ok_or(Refusal::NoBundle)?;
        let groups = self.ports.directory.groups_of(caller).await?;
        let requester = Requester {
            email: caller.clone(),
            groups,
        };
        // Granted at once is decided from the requester's own groups; only a request that
        // waits for approvers lists who they are.
        let decision = match policy::decide_auto(&self.catalog, &requester, input, now) {
            Some(d) => d,
            None => {
                let membership = self
                    .membership(&policy::groups_needed(&self.catalog, &bundle))
                    .await?;
                policy::decide(&self.catalog, &requester, &membership, input, now)?
            }
        };
        let sub = Submission {
            requester: caller.clone(),
            reason: input.reason.clone().unwrap_or_default().trim().to_string(),
            ticket: input
                .ticket
                .clone()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            start_at: input.start_at,
            catalog_version: self.catalog_version.clone(),
            place: self
                .catalog
                .bundle(&decision.bundle)
                .map(|b| Place::of(b, caller, &self.role_name_template)),
        };
        Ok((decision, sub))
    }

    /// Refuses a container grant in an account at its quota of provisioned permission sets (as
    /// the grantor last counted it there), unless the person's container is there already (one
    /// of their approved or active container grants is in that account), with the quota named.
    pub(super) async fn check_account_quota(
        &self,
        open: &[Request],
        new: &Request,
    ) -> Result<(), ServiceError> {
        let container = |r: &Request| {
            self.catalog
                .bundle(&r.bundle)
                .is_some_and(|b| b.strategy.uses_container())
        };
        if !container(new) {
            return Ok(());
        }
        for account in &new.accounts {
            let there = open.iter().any(|r| {
                r.id != new.id
                    && matches!(r.status, Status::Approved | Status::Active)
                    && container(r)
                    && r.accounts.contains(account)
            });
            if there {
                continue;
            }
            if let Some(u) = self.ports.store.account_use(account).await? {
                if u.used >= u.limit {
                    return Err(ServiceError::Quota(crate::ports::QuotaReached {
                        quota: "permission sets provisioned per account",
                        limit: u.limit,
                        used: u.used,
                        place: format!(" in account {account}"),
                    }));
                }
            }
        }
        Ok(())
    }

    /// Refuses a grant that would not fit next to the container grants the person holds or
    /// is waiting for: an approved request never fails for room.
    pub(super) fn check_room(&self, open: &[Request], new: &Request) -> Result<(), ServiceError> {
        self.room_after(open, new).map(|_| ())
    }

    /// [`Self::check_room`], saying how large the container policy would be with `new` in it
    /// (`None` when `new` does not go into the container).
    fn room_after(&self, open: &[Request], new: &Request) -> Result<Option<usize>, ServiceError> {
        // A request not yet started is counted with the start condition it will carry.
        let reserved = |r: &Request| {
            let b = self
                .catalog
                .bundle(&r.bundle)
                .filter(|b| b.strategy.uses_container())?;
            let s = spec(r, b);
            Some(GrantSpec {
                starts_at: s.starts_at.or(r.start_at),
                ..s
            })
        };
        let held: Vec<GrantSpec> = open
            .iter()
            .filter(|r| r.id != new.id)
            .filter_map(reserved)
            .collect();
        let Some(new) = reserved(new) else {
            return Ok(None);
        };
        let after = PolicyDocument::default()
            .rebuilt(&held, POLICY_BUDGET)?
            .with(&new, POLICY_BUDGET)?;
        Ok(Some(after.size()))
    }

    /// Reads, applies `command` and writes conditionally, retrying on conflict. Returns the
    /// request afterwards and whether this call changed it.
    pub(super) async fn transition(
        &self,
        id: &RequestId,
        command: impl Fn(&Request) -> Result<Command, ServiceError>,
    ) -> Result<(Request, bool), ServiceError> {
        self.transition_from(id, None, command).await
    }

    /// [`Self::transition`], trying first from `known` (a copy just read) to save a read; the
    /// write is conditional on its version, so a stale copy only costs a retry.
    pub(super) async fn transition_from(
        &self,
        id: &RequestId,
        mut known: Option<Request>,
        command: impl Fn(&Request) -> Result<Command, ServiceError>,
    ) -> Result<(Request, bool), ServiceError> {
        for _ in 0..MAX_ATTEMPTS {
            let current = match known.take() {
                Some(r) => r,
                None => self.get(id).await?,
            };
            let cmd = command(&current)?;
            let Some(mut t) = current.apply(&cmd, self.now())? else {
                return Ok((current, false));
            };
            t.notices = self.notices_for(&t).await;
            match self
                .ports
                .store
                .update(current.version, current.status, &t)
                .await
            {
                Ok(()) => {
                    self.deliver(&t.notices).await;
                    return Ok((t.request, true));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Busy(id.clone()))
    }

    /// An approver says yes, optionally for a shorter time.
    #[instrument(skip(self, message), fields(request_id = %id, approver = %caller))]
    pub async fn approve(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", false)?;
        let groups = self.ports.directory.groups_of(caller).await?;
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Approve {
                    approver: caller.clone(),
                    groups: groups.clone(),
                    message: message.clone(),
                    duration,
                })
            })
            .await?;
        if changed && req.status == Status::Approved {
            self.forget_waiting_schedules(&req).await;
            self.on_approved(&req).await;
        }
        Ok(req)
    }

    /// An approver says no; a message is required so the requester knows why.
    #[instrument(skip(self, message), fields(request_id = %id, approver = %caller))]
    pub async fn deny(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> Result<Request, ServiceError> {
        let message = bounded_text(message, "message", true)?;
        let groups = self.ports.directory.groups_of(caller).await?;
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Deny {
                    approver: caller.clone(),
                    groups: groups.clone(),
                    message: message.clone(),
                })
            })
            .await?;
        if changed {
            self.forget_waiting_schedules(&req).await;
        }
        Ok(req)
    }

    /// Checks a decision link without using it (for the confirmation page).
    pub async fn inspect_link(&self, token: &str) -> Result<(LinkClaims, Request), ServiceError> {
        let claims = self.signer.verify(token, self.now(), None)?;
        let req = self.get(&claims.request_id).await?;
        Ok((claims, req))
    }

    /// Acts on a decision link, once: the nonce is recorded before the decision, and the
    /// approver's right to decide is checked again against the directory now.
    #[instrument(skip(self, token, message))]
    pub async fn decide_by_link(
        &self,
        token: &str,
        verdict: Verdict,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> Result<Request, ServiceError> {
        let claims = self.signer.verify(token, self.now(), None)?;
        bounded_text(message, "message", verdict == Verdict::Deny)?;
        let expires = DateTime::from_timestamp(claims.expires, 0).unwrap_or_else(|| self.now());
        // The link is spent only by a decision that is recorded: a refused one (already decided,
        // the approver no longer in the group) leaves it usable. Deciding again with a spent
        // link changes nothing (a second approval by the same approver is a replay, a second
        // denial finds the request denied), and is answered "used".
        let decided = match verdict {
            Verdict::Approve => {
                self.approve(&claims.approver, &claims.request_id, message, duration)
                    .await
            }
            Verdict::Deny => {
                self.deny(&claims.approver, &claims.request_id, message)
                    .await
            }
        };
        let req = match decided {
            Ok(req) => req,
            Err(e) if self.ports.store.nonce_used(&claims.nonce).await? => {
                tracing::debug!(error = %e, "a spent link was used again");
                return Err(ServiceError::LinkUsed);
            }
            Err(e) => return Err(e),
        };
        match self.ports.store.use_nonce(&claims.nonce, expires).await {
            Ok(()) => Ok(req),
            Err(StoreError::AlreadyExists) => Err(ServiceError::LinkUsed),
            // The decision stands; an unrecorded nonce can only replay it, which changes nothing.
            Err(e) => {
                warn!(error = %e, "decision recorded; the link's nonce was not");
                Ok(req)
            }
        }
    }

    /// The requester withdraws a pending (or not yet started) request.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn cancel(&self, caller: &Email, id: &RequestId) -> Result<Request, ServiceError> {
        let (req, changed) = self
            .transition(id, |_| {
                Ok(Command::Cancel {
                    actor: caller.clone(),
                })
            })
            .await?;
        if changed {
            self.forget_waiting_schedules(&req).await;
            self.forget(ScheduledAction::StartGrant {
                request_id: req.id.clone(),
            })
            .await;
        }
        Ok(req)
    }

    /// The requester lengthens an active grant, within the flow's maximum and only as far as
    /// the flow would grant without approval.
    #[instrument(skip(self, reason), fields(request_id = %id))]
    pub async fn extend(
        &self,
        caller: &Email,
        id: &RequestId,
        by: GrantDuration,
        reason: &str,
    ) -> Result<Request, ServiceError> {
        self.extend_from(caller, id, None, by, reason).await
    }

    /// [`Self::extend`] of the expiry `from` the caller saw (a button showing it): once an
    /// extension from it is made, the same again changes nothing, and after the expiry moved
    /// otherwise it is refused as stale. Decided on the copy the conditional write checks, so
    /// two clicks at once extend once. `None`: the expiry as it is now.
    pub async fn extend_from(
        &self,
        caller: &Email,
        id: &RequestId,
        from: Option<DateTime<Utc>>,
        by: GrantDuration,
        reason: &str,
    ) -> Result<Request, ServiceError> {
        let reason = bounded_text(reason, "reason", true)?;
        let current = self.get(id).await?;
        let flow = self.catalog.flows.get(&current.flow).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "flow {} is no longer in the catalog; ask for a new grant",
                current.flow
            ))
        })?;
        if !flow.extendable {
            return Err(ServiceError::Invalid(format!(
                "flow {} does not allow extensions; ask for a new grant",
                flow.name
            )));
        }
        let bundle = self.bundle_of(&current)?;
        let max_total = bundle
            .max_duration
            .map_or(flow.max_duration, |m| m.min(flow.max_duration));
        // Who asks and who decides do not change with the request's version: read them once.
        // Whether this extension is automatic is then judged on the very copy the conditional
        // write checks, on every retry, so parallel extensions cannot each pass on a copy that
        // a sibling has already lengthened.
        let requester = Requester {
            email: caller.clone(),
            groups: self.ports.directory.groups_of(caller).await?,
        };
        let membership = self
            .membership(&policy::groups_needed(&self.catalog, &current.bundle))
            .await?;
        let (req, changed) = self
            .transition_from(id, Some(current), |r| {
                if let (Some(start), Some(end)) = (r.starts_at, r.expires_at) {
                    if let Some(total) =
                        GrantDuration::from_secs((end - start).num_seconds() + by.as_secs())
                    {
                        if total <= max_total {
                            self.extension_is_auto(&requester, &membership, r, total)?;
                        }
                    }
                }
                Ok(Command::Extend {
                    actor: caller.clone(),
                    from: from.or(r.expires_at).unwrap_or(r.created_at),
                    by,
                    reason: reason.clone(),
                    max_total,
                })
            })
            .await?;
        if changed {
            // The new expiry must reach the IAM condition, or the grant stops at the old one.
            if self.effects == Effects::Inline {
                let b = self.bundle_of(&req)?;
                self.ports
                    .grantor
                    .apply(&req.requester, &b.strategy, &spec(&req, b))
                    .await
                    .map_err(grant_error)?;
            }
            let end = req.expires_at.expect("active grants have a window");
            self.schedule(
                ScheduledAction::EndGrant {
                    request_id: req.id.clone(),
                },
                end,
            )
            .await;
        }
        Ok(req)
    }

    /// Refuses an extension to `total` that would need approval if asked for anew.
    pub(super) fn extension_is_auto(
        &self,
        requester: &Requester,
        membership: &Membership,
        req: &Request,
        total: GrantDuration,
    ) -> Result<(), ServiceError> {
        let input = RequestInput {
            bundle: Some(req.bundle.clone()),
            duration: Some(total),
            reason: Some(req.reason.clone())
                .filter(|r| !r.is_empty())
                .or(Some("extension".into())),
            ticket: req.ticket.clone(),
            accounts: Some(req.accounts.clone()),
            start_at: None,
            flow: Some(req.flow.clone()),
        };
        let decision = policy::decide(&self.catalog, requester, membership, &input, self.now())?;
        if !decision.plan.auto {
            return Err(ServiceError::Invalid(format!(
                "a {total} grant of {} needs approval ({}); ask for a new grant instead of extending",
                req.bundle, decision.plan.basis
            )));
        }
        Ok(())
    }
}
