//! The grant function, fed by the table's stream: for every request that became approved,
//! active (activation, extension), released, revoked or ended, bring AWS in line with it
//! (apply, re-apply with the new expiry, or remove the grant).
//! The template's event filter passes only those records; the handler checks again and skips
//! anything else. A record that fails is reported alone (partial batch failure), so Lambda
//! retries from it without replaying the records before it.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use jit_core::ports::*;
use jit_core::service::Service;
use jit_core::types::RequestId;
use serde::Deserialize;
use tracing::{error, info, warn};

/// The statuses whose records this function acts on (the template filters on the same list).
pub const STATUSES: [&str; 5] = ["approved", "active", "released", "revoked", "ended"];

#[derive(Deserialize)]
struct Meta {
    sk: String,
    id: String,
    status: String,
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
    for record in event.records {
        let seq = record.change.sequence_number.clone();
        let Ok(meta) = serde_dynamo::from_item::<_, Meta>(record.change.new_image.clone()) else {
            continue; // not a request item (audit, wait, lease...) or a removal
        };
        if meta.sk != "META" || !STATUSES.contains(&meta.status.as_str()) {
            continue;
        }
        let Ok(id) = RequestId::parse(&meta.id) else {
            warn!(id = %meta.id, "stream record with an invalid request id");
            continue;
        };
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
