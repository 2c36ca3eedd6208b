//! Setup only: the decision links, writing only the ledger (the stream-fed grant function
//! changes access in AWS).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    jit_lambda::serve_http(jit_lambda::WritesLedgerOnly, approval::route).await
}
