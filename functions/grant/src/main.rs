//! Setup only: stream batches go to the library's handler.
#![recursion_limit = "256"] // the service's futures, with database grants, nest deeper than the default

use aws_lambda_events::event::dynamodb::Event;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jit_lambda::run(jit_lambda::ChangesAccess, |svc, event: Event| async move {
        Ok(grant::handle(&svc, event).await)
    })
    .await
}
