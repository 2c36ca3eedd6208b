//! The syntax of every text field the API takes, as the regular expressions the OpenAPI
//! document publishes. The router checks input against these same expressions, so "does it
//! match the document" and "is it accepted as well formed" are one question: a value that does
//! not match is a 400; a value that matches but is refused by the rules (too long a duration, a
//! bundle that does not exist, a flow that wants a ticket) is a 422, 403 or 404.
//!
//! The schema attributes in this crate repeat these strings as literals (the derive macros take
//! literals); a test holds each published pattern to its constant here.

use std::sync::LazyLock;

use regex::Regex;

/// A bundle's or flow's name.
pub const SLUG: &str = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$";
/// A request id (also a prompt id).
pub const REQUEST_ID: &str = r"^[a-z0-9]{8,40}$";
/// A 12-digit AWS account id.
pub const ACCOUNT: &str = r"^[0-9]{12}$";
/// An email address, lowercase, at most 254 characters.
pub const EMAIL: &str = r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$";
/// Longest email address.
pub const EMAIL_MAX: usize = 254;
/// A duration: `30m`, `4h`, `1d12h`, `2w` (units in this order, each once), or ISO-8601
/// `PT4H`, `P1DT2H`. Whether it is in range (a minute to 366 days) is a rule, not syntax.
pub const DURATION: &str = r"^(?:(?:[0-9]{1,6}w)?(?:[0-9]{1,6}d)?(?:[0-9]{1,6}h)?(?:[0-9]{1,6}m)?(?:[0-9]{1,6}s)?|[Pp](?:[0-9]{1,6}[Ww])?(?:[0-9]{1,6}[Dd])?(?:[Tt](?:[0-9]{1,6}[Hh])?(?:[0-9]{1,6}[Mm])?(?:[0-9]{1,6}[Ss])?)?)$";
/// A signed link's token: two base64url parts.
pub const TOKEN: &str = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$";
/// Longest link token.
pub const TOKEN_MAX: usize = 1_024;
/// Free text on one line: no C0/C1 control (line breaks, tab, NUL, escape), no line or
/// paragraph separator, no bidirectional formatting character (`jit_core::text`), so that
/// nothing typed can forge a line of an email, a chat message or a log record.
pub const PLAIN_TEXT: &str =
    r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*$";
/// [`PLAIN_TEXT`] that says something: at least one character that is not white space.
pub const SOME_PLAIN_TEXT: &str = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*[^\s\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069][^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*$";

fn compiled(pattern: &'static str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

static SLUG_RE: LazyLock<Regex> = LazyLock::new(|| compiled(SLUG));
static REQUEST_ID_RE: LazyLock<Regex> = LazyLock::new(|| compiled(REQUEST_ID));
static ACCOUNT_RE: LazyLock<Regex> = LazyLock::new(|| compiled(ACCOUNT));
static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| compiled(EMAIL));
static DURATION_RE: LazyLock<Regex> = LazyLock::new(|| compiled(DURATION));
static TOKEN_RE: LazyLock<Regex> = LazyLock::new(|| compiled(TOKEN));
static PLAIN_TEXT_RE: LazyLock<Regex> = LazyLock::new(|| compiled(PLAIN_TEXT));
static SOME_PLAIN_TEXT_RE: LazyLock<Regex> = LazyLock::new(|| compiled(SOME_PLAIN_TEXT));

/// The kinds of text field, each with its published syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// [`SLUG`].
    Slug,
    /// [`REQUEST_ID`].
    RequestId,
    /// [`ACCOUNT`].
    Account,
    /// [`EMAIL`], at most [`EMAIL_MAX`].
    Email,
    /// [`DURATION`], not empty.
    Duration,
    /// [`DURATION`] or empty (a form's "none").
    FormDuration,
    /// [`TOKEN`], at most [`TOKEN_MAX`].
    Token,
    /// [`PLAIN_TEXT`], at most `max` characters.
    PlainText {
        /// Longest, in characters.
        max: usize,
    },
    /// [`SOME_PLAIN_TEXT`], at most `max` characters.
    SomePlainText {
        /// Longest, in characters.
        max: usize,
    },
}

impl Syntax {
    /// Whether `value` is well formed by the published schema.
    pub fn matches(self, value: &str) -> bool {
        match self {
            Syntax::Slug => SLUG_RE.is_match(value),
            Syntax::RequestId => REQUEST_ID_RE.is_match(value),
            Syntax::Account => ACCOUNT_RE.is_match(value),
            Syntax::Email => value.chars().count() <= EMAIL_MAX && EMAIL_RE.is_match(value),
            Syntax::Duration => !value.is_empty() && DURATION_RE.is_match(value),
            Syntax::FormDuration => DURATION_RE.is_match(value),
            Syntax::Token => value.len() <= TOKEN_MAX && TOKEN_RE.is_match(value),
            Syntax::PlainText { max } => {
                value.chars().count() <= max && PLAIN_TEXT_RE.is_match(value)
            }
            Syntax::SomePlainText { max } => {
                value.chars().count() <= max && SOME_PLAIN_TEXT_RE.is_match(value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_accept_what_the_core_accepts_and_say_no_to_the_rest() {
        use jit_core::types::{BundleName, Email, GrantDuration, RequestId};
        for ok in ["api-logs-read", "a", "x1"] {
            assert!(
                Syntax::Slug.matches(ok) && BundleName::parse(ok).is_ok(),
                "{ok}"
            );
        }
        for bad in ["", "-a", "A", "a_b", "a-"] {
            assert!(
                !Syntax::Slug.matches(bad) && BundleName::parse(bad).is_err(),
                "{bad}"
            );
        }
        assert!(Syntax::RequestId.matches("0123456789abcdef"));
        assert!(RequestId::parse("0123456789abcdef").is_ok());
        assert!(!Syntax::RequestId.matches("0123456"));
        assert!(Syntax::Email.matches("alice@example.com"));
        assert!(Email::parse("alice@example.com").is_ok());
        // The core folds case and trims; the contract takes the canonical form only.
        assert!(!Syntax::Email.matches("Alice@example.com"));
        assert!(!Syntax::Email.matches(" alice@example.com"));
        for ok in ["4h", "1d12h", "2w", "30m", "PT4H", "P1DT2H", "p1d"] {
            assert!(Syntax::Duration.matches(ok), "{ok}");
            assert!(GrantDuration::parse(ok).is_ok(), "{ok}");
        }
        // Well formed but out of range: the syntax takes them, the rules refuse them (422).
        for range in ["0m", "999999w", "P", "30s"] {
            assert!(Syntax::Duration.matches(range), "{range}");
            assert!(GrantDuration::parse(range).is_err(), "{range}");
        }
        for bad in ["", " 4h", "4 h", "h4", "4x", "4h1d"] {
            assert!(!Syntax::Duration.matches(bad), "{bad}");
        }
        assert!(Syntax::SomePlainText { max: 5 }.matches(" x "));
        assert!(!Syntax::SomePlainText { max: 5 }.matches("   "));
        assert!(!Syntax::SomePlainText { max: 2 }.matches("abc"));
        assert!(Syntax::PlainText { max: 9 }.matches(""));
        // The published pattern refuses exactly what the core calls forbidden.
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(
                Syntax::PlainText { max: 9 }.matches(&text),
                !jit_core::text::is_forbidden(c),
                "U+{:04X}",
                c as u32
            );
        }
    }
}
