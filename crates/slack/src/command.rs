//! `/jit` as people type it: `/jit request BUNDLE [--for 4h] [--reason why…] [--ticket T]
//! [--account ID]…`, `/jit help`, or `/jit` alone for the request form.

use jit_core::policy::RequestInput;
use jit_core::types::{AccountId, BundleName, GrantDuration};

/// What a `/jit` command asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open the request modal.
    Form,
    /// Say how to use the command.
    Help,
    /// Ask for a bundle now.
    Request(RequestInput),
}

/// How the command is used, for `/jit help` and every mistake.
pub const USAGE: &str = "Use `/jit` to open the request form, or `/jit request BUNDLE --for 4h --reason \"why you need it\" [--ticket OPS-1] [--account 111111111111]`.";

/// Parses a `/jit` command's text; the error says what was wrong and how to write it.
pub fn parse(text: &str) -> Result<Command, String> {
    let words = split(text)?;
    let Some((first, rest)) = words.split_first() else {
        return Ok(Command::Form);
    };
    match first.as_str() {
        "help" | "-h" | "--help" => Ok(Command::Help),
        "request" if rest.is_empty() => Ok(Command::Form),
        "request" => request(rest).map(Command::Request),
        other => Err(format!("`{}` is not a /jit command. {USAGE}", clip(other))),
    }
}

fn clip(s: &str) -> String {
    crate::blocks::escape(s, 40)
}

fn request(words: &[String]) -> Result<RequestInput, String> {
    let mut input = RequestInput::default();
    let bundle = &words[0];
    if bundle.starts_with("--") {
        return Err(format!("name the bundle first. {USAGE}"));
    }
    input.bundle = Some(BundleName::parse(bundle).map_err(|e| format!("{e}. {USAGE}"))?);
    let mut i = 1;
    while i < words.len() {
        let flag = words[i].as_str();
        // A flag's value runs to the next flag (a reason may be several words).
        let mut j = i + 1;
        while j < words.len() && !words[j].starts_with("--") {
            j += 1;
        }
        let value = words[i + 1..j].join(" ");
        if value.is_empty() {
            return Err(format!("`{}` needs a value. {USAGE}", clip(flag)));
        }
        match flag {
            "--for" | "--duration" => {
                input.duration =
                    Some(GrantDuration::parse(&value).map_err(|e| format!("--for: {e}"))?)
            }
            "--reason" => input.reason = Some(value),
            "--ticket" => input.ticket = Some(value),
            "--account" | "--accounts" => {
                let list = input.accounts.get_or_insert_with(Vec::new);
                for a in value.split([',', ' ']).filter(|a| !a.is_empty()) {
                    list.push(AccountId::parse(a).map_err(|e| format!("--account: {e}"))?);
                }
            }
            other => return Err(format!("`{}` is not an option. {USAGE}", clip(other))),
        }
        i = j;
    }
    Ok(input)
}

/// Splits on white space, keeping "double" or 'single' quoted words (Slack sends curly quotes
/// from some keyboards: those count too) together.
fn split(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q || (q == '“' && c == '”') || (q == '‘' && c == '’') => {
                quote = None
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'' | '“' | '‘') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("a quote is not closed. {USAGE}"));
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_quoted_and_unquoted_reasons() {
        let Command::Request(i) = parse(
            "request api-logs-read --for 4h --reason \"debug OPS-1\" --ticket OPS-1 --account 111111111111",
        )
        .unwrap() else {
            panic!("not a request")
        };
        assert_eq!(i.bundle.unwrap().as_str(), "api-logs-read");
        assert_eq!(i.duration.unwrap().to_string(), "4h");
        assert_eq!(i.reason.as_deref(), Some("debug OPS-1"));
        assert_eq!(i.ticket.as_deref(), Some("OPS-1"));
        assert_eq!(i.accounts.unwrap().len(), 1);
        let Command::Request(i) = parse("request x --reason looking at the logs --for 1h").unwrap()
        else {
            panic!("not a request")
        };
        assert_eq!(i.reason.as_deref(), Some("looking at the logs"));
        assert_eq!(parse("").unwrap(), Command::Form);
        assert_eq!(parse("  request ").unwrap(), Command::Form);
        assert_eq!(parse("help").unwrap(), Command::Help);
    }

    #[test]
    fn mistakes_say_what_was_wrong_and_how_to_write_it() {
        for (text, says) in [
            ("grant x", "is not a /jit command"),
            ("request Bad_Name", "bundle name"),
            ("request x --for ever", "--for"),
            ("request x --reason", "needs a value"),
            ("request x --colour red", "is not an option"),
            ("request x --reason \"open", "quote is not closed"),
            ("request x --account 12", "--account"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(parse("<!channel>")
            .unwrap_err()
            .contains("&lt;!channel&gt;"));
    }
}
