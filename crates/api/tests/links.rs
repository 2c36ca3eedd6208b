//! Signed links over the HTTP API, as a browser uses them: decision links (a page on GET, a
//! decision once on POST) and access-denied prompt links (a prefilled form that asks once).

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use jit_core::types::Email;
use serde_json::{json, Value};

mod common;
use common::*;

#[tokio::test]
async fn decision_links_show_a_page_on_get_and_act_once_on_post() {
    let (svc, app) = app();
    let r = post(
        &app,
        "/v1/requests",
        "carol",
        json!({"bundle": "rds-prod-pii", "reason": "INC", "ticket": "INC-6"}),
    )
    .await;
    let id = r.json()["id"].as_str().unwrap().to_string();
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
        .unwrap()
        .to_string();
    let path = url.trim_start_matches("http://127.0.0.1:8080").to_string();

    // A scanner opening the link changes nothing.
    for _ in 0..2 {
        let page = call(&app, Method::GET, &path, None, None, "text/html").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.text
                .contains("carol@example.com asks for rds-prod-pii")
                && page.text.contains("<form method=\"post\">")
        );
        assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    }
    assert_eq!(
        svc.get(&id.parse().unwrap()).await.unwrap().status,
        jit_core::lifecycle::Status::Pending
    );

    let form_path = path.split('?').next().unwrap().to_string();
    let submit = |body: &'static str| {
        call(
            &app,
            Method::POST,
            &form_path,
            None,
            Some(Body::from(body)),
            "application/x-www-form-urlencoded",
        )
    };
    let done = submit("action=approve&message=fine&duration=").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(
        done.text.contains("still waits for security (any)"),
        "{}",
        done.text
    );
    let again = submit("action=approve&message=again").await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text.contains("already been used"));

    let forged = call(
        &app,
        Method::GET,
        "/v1/decisions/abc.def",
        None,
        None,
        "text/html",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.text.contains("This link cannot be used") && !forged.text.contains("panic"));
    let junk = call(
        &app,
        Method::GET,
        &format!("/v1/decisions/{}", "a".repeat(3000)),
        None,
        None,
        "text/html",
    )
    .await;
    // Over the token's published length: damaged, not forged.
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_prompt_link_opens_a_prefilled_form_and_requests_once() {
    let (svc, app) = app();
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../events/cloudtrail-logs-access-denied.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let outcome = svc.on_access_denied(&event).await.unwrap();
    assert!(
        matches!(outcome, jit_core::service::PromptOutcome::Prompted(_)),
        "{outcome:?}"
    );
    let mail = svc.ports.mailer.sent().pop().unwrap();
    let path = mail
        .text
        .lines()
        .find_map(|l| {
            l.split_once("http://127.0.0.1:8080")
                .map(|(_, p)| p.to_string())
        })
        .expect("a prompt link");
    assert!(path.starts_with("/v1/prompts/"), "{path}");

    let page = call(&app, Method::GET, &path, None, None, "text/html").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert!(
        page.text.contains("Request api-logs-read?"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Access denied for logs:FilterLogEvents"));
    assert!(
        page.text.contains("value=\"4h\""),
        "the flow's default duration"
    );
    assert!(
        svc.requests_of(&Email::parse("alice@example.com").unwrap(), 10)
            .await
            .unwrap()
            .is_empty(),
        "GET never acts"
    );

    let post = |body: &'static str| post_form(&app, &path, body);
    let bad = post("action=request&reason=&duration=40d").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(
        bad.text.contains("14d") && bad.text.contains("Request not made"),
        "says the limit: {}",
        bad.text
    );
    let done = post("action=request&reason=reading+request+logs&duration=1h").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("is approved"), "{}", done.text);
    let mine = svc
        .requests_of(&Email::parse("alice@example.com").unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].duration.to_string(), "1h");
    let twice = post("action=request&reason=again").await;
    assert_eq!(
        twice.status,
        StatusCode::OK,
        "a double click shows the same request"
    );
    let dismiss = post("action=dismiss").await;
    assert_eq!(dismiss.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = call(&app, Method::GET, &path, None, None, "text/html").await;
    assert!(page.text.contains("Already answered"), "{}", page.text);
    let listed = call(
        &app,
        Method::GET,
        "/v1/prompts",
        Some("bob"),
        None,
        "application/json",
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let rows = listed.json()["prompts"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "requested");
    assert_eq!(rows[0]["action"], "logs:FilterLogEvents");
    assert_eq!(rows[0]["request_id"], mine[0].id.as_str());
    assert!(!listed.text.contains("/v1/prompts/"), "never the links");
    let report = call(
        &app,
        Method::GET,
        "/v1/report",
        Some("bob"),
        None,
        "application/json",
    )
    .await;
    assert_eq!(report.json()["prompts"]["requested"], 1);
    assert_eq!(report.json()["prompts"]["conversion_rate"], 1.0);
    let none = call(
        &app,
        Method::GET,
        "/v1/prompts?user=bob@example.com",
        Some("bob"),
        None,
        "application/json",
    )
    .await;
    assert!(none.json()["prompts"].as_array().unwrap().is_empty());
    let unknown = post("action=request&reason=x&admin=true").await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
}
