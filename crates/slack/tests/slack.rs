//! The Slack app end to end, against a fake Slack Web API server: `/jit` opens the modal, the
//! bundle picker is searched, the modal previews and submits, cards reach both groups'
//! approvers, signed clicks approve, every card is drawn again, and the requester is told.
//! Forged, stale, replayed and unconfirmed requests are refused, each on its own.

mod common;

use common::*;
use jit_core::lifecycle::Status;
use jit_core::ports::{Chat, ChatNote, Notice, RequestStore};
use jit_slack::local::LocalSlack;
use serde_json::{json, Value};

fn dm(name: &str) -> String {
    LocalSlack::dm_of(&user(name).id)
}

/// The newest state of the card in `channel` about `request`.
fn card(w: &World, channel: &str) -> Value {
    let calls = w.slack.workspace.calls();
    let post = posts_to(&calls, channel)
        .into_iter()
        .find(|c| {
            c.args["text"]
                .as_str()
                .unwrap_or_default()
                .contains("asks for")
        })
        .unwrap_or_else(|| panic!("no card in {channel}"));
    let ts = post.answer["ts"].as_str().unwrap();
    w.slack.workspace.message(channel, ts).unwrap()
}

fn submission(bundle: &str, duration: &str, reason: &str) -> Value {
    json!({ "type": "view_submission", "view": { "id": "V1", "callback_id": "jit_request",
        "state": { "values": {
            "bundle": { "bundle": { "type": "external_select",
                                    "selected_option": { "value": bundle } } },
            "duration": { "duration": { "type": "plain_text_input", "value": duration } },
            "reason": { "reason": { "type": "plain_text_input", "value": reason } },
            "ticket": { "ticket": { "type": "plain_text_input", "value": null } },
            "accounts": { "accounts": { "type": "plain_text_input", "value": null } } } } } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_from_the_modal_is_approved_from_two_cards_and_every_card_follows() {
    let w = world().await;
    let (carol, dave, erin) = (user("carol"), user("dave"), user("erin"));

    // `/jit` alone opens the request form (asynchronously, after the acknowledgement).
    let a = w.command(&carol, "", "trigger-1").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let calls = w
        .slack
        .until("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    let open = calls.iter().find(|c| c.method == "views.open").unwrap();
    assert_eq!(open.args["trigger_id"], "trigger-1");
    assert_eq!(open.args["view"]["callback_id"], "jit_request");
    assert_eq!(open.answer["ok"], true, "{}", open.answer);

    // The bundle picker searches the catalog as one types.
    let a = w
        .interact(
            "/slack/options",
            &carol,
            json!({ "type": "block_suggestion", "action_id": "bundle", "value": "orders" }),
        )
        .await;
    let options = a.json()["options"].as_array().cloned().unwrap();
    assert_eq!(options.len(), 1, "{}", a.body);
    assert_eq!(options[0]["value"], "orders-db-write");
    let all = w
        .interact(
            "/slack/options",
            &carol,
            json!({ "type": "block_suggestion", "action_id": "bundle", "value": "" }),
        )
        .await;
    assert_eq!(all.json()["options"].as_array().unwrap().len(), 3);

    // Choosing a bundle shows in the modal what approval it will need.
    let a = w
        .interact(
            "/slack/interactions",
            &carol,
            json!({ "type": "block_actions", "view": { "id": "V1", "hash": "h1" },
                    "actions": [{ "action_id": "bundle",
                                  "selected_option": { "value": "orders-db-write" } }] }),
        )
        .await;
    assert_eq!(a.status, 200);
    let calls = w
        .slack
        .until("the preview", |c| {
            c.iter().any(|c| c.method == "views.update")
        })
        .await;
    let update = calls.iter().find(|c| c.method == "views.update").unwrap();
    let shown = update.args["view"].to_string();
    assert!(shown.contains("Needs approval"), "{shown}");
    assert!(
        shown.contains("data-dbas") && shown.contains("security"),
        "{shown}"
    );
    assert_eq!(update.args["hash"], "h1");

    // A duration that does not parse is shown on its field; nothing is asked.
    let a = w
        .interact(
            "/slack/interactions",
            &carol,
            submission("orders-db-write", "soon", "x"),
        )
        .await;
    assert_eq!(a.json()["response_action"], "errors", "{}", a.body);
    assert!(a.json()["errors"]["duration"].is_string());

    // Submitting asks; a card goes to each group's approver.
    let a = w
        .interact(
            "/slack/interactions",
            &carol,
            submission(
                "orders-db-write",
                "2h",
                "fix order 1234 <!channel>\nApproved: yes",
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.is_empty(), "the modal closes: {}", a.body);
    w.slack
        .until("cards to dave and erin", |c| {
            posts_to(c, &dm("dave")).len() == 1 && posts_to(c, &dm("erin")).len() == 1
        })
        .await;
    let dave_card = card(&w, &dm("dave"));
    let text = dave_card["blocks"].to_string();
    for fact in [
        "carol@example.com",
        "orders-db-write",
        "2h",
        "high",
        "dynamodb:PutItem",
    ] {
        assert!(text.contains(fact), "card lacks {fact}: {text}");
    }
    // The typed reason can neither mention the channel nor add a line.
    assert!(
        text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"),
        "{text}"
    );
    assert!(!text.contains("\\nApproved: yes"), "{text}");
    assert!(has_action(&dave_card["blocks"], "approve"));
    assert!(has_action(&dave_card["blocks"], "approve_for"));
    assert!(has_action(&dave_card["blocks"], "deny"));
    // The requester is told it waits, in their direct messages.
    let calls = w
        .slack
        .until("carol told", |c| !posts_to(c, &dm("carol")).is_empty())
        .await;
    assert!(posts_to(&calls, &dm("carol"))[0].args["text"]
        .as_str()
        .unwrap()
        .contains("waiting for"));
    let req = w
        .service
        .requests_of(&"carol@example.com".parse().unwrap(), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(req.status, Status::Pending);
    let id = req.id.to_string();

    // Dave approves from his card: still waiting for security, and both cards say so.
    w.click(&dave, "approve", &id, &dm("dave"), "t-d1").await;
    w.slack
        .until("both cards redrawn after dave", |c| {
            c.iter().filter(|c| c.method == "chat.update").count() >= 2
        })
        .await;
    for who in ["dave", "erin"] {
        let c = card(&w, &dm(who))["blocks"].to_string();
        assert!(c.contains("approved by dave@example.com"), "{who}: {c}");
        assert!(c.contains("Waiting for"), "{who}: {c}");
    }

    // Erin approves: the request is approved, the grant applied, every card drawn without
    // buttons, and carol told when it ends.
    w.click(&erin, "approve", &id, &dm("erin"), "t-e1").await;
    let approved = wait_status(&w, &req.id, Status::Approved).await;
    assert_eq!(approved.votes.len(), 2);
    w.service.activate(&req.id).await.unwrap();
    w.slack
        .until("carol told it is active", |c| {
            !posts_saying(c, &dm("carol"), "active until").is_empty()
        })
        .await;
    for who in ["dave", "erin"] {
        let c = card(&w, &dm(who));
        let blocks = c["blocks"].to_string();
        assert!(blocks.contains("Active"), "{who}: {blocks}");
        assert!(
            blocks.contains("approved by dave@example.com and erin@example.com"),
            "{blocks}"
        );
        assert!(
            !has_action(&c["blocks"], "approve"),
            "{who}: a stale button: {blocks}"
        );
        assert!(
            !has_action(&c["blocks"], "deny"),
            "{who}: a stale button: {blocks}"
        );
    }
    let calls = w.slack.workspace.calls();
    let active = posts_saying(&calls, &dm("carol"), "active until")
        .into_iter()
        .next()
        .unwrap();
    assert!(has_action(&active.args["blocks"], "release"));

    // A click on the decided card says who decided it and when.
    let before = w.slack.workspace.calls().len();
    w.click(&dave, "approve", &id, &dm("dave"), "t-d2").await;
    let calls = w
        .slack
        .until("dave told it was decided", |c| {
            c[before..].iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.args["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("already decided")
            })
        })
        .await;
    let told = calls[before..]
        .iter()
        .find(|c| {
            c.args["text"]
                .as_str()
                .unwrap_or_default()
                .contains("already decided")
        })
        .unwrap();
    assert!(told.args["text"]
        .as_str()
        .unwrap()
        .contains("erin@example.com"));

    // Carol releases from her message; the cards follow again.
    w.click(&carol, "release", &id, &dm("carol"), "t-c1").await;
    wait_status(&w, &req.id, Status::Released).await;
    w.slack
        .until("cards show the release", |_| {
            card(&w, &dm("dave"))["blocks"]
                .to_string()
                .contains("Released")
        })
        .await;

    // Replaying a chat notice posts no second card: it only draws again.
    let posts = |w: &World| {
        w.slack
            .workspace
            .calls()
            .iter()
            .filter(|c| c.method == "chat.postMessage")
            .count()
    };
    let n = posts(&w);
    let now = w.service.get(&req.id).await.unwrap();
    let notice = Notice {
        key: "000001-chat".into(),
        written_at: chrono::Utc::now(),
        message: jit_core::notify::status_notice(&now, "again"),
        chat: Some(Box::new(ChatNote {
            request: now.clone(),
            ask: vec!["dave@example.com".parse().unwrap()],
            tell: None,
            announce: false,
        })),
        prompt: None,
    };
    w.service.ports.mailer.chat.deliver(&notice).await.unwrap();
    w.service.ports.mailer.chat.deliver(&notice).await.unwrap();
    assert_eq!(posts(&w), n, "a replayed notice posted again");
}

/// `who`'s newest request, once the app has made it (10 s at most).
async fn newest_request_of(w: &World, who: &str) -> jit_core::lifecycle::Request {
    for _ in 0..200 {
        let mine = w
            .service
            .requests_of(&format!("{who}@example.com").parse().unwrap(), 10)
            .await
            .unwrap();
        if let Some(r) = mine.into_iter().next() {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{who} never asked");
}

async fn wait_status(
    w: &World,
    id: &jit_core::types::RequestId,
    status: Status,
) -> jit_core::lifecycle::Request {
    for _ in 0..200 {
        let r = w.service.get(id).await.unwrap();
        if r.status == status {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{id} never became {status}");
}

/// The Extend button on the newest message to `who` that has one: its value.
fn extend_button(w: &World, who: &str) -> Option<String> {
    let calls = w.slack.workspace.calls();
    posts_to(&calls, &dm(who)).into_iter().rev().find_map(|m| {
        let blocks = m.args["blocks"].to_string();
        blocks
            .split("\"action_id\":\"extend\"")
            .nth(1)
            .and_then(|rest| rest.split("\"value\":\"").nth(1))
            .and_then(|v| v.split('"').next())
            .map(str::to_string)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_about_to_end_is_warned_with_extend_and_one_click_extends_it_once() {
    let w = world().await;
    let carol = user("carol");
    let a = w
        .command(
            &carol,
            "request logs-read --for 2h --reason \"tail the night's logs\"",
            "t0",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let req = newest_request_of(&w, "carol").await;
    let id = req.id.clone();
    wait_status(&w, &id, Status::Approved).await;
    let active = w.service.activate(&id).await.unwrap();
    let expiry = active.expires_at.unwrap();
    // The granted message offers Release, not Extend: the grant has hours left.
    w.slack
        .until("carol told it is active", |c| {
            !posts_saying(c, &dm("carol"), "active until").is_empty()
        })
        .await;
    assert_eq!(extend_button(&w, "carol"), None);

    // 20 minutes before the end: nothing yet. 14 minutes before: warned once, with Extend.
    w.service
        .ports
        .clock
        .advance(chrono::Duration::minutes(100));
    assert_eq!(w.service.sweep().await.unwrap().warned, 0);
    w.service.ports.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(w.service.sweep().await.unwrap().warned, 1);
    assert_eq!(w.service.sweep().await.unwrap().warned, 0, "warned twice");
    let calls = w
        .slack
        .until("carol warned", |c| {
            !posts_saying(c, &dm("carol"), "ends in 14 minutes").is_empty()
        })
        .await;
    let warnings = posts_saying(&calls, &dm("carol"), "ends in").len();
    assert_eq!(warnings, 1);
    let value = extend_button(&w, "carol").expect("the warning has an Extend button");
    assert_eq!(value, format!("{id}|1h|{}", expiry.timestamp()));
    let timeline = w.service.timeline(&id).await.unwrap();
    assert_eq!(
        timeline.last().unwrap().action,
        jit_core::audit::Action::ExpiryWarned
    );

    // One click extends by an hour, and carol hears until when.
    w.click(&carol, "extend", &value, &dm("carol"), "t1").await;
    let mut extended = None;
    for _ in 0..200 {
        let r = w.service.get(&id).await.unwrap();
        if r.expires_at != Some(expiry) {
            extended = r.expires_at;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(extended, Some(expiry + chrono::Duration::hours(1)));
    w.slack
        .until("carol told of the extension", |c| {
            told(c, &carol, "extended until")
        })
        .await;

    // Two more clicks of the same button at once, past the read that words the answer: the
    // expiry the button names is what the conditional write checks, so neither adds anything.
    let carol_email: jit_core::types::Email = "carol@example.com".parse().unwrap();
    let direct = |_| {
        w.service.extend_from(
            &carol_email,
            &id,
            Some(expiry),
            jit_core::types::GrantDuration::parse("1h").unwrap(),
            "again",
        )
    };
    let (a, b) = tokio::join!(direct(0), direct(1));
    assert_eq!(
        a.unwrap().expires_at,
        Some(expiry + chrono::Duration::hours(1))
    );
    assert_eq!(
        b.unwrap().expires_at,
        Some(expiry + chrono::Duration::hours(1))
    );

    // The same button again (a double click): nothing more, and carol is told why.
    w.click(&carol, "extend", &value, &dm("carol"), "t2").await;
    w.slack
        .until("carol told it was extended already", |c| {
            told(c, &carol, "extended already")
        })
        .await;
    assert_eq!(
        w.service.get(&id).await.unwrap().expires_at,
        Some(expiry + chrono::Duration::hours(1))
    );

    // The new expiry is warned of in its turn.
    w.service.ports.clock.advance(chrono::Duration::minutes(60));
    assert_eq!(w.service.sweep().await.unwrap().warned, 1);
}

/// CloudTrail's access-denied event for logs:FilterLogEvents (from `events/`), as carol in
/// account 222222222222.
fn carol_denied() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/cloudtrail-logs-access-denied.json"
    ))
    .unwrap()
    .replace("alice@example.com", "carol@example.com")
    .replace("111111111111", "222222222222");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_denied_prompt_in_slack_is_answered_once_and_only_by_its_person() {
    let w = world().await;
    let (carol, dave) = (user("carol"), user("dave"));
    w.service.ports.clock.advance(chrono::Duration::minutes(70));
    let outcome = w.service.on_access_denied(&carol_denied()).await.unwrap();
    let jit_core::service::PromptOutcome::Prompted(prompt) = outcome else {
        panic!("not prompted: {outcome:?}")
    };
    let calls = w
        .slack
        .until("carol offered a bundle", |c| {
            !posts_saying(c, &dm("carol"), "You were denied").is_empty()
        })
        .await;
    let offer = posts_saying(&calls, &dm("carol"), "You were denied")
        .into_iter()
        .next()
        .unwrap();
    let blocks = offer.args["blocks"].as_array().unwrap();
    let text = offer.args["blocks"].to_string();
    assert!(
        text.contains("logs:FilterLogEvents") && text.contains("logs-read"),
        "{text}"
    );
    assert!(text.contains("granted at once"), "{text}");
    let token = blocks
        .iter()
        .find(|b| b["accessory"]["action_id"] == "prompt_request_0")
        .and_then(|b| b["accessory"]["value"].as_str())
        .expect("a Request button with the offer's token")
        .to_string();
    assert!(has_action(&offer.args["blocks"], "prompt_dismiss"));
    // Delivered once: the same event again is quiet, and no second message is posted.
    let again = w.service.on_access_denied(&carol_denied()).await.unwrap();
    assert!(
        matches!(again, jit_core::service::PromptOutcome::Quiet(_)),
        "{again:?}"
    );

    // Dave clicks carol's button (forwarded to him, say): refused, nothing asked.
    w.click(&dave, "prompt_request_0", &token, &dm("dave"), "t-d")
        .await;
    w.slack
        .until("dave told it is not his", |c| {
            told(c, &dave, "sent to someone else")
        })
        .await;
    assert!(w
        .service
        .requests_of(&"carol@example.com".parse().unwrap(), 10)
        .await
        .unwrap()
        .is_empty());

    // Carol clicks Request: logs-read is asked for with the prefilled reason, granted at once.
    w.click(&carol, "prompt_request_0", &token, &dm("carol"), "t-c")
        .await;
    let asked = newest_request_of(&w, "carol").await;
    let mine = w
        .service
        .requests_of(&"carol@example.com".parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(mine, vec![asked]);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].bundle.as_str(), "logs-read");
    assert!(
        mine[0].reason.contains("logs:FilterLogEvents"),
        "{}",
        mine[0].reason
    );
    assert_eq!(mine[0].status, Status::Approved);
    let answered = w
        .service
        .ports
        .store
        .get_prompt(&prompt.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answered.status, jit_core::prompt::PromptStatus::Requested);

    // "I don't need it" after that: each prompt is answered once.
    w.click(&carol, "prompt_dismiss", &token, &dm("carol"), "t-c2")
        .await;
    w.slack
        .until("carol told it was answered", |c| {
            told(c, &carol, "answered once")
        })
        .await;
    let calls = w.slack.workspace.calls();
    let offers = posts_saying(&calls, &dm("carol"), "You were denied").len();
    assert_eq!(offers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_asks_why_and_a_critical_bundle_is_approved_only_in_the_portal() {
    let w = world().await;
    let (carol, dave) = (user("carol"), user("dave"));
    let a = w
        .command(
            &carol,
            "request kms-admin --for 1h --reason rotate the keys",
            "t0",
        )
        .await;
    assert!(a.body.contains("Asking for kms-admin"), "{}", a.body);
    w.slack
        .until("cards", |c| !posts_to(c, &dm("dave")).is_empty())
        .await;
    // Critical: chat has no step-up sign-in, so Approve opens the portal.
    let c = card(&w, &dm("dave"));
    assert!(!has_action(&c["blocks"], "approve"), "{}", c["blocks"]);
    assert!(has_action(&c["blocks"], "open_portal"));
    assert!(c["blocks"]
        .to_string()
        .contains("https://jit.example.com/requests/"));
    let id = w
        .service
        .requests_of(&"carol@example.com".parse().unwrap(), 1)
        .await
        .unwrap()[0]
        .id
        .clone();
    // Deny asks why, in a modal; an empty answer is refused on its field.
    w.click(&dave, "deny", id.as_str(), &dm("dave"), "trig-deny")
        .await;
    let calls = w
        .slack
        .until("the deny modal", |c| {
            c.iter()
                .any(|c| c.method == "views.open" && c.args["view"]["callback_id"] == "jit_deny")
        })
        .await;
    let modal = calls
        .iter()
        .find(|c| c.args["view"]["callback_id"] == "jit_deny")
        .unwrap();
    assert_eq!(modal.args["view"]["private_metadata"], id.as_str());
    let deny = |msg: Value| {
        json!({ "type": "view_submission", "view": { "callback_id": "jit_deny",
            "private_metadata": id.as_str(),
            "state": { "values": { "message": { "message": { "value": msg } } } } } })
    };
    let a = w
        .interact("/slack/interactions", &dave, deny(Value::Null))
        .await;
    assert_eq!(a.json()["response_action"], "errors", "{}", a.body);
    let a = w
        .interact(
            "/slack/interactions",
            &dave,
            deny(json!("not without a change ticket")),
        )
        .await;
    assert_eq!(a.status, 200);
    wait_status(&w, &id, Status::Denied).await;
    w.slack
        .until("carol told of the denial", |c| {
            !posts_saying(c, &dm("carol"), "not without a change ticket").is_empty()
        })
        .await;
    w.slack
        .until("the card shows the denial", |_| {
            card(&w, &dm("dave"))["blocks"]
                .to_string()
                .contains("Denied by dave@example.com")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_replayed_and_unconfirmed_requests_are_refused() {
    let w = world().await;
    let carol = user("carol");
    let body = serde_urlencoded::to_string([
        ("team_id", TEAM),
        ("user_id", carol.id.as_str()),
        ("channel_id", "C0GENERAL1"),
        ("text", "request logs-read --reason look"),
    ])
    .unwrap();
    let now = w.now();

    // Forged: signed with another secret, or the body changed after signing.
    let forged = jit_slack::SigningSecret::new("not-the-secret").sign(now, body.as_bytes());
    let a = w
        .send_raw("/slack/commands", &body, now, &forged, &[])
        .await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.body.contains("signature"), "{}", a.body);
    let sig = w.secret.sign(now, body.as_bytes());
    let a = w
        .send_raw("/slack/commands", &format!("{body}x"), now, &sig, &[])
        .await;
    assert_eq!(a.status, 401);
    // Unsigned.
    let a = w.send_raw("/slack/commands", &body, now, "", &[]).await;
    assert_eq!(a.status, 401);

    // Stale: correctly signed, six minutes old.
    let old = now - 360;
    let a = w
        .send_raw(
            "/slack/commands",
            &body,
            old,
            &w.secret.sign(old, body.as_bytes()),
            &[],
        )
        .await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("five minutes"), "{}", a.body);

    // Taken once; the very same signed request sent again is refused.
    let a = w.send_raw("/slack/commands", &body, now, &sig, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = w.send_raw("/slack/commands", &body, now, &sig, &[]).await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("sent before"), "{}", a.body);
    w.slack
        .until("carol told of her request", |c| {
            told(c, &carol, "is approved")
        })
        .await;
    let id = w
        .service
        .requests_of(&"carol@example.com".parse().unwrap(), 10)
        .await
        .unwrap()[0]
        .id
        .clone();
    w.service.activate(&id).await.unwrap();
    w.slack
        .until("carol granted logs-read", |c| {
            told(c, &carol, "active until")
        })
        .await;
    let mine = w
        .service
        .requests_of(&"carol@example.com".parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "the replay asked again");

    // Slack's own retry of a request it saw no answer to is acknowledged and not done again.
    let body2 = body.replace("look", "look again");
    let sig2 = w.secret.sign(now, body2.as_bytes());
    let a = w
        .send_raw(
            "/slack/commands",
            &body2,
            now,
            &sig2,
            &[("x-slack-retry-num", "1")],
        )
        .await;
    assert_eq!(a.status, 200);

    // Another workspace is refused.
    let other = body.replace(TEAM, "T0OTHER");
    let a = w.send("/slack/commands", &other).await;
    assert!(
        a.body.contains("not installed for your workspace"),
        "{}",
        a.body
    );

    // A person whose email Slack has not confirmed is told so, and nothing is asked.
    let mallory = user("mallory");
    w.command(&mallory, "request logs-read --reason look", "t-m")
        .await;
    w.slack
        .until("mallory told", |c| {
            c.iter().any(|c| {
                c.method == "chat.postEphemeral"
                    && c.args["user"] == mallory.id.as_str()
                    && c.args["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("not confirmed")
            })
        })
        .await;
    let theirs = w
        .service
        .requests_of(&"mallory@example.com".parse().unwrap(), 10)
        .await
        .unwrap();
    assert!(theirs.is_empty());

    // Someone Slack does not know at all is told too.
    let mut ghost = user("ghost");
    ghost.id = "U0GHOST000".into();
    w.command(&ghost, "request logs-read --reason look", "t-g")
        .await;
    w.slack
        .until("ghost told", |c| {
            c.iter().any(|c| {
                c.args["user"] == "U0GHOST000"
                    && c.args["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("cannot tell who you are")
            })
        })
        .await;

    // A mistake in the command is answered at once with how to write it.
    let a = w
        .command(&carol, "request logs-read --for ever", "t-x")
        .await;
    assert!(
        a.json()["text"].as_str().unwrap().contains("--for"),
        "{}",
        a.body
    );
    assert_eq!(a.json()["response_type"], "ephemeral");
    assert_eq!(
        w.app.person(&carol.id).await.unwrap().as_str(),
        "carol@example.com"
    );
}

/// The manifest an admin pastes names exactly the routes the app serves, and the scopes for
/// the Web API methods it calls.
#[test]
fn the_app_manifest_matches_the_routes_and_the_methods_called() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/slack-manifest.yaml"
    ))
    .unwrap();
    let m: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(m["features"]["slash_commands"][0]["command"], "/jit");
    assert_eq!(
        m["features"]["slash_commands"][0]["url"],
        "https://API/slack/commands"
    );
    assert_eq!(
        m["settings"]["interactivity"]["request_url"],
        "https://API/slack/interactions"
    );
    assert_eq!(
        m["settings"]["interactivity"]["message_menu_options_url"],
        "https://API/slack/options"
    );
    let scopes: Vec<&str> = m["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    // chat.postMessage, chat.update, chat.postEphemeral; users.info, users.lookupByEmail (the
    // email); the slash command. views.* need no scope.
    assert_eq!(
        scopes,
        ["commands", "chat:write", "users:read", "users:read.email"]
    );
}
