//! The grant function, fed by the table's stream: for every request that became approved,
//! released or revoked, or changed while active (an extension), bring AWS in line with
//! it (apply, re-apply with the new expiry, or remove the grant). The activation itself
//! (approved → active) is left out: whoever activated the grant has just applied it.
//! The template's event filters pass only those records; the handler checks again and skips
//! anything else, and reconciles each request once per batch (it reads the request's current
//! state anyway). A record that fails is reported alone (partial batch failure), so Lambda
//! retries from it without replaying the records before it.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use jit_core::ports::*;
use jit_core::service::Service;
use jit_core::types::RequestId;
use serde::Deserialize;
use tracing::{error, info, warn};

/// Entering one of these statuses is acted on (the template's first filter lists the same).
/// Not `ended`: the revoke function removes the access as it ends a grant (and retries until it
/// has), and the sweeper's drift repair removes anything left behind.
pub const STATUSES: [&str; 3] = ["approved", "released", "revoked"];

/// A change that leaves a request in this status is acted on too (the template's second
/// filter): an extension moves the expiry in the IAM condition.
pub const WHILE: &str = "active";

#[derive(Deserialize)]
struct Meta {
    sk: String,
    id: String,
    status: String,
}

#[derive(Deserialize)]
struct Old {
    status: String,
}

/// Whether a request record moving from `old` to `new` needs AWS brought in line: entering
/// one of [`STATUSES`] (not a later change in it, such as the record that its access is gone),
/// or any change while [`WHILE`].
pub fn acts_on(new: &str, old: Option<&str>) -> bool {
    (STATUSES.contains(&new) && old != Some(new)) || (new == WHILE && old == Some(WHILE))
}

/// Handles one batch of stream records.
pub async fn handle<S, G, Sc, M, D, C>(
    svc: &Service<S, G, Sc, M, D, C>,
    event: Event,
) -> DynamoDbEventResponse
where
    S: RequestStore,
    G: Grantor,
    Sc: Scheduler,
    M: Mailer,
    D: Directory,
    C: Clock,
{
    let mut response = DynamoDbEventResponse::default();
    let mut seen = std::collections::BTreeSet::new();
    for record in event.records {
        let seq = record.change.sequence_number.clone();
        let Ok(meta) = serde_dynamo::from_item::<_, Meta>(record.change.new_image.clone()) else {
            continue; // not a request item (audit, wait, lease...) or a removal
        };
        let old = serde_dynamo::from_item::<_, Old>(record.change.old_image.clone()).ok();
        if meta.sk != "META" || !acts_on(&meta.status, old.as_ref().map(|o| o.status.as_str())) {
            continue;
        }
        let Ok(id) = RequestId::parse(&meta.id) else {
            warn!(id = %meta.id, "stream record with an invalid request id");
            continue;
        };
        if !seen.insert(id.clone()) {
            continue; // reconciled already in this batch, from the request's current state
        }
        match svc.reconcile(&id).await {
            Ok(r) => info!(request_id = %id, status = %r.status, "reconciled"),
            Err(e) => {
                error!(request_id = %id, error = %e, retryable = e.is_retryable(), "could not reconcile; will be retried");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = seq;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}
