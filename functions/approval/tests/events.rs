//! The approval handler fed the decision-link events in events/.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use jit_core::lifecycle::Status;
use jit_core::policy::RequestInput;
use jit_core::service::Effects;
use jit_core::types::{BundleName, Email};
use jit_memory::{demo, MemoryService};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn event(name: &str, token: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(root().join("events").join(name))
        .unwrap()
        .replace("{{TOKEN}}", token);
    lambda_http::request::from_str(&text).unwrap()
}

async fn send(svc: &Arc<MemoryService>, req: lambda_http::Request) -> (u16, String) {
    let resp = approval::route(svc.clone(), req).await;
    let status = resp.status().as_u16();
    (
        status,
        String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).to_string(),
    )
}

#[tokio::test]
async fn a_decision_link_shows_its_page_then_decides_once() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = Arc::new(demo(&root().join("catalog/examples"), start).with_effects(Effects::Stream));
    let input = RequestInput {
        bundle: Some(BundleName::parse("rds-prod-pii").unwrap()),
        reason: Some("INC-3".into()),
        ticket: Some("INC-3".into()),
        ..RequestInput::default()
    };
    let req = svc
        .submit(&Email::parse("carol@example.com").unwrap(), input)
        .await
        .unwrap();
    let mail = svc
        .ports
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.to[0].as_str() == "dave@example.com")
        .unwrap();
    let url = mail
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Approve: "))
        .unwrap();
    let token = url
        .split("/v1/decisions/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap();

    let (status, page) = send(&svc, event("apigw-get-decision.json", token)).await;
    assert_eq!(status, 200);
    assert!(page.contains("carol@example.com asks for rds-prod-pii"));
    assert_eq!(
        svc.get(&req.id).await.unwrap().votes.len(),
        0,
        "GET never acts"
    );

    let (status, page) = send(&svc, event("apigw-post-decision.json", token)).await;
    assert_eq!(status, 200, "{page}");
    let after = svc.get(&req.id).await.unwrap();
    assert_eq!((after.status, after.votes.len()), (Status::Pending, 1));
    assert_eq!(after.votes[0].approver.as_str(), "dave@example.com");
    assert_eq!(
        send(&svc, event("apigw-post-decision.json", token)).await.0,
        410,
        "single use"
    );
}

#[tokio::test]
async fn only_decision_routes_are_served() {
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
    let svc = Arc::new(demo(&root().join("catalog/examples"), start));
    let text = std::fs::read_to_string(root().join("events/apigw-get-approvals.json")).unwrap();
    let (status, _) = send(&svc, lambda_http::request::from_str(&text).unwrap()).await;
    assert_eq!(
        status, 404,
        "the API's other routes are not reachable through this function"
    );
}
