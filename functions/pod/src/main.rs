//! Setup only: CloudTrail access-denied events from EventBridge go to the library's handler.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jit_lambda::run(
        jit_lambda::WritesLedgerOnly,
        |svc, event: serde_json::Value| async move {
            pod::handle(&svc, &event).await.map_err(|e| e.to_string())
        },
    )
    .await
}
