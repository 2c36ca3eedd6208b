//! The pod function (permission on demand): fed CloudTrail access-denied events of Identity
//! Center sessions by an EventBridge rule. It works out the IAM action and resource, finds the
//! bundles that would allow them and that the person may ask for, and emails a prompt with a
//! signed link to a prefilled request form (or a notice that the service is disabled). One
//! prompt per person and action per hour; a redelivered event changes nothing.

use jit_core::ports::*;
use jit_core::service::{PromptOutcome, Service, ServiceError};
use serde_json::{json, Value};
use tracing::info;

/// Handles one EventBridge event. Events that are not for prompting are answered, not failed:
/// failing would only make EventBridge deliver them again.
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
    let out = match svc.on_access_denied(event).await? {
        PromptOutcome::Prompted(p) => json!({
            "outcome": "prompted",
            "prompt_id": p.id,
            "person": p.denied.person,
            "action": p.denied.action,
            "resource": p.denied.resource,
            "offers": p.offers.iter().map(|o| o.bundle.as_str()).collect::<Vec<_>>(),
        }),
        PromptOutcome::ToldDisabled(p) => json!({
            "outcome": "service-disabled",
            "prompt_id": p.id,
            "person": p.denied.person,
            "action": p.denied.action,
        }),
        PromptOutcome::Quiet(d) => json!({
            "outcome": "quiet",
            "person": d.person,
            "action": d.action,
        }),
        PromptOutcome::NoBundle(d) => json!({
            "outcome": "no-bundle",
            "person": d.person,
            "action": d.action,
            "resource": d.resource,
        }),
        PromptOutcome::Ignored(why) => json!({ "outcome": "ignored", "why": why.to_string() }),
    };
    info!(outcome = %out["outcome"], action = %out["action"], "access-denied event handled");
    Ok(out)
}
