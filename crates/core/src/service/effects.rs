//! Side effects of transitions: emails to approvers and requesters, and the one-shot schedules.

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
    pub(super) async fn on_approved(&self, req: &Request) {
        if let Some(start) = req.starts_at.filter(|s| *s > self.now()) {
            self.schedule(
                ScheduledAction::StartGrant {
                    request_id: req.id.clone(),
                },
                start,
            )
            .await;
        }
    }

    /// What the requester is told of one audit record, in a line; `None` for records they are
    /// not told of (an approval that still waits for another group, a comment).
    fn headline(&self, req: &Request, e: &AuditEvent) -> Option<String> {
        let now = self.now();
        let said = e.message.clone().unwrap_or_default();
        Some(match e.action {
            Action::Activated => format!(
                "Your access to {} is active until {}{}.",
                req.bundle,
                req.expires_at.unwrap_or(now),
                self.how_to_use(req)
                    .map(|how| format!(", {how}"))
                    .unwrap_or_default()
            ),
            Action::Denied => format!("{} denied your request: {said}", e.actor),
            Action::Released => "You released your grant; its access is being taken away.".into(),
            Action::Revoked => format!("{} revoked your grant: {said}", e.actor),
            Action::Extended => format!(
                "Your grant was extended until {}.",
                req.expires_at.unwrap_or(now)
            ),
            Action::Ended => format!("Your access to {} has ended.", req.bundle),
            Action::Expired => "Nobody decided your request in time; it has expired.".into(),
            Action::Failed => format!("Your grant could not be applied: {said}"),
            _ => return None,
        })
    }

    /// The notifications a transition causes, from its audit records: one place that says who
    /// is told what. Each is keyed by the record that caused it, so a replay writes none. With
    /// chat on, the transition also writes one chat notice, so every card about the request is
    /// drawn again wherever the change was made.
    pub(super) async fn notices_for(&self, t: &Transition) -> Vec<Notice> {
        let req = &t.request;
        let now = self.now();
        let mut out = Vec::new();
        let mut chat = ChatNote {
            request: req.clone(),
            ask: Vec::new(),
            tell: None,
            announce: false,
        };
        for e in &t.events {
            let messages = match e.action {
                Action::AwaitingApproval | Action::Escalated => {
                    chat.ask = req.plan.approvers_at(req.tier).into_iter().collect();
                    self.approval_requests(req, req.tier)
                }
                Action::AutoApproved | Action::Approved if req.plan.break_glass => {
                    chat.announce = true;
                    vec![notify::break_glass(
                        req,
                        self.break_glass_audience(req).await,
                    )]
                }
                // Chat only: the message carries the Extend button.
                Action::ExpiryWarned => {
                    let end = req.expires_at.unwrap_or(now);
                    chat.tell = Some(format!(
                        "Your access to {} ends in {} minutes, at {end}. Extend it if you still need it.",
                        req.bundle,
                        (end - now).num_minutes().max(1)
                    ));
                    Vec::new()
                }
                _ => match self.headline(req, e) {
                    Some(line) => {
                        let m = notify::status_notice(req, &line);
                        chat.tell = Some(line);
                        vec![m]
                    }
                    None => Vec::new(),
                },
            };
            out.extend(
                messages
                    .into_iter()
                    .filter(|m| !m.to.is_empty())
                    .enumerate()
                    .map(|(n, message)| Notice {
                        key: format!("{:06}-{n:04}", e.seq),
                        written_at: now,
                        message,
                        chat: None,
                        prompt: None,
                    }),
            );
        }
        // With chat on, one notice per transition; not for the record that an ended grant's
        // access is gone, which changes nothing a card shows.
        if let (true, Some(last)) = (
            self.chat,
            t.events
                .last()
                .filter(|e| e.action != Action::AccessRemoved),
        ) {
            let line = chat
                .tell
                .clone()
                .unwrap_or_else(|| format!("{} is {}", req.bundle, req.status));
            out.push(Notice {
                key: format!("{:06}-chat", last.seq),
                written_at: now,
                message: notify::status_notice(req, &line),
                chat: Some(Box::new(chat)),
                prompt: None,
            });
        }
        out
    }

    async fn break_glass_audience(&self, req: &Request) -> Vec<Email> {
        let mut to = BTreeSet::new();
        for target in &req.plan.notify {
            match target {
                NotifyTarget::Person(p) => {
                    to.insert(p.clone());
                }
                NotifyTarget::Group(g) => match self.ports.directory.members(g).await {
                    Ok(m) => to.extend(m),
                    Err(e) => {
                        warn!(group = %g, error = %e, "could not expand break-glass notify group")
                    }
                },
            }
        }
        to.into_iter().collect()
    }

    /// One approval email per approver of `tier`, each with its own signed link.
    fn approval_requests(&self, req: &Request, tier: usize) -> Vec<Message> {
        let expires = req.decision_deadline().timestamp();
        req.plan
            .approvers_at(tier)
            .into_iter()
            .map(|approver| {
                let claims = LinkClaims {
                    request_id: req.id.clone(),
                    approver: approver.clone(),
                    tier,
                    expires,
                    nonce: nonce(),
                };
                let url = format!(
                    "{}/v1/decisions/{}",
                    self.base_url,
                    self.signer.sign(&claims)
                );
                notify::approval_request(req, &approver, &url, tier, self.portal.as_deref())
            })
            .collect()
    }

    /// Sends notices that were written with their transition and acknowledges each one sent;
    /// one that fails stays for the sweep. Returns how many were sent.
    pub(super) async fn deliver(&self, notices: &[Notice]) -> usize {
        let mut sent = 0;
        for n in notices {
            if let Err(e) = self.ports.mailer.deliver(n).await {
                warn!(request_id = %n.message.request_id, notice = %n.key, error = %e, "notice not delivered; the sweep will send it");
                continue;
            }
            sent += 1;
            if let Err(e) = self
                .ports
                .store
                .notice_delivered(&n.message.request_id, &n.key)
                .await
            {
                warn!(request_id = %n.message.request_id, notice = %n.key, error = %e, "notice sent, not acknowledged: the sweep may send it again");
            }
        }
        sent
    }

    pub(super) async fn tell(&self, message: Message) {
        if message.to.is_empty() {
            return;
        }
        if let Err(e) = self.ports.mailer.send(&message).await {
            warn!(request_id = %message.request_id, error = %e, "email not sent");
        }
    }

    /// Deletes the escalation and time-to-live schedules of a request that is no longer
    /// pending. They would only fire as no-ops, but each costs an invocation; a failure to
    /// delete is harmless for the same reason.
    pub(super) async fn forget_waiting_schedules(&self, req: &Request) {
        for tier in req.tier + 1..=req.plan.last_tier() {
            self.forget(ScheduledAction::Escalate {
                request_id: req.id.clone(),
                tier,
            })
            .await;
        }
        self.forget(ScheduledAction::ExpireRequest {
            request_id: req.id.clone(),
        })
        .await;
    }

    pub(super) async fn forget(&self, action: ScheduledAction) {
        // These names do not depend on the time, so any time names the same schedule.
        let s = Schedule::new(action, self.now());
        if let Err(e) = self.ports.scheduler.cancel(&s.name).await {
            warn!(schedule = %s.name, error = %e, "schedule not deleted; it will fire as a no-op");
        }
    }

    pub(super) async fn schedule(&self, action: ScheduledAction, at: DateTime<Utc>) {
        let s = Schedule::new(action, at);
        if let Err(e) = self.ports.scheduler.schedule(&s).await {
            warn!(schedule = %s.name, error = %e, "schedule not created; the sweeper will catch it");
        }
    }
}
