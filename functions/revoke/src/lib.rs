//! The revoke function: the Scheduler target at a grant's expiry (and for scheduled starts),
//! and the `rate(5 minutes)` sweeper that ends grants and expires requests whose schedules were
//! lost (Scheduler fires at least once and may not fire at all), expires unanswered
//! access-denied prompts, and reconciles every container with the ledger (drift repair).

use jit_core::ports::*;
use jit_core::service::{Service, ServiceError, SweepReport};
use serde_json::{json, Value};
use tracing::info;

/// What the function was invoked with.
#[derive(Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A one-shot schedule's input.
    Schedule(ScheduledAction),
    /// The periodic sweeper rule (an EventBridge "Scheduled Event").
    Sweep,
}

/// Why an event was refused.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// Not a schedule input this function takes, nor the sweeper's event.
    #[error("not a schedule input or the sweeper's event: {0}")]
    Unknown(String),
}

/// Reads the event: a schedule's JSON input, or EventBridge's scheduled event.
pub fn trigger(event: &Value) -> Result<Trigger, TriggerError> {
    if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(Trigger::Sweep);
    }
    let action: ScheduledAction =
        serde_json::from_value(event.clone()).map_err(|e| TriggerError::Unknown(e.to_string()))?;
    match action {
        ScheduledAction::EndGrant { .. } | ScheduledAction::StartGrant { .. } => {
            Ok(Trigger::Schedule(action))
        }
        other => Err(TriggerError::Unknown(format!(
            "{other:?} belongs to the escalate function"
        ))),
    }
}

/// Handles one invocation; the returned JSON says what was done.
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
    match trigger(event).map_err(|e| ServiceError::Invalid(e.to_string()))? {
        Trigger::Schedule(action) => {
            let r = svc.fire(&action).await?;
            info!(request_id = %r.id, status = %r.status, "schedule handled");
            Ok(json!({ "request_id": r.id, "status": r.status }))
        }
        Trigger::Sweep => {
            let report = svc.sweep().await?;
            info!(
                ended = report.ended,
                expired = report.expired,
                prompts_expired = report.prompts_expired,
                containers = report.containers,
                drift_removed = report.drift_removed,
                drift_restored = report.drift_restored,
                failed = report.failed,
                "sweep"
            );
            // One line in CloudWatch's embedded metric format: the drift alarm watches it.
            println!("{}", metrics(&report, svc.now().timestamp_millis()));
            Ok(serde_json::to_value(report).expect("a report serializes"))
        }
    }
}

/// The sweep's figures as a CloudWatch embedded-metric-format record (namespace `Jit`).
pub fn metrics(report: &SweepReport, at_millis: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": at_millis,
            "CloudWatchMetrics": [{
                "Namespace": "Jit",
                "Dimensions": [[]],
                "Metrics": [
                    { "Name": "DriftFindings", "Unit": "Count" },
                    { "Name": "SweepEnded", "Unit": "Count" },
                    { "Name": "SweepFailures", "Unit": "Count" }
                ]
            }]
        },
        "DriftFindings": report.drift(),
        "SweepEnded": report.ended,
        "SweepFailures": report.failed,
    })
}
