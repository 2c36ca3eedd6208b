//! The small HTML pages behind decision links: a confirmation form (opening a link never
//! acts), the outcome, and clear pages for links that cannot be used.

use jit_core::lifecycle::{Request, Status};
use jit_core::link::LinkClaims;
use jit_core::notify::html_escape as esc;
use jit_core::prompt::{Offer, Prompt, PromptStatus};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}\
th{text-align:left;padding-right:1rem;vertical-align:top}textarea{width:100%}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:1rem}.approve{background:#1a7f37;color:#fff}.deny{background:#cf222e;color:#fff}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>{body}</body></html>",
        esc(title),
        esc(title)
    )
}

/// What a decision page shows beside the request: what the bundle grants, where the portal is,
/// and, after a refused form, the form as it was sent with why it was refused.
#[derive(Debug, Default)]
pub struct Extras<'a> {
    /// The bundle's statements: (actions, resources), each joined for reading.
    pub grants: Vec<(String, String)>,
    /// The portal's address, when there is one.
    pub portal: Option<&'a str>,
    /// Why the form was refused, with what it held: (reason, action, message, duration).
    pub refused: Option<(&'a str, &'a str, &'a str, &'a str)>,
}

/// The request, who else was asked, what it grants, and the form. `hint` is the button the
/// email link named. A link whose approver already decided says so and when.
pub fn confirm(r: &Request, claims: &LinkClaims, hint: Option<&str>, extras: &Extras) -> String {
    if let Some(v) = r.votes.iter().find(|v| v.approver == claims.approver) {
        let next = match r.status {
            Status::Pending => format!("It still waits for {}.", r.waiting_for()),
            other => format!("It is now {other}."),
        };
        return page(
            "Already decided",
            &format!(
                "<p>You approved this request at {}. {}</p>",
                v.at.format("%Y-%m-%d %H:%M UTC"),
                esc(&next)
            ),
        );
    }
    if r.status != Status::Pending {
        let by = r
            .status_by
            .as_deref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        return page(
            "Already decided",
            &format!(
                "<p>This request is {}{}. Nothing more to do.</p>",
                esc(r.status.as_str()),
                esc(&by)
            ),
        );
    }
    let others: Vec<String> = r
        .plan
        .approvers_at(claims.tier)
        .into_iter()
        .filter(|a| *a != claims.approver)
        .map(|a| a.to_string())
        .collect();
    let mut rows = vec![
        ("Requester", r.requester.to_string()),
        ("Bundle", r.bundle.to_string()),
        (
            "Accounts",
            r.accounts
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("Duration", r.duration.to_string()),
        ("Reason", r.reason.clone()),
        ("Why approval", r.plan.basis.clone()),
        ("Waiting for", r.waiting_for()),
        (
            "Also asked",
            if others.is_empty() {
                "nobody else".into()
            } else {
                others.join(", ")
            },
        ),
        (
            "Decide by",
            r.decision_deadline()
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
        ),
    ];
    if let Some(t) = &r.ticket {
        rows.insert(5, ("Ticket", t.clone()));
    }
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{}</td></tr>", esc(v)))
        .collect();
    let grants: String = extras
        .grants
        .iter()
        .map(|(actions, resources)| {
            format!(
                "<li><code>{}</code> on <code>{}</code></li>",
                esc(actions),
                esc(resources)
            )
        })
        .collect();
    let (hint, message, duration, problem) = match extras.refused {
        Some((why, action, message, duration)) => (
            Some(action),
            message,
            duration,
            format!("<p role=\"alert\"><b>Not sent:</b> {}</p>", esc(why)),
        ),
        None => (hint, "", "", String::new()),
    };
    let lead = match hint {
        Some("deny") => "You chose <b>deny</b>. Say why, then press Deny.",
        Some("approve") => "You chose <b>approve</b>. Add a note if you like, then press Approve.",
        _ => "Decide below.",
    };
    let portal = extras
        .portal
        .map(|p| {
            format!(
                "<p>Signed in to the portal? <a href=\"{}/approvals\">Decide there</a>, with everything else that waits for you.</p>",
                esc(p.trim_end_matches('/'))
            )
        })
        .unwrap_or_default();
    page(
        &format!("{} asks for {}", r.requester, r.bundle),
        &format!(
            "<p>Signed in as {} through your personal link.</p><table>{table}</table>\
             <h2>What it grants</h2><ul>{grants}</ul>{problem}<p>{lead}</p>\
             <form method=\"post\"><p><label>Message (required to deny)<br><textarea name=\"message\" rows=\"3\" maxlength=\"1000\">{}</textarea></label></p>\
             <p><label>Shorter duration (optional, e.g. 30m): <input name=\"duration\" size=\"8\" maxlength=\"16\" value=\"{}\"></label></p>\
             <p><button class=\"approve\" name=\"action\" value=\"approve\">Approve</button>\
             <button class=\"deny\" name=\"action\" value=\"deny\">Deny</button></p></form>{portal}",
            esc(claims.approver.as_str()),
            esc(message),
            esc(duration)
        ),
    )
}

/// What happened after a decision.
pub fn done(r: &Request) -> String {
    let what = match r.status {
        Status::Pending => format!(
            "Your approval is recorded. The request still waits for {}.",
            r.waiting_for()
        ),
        Status::Approved | Status::Active => {
            "Approved. The access is being granted; the requester is told.".to_string()
        }
        Status::Denied => "Denied. The requester is told why.".to_string(),
        other => format!("The request is now {other}."),
    };
    page("Thank you", &format!("<p>{}</p>", esc(&what)))
}

/// A link that cannot be used, with what to do.
pub fn problem(message: &str) -> String {
    page(
        "This link cannot be used",
        &format!("<p>{}</p>", esc(message)),
    )
}

/// What was denied and a request form prefilled with the reason and the offer's duration.
pub fn prompt_form(p: &Prompt, offer: &Offer) -> String {
    if p.status != PromptStatus::Prompted {
        return page(
            "Already answered",
            &format!(
                "<p>This prompt is {}{}. Nothing more to do.</p>",
                esc(p.status.as_str()),
                p.request_id
                    .as_ref()
                    .map(|id| format!(" (request {})", esc(id.as_str())))
                    .unwrap_or_default()
            ),
        );
    }
    let d = &p.denied;
    let how = if offer.auto {
        "granted at once".to_string()
    } else if offer.self_approve {
        "you are an approver of this bundle: your request is approved as you make it".to_string()
    } else {
        offer.approvers.clone()
    };
    let rows = [
        ("Denied", d.action.clone()),
        (
            "Resource",
            d.resource
                .clone()
                .unwrap_or_else(|| "(not named in the event)".into()),
        ),
        ("Account", d.account.to_string()),
        ("Bundle", offer.bundle.to_string()),
        ("Flow", offer.flow.to_string()),
        ("Approval", how),
    ];
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{}</td></tr>", esc(v)))
        .collect();
    let ticket = if offer.needs_ticket {
        "<p><label>Ticket (required by this flow): <input name=\"ticket\" size=\"16\" maxlength=\"64\" required></label></p>"
    } else {
        ""
    };
    page(
        &format!("Request {}?", offer.bundle),
        &format!(
            "<p>For {} through your personal link.</p><table>{table}</table>\
             <form method=\"post\"><p><label>Reason<br><textarea name=\"reason\" rows=\"3\" maxlength=\"1000\">{}</textarea></label></p>\
             <p><label>Duration: <input name=\"duration\" size=\"8\" maxlength=\"16\" value=\"{}\"></label></p>{ticket}\
             <p><button class=\"approve\" name=\"action\" value=\"request\">Request access</button>\
             <button name=\"action\" value=\"dismiss\">I do not need it</button></p></form>",
            esc(d.person.as_str()),
            esc(&p.reason()),
            esc(&offer.duration.to_string())
        ),
    )
}

/// What happened after a prompt was answered.
pub fn prompt_done(p: &Prompt, req: Option<&Request>) -> String {
    let what = match req {
        Some(r) => match r.status {
            Status::Approved | Status::Active => format!(
                "Request {} is approved; the access is being granted and you will get an email.",
                r.id
            ),
            Status::Pending => format!(
                "Request {} is waiting for {}. You will get an email when it is decided.",
                r.id,
                r.waiting_for()
            ),
            other => format!("Request {} is {other}.", r.id),
        },
        None => format!("Noted: prompt {} is {}.", p.id, p.status.as_str()),
    };
    page("Thank you", &format!("<p>{}</p>", esc(&what)))
}

/// A request from a prompt that was refused, with what to change; the link still works.
pub fn not_made(message: &str) -> String {
    page(
        "Request not made",
        &format!(
            "<p>{}</p><p>Go back, change the form and send it again.</p>",
            esc(message)
        ),
    )
}
