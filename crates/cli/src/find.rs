//! Finding a bundle (`jit bundles`) and following a request until it is decided
//! (`jit request --wait`).

use std::io::Write;
use std::time::{Duration, Instant};

use jit_contract::{BundleView, CatalogView, RequestView};
use jit_core::lifecycle::Status;

use crate::remote::{exit, Client, Failure};

/// Whether `b` matches `needle` (lower case) by name, description, owner, service or action.
/// How wide `cell` shows: its characters, less any colour codes (`ESC [ … m`).
fn shown_width(cell: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in cell.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Rows as a table whose columns are as wide as their widest cell (as shown: colour codes
/// take no room).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| shown_width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(shown_width(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let pad = w.saturating_sub(shown_width(cell));
                out.push_str(&format!("{cell}{:pad$}  ", ""));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `jit bundles [SEARCH]`: the bundles the API offers, or those matching SEARCH.
pub fn bundles(c: &Client, search: Option<String>) -> Result<serde_json::Value, Failure> {
    // The API searches (in names, descriptions, owner teams, services and actions) and pages.
    let mut query = vec![("limit", "500".to_string())];
    if let Some(q) = search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        query.push(("q", q.to_string()));
    }
    let mut v: CatalogView = c.get_as("/v1/catalog", &query)?;
    let mut hits: Vec<BundleView> = std::mem::take(&mut v.bundles);
    while let Some(next) = v.next_cursor.take() {
        let mut more = query.clone();
        more.push(("cursor", next));
        v = c.get_as("/v1/catalog", &more)?;
        hits.append(&mut v.bundles);
    }
    if hits.is_empty() {
        return Err(Failure {
            code: exit::REFUSED,
            message: format!(
                "no bundle matches {:?}; `jit bundles` lists them all",
                search.unwrap_or_default()
            ),
        });
    }
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|b| {
            let grants: Vec<String> = b
                .statements
                .iter()
                .flat_map(|s| s.actions.iter().cloned())
                .collect();
            let mut description = b.description.clone();
            if b.deprecated {
                description = format!(
                    "(deprecated{}) {description}",
                    b.successor
                        .as_ref()
                        .map(|s| format!(": ask for {s}"))
                        .unwrap_or_default()
                );
            }
            let grants = if grants.is_empty() {
                format!("({} of a permission set)", b.strategy)
            } else {
                grants.join(" ")
            };
            vec![
                b.name.clone(),
                b.risk.as_str().to_string(),
                b.owner_team.clone(),
                grants,
                description,
            ]
        })
        .collect();
    let value = serde_json::json!({ "version": v.version, "bundles": hits });
    c.show(&value, |_| {
        table(&["NAME", "RISK", "OWNER", "GRANTS", "DESCRIPTION"], &rows)
    });
    Ok(value)
}

/// A wait such as `30s`, `15m` or `1h`.
pub fn wait_for(text: &str) -> Result<Duration, Failure> {
    let bad = || Failure {
        code: exit::USAGE,
        message: format!("--wait {text:?}: write how long to wait, such as 30s, 15m or 1h"),
    };
    let (n, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        _ => return Err(bad()),
    };
    if secs == 0 || secs > 24 * 3_600 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

/// Follows a pending request until it is decided or `limit` passes, with a status line on
/// the terminal; then the request as it is.
pub fn until_decided(
    c: &Client,
    mut r: RequestView,
    limit: Duration,
) -> Result<RequestView, Failure> {
    let started = Instant::now();
    // On a terminal, one status line rewritten in place; into a pipe or a log, a line each
    // time what it waits for changes (no control characters).
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut said = String::new();
    while r.status == Status::Pending {
        if started.elapsed() >= limit {
            if !c.json && live {
                eprintln!();
            }
            return Err(Failure {
                code: exit::FAILED,
                message: format!(
                    "{} is still pending after {}s; follow it with: jit status {}",
                    r.id,
                    limit.as_secs(),
                    r.id
                ),
            });
        }
        let waiting = r.approval.waiting_for.as_deref().unwrap_or("approval");
        if !c.json && live {
            eprint!(
                "\r\x1b[2Kpending {}s: waiting for {waiting}",
                started.elapsed().as_secs(),
            );
            let _ = std::io::stderr().flush();
        } else if !c.json && said != waiting {
            eprintln!("pending: waiting for {waiting}");
            said = waiting.to_string();
        }
        std::thread::sleep(Duration::from_secs(1));
        r = c.get_as(&format!("/v1/requests/{}", r.id), &[])?;
    }
    if !c.json && live {
        eprintln!("\r\x1b[2K{}: {}", r.id, r.status.as_str());
    } else if !c.json {
        eprintln!("{}: {}", r.id, r.status.as_str());
    }
    if matches!(
        r.status,
        Status::Denied | Status::Expired | Status::Cancelled
    ) {
        return Err(Failure {
            code: exit::REFUSED,
            message: format!(
                "{} was {}: {}",
                r.id,
                r.status.as_str(),
                r.status_reason.as_deref().unwrap_or("no reason given")
            ),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_colour_a_cell_has() {
        let t = table(
            &["ID", "STATUS", "BY"],
            &[
                vec!["r1".into(), "\x1b[32mactive\x1b[0m".into(), "carol".into()],
                vec!["r22".into(), "pending".into(), "dave".into()],
            ],
        );
        let plain: Vec<String> = t
            .lines()
            .map(|l| l.replace("\x1b[32m", "").replace("\x1b[0m", ""))
            .collect();
        assert_eq!(
            plain,
            [
                "ID   STATUS   BY",
                "r1   active   carol",
                "r22  pending  dave"
            ]
        );
    }
}
