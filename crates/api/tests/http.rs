//! The HTTP API over the in-memory service, request by request, as a client sees it.

use std::collections::BTreeSet;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use jit_api::ROUTES;
use jit_contract::ClientConfig;
use jit_core::types::Email;
use serde_json::{json, Value};

mod common;
use common::*;

/// The committed copy of the document (for reviewers and client generators) is the one the
/// API serves. After changing the API, refresh it with:
/// `JIT_BLESS=1 cargo test -p jit-api --test http committed_openapi`.
#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = jit_api::openapi::document_json();
    if std::env::var_os("JIT_BLESS").is_some() {
        std::fs::write(&committed, generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == generated,
        "crates/api/openapi.json is not the document the API serves; refresh it with: \
         JIT_BLESS=1 cargo test -p jit-api --test http committed_openapi"
    );
}

#[tokio::test]
async fn the_openapi_document_and_the_router_agree() {
    let doc: Value = serde_json::from_str(jit_api::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.to_string()));
            // Every route that takes input says what its errors look like.
            let responses = op["responses"].as_object().unwrap();
            let takes_input = op.get("parameters").is_some()
                || op.get("requestBody").is_some()
                || op.get("security").is_some_and(|s| s != &json!([{}]));
            assert!(
                !takes_input || responses.keys().any(|s| s.starts_with('4')),
                "{method} {path} documents no 4xx"
            );
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "the document lists exactly the routes the router serves"
    );
    // Both ways of saying who calls are declared, and every non-public route takes either.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["jwt"]["scheme"], "bearer");
    assert_eq!(schemes["local_user"]["name"], "X-Jit-User");
    for (method, path) in &served {
        let op = &doc["paths"][path][method.to_lowercase()];
        let public = jit_api::openapi::PUBLIC.contains(&path.as_str());
        assert_eq!(
            op["responses"].get("401").is_some(),
            !public,
            "{method} {path}: 401 documented exactly where a caller is needed"
        );
    }
    // The published patterns are the ones the server checks.
    let schemas = &doc["components"]["schemas"];
    for (name, pattern) in [
        ("Name", jit_contract::patterns::SLUG),
        ("RequestId", jit_contract::patterns::REQUEST_ID),
        ("AccountId", jit_contract::patterns::ACCOUNT),
        ("Email", jit_contract::patterns::EMAIL),
        ("Duration", jit_contract::patterns::DURATION),
        ("LinkToken", jit_contract::patterns::TOKEN),
    ] {
        assert_eq!(schemas[name]["pattern"], pattern, "{name}");
    }
    assert_eq!(
        schemas["FormDuration"]["pattern"],
        jit_contract::patterns::DURATION
    );
    let mut ids = BTreeSet::new();
    for (method, path) in &served {
        let id = doc["paths"][path][method.to_lowercase()]["operationId"].as_str();
        assert!(
            ids.insert(id),
            "{method} {path}: operationId {id:?} is not unique"
        );
    }
    for (name, pattern) in [
        ("Prose", jit_contract::patterns::PLAIN_TEXT),
        ("Ticket", jit_contract::patterns::PLAIN_TEXT),
        ("Reason", jit_contract::patterns::SOME_PLAIN_TEXT),
    ] {
        assert_eq!(schemas[name]["pattern"], pattern, "{name}");
    }

    // And the router really serves each of them (not the fallback's 404 "no_route").
    let (_, app) = app();
    for (method, path) in &served {
        let uri = path
            .replace("{bundle}", "api-logs-read")
            .replace("{id}", "0123456789abcdef")
            .replace("{token}", "x.y");
        let reply = call(
            &app,
            method.parse().unwrap(),
            &uri,
            Some("alice"),
            Some(Body::from("{}")),
            "application/json",
        )
        .await;
        let fallback = reply.status == StatusCode::NOT_FOUND && reply.text.contains("no_route");
        assert!(
            !fallback && reply.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is not served: {}",
            reply.status
        );
    }
    let reply = get(&app, "/v1/nothing-here", "alice").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (StatusCode::NOT_FOUND, "no_route")
    );
}

#[tokio::test]
async fn a_request_is_created_shown_and_listed() {
    let (svc, app) = app();
    let r = post(
        &app,
        "/v1/requests",
        "alice",
        json!({"bundle": "api-logs-read", "duration": "4h", "reason": "debug 5xx"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let created = r.json();
    assert_eq!(created["status"], "approved");
    assert_eq!(created["approval"]["auto"], true);
    let id = created["id"].as_str().unwrap().to_string();
    svc.activate(&id.parse().unwrap()).await.unwrap();

    let shown = get(&app, &format!("/v1/requests/{id}"), "bob").await.json();
    assert_eq!(shown["status"], "active");
    let actions: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["requested", "auto-approved", "activated"]);

    let mine = get(&app, "/v1/requests?mine=true&status=active", "alice")
        .await
        .json();
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1);
    assert!(get(&app, "/v1/requests?status=pending", "alice")
        .await
        .json()["requests"]
        .as_array()
        .unwrap()
        .is_empty());
    let bundle = get(&app, "/v1/catalog/api-logs-read", "alice").await.json();
    assert_eq!(bundle["recent_requests"].as_array().unwrap().len(), 1);
    assert_eq!(bundle["flows"][0]["approval"], "risk matrix");
    let cat = get(&app, "/v1/catalog", "alice").await.json();
    assert_eq!(cat["bundles"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn bad_input_gets_a_json_error_that_says_what_to_fix() {
    let (_, app) = app();
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            json!({"bundle": "api-logs-read", "duration": "4h", "reason": "x", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown field `colour`",
        ),
        (
            json!({"bundle": "Not A Name", "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "invalid bundle name",
        ),
        (
            json!({"bundle": "api-logs-read", "duration": "forever", "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "invalid duration",
        ),
        (
            json!({"bundle": "no-such-bundle", "reason": "x"}),
            StatusCode::NOT_FOUND,
            "unknown_bundle",
            "there is no bundle",
        ),
        (
            json!({"bundle": "api-logs-read", "duration": "15d", "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "allows for api-logs-read",
        ),
        (
            json!({"bundle": "api-logs-read", "duration": "1h"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "requires a reason",
        ),
        (
            json!({"bundle": "rds-prod-pii", "reason": "x", "ticket": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "does not match [A-Z]+-[0-9]+",
        ),
        (
            // Longer than the document's maxLength: malformed, so 400.
            json!({"bundle": "api-logs-read", "reason": "x".repeat(2000)}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "at most 1000",
        ),
    ];
    for (body, status, code, fragment) in cases {
        let r = post(&app, "/v1/requests", "alice", body.clone()).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{body}: {}",
            r.text
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{body}: {}",
            r.text
        );
    }
    let r = post(
        &app,
        "/v1/requests",
        "erin",
        json!({"bundle": "rds-prod-pii", "reason": "x", "ticket": "INC-1"}),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::FORBIDDEN, "not_eligible"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("offered to members of api-team, data"),
        "{}",
        r.text
    );
    let r = call(
        &app,
        Method::POST,
        "/v1/requests",
        Some("alice"),
        Some(Body::from("{not json")),
        "application/json",
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let big = format!(
        "{{\"bundle\": \"api-logs-read\", \"reason\": \"{}\"}}",
        "x".repeat(20_000)
    );
    let r = call(
        &app,
        Method::POST,
        "/v1/requests",
        Some("alice"),
        Some(Body::from(big)),
        "application/json",
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = call(
        &app,
        Method::GET,
        "/v1/catalog",
        None,
        None,
        "application/json",
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let r = get(&app, "/v1/requests/NOT-AN-ID", "alice").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&app, "/v1/requests/0123456789abcdef", "alice").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn only_the_right_people_decide_cancel_and_revoke() {
    let (svc, app) = app();
    let r = post(
        &app,
        "/v1/requests",
        "carol",
        json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "INC", "ticket": "INC-5"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.json()["approval"]["waiting_for"],
        "data-dbas (any) AND security (any)"
    );
    assert_eq!(r.json()["approval"]["escalates_to"], "platform-team");

    let approvals = get(&app, "/v1/approvals", "dave").await.json();
    assert_eq!(approvals["approvals"][0]["id"], id.as_str());
    assert!(
        get(&app, "/v1/approvals", "alice").await.json()["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let r = post(
        &app,
        &format!("/v1/requests/{id}/approve"),
        "carol",
        json!({"message": "me"}),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let r = post(
        &app,
        &format!("/v1/requests/{id}/cancel"),
        "dave",
        json!({}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "only the requester cancels"
    );
    let r = post(
        &app,
        &format!("/v1/requests/{id}/approve"),
        "dave",
        json!({"message": "ok", "duration": "2h"}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "approvers may not lengthen: {}",
        r.text
    );
    let r = post(
        &app,
        &format!("/v1/requests/{id}/approve"),
        "dave",
        json!({"message": "ok"}),
    )
    .await;
    assert_eq!(r.json()["status"], "pending");
    let r = post(
        &app,
        &format!("/v1/requests/{id}/approve"),
        "erin",
        json!({"message": "ok"}),
    )
    .await;
    assert_eq!(r.json()["status"], "approved");
    svc.activate(&id.parse().unwrap()).await.unwrap();

    let r = post(
        &app,
        &format!("/v1/requests/{id}/revoke"),
        "carol",
        json!({"message": "mine"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("/v1/requests/{id}/revoke"),
        "frank",
        json!({"message": "incident closed"}),
    )
    .await;
    assert_eq!(r.json()["status"], "revoked");
    let r = post(
        &app,
        &format!("/v1/requests/{id}/release"),
        "carol",
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
}

#[tokio::test]
async fn audit_and_report_are_readable_by_everyone_as_json_and_csv() {
    let (svc, app) = app();
    let r = post(
        &app,
        "/v1/requests",
        "alice",
        json!({"bundle": "api-logs-read", "reason": "=cmd|' /C calc'!A0"}),
    )
    .await;
    let id: jit_core::types::RequestId = r.json()["id"].as_str().unwrap().parse().unwrap();
    svc.activate(&id).await.unwrap();
    post(
        &app,
        "/v1/requests",
        "grace",
        json!({"bundle": "prod-admin", "reason": "SEV1", "flow": "break-glass", "duration": "30m"}),
    )
    .await;

    let all = get(&app, "/v1/audit", "bob").await.json();
    assert_eq!(all["records"].as_array().unwrap().len(), 5);
    let alice = get(&app, "/v1/audit?user=alice@example.com", "bob")
        .await
        .json();
    assert_eq!(alice["records"].as_array().unwrap().len(), 3);
    let by_bundle = get(&app, "/v1/audit?bundle=prod-admin", "bob").await.json();
    assert_eq!(by_bundle["records"].as_array().unwrap().len(), 2);

    let csv = get(&app, "/v1/audit?format=csv", "bob").await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(csv
        .text
        .starts_with("at,request_id,seq,actor,action,status,requester,bundle,message\n"));
    assert!(
        csv.text.contains("'=cmd"),
        "formulas are neutralised: {}",
        csv.text
    );

    let report = get(&app, "/v1/report", "bob").await.json();
    assert_eq!(report["requests"], 2);
    assert_eq!(report["auto_approval_rate"], 1.0);
    assert_eq!(report["active_grants"], 1);
    assert_eq!(
        report["break_glass_awaiting_review"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(report["median_seconds_to_access"], 0.0);

    let r = get(
        &app,
        "/v1/audit?from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z",
        "bob",
    )
    .await;
    // Two valid times whose span breaks the rule: refused (422), not malformed.
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ranges are bounded"
    );
    assert!(
        !get(&app, "/v1/audit", "bob")
            .await
            .text
            .contains("decisions/"),
        "no decision tokens in the audit"
    );
}

#[tokio::test]
async fn config_and_the_document_are_public_and_everything_else_needs_a_caller() {
    let (_, app) = app();
    let config = call(&app, Method::GET, "/v1/config", None, None, "").await;
    assert_eq!(config.status, StatusCode::OK);
    let parsed: ClientConfig = serde_json::from_str(&config.text).unwrap();
    assert_eq!(parsed, ClientConfig::default());
    let doc = call(&app, Method::GET, "/v1/openapi.json", None, None, "").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(doc.text, jit_api::openapi::document_json());
    let anonymous = call(&app, Method::GET, "/v1/catalog", None, None, "").await;
    assert_eq!(
        (anonymous.status, anonymous.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

#[tokio::test]
async fn each_operation_takes_its_own_body() {
    let (_, app) = app();
    let id = post(
        &app,
        "/v1/requests",
        "carol",
        json!({"bundle": "rds-prod-pii", "duration": "1h", "reason": "INC-7", "ticket": "INC-7"}),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Deny takes no duration: the document says so, and the server agrees.
    let deny = post(
        &app,
        &format!("/v1/requests/{id}/deny"),
        "dave",
        json!({"message": "no", "duration": "1h"}),
    )
    .await;
    assert_eq!(deny.status, StatusCode::BAD_REQUEST, "{}", deny.text);
    assert!(deny.text.contains("duration"), "{}", deny.text);
    // A well-formed duration out of range is a rule (422), a malformed one is syntax (400).
    let far = post(
        &app,
        &format!("/v1/requests/{id}/approve"),
        "dave",
        json!({"duration": "999999w"}),
    )
    .await;
    assert_eq!(far.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", far.text);
    let garbled = post(
        &app,
        &format!("/v1/requests/{id}/approve"),
        "dave",
        json!({"duration": "an hour"}),
    )
    .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST, "{}", garbled.text);
    assert!(garbled.text.contains("duration:"), "{}", garbled.text);
}

#[tokio::test]
async fn free_text_on_more_than_one_line_is_refused_where_it_enters() {
    let (svc, app) = app();
    for (field, value, code) in [
        ("reason", "debug\nApprove: http://evil.example/", "U+000A"),
        ("reason", "\u{1b}[31mred", "U+001B"),
        ("reason", "a\u{202e}b", "U+202E"),
        ("ticket", "INC-7\u{0}", "U+0000"),
    ] {
        let mut body = json!({"bundle": "api-logs-read", "duration": "1h", "reason": "ok"});
        body[field] = json!(value);
        let r = post(&app, "/v1/requests", "alice", body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{field} {value:?}: {}",
            r.text
        );
        assert!(
            r.text.contains(code) && r.text.contains(field),
            "{}",
            r.text
        );
    }
    assert!(svc.ports.mailer.sent().is_empty());
    // The link pages' forms too: a line break typed into the message is refused, as a page.
    let page = call(
        &app,
        Method::POST,
        "/v1/decisions/abc.def",
        None,
        Some(Body::from(
            "action=deny&message=no%0AApprove%3A+http%3A%2F%2Fevil.example%2F",
        )),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("U+000A"), "{}", page.text);
}

/// A release whose access cannot be taken away yet (Identity Center throttling) is answered
/// as what happened: 202, released, with what is still under way; once removal succeeds, the
/// same release answers 200.
#[tokio::test]
async fn a_release_whose_removal_is_still_under_way_answers_202_and_says_why() {
    let (svc, app) = app();
    let made = post(
        &app,
        "/v1/requests",
        "alice",
        json!({"bundle": "api-logs-read", "duration": "4h", "reason": "debug"}),
    )
    .await;
    let id = made.json()["id"].as_str().unwrap().to_string();
    svc.activate(&id.parse().unwrap()).await.unwrap();

    svc.ports.grantor.inject(&[jit_memory::Fault::Throttle]);
    let released = post(
        &app,
        &format!("/v1/requests/{id}/release"),
        "alice",
        json!({}),
    )
    .await;
    assert_eq!(released.status, StatusCode::ACCEPTED, "{}", released.text);
    let body = released.json();
    assert_eq!(body["status"], "released");
    let removal = body["removal"].as_str().unwrap();
    assert!(removal.contains("being retried"), "{removal}");
    assert!(
        svc.ports.grantor.snapshot().containers[&Email::parse("alice@example.com").unwrap()]
            .grant_ids()
            .contains(&id.parse().unwrap()),
        "still in place"
    );

    let again = post(
        &app,
        &format!("/v1/requests/{id}/release"),
        "alice",
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert!(again.json().get("removal").is_none());
    assert!(
        !svc.ports.grantor.snapshot().containers[&Email::parse("alice@example.com").unwrap()]
            .grant_ids()
            .contains(&id.parse().unwrap()),
        "gone"
    );
}

/// The catalog is searched and paged on the server: pages of `limit` bundles by name, each
/// naming where the next starts, together every bundle once; `q` narrows them as the CLI's
/// search does; a bad limit, cursor or search is refused with what was wrong.
#[tokio::test]
async fn the_catalog_is_searched_and_paged() {
    let (svc, app) = app();
    let all: Vec<String> = svc
        .catalog()
        .bundles
        .keys()
        .map(|b| b.to_string())
        .collect();
    assert!(all.len() > 4, "{all:?}");
    let whole = get(&app, "/v1/catalog", "alice").await.json();
    assert_eq!(whole["matched"], all.len());
    assert!(whole.get("next_cursor").is_none(), "{whole}");
    let mut seen = Vec::new();
    let mut url = "/v1/catalog?limit=2".to_string();
    loop {
        let page = get(&app, &url, "alice").await.json();
        assert_eq!(page["matched"], all.len());
        let names: Vec<String> = page["bundles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect();
        assert!(names.len() <= 2 && !names.is_empty(), "{page}");
        seen.extend(names);
        match page["next_cursor"].as_str() {
            Some(next) => url = format!("/v1/catalog?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "every bundle once, by name");
    // A search, as `jit bundles logs` makes it: any case, in names, descriptions and actions.
    let logs = get(&app, "/v1/catalog?q=LOGS", "alice").await.json();
    let found: Vec<&str> = logs["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(found.contains(&"api-logs-read"), "{found:?}");
    assert_eq!(logs["matched"], found.len());
    assert!(found.len() < all.len(), "{found:?}");
    let none = get(&app, "/v1/catalog?q=no-such-thing", "alice")
        .await
        .json();
    assert_eq!(
        (
            none["matched"].as_u64(),
            none["bundles"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    for (bad, says) in [
        ("/v1/catalog?limit=0", "limit: from 1 to 500"),
        ("/v1/catalog?limit=501", "limit: from 1 to 500"),
        ("/v1/catalog?cursor=Not%20A%20Name", "cursor"),
        ("/v1/catalog?q=a%0Ab", "q"),
        ("/v1/catalog?page=2", "page"),
    ] {
        let r = get(&app, bad, "alice").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.text.contains(says), "{bad}: {}", r.text);
    }
}

/// The catalog carries its version as an ETag; sent back in If-None-Match, the answer is 304
/// with no body while that version is in force, and the full catalog for any other.
#[tokio::test]
async fn the_catalog_is_revalidated_by_its_etag() {
    let (svc, app) = app();
    let first = get(&app, "/v1/catalog", "alice").await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.headers[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", svc.catalog_version()));
    assert_eq!(first.json()["version"], svc.catalog_version());
    assert_eq!(first.headers[header::CACHE_CONTROL], "private, no-cache");
    let revalidate = |tag: String| {
        let app = app.clone();
        async move {
            let r = call_with(
                &app,
                Method::GET,
                "/v1/catalog",
                Some("alice"),
                None,
                "application/json",
                &[(header::IF_NONE_MATCH, tag.as_str())],
            )
            .await;
            (r.status, r.text.len())
        }
    };
    assert_eq!(
        revalidate(etag.clone()).await,
        (StatusCode::NOT_MODIFIED, 0)
    );
    assert_eq!(
        revalidate(format!("\"v0000000000000000\", W/{etag}")).await,
        (StatusCode::NOT_MODIFIED, 0)
    );
    let (status, len) = revalidate("\"v0000000000000000\"".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(len > 1000, "the whole catalog: {len} bytes");
}
