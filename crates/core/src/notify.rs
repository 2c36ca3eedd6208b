//! The emails the product sends, as plain text and HTML. Links lead to a confirmation page:
//! nothing acts on a GET, because mail scanners open links.

use crate::lifecycle::Request;
use crate::ports::{Message, MessageKind};
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
    let mut text = format!("{intro}\n\n");
    let mut html = format!("<p>{}</p><table>", html_escape(intro));
    for (k, v) in rows {
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

/// Asks one approver to decide, with their own signed links.
pub fn approval_request(
    req: &Request,
    approver: &Email,
    decision_url: &str,
    tier: usize,
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
    let links = [
        ("Approve", format!("{decision_url}?action=approve")),
        ("Deny", format!("{decision_url}?action=deny")),
    ];
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
