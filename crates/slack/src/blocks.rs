//! What the app shows in Slack, as Block Kit JSON: the approval card (drawn again from the
//! request whenever it changes), the requester's messages, and the request modal.
//!
//! Every piece of text a person typed (a reason, a ticket, a denial message) is made one line
//! and escaped for Slack's markup, so it can neither add a line nor become a mention or link.

use chrono::{DateTime, Utc};
use jit_core::catalog::{Bundle, Catalog};
use jit_core::lifecycle::{Request, Status};
use jit_core::ports::PromptNote;
use jit_core::prompt::Prompt;
use jit_core::types::GrantDuration;
use serde_json::{json, Value};

/// Makes typed text safe inside a Slack message: one line, `&`, `<` and `>` escaped as Slack
/// asks (so `<!channel>` or `<https://…|label>` stays text), at most `max` characters.
pub fn escape(text: &str, max: usize) -> String {
    let one = jit_core::text::one_line(text);
    let mut out = String::with_capacity(one.len());
    for (n, c) in one.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn when(t: DateTime<Utc>) -> String {
    // Slack shows <!date^…> in each reader's own time zone; the fallback is UTC.
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        t.timestamp(),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

fn context(text: String) -> Value {
    json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": text }] })
}

/// What the bundle grants, in a line: its actions (the first few) and accounts.
pub fn grants(bundle: &Bundle) -> String {
    let actions: Vec<&str> = bundle
        .statements
        .iter()
        .flat_map(|s| s.actions.iter().map(|a| a.as_str()))
        .collect();
    let shown: Vec<&str> = actions.iter().take(6).copied().collect();
    let more = actions.len().saturating_sub(shown.len());
    let mut line = shown.join(", ");
    if more > 0 {
        line.push_str(&format!(" and {more} more"));
    }
    line
}

/// Where the request stands, in a line for its card.
pub fn standing(req: &Request) -> String {
    let by = req
        .status_by
        .as_deref()
        .map(|b| escape(b, 120))
        .unwrap_or_default();
    let why = req
        .status_reason
        .as_deref()
        .map(|r| format!(": {}", escape(r, 300)))
        .unwrap_or_default();
    let at = when(req.updated_at);
    match req.status {
        Status::Pending => {
            let mut line = format!(":hourglass_flowing_sand: Waiting for {}", req.waiting_for());
            for v in &req.votes {
                line.push_str(&format!(
                    "; approved by {} {}",
                    escape(v.approver.as_str(), 120),
                    when(v.at)
                ));
            }
            line
        }
        Status::Approved | Status::Active => {
            let who: Vec<String> = req
                .votes
                .iter()
                .map(|v| escape(v.approver.as_str(), 120))
                .collect();
            let who = if who.is_empty() {
                "granted without approval".to_string()
            } else {
                format!("approved by {}", who.join(" and "))
            };
            let until = req
                .expires_at
                .map(|e| format!(", until {}", when(e)))
                .unwrap_or_default();
            let state = if req.status == Status::Active {
                "active"
            } else {
                "approved"
            };
            format!(":white_check_mark: {} {who}{until}", capitalize(state))
        }
        Status::Denied => format!(":no_entry: Denied by {by} {at}{why}"),
        Status::Cancelled => format!(":heavy_minus_sign: Cancelled by the requester {at}"),
        Status::Expired => format!(":hourglass: Expired {at}: nobody decided in time"),
        Status::Released => format!(":heavy_minus_sign: Released by the requester {at}"),
        Status::Revoked => format!(":octagonal_sign: Revoked by {by} {at}{why}"),
        Status::Ended => format!(":checkered_flag: Ended {at}"),
        Status::Failed => format!(":x: Failed {at}{why}"),
        other => format!("{} {at}", capitalize(other.as_str())),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Durations an approver may choose instead of the one asked for: the usual steps shorter
/// than it.
pub fn shorter(asked: GrantDuration) -> Vec<GrantDuration> {
    [
        900,
        1800,
        3600,
        2 * 3600,
        4 * 3600,
        8 * 3600,
        86_400,
        3 * 86_400,
    ]
    .into_iter()
    .filter(|s| *s < asked.as_secs())
    .filter_map(GrantDuration::from_secs)
    .collect()
}

/// The plain-text line a card's notification shows.
pub fn card_text(req: &Request) -> String {
    format!(
        "{} asks for {} for {} ({})",
        req.requester, req.bundle, req.duration, req.status
    )
}

/// The approval card for `req`, as it stands now: the facts an approver needs, where it
/// stands, and (while it is pending) Approve, Approve for less and Deny; for a flow that
/// wants approval in the portal, Approve opens the portal instead.
pub fn approval_card(req: &Request, catalog: &Catalog, portal: Option<&str>) -> Vec<Value> {
    let bundle = catalog.bundle(&req.bundle);
    let mut fields = vec![
        format!("*Requester*\n{}", escape(req.requester.as_str(), 120)),
        format!("*Bundle*\n{}", escape(req.bundle.as_str(), 80)),
        format!("*Duration*\n{}", req.duration),
        format!(
            "*Accounts*\n{}",
            req.accounts
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    if let Some(b) = bundle {
        fields.push(format!("*Risk*\n{}", b.risk));
    }
    if let Some(t) = &req.ticket {
        fields.push(format!("*Ticket*\n{}", escape(t, 80)));
    }
    let mut blocks = vec![
        section(format!(
            "*{}* asks for *{}* for {}{}",
            escape(req.requester.as_str(), 120),
            escape(req.bundle.as_str(), 80),
            req.duration,
            if req.plan.break_glass {
                " (break-glass)"
            } else {
                ""
            }
        )),
        json!({ "type": "section", "fields": fields.into_iter()
            .map(|f| json!({ "type": "mrkdwn", "text": f })).collect::<Vec<_>>() }),
        section(format!("*Reason*\n{}", escape(&req.reason, 500))),
    ];
    if let Some(b) = bundle {
        blocks.push(context(format!(
            "Grants {} · {}",
            escape(&grants(b), 300),
            escape(&b.description, 200)
        )));
    }
    blocks.push(context(format!(
        "Why approval: {} · Request {}",
        escape(&req.plan.basis, 300),
        req.id
    )));
    blocks.push(section(standing(req)));
    if req.status == Status::Pending {
        blocks.push(decision_buttons(req, portal));
    }
    blocks
}

fn decision_buttons(req: &Request, portal: Option<&str>) -> Value {
    let id = req.id.as_str();
    let page = portal.map(|p| format!("{}/requests/{id}", p.trim_end_matches('/')));
    let mut elements = Vec::new();
    if req.plan.approve_in_chat {
        elements.push(
            json!({ "type": "button", "action_id": "approve", "value": id,
            "style": "primary", "text": { "type": "plain_text", "text": "Approve" } }),
        );
        let options: Vec<Value> = shorter(req.duration)
            .into_iter()
            .map(|d| {
                json!({ "text": { "type": "plain_text", "text": format!("Approve for {d}") },
                             "value": format!("{id}|{d}") })
            })
            .collect();
        if !options.is_empty() {
            elements.push(json!({ "type": "static_select", "action_id": "approve_for",
                "placeholder": { "type": "plain_text", "text": "Approve for less…" },
                "options": options }));
        }
    } else if let Some(page) = &page {
        elements.push(json!({ "type": "button", "action_id": "open_portal", "url": page,
            "style": "primary", "text": { "type": "plain_text", "text": "Approve in the portal" } }));
    }
    elements.push(
        json!({ "type": "button", "action_id": "deny", "value": id, "style": "danger",
        "text": { "type": "plain_text", "text": "Deny" } }),
    );
    let mut block = json!({ "type": "actions", "block_id": "decide", "elements": elements });
    if !req.plan.approve_in_chat && page.is_none() {
        // No portal to send approvers to: the signed links in their email are the way.
        block = json!({ "type": "actions", "block_id": "decide", "elements": [elements.last()] });
    }
    block
}

/// How much one click of a warning's Extend button adds.
pub const EXTEND_BY: &str = "1h";

/// A message to the requester: what happened, and for a live grant a Release button; with
/// `extend`, the grant ends soon and an Extend button adds that much to it (the button names
/// the expiry it extends, so a second click after the first has landed does nothing).
pub fn requester_message(req: &Request, line: &str, extend: Option<GrantDuration>) -> Vec<Value> {
    let mut blocks = vec![
        section(escape(line, 1500)),
        context(format!("{} · Request {}", standing(req), req.id)),
    ];
    if req.status == Status::Active {
        let mut buttons = Vec::new();
        if let (Some(by), Some(expiry)) = (extend, req.expires_at) {
            buttons.push(
                json!({ "type": "button", "action_id": "extend", "style": "primary",
                "value": format!("{}|{}|{}", req.id, by, expiry.timestamp()),
                "text": { "type": "plain_text", "text": format!("Extend by {by}") } }),
            );
        }
        buttons.push(
            json!({ "type": "button", "action_id": "release", "value": req.id.as_str(),
              "text": { "type": "plain_text", "text": "Release now" },
              "confirm": { "title": { "type": "plain_text", "text": "Release this access?" },
                           "text": { "type": "plain_text", "text": "It is taken away at once." },
                           "confirm": { "type": "plain_text", "text": "Release" },
                           "deny": { "type": "plain_text", "text": "Keep it" } } }),
        );
        blocks.push(json!({ "type": "actions", "block_id": "grant", "elements": buttons }));
    }
    blocks
}

/// The plain-text fallback of an access-denied prompt.
pub fn prompt_text(p: &Prompt) -> String {
    escape(
        &format!(
            "You were denied {} in account {}; a bundle allows it.",
            p.denied.action, p.denied.account
        ),
        300,
    )
}

/// An access-denied prompt: what was denied, and for each bundle that allows it what it
/// grants and who decides, with Request (asked at once with the offer's duration and the
/// prefilled reason; a flow that wants a ticket opens the signed form instead); and one
/// "I don't need it".
pub fn prompt_message(note: &PromptNote, catalog: &Catalog) -> Vec<Value> {
    let p = &note.prompt;
    let on = p
        .denied
        .resource
        .as_deref()
        .map(|r| format!(" on `{}`", escape(r, 300)))
        .unwrap_or_default();
    let mut blocks = vec![section(format!(
        ":no_entry: You were denied `{}`{on} in account {} at {}. You can ask for access:",
        escape(&p.denied.action, 200),
        p.denied.account,
        when(p.denied.at)
    ))];
    for (i, (offer, link)) in p.offers.iter().zip(&note.links).enumerate().take(5) {
        let what = catalog
            .bundle(&offer.bundle)
            .map(|b| escape(&b.description, 200))
            .unwrap_or_default();
        let decides = if offer.auto {
            "granted at once".to_string()
        } else if offer.self_approve {
            "your own approval counts".to_string()
        } else {
            format!("approved by {}", escape(&offer.approvers, 200))
        };
        let mut button = json!({ "type": "button", "action_id": format!("prompt_request_{i}"),
            "text": { "type": "plain_text", "text": format!("Request for {}", offer.duration) } });
        if offer.needs_ticket {
            // The form asks for the ticket.
            button["url"] = json!(link);
        } else {
            button["value"] = json!(token_of(link));
            button["style"] = json!("primary");
        }
        blocks.push(json!({ "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*{}*: {what}\n{decides}",
                escape(offer.bundle.as_str(), 80)) },
            "accessory": button }));
    }
    if let Some(first) = note.links.first() {
        blocks.push(
            json!({ "type": "actions", "block_id": "prompt", "elements": [
            { "type": "button", "action_id": "prompt_dismiss", "value": token_of(first),
              "text": { "type": "plain_text", "text": "I don't need it" } } ] }),
        );
    }
    blocks.push(context(format!(
        "Reason filled in: {} · answer by {}",
        escape(&p.reason(), 300),
        when(p.answer_by())
    )));
    blocks
}

/// The token of a signed prompt link (its last path segment).
pub fn token_of(link: &str) -> &str {
    link.rsplit('/').next().unwrap_or_default()
}

/// The break-glass announcement for the flow's channel.
pub fn break_glass(req: &Request) -> Vec<Value> {
    vec![
        section(format!(
            ":rotating_light: *Break-glass*: {} took *{}* for {} without approval. It must be reviewed afterwards.",
            escape(req.requester.as_str(), 120),
            escape(req.bundle.as_str(), 80),
            req.duration
        )),
        section(format!("*Reason*\n{}", escape(&req.reason, 500))),
        context(format!("Request {}", req.id)),
    ]
}

/// Callback id of the request modal.
pub const REQUEST_VIEW: &str = "jit_request";
/// Callback id of the deny modal.
pub const DENY_VIEW: &str = "jit_deny";

/// The request modal: a bundle picker searched as one types (external options: a static
/// select stops at 100), duration, reason, ticket and accounts; `preview` is what asking would
/// need, shown under the picker once a bundle is chosen.
pub fn request_modal(bundle: Option<&str>, preview: Option<&str>) -> Value {
    let mut picker = json!({ "type": "external_select", "action_id": "bundle",
        "min_query_length": 0,
        "placeholder": { "type": "plain_text", "text": "Search bundles" } });
    if let Some(b) = bundle {
        picker["initial_option"] =
            json!({ "text": { "type": "plain_text", "text": b }, "value": b });
    }
    let input = |id: &str, label: &str, element: Value, optional: bool| {
        json!({ "type": "input", "block_id": id, "optional": optional,
                "label": { "type": "plain_text", "text": label }, "element": element })
    };
    let text = |id: &str, multiline: bool, initial: Option<&str>| {
        let mut e = json!({ "type": "plain_text_input", "action_id": id, "multiline": multiline,
                            "max_length": 500 });
        if let Some(i) = initial {
            e["initial_value"] = json!(i);
        }
        e
    };
    let mut bundle_block = input("bundle", "Bundle", picker, false);
    bundle_block["dispatch_action"] = json!(true);
    let mut blocks = vec![bundle_block];
    blocks.push(context(match preview {
        Some(p) => escape(p, 1500),
        None => "Choose a bundle to see what approval it needs.".to_string(),
    }));
    blocks.push(input(
        "duration",
        "For how long (e.g. 1h, 4h, 1d)",
        text("duration", false, None),
        true,
    ));
    blocks.push(input("reason", "Reason", text("reason", true, None), false));
    blocks.push(input("ticket", "Ticket", text("ticket", false, None), true));
    blocks.push(input(
        "accounts",
        "Accounts (comma-separated; all of the bundle's when empty)",
        text("accounts", false, None),
        true,
    ));
    json!({ "type": "modal", "callback_id": REQUEST_VIEW,
            "title": { "type": "plain_text", "text": "Request access" },
            "submit": { "type": "plain_text", "text": "Request" },
            "close": { "type": "plain_text", "text": "Cancel" },
            "blocks": blocks })
}

/// The modal that asks an approver why they deny (`request` rides in private_metadata).
pub fn deny_modal(req: &Request) -> Value {
    json!({ "type": "modal", "callback_id": DENY_VIEW, "private_metadata": req.id.as_str(),
            "title": { "type": "plain_text", "text": "Deny the request" },
            "submit": { "type": "plain_text", "text": "Deny" },
            "close": { "type": "plain_text", "text": "Cancel" },
            "blocks": [
              section(format!("{} asks for *{}* for {}.", escape(req.requester.as_str(), 120),
                              escape(req.bundle.as_str(), 80), req.duration)),
              { "type": "input", "block_id": "message",
                "label": { "type": "plain_text", "text": "Why (the requester is told)" },
                "element": { "type": "plain_text_input", "action_id": "message",
                             "multiline": true, "max_length": 500 } } ] })
}

/// The options an external select shows for `query`: bundles whose name or description holds
/// it, deprecated ones left out, at most 100 (Slack's limit).
pub fn bundle_options(catalog: &Catalog, query: &str) -> Value {
    let q = query.trim().to_lowercase();
    let options: Vec<Value> = catalog
        .bundles
        .values()
        .filter(|b| b.deprecated.is_none())
        .filter(|b| {
            q.is_empty()
                || b.name.as_str().contains(&q)
                || b.description.to_lowercase().contains(&q)
        })
        .take(100)
        .map(|b| {
            let label: String = format!("{} ({})", b.name, b.risk)
                .chars()
                .take(75)
                .collect();
            let mut o = json!({ "text": { "type": "plain_text", "text": label },
                                "value": b.name.as_str() });
            if !b.description.is_empty() {
                let d: String = b.description.chars().take(75).collect();
                o["description"] = json!({ "type": "plain_text", "text": d });
            }
            o
        })
        .collect();
    json!({ "options": options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_cannot_mention_link_or_add_lines() {
        let s = escape("ok <!channel> <https://evil|click> & more\nFAKE: line", 500);
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('\n'),
            "{s}"
        );
        assert!(s.contains("&lt;!channel&gt;"), "{s}");
        assert!(s.contains("&amp; more"), "{s}");
        assert_eq!(escape("abcdef", 3), "abc…");
    }

    #[test]
    fn shorter_durations_are_below_the_one_asked() {
        let d = GrantDuration::parse("4h").unwrap();
        let s: Vec<String> = shorter(d).iter().map(|d| d.to_string()).collect();
        assert_eq!(s, ["15m", "30m", "1h", "2h"]);
    }
}
