//! The emails the product sends, as plain text and HTML. Links lead to a confirmation page:
//! nothing acts on a GET, because mail scanners open links.

use crate::lifecycle::Request;
use crate::ports::{Message, MessageKind};
use crate::prompt::Prompt;
use crate::types::Email;

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn facts(req: &Request) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Requester", req.requester.to_string()),
        ("Bundle", req.bundle.to_string()),
        (
            "Accounts",
            req.accounts
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("Duration", req.duration.to_string()),
        ("Reason", req.reason.clone()),
        ("Why approval", req.plan.basis.clone()),
    ];
    if let Some(t) = &req.ticket {
        rows.push(("Ticket", t.clone()));
    }
    rows
}

fn render(
    intro: &str,
    rows: &[(&'static str, String)],
    links: &[(&str, String)],
) -> (String, String) {
    let intro = &crate::text::one_line(intro);
    let mut text = format!("{intro}\n\n");
    let mut html = format!("<p>{}</p><table>", html_escape(intro));
    for (k, v) in rows {
        // Whatever a value holds, it stays on its own line: nothing typed can add one.
        let v = &crate::text::one_line(v);
        text.push_str(&format!("{k}: {v}\n"));
        html.push_str(&format!(
            "<tr><th align=\"left\">{k}</th><td>{}</td></tr>",
            html_escape(v)
        ));
    }
    html.push_str("</table>");
    if !links.is_empty() {
        text.push('\n');
        html.push_str("<p>");
        for (label, url) in links {
            text.push_str(&format!("{label}: {url}\n"));
            html.push_str(&format!(
                "<a href=\"{}\">{}</a> &nbsp; ",
                html_escape(url),
                html_escape(label)
            ));
        }
        html.push_str("</p>");
    }
    (text, html)
}

/// Asks one approver to decide, with their own signed links, and the portal's inbox where
/// there is a portal (`portal`: its address).
pub fn approval_request(
    req: &Request,
    approver: &Email,
    decision_url: &str,
    tier: usize,
    portal: Option<&str>,
) -> Message {
    let escalated = if tier > 0 {
        " (escalated: the first approvers did not answer)"
    } else {
        ""
    };
    let intro = format!(
        "{} asks for {} for {}{escalated}. The links open a page where you confirm; nothing happens until you press a button.",
        req.requester, req.bundle, req.duration
    );
    let mut links = vec![
        ("Approve", format!("{decision_url}?action=approve")),
        ("Deny", format!("{decision_url}?action=deny")),
    ];
    if let Some(portal) = portal {
        links.push((
            "Or decide in the portal",
            format!("{}/approvals", portal.trim_end_matches('/')),
        ));
    }
    let (text, html) = render(&intro, &facts(req), &links);
    Message {
        to: vec![approver.clone()],
        subject: format!(
            "Approve {} for {} ({})?",
            req.bundle, req.requester, req.duration
        ),
        text,
        html,
        kind: MessageKind::ApprovalRequest,
        request_id: req.id.clone(),
    }
}

/// Tells the requester what happened.
pub fn status_notice(req: &Request, headline: &str) -> Message {
    let mut rows = facts(req);
    rows.push(("Status", req.status.to_string()));
    if let Some(exp) = req.expires_at {
        rows.push(("Expires", exp.to_rfc3339()));
    }
    if let Some(why) = &req.status_reason {
        rows.push(("Details", why.clone()));
    }
    let (text, html) = render(headline, &rows, &[]);
    Message {
        to: vec![req.requester.clone()],
        subject: format!("{}: {} {}", req.bundle, req.status, short_id(req)),
        text,
        html,
        kind: MessageKind::StatusNotice,
        request_id: req.id.clone(),
    }
}

/// Tells the notify list of a break-glass grant.
pub fn break_glass(req: &Request, to: Vec<Email>) -> Message {
    let intro = format!(
        "BREAK-GLASS: {} took {} for {} without approval. It must be reviewed afterwards.",
        req.requester, req.bundle, req.duration
    );
    let (text, html) = render(&intro, &facts(req), &[]);
    Message {
        to,
        subject: format!("Break-glass: {} took {}", req.requester, req.bundle),
        text,
        html,
        kind: MessageKind::BreakGlass,
        request_id: req.id.clone(),
    }
}

fn short_id(req: &Request) -> String {
    format!("({})", req.id)
}

/// Offers a person the bundles that would allow what they were just denied, each with its own
/// signed link to a request form (`links` pairs each offer with its URL, in order).
pub fn access_prompt(prompt: &Prompt, links: &[String]) -> Message {
    let d = &prompt.denied;
    let mut rows = vec![
        ("Action", d.action.clone()),
        ("Account", d.account.to_string()),
        ("When", d.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
    ];
    if let Some(r) = &d.resource {
        rows.push(("Resource", r.clone()));
    }
    for o in &prompt.offers {
        let how = if o.auto {
            "granted at once".to_string()
        } else if o.self_approve {
            "you are an approver: your request is approved as you make it".to_string()
        } else {
            format!("approved by {}", o.approvers)
        };
        rows.push(("Bundle", format!("{} ({}, {how})", o.bundle, o.duration)));
    }
    let labels: Vec<String> = prompt
        .offers
        .iter()
        .map(|o| format!("Request {}", o.bundle))
        .collect();
    let pairs: Vec<(&str, String)> = labels
        .iter()
        .map(String::as_str)
        .zip(links.iter().cloned())
        .collect();
    let intro = format!(
        "AWS just denied you {}. {} would allow it; each link opens a request form with the \
         reason and duration filled in (it expires in 24 hours).",
        d.action,
        if prompt.offers.len() == 1 {
            "This bundle"
        } else {
            "These bundles"
        }
    );
    let (text, html) = render(&intro, &rows, &pairs);
    Message {
        to: vec![d.person.clone()],
        subject: format!("Access denied: {} — request it?", d.action),
        text,
        html,
        kind: MessageKind::AccessPrompt,
        request_id: prompt.id.clone(),
    }
}

/// Tells a person that what they were denied is on a service switched off in the catalog.
pub fn service_disabled(prompt: &Prompt, service: &str) -> Message {
    let d = &prompt.denied;
    let intro = format!(
        "AWS just denied you {}. The {service} service is disabled in the access catalog, so no \
         bundle can grant it; ask the platform team if you need it.",
        d.action
    );
    let rows = vec![
        ("Action", d.action.clone()),
        ("Account", d.account.to_string()),
    ];
    let (text, html) = render(&intro, &rows, &[]);
    Message {
        to: vec![d.person.clone()],
        subject: format!("Access denied: {service} is disabled"),
        text,
        html,
        kind: MessageKind::AccessPrompt,
        request_id: prompt.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
