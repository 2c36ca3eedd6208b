//! The intake handler fed the API Gateway events in events/.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use jit_core::service::Effects;
use jit_memory::{demo, MemoryService};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn service() -> Arc<MemoryService> {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    Arc::new(demo(&root().join("catalog/examples"), start).with_effects(Effects::Stream))
}

fn event(name: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(root().join("events").join(name)).unwrap();
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is an API Gateway event: {e}"))
}

async fn send(svc: &Arc<MemoryService>, req: lambda_http::Request) -> (u16, serde_json::Value) {
    let resp = intake::route(svc.clone(), req).await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_request_from_api_gateway_is_made_as_the_jwt_email() {
    let svc = service();
    let (status, body) = send(&svc, event("apigw-post-request.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["requester"], "alice@example.com");
    assert_eq!(body["status"], "approved");
    // The ledger changed; access waits for the stream-fed grant function.
    let id = body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        svc.get(&id).await.unwrap().status,
        jit_core::lifecycle::Status::Approved
    );
    assert!(svc.ports.grantor.snapshot().containers.is_empty());

    let (status, body) = send(&svc, event("apigw-get-approvals.json")).await;
    assert_eq!(
        (status, body["approvals"].as_array().unwrap().len()),
        (200, 0)
    );
}

#[tokio::test]
async fn without_a_jwt_nothing_is_served_and_no_header_stands_in() {
    let svc = service();
    let (status, body) = send(&svc, event("apigw-no-jwt.json")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let mut forged = event("apigw-no-jwt.json");
    forged
        .headers_mut()
        .insert("x-jit-user", "frank@example.com".parse().unwrap());
    assert_eq!(
        send(&svc, forged).await.0,
        401,
        "the local-mode header means nothing here"
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_json_400() {
    let (status, body) = send(&service(), event("apigw-post-request-malformed.json")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
}
