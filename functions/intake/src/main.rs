//! Setup only: the API routes, writing only the ledger (the stream-fed grant function changes
//! access in AWS); with databases on, it also issues database passwords.
#![recursion_limit = "256"] // the service's futures, with database grants, nest deeper than the default

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    jit_lambda::serve_http(jit_lambda::ServesApi, intake::route).await
}
