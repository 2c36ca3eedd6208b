//! Setup only: escalation and request-expiry schedules go to the library's handler.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jit_lambda::run(
        jit_lambda::WritesLedgerOnly,
        |svc, event: serde_json::Value| async move {
            escalate::handle(&svc, &event)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await
}
