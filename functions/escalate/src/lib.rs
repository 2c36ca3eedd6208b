//! The escalate function: the Scheduler target when an approval tier's timeout passes (ask the
//! next tier) and when a request's time to live passes (expire it). A decision made meanwhile
//! makes both a no-op.

use jit_core::ports::*;
use jit_core::service::{Service, ServiceError};
use serde_json::{json, Value};

/// Handles one schedule input.
pub async fn handle<S, G, Sc, M, D, C>(
    svc: &Service<S, G, Sc, M, D, C>,
    event: &Value,
) -> Result<Value, ServiceError>
where
    S: RequestStore,
    G: Grantor,
    Sc: Scheduler,
    M: Mailer,
    D: Directory,
    C: Clock,
{
    let action: ScheduledAction = serde_json::from_value(event.clone())
        .map_err(|e| ServiceError::Invalid(format!("not a schedule input: {e}")))?;
    if !matches!(
        action,
        ScheduledAction::Escalate { .. } | ScheduledAction::ExpireRequest { .. }
    ) {
        return Err(ServiceError::Invalid(format!(
            "{action:?} belongs to the revoke function"
        )));
    }
    let r = svc.fire(&action).await?;
    tracing::info!(request_id = %r.id, status = %r.status, tier = r.tier, "schedule handled");
    Ok(json!({ "request_id": r.id, "status": r.status, "tier": r.tier }))
}
