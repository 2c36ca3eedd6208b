//! Who am I, what would asking do, and the decision page an approver opens: the routes the
//! portal and the emails lean on, over the in-memory service.

mod common;
use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn whoami_says_who_the_caller_is_and_what_they_may_ask_through() {
    let (_svc, app) = app();
    let carol = get(&app, "/v1/me", "carol").await;
    assert_eq!(carol.status, StatusCode::OK, "{}", carol.text);
    let me: jit_contract::WhoAmI = serde_json::from_str(&carol.text).unwrap();
    assert_eq!(me.email, "carol@example.com");
    assert_eq!(me.groups, ["data"]);
    assert!(!me.admin);
    let pii = me
        .flows
        .iter()
        .find(|f| f.bundles.iter().any(|b| b == "rds-prod-pii"))
        .expect("carol's group asks for rds-prod-pii");
    assert!(!pii.flow.break_glass);
    assert!(
        me.flows
            .iter()
            .all(|f| f.flow.requesters.contains(&"data".to_string()) || f.flow.requesters == ["*"]),
        "only flows open to her groups: {:?}",
        me.flows
    );

    let frank: jit_contract::WhoAmI =
        serde_json::from_str(&get(&app, "/v1/me", "frank").await.text).unwrap();
    assert!(frank.admin, "frank is in the admin group");

    let nobody = call(&app, Method::GET, "/v1/me", None, None, "application/json").await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_preview_says_what_asking_would_do_and_stores_nothing() {
    let (_svc, app) = app();
    let auto = post(
        &app,
        "/v1/requests/preview",
        "alice",
        json!({"bundle": "api-logs-read", "duration": "1h", "reason": "debug 5xx"}),
    )
    .await;
    assert_eq!(auto.status, StatusCode::OK, "{}", auto.text);
    let p: jit_contract::PreviewView = serde_json::from_str(&auto.text).unwrap();
    assert!(p.request.approval.auto, "{p:?}");
    assert_eq!(p.request.flow, "engineering");
    assert_eq!(p.max_duration, "14d");
    let room = p.room.expect("a container bundle");
    assert!(room.used_bytes > 0 && room.used_bytes < room.budget_bytes);
    assert_eq!(room.budget_bytes, 10_240);
    let mine = get(&app, "/v1/requests?mine=true", "alice").await.json();
    assert_eq!(mine["requests"], json!([]), "a preview stores nothing");
    let report: jit_contract::Report =
        serde_json::from_str(&get(&app, "/v1/report", "alice").await.text).unwrap();
    assert!(report.longest_grants.is_empty(), "nothing live: {report:?}");
    post(
        &app,
        "/v1/requests",
        "alice",
        json!({"bundle": "api-logs-read", "duration": "2h", "reason": "debug 5xx"}),
    )
    .await;
    let report: jit_contract::Report =
        serde_json::from_str(&get(&app, "/v1/report", "alice").await.text).unwrap();
    assert_eq!(report.longest_grants.len(), 1);
    assert_eq!(report.longest_grants[0].bundle, "api-logs-read");
    assert_eq!(report.longest_grants[0].seconds, 7200);

    let two = post(
        &app,
        "/v1/requests/preview",
        "carol",
        json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "INC-7", "ticket": "INC-7"}),
    )
    .await;
    let p: jit_contract::PreviewView = serde_json::from_str(&two.text).unwrap();
    assert!(!p.request.approval.auto);
    let waiting = p.request.approval.waiting_for.unwrap();
    assert!(
        waiting.contains("data-dbas") && waiting.contains("security"),
        "{waiting}"
    );
    assert_eq!(
        p.request.approval.asked,
        ["dave@example.com", "erin@example.com"],
        "who would be asked"
    );

    // Refused exactly as asking would be.
    for (user, body) in [
        (
            "carol",
            json!({"bundle": "rds-prod-pii", "duration": "3h", "reason": "x", "ticket": "INC-7"}),
        ),
        (
            "carol",
            json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "x"}),
        ),
        (
            "bob",
            json!({"bundle": "prod-admin", "duration": "1h", "reason": "x"}),
        ),
        (
            "alice",
            json!({"bundle": "api-logs-reed", "duration": "1h", "reason": "x"}),
        ),
    ] {
        let previewed = post(&app, "/v1/requests/preview", user, body.clone()).await;
        let asked = post(&app, "/v1/requests", user, body.clone()).await;
        assert_eq!(previewed.status, asked.status, "{body}: {}", previewed.text);
        assert_eq!(previewed.error_code(), asked.error_code(), "{body}");
        assert!(previewed.status.is_client_error(), "{body}");
    }
}

#[tokio::test]
async fn a_decision_page_shows_what_is_granted_keeps_a_refused_form_and_says_when_you_approved() {
    let (svc, app) = app();
    let asked = post(
        &app,
        "/v1/requests",
        "carol",
        json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "INC-7 data", "ticket": "INC-7"}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    let mail = svc
        .ports
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t.as_str() == "dave@example.com"))
        .expect("an email to dave");
    let path = mail
        .text
        .lines()
        .find_map(|l| {
            l.split_once("http://127.0.0.1:8080")
                .map(|(_, p)| p.split('?').next().unwrap().to_string())
        })
        .expect("a decision link");
    let page = call(&app, Method::GET, &path, None, None, "text/html").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("What it grants"), "{}", page.text);
    assert!(page.text.contains("rds-db:connect"), "{}", page.text);

    // A denial with no message is refused, and the form comes back as sent, saying why.
    let form = |body: &'static str| post_form(&app, &path, body);
    let refused = form("action=deny&message=&duration=30m").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(refused.text.contains("Not sent:"), "{}", refused.text);
    assert!(
        refused.text.contains("<form"),
        "the form is kept: {}",
        refused.text
    );
    assert!(refused.text.contains("value=\"30m\""), "{}", refused.text);
    assert!(
        refused.text.contains("You chose <b>deny</b>"),
        "{}",
        refused.text
    );

    // Approved; the same link then says when.
    let done = form("action=approve&message=ok+for+INC-7&duration=").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let again = call(&app, Method::GET, &path, None, None, "text/html").await;
    assert!(
        again.text.contains("You approved this request at"),
        "{}",
        again.text
    );
    assert!(
        again.text.contains("still waits for security"),
        "{}",
        again.text
    );
}
