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
        if req.plan.break_glass {
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
            self.tell(notify::break_glass(req, to.into_iter().collect()))
                .await;
        }
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

    pub(super) async fn ask_approvers(&self, req: &Request, tier: usize) {
        let expires = req.decision_deadline().timestamp();
        for approver in req.plan.approvers_at(tier) {
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
            self.tell(notify::approval_request(req, &approver, &url, tier))
                .await;
        }
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
