//! Setup only: logs, configuration, then handle stream batches with the library's handler.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use jit_core::service::Effects;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    jit_lambda::init_tracing();
    let app = Arc::new(jit_lambda::App::from_env(Effects::Inline).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let app = app.clone();
        async move {
            let svc = app
                .service()
                .await
                .map_err(|e| Error::from(format!("{e:#}")))?;
            Ok::<_, Error>(grant::handle(&svc, event.payload).await)
        }
    }))
    .await
}
