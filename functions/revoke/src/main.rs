//! Setup only: schedules and sweeps go to the library's handler. An error makes Scheduler
//! retry (then dead-letter).
#![recursion_limit = "256"] // the service's futures, with database grants, nest deeper than the default

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jit_lambda::run(
        jit_lambda::ChangesAccess,
        |svc, event: serde_json::Value| async move {
            revoke::handle(&svc, &event)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await
}
