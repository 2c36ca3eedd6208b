//! Setup only: logs, configuration, then handle schedules and sweeps with the library's handler.

use std::sync::Arc;

use jit_core::service::Effects;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    jit_lambda::init_tracing();
    let app = Arc::new(jit_lambda::App::from_env(Effects::Inline).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let svc = app
                .service()
                .await
                .map_err(|e| Error::from(format!("{e:#}")))?;
            // An error makes Scheduler retry (then dead-letter); a refused event is not retried.
            revoke::handle(&svc, &event.payload)
                .await
                .map_err(|e| Error::from(e.to_string()))
        }
    }))
    .await
}
