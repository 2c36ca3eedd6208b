//! Permission on demand: access-denied events become prompts, and prompts become requests.

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
    /// Handles one CloudTrail access-denied event (the pod function's job): works out the IAM
    /// action and resource, finds the bundles that would allow it and that the person may ask
    /// for, and emails them a prompt with a signed link to a prefilled request form. One prompt
    /// per person and action per hour; a replayed event changes nothing.
    #[instrument(skip(self, event))]
    pub async fn on_access_denied(
        &self,
        event: &serde_json::Value,
    ) -> Result<PromptOutcome, ServiceError> {
        let denied = match prompt::parse_event(event) {
            Ok(d) => d,
            Err(why) => return Ok(PromptOutcome::Ignored(why)),
        };
        let now = self.now();
        let id = prompt_id(&denied, now);
        // A redelivered event: one read answers it, before any directory lookups.
        if self.ports.store.get_prompt(&id).await?.is_some() {
            return Ok(PromptOutcome::Quiet(denied));
        }
        let person = denied.person.clone();
        let service = denied.action.split(':').next().unwrap_or("").to_string();
        let mut p = Prompt {
            id,
            denied: denied.clone(),
            offers: Vec::new(),
            disabled_service: None,
            status: PromptStatus::Prompted,
            request_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        if self.catalog.service_disabled(&service) {
            p.disabled_service = Some(service);
        } else {
            let groups = self.ports.directory.groups_of(&person).await?;
            let requester = Requester {
                email: person.clone(),
                groups: groups.clone(),
            };
            // Only bundles a flow (not break-glass) would let this person ask for; the groups
            // deciding any of them are read once.
            let candidates: Vec<&Bundle> = prompt::matching_bundles(&self.catalog, &denied)
                .into_iter()
                .filter(|b| {
                    self.catalog
                        .flows_for(&b.name)
                        .any(|f| !f.break_glass && f.admits(&groups))
                })
                .collect();
            let reason = p.reason();
            let input_for = |b: &Bundle| RequestInput {
                bundle: Some(b.name.clone()),
                reason: Some(reason.clone()),
                accounts: Some(vec![denied.account.clone()]),
                ..RequestInput::default()
            };
            // Offers granted at once need nobody's members (see `policy::decide_auto`).
            let needed: BTreeSet<GroupName> = candidates
                .iter()
                .filter(|b| {
                    policy::decide_auto(&self.catalog, &requester, &input_for(b), now).is_none()
                })
                .flat_map(|b| policy::groups_needed(&self.catalog, &b.name))
                .collect();
            let membership = self.membership(&needed).await?;
            for b in candidates {
                let input = input_for(b);
                match policy::decide(&self.catalog, &requester, &membership, &input, now) {
                    Ok(d) => p.offers.push(Offer {
                        bundle: d.bundle.clone(),
                        flow: d.flow.clone(),
                        duration: d.duration,
                        auto: d.plan.auto,
                        self_approve: !d.plan.auto
                            && !d
                                .plan
                                .counts_for(d.plan.start_tier, &person, &groups)
                                .is_empty(),
                        needs_ticket: false,
                        approvers: d.plan.basis.clone(),
                    }),
                    Err(Refusal::TicketRequired { flow, .. }) => {
                        if let Some(f) = self.catalog.flows.get(&flow) {
                            p.offers.push(Offer {
                                bundle: b.name.clone(),
                                flow: flow.clone(),
                                duration: f.default_duration,
                                auto: false,
                                self_approve: false,
                                needs_ticket: true,
                                approvers: format!("flow {flow}, once you give a ticket"),
                            });
                        }
                    }
                    Err(Refusal::ServiceDisabled { service, .. }) => {
                        p.disabled_service.get_or_insert(service);
                    }
                    Err(_) => {}
                }
            }
            if !p.offers.is_empty() {
                p.disabled_service = None;
            } else if p.disabled_service.is_none() {
                return Ok(PromptOutcome::NoBundle(denied));
            }
        }
        if p.disabled_service.is_some() {
            p.status = PromptStatus::Disabled;
        }
        let links: Vec<String> = (0..p.offers.len())
            .map(|i| self.prompt_link(&p, i))
            .collect();
        // With chat on, the offer also goes to chat, through the outbox: written with the
        // prompt, so the chat function (the only holder of chat's token) takes it from there.
        let notices = match (self.chat, &p.disabled_service) {
            (true, None) => vec![Notice {
                key: "prompt-chat".into(),
                written_at: now,
                message: notify::access_prompt(&p, &links),
                chat: None,
                prompt: Some(Box::new(PromptNote {
                    prompt: p.clone(),
                    links: links.clone(),
                })),
            }],
            _ => Vec::new(),
        };
        match self
            .ports
            .store
            .create_prompt(&p, now + prompt::QUIET_PERIOD, &notices)
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Ok(PromptOutcome::Quiet(denied)),
            Err(e) => return Err(e.into()),
        }
        if let Some(service) = &p.disabled_service {
            self.tell(notify::service_disabled(&p, service)).await;
            return Ok(PromptOutcome::ToldDisabled(p));
        }
        self.tell(notify::access_prompt(&p, &links)).await;
        self.deliver(&notices).await;
        Ok(PromptOutcome::Prompted(p))
    }

    /// The signed link to the request form for offer `offer` of prompt `p`.
    pub fn prompt_link(&self, p: &Prompt, offer: usize) -> String {
        let claims = LinkClaims {
            request_id: p.id.clone(),
            approver: p.denied.person.clone(),
            tier: offer,
            expires: p.answer_by().timestamp(),
            nonce: nonce(),
        };
        format!(
            "{}/v1/prompts/{}",
            self.base_url,
            self.prompt_signer.sign(&claims)
        )
    }

    /// Checks a prompt link without using it (for the form page): the prompt and the offer.
    pub async fn inspect_prompt(&self, token: &str) -> Result<(Prompt, Offer), ServiceError> {
        let claims = self.prompt_signer.verify(token, self.now(), None)?;
        let p = self
            .ports
            .store
            .get_prompt(&claims.request_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(claims.request_id.clone()))?;
        let offer = p
            .offers
            .get(claims.tier)
            .cloned()
            .ok_or(ServiceError::Link(LinkError::Malformed))?;
        if p.denied.person != claims.approver {
            return Err(ServiceError::Link(LinkError::WrongApprover));
        }
        Ok((p, offer))
    }

    /// Answers a prompt through its link: asks for the offered bundle (as the person the prompt
    /// was sent to, decided by the catalog as any request is), or dismisses it. A person whose
    /// own approval counts has it recorded at once. Works once: a second use returns what the
    /// first did, or says the prompt was answered.
    #[instrument(skip(self, token, answer))]
    pub async fn answer_prompt(
        &self,
        token: &str,
        answer: PromptAnswer,
    ) -> Result<(Prompt, Option<Request>), ServiceError> {
        let (p, offer) = self.inspect_prompt(token).await?;
        let person = p.denied.person.clone();
        let request_id = derived_id(&format!("{}#{}", p.id, offer.bundle));
        match (&answer, p.status) {
            (_, PromptStatus::Prompted) => {}
            (PromptAnswer::Request { .. }, PromptStatus::Requested)
                if p.request_id.as_ref() == Some(&request_id) =>
            {
                let req = self.get(&request_id).await?;
                return Ok((p, Some(req)));
            }
            (_, status) => {
                return Err(ServiceError::Invalid(format!(
                    "this prompt is {}; each prompt is answered once",
                    status.as_str()
                )))
            }
        }
        let (status, req) = match answer {
            PromptAnswer::Dismiss => (PromptStatus::Abandoned, None),
            PromptAnswer::Request {
                duration,
                reason,
                ticket,
            } => {
                let input = RequestInput {
                    bundle: Some(offer.bundle.clone()),
                    duration: duration.or(Some(offer.duration)),
                    reason: Some(reason),
                    ticket,
                    accounts: Some(vec![p.denied.account.clone()]),
                    flow: Some(offer.flow.clone()),
                    ..RequestInput::default()
                };
                let mut req = self.submit_as(&person, input, request_id).await?;
                // The offer said whether their own approval counts; `approve` checks again
                // against the directory and refuses if it no longer does.
                if req.status == Status::Pending && offer.self_approve {
                    match self
                        .approve(
                            &person,
                            &req.id,
                            "approved by the requester, an approver of this bundle, from an access-denied prompt",
                            None,
                        )
                        .await
                    {
                        Ok(approved) => req = approved,
                        Err(ServiceError::Lifecycle(LifecycleError::NotAllowed(_))) => {}
                        Err(e) => return Err(e),
                    }
                }
                (PromptStatus::Requested, Some(req))
            }
        };
        let p = self
            .settle_prompt(p, status, req.as_ref().map(|r| r.id.clone()))
            .await?;
        Ok((p, req))
    }

    pub(super) async fn settle_prompt(
        &self,
        mut p: Prompt,
        status: PromptStatus,
        request_id: Option<RequestId>,
    ) -> Result<Prompt, ServiceError> {
        for _ in 0..MAX_ATTEMPTS {
            if p.status != PromptStatus::Prompted {
                return Ok(p);
            }
            let mut next = p.clone();
            next.status = status;
            next.request_id = request_id.clone();
            next.updated_at = self.now();
            next.version += 1;
            match self.ports.store.update_prompt(p.version, &next).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => {
                    p = self
                        .ports
                        .store
                        .get_prompt(&p.id)
                        .await?
                        .ok_or_else(|| ServiceError::NotFound(p.id.clone()))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Busy(p.id))
    }

    /// Marks a prompt nobody answered as abandoned-expired; false if it was answered meanwhile.
    pub(super) async fn expire_prompt(&self, p: Prompt) -> Result<bool, ServiceError> {
        if p.status != PromptStatus::Prompted || p.answer_by() > self.now() {
            return Ok(false);
        }
        let after = self
            .settle_prompt(p, PromptStatus::AbandonedExpired, None)
            .await?;
        Ok(after.status == PromptStatus::AbandonedExpired)
    }
}
