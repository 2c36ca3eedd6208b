//! Applying approved grants in AWS (activation, failure) and reconciling a request with its grant.

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
    /// Brings AWS in line with one request's state (what the stream-fed function runs for each
    /// changed request): applies an approved grant whose start has come, puts an active grant's
    /// statements as the ledger has them (after an extension), removes the access of one that
    /// ended. Safe to run any number of times.
    pub async fn reconcile(&self, id: &RequestId) -> Result<Request, ServiceError> {
        let req = self.get(id).await?;
        match req.status {
            Status::Approved => self.activate_read(req).await,
            Status::Active => {
                // Puts the statements as the ledger has them (an extension moves the expiry in
                // the IAM condition); unchanged statements are not written again.
                let b = self.bundle_of(&req)?;
                self.ports
                    .grantor
                    .apply(&req.requester, &b.strategy, &spec(&req, b))
                    .await
                    .map_err(grant_error)?;
                Ok(req)
            }
            // Already confirmed gone: nothing to do (the record saying so is itself a change).
            Status::Released | Status::Revoked | Status::Ended if req.removed_at.is_some() => {
                Ok(req)
            }
            Status::Released | Status::Revoked | Status::Ended => {
                if let Err(e) = self.take_away(&req).await {
                    if self.bundle_of(&req)?.strategy.database().is_some() {
                        Box::pin(self.removal_pending(&req, &e)).await;
                    }
                    return Err(e);
                }
                Ok(req)
            }
            _ => Ok(req),
        }
    }

    /// Applies an approved grant whose start has come (the grant function's job). Idempotent:
    /// does nothing unless the request is approved; a grant applied while the request was
    /// released or revoked is taken away again.
    #[instrument(skip(self), fields(request_id = %id))]
    pub async fn activate(&self, id: &RequestId) -> Result<Request, ServiceError> {
        self.activate_read(self.get(id).await?).await
    }

    pub(super) async fn activate_read(&self, req: Request) -> Result<Request, ServiceError> {
        let id = &req.id.clone();
        if req.status != Status::Approved || req.starts_at.is_some_and(|s| s > self.now()) {
            return Ok(req);
        }
        let Some(bundle) = self.catalog.bundle(&req.bundle) else {
            let reason = format!(
                "bundle {} was removed from the catalog before the grant was applied",
                req.bundle
            );
            return self.fail(id, reason).await;
        };
        let grant = spec(&req, bundle);
        match self
            .ports
            .grantor
            .apply(&req.requester, &bundle.strategy, &grant)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_retryable() => return Err(ServiceError::Retryable(e.to_string())),
            Err(e) => return self.fail(id, e.to_string()).await,
        }
        match self
            .transition_from(id, Some(req.clone()), |_| Ok(Command::Activate))
            .await
        {
            Ok((req, changed)) => {
                if changed {
                    let end = req.expires_at.expect("approved requests have a window");
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
            Err(ServiceError::Lifecycle(LifecycleError::WrongState { .. })) => {
                // Released, revoked or cancelled while we were applying: undo what we just did.
                let req = self.get(id).await?;
                self.take_away(&req).await?;
                Ok(req)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn fail(
        &self,
        id: &RequestId,
        reason: String,
    ) -> Result<Request, ServiceError> {
        let (req, _) = self
            .transition(id, |_| {
                Ok(Command::Fail {
                    reason: reason.clone(),
                })
            })
            .await?;
        Ok(req)
    }
}
