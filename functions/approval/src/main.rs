//! Setup only: logs, configuration, then serve API Gateway events with the library's handler.

use std::sync::Arc;

use jit_core::service::Effects;
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    jit_lambda::init_tracing();
    // Decisions only change the ledger; the stream-fed grant function applies access.
    let app = Arc::new(jit_lambda::App::from_env(Effects::Stream).await?);
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move {
            Ok::<_, std::convert::Infallible>(match app.service().await {
                Ok(svc) => approval::route(svc, req).await,
                Err(e) => intake::unavailable(&e),
            })
        }
    }))
    .await
}
