//! Patterned text fields. Each is a string on the wire whose schema is built from the constant
//! in [`crate::patterns`] that the router checks it against, so the document and the check
//! cannot drift. Deserializing never fails on the text itself: the router checks it with
//! [`Field::check`] and says which field was wrong and how to write it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use jit_core::types::InvalidValue;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::patterns::{self, Syntax};

/// Why a field was refused: it does not match the published syntax (400), or it does but the
/// value is out of range (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// Not well formed: what the schema says.
    Malformed(String),
    /// Well formed but refused.
    OutOfRange(String),
}

/// A text field with a published syntax.
pub trait Field {
    /// The text as sent.
    fn text(&self) -> &str;
    /// Its syntax.
    const SYNTAX: Syntax;

    /// Checks the syntax, then parses into the core type.
    fn check<T: FromStr<Err = InvalidValue>>(&self) -> Result<T, FieldError> {
        let text = self.text();
        let parsed = text.parse::<T>();
        if !Self::SYNTAX.matches(text) {
            return Err(FieldError::Malformed(match parsed {
                Err(e) => e.to_string(),
                Ok(_) => format!("{text:?} is not in the canonical form the API takes"),
            }));
        }
        parsed.map_err(|e| FieldError::OutOfRange(e.to_string()))
    }
}

macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, $schema_name:literal, $syntax:expr, $describe:literal, $example:literal, |$b:ident| $build:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps text as it will be sent.
            pub fn new(text: impl Into<String>) -> Self {
                Self(text.into())
            }
        }

        impl Field for $name {
            fn text(&self) -> &str {
                &self.0
            }
            const SYNTAX: Syntax = $syntax;
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let $b = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($describe))
                    .examples([serde_json::json!($example)]);
                $build.into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($schema_name)
            }
        }
    };
}

text_field!(
    /// A bundle's or a flow's name.
    Name, "Name", Syntax::Slug,
    "1-64 lowercase letters, digits and '-', starting and ending with a letter or digit",
    "api-logs-read",
    |b| b.pattern(Some(patterns::SLUG))
);

text_field!(
    /// A request's (or prompt's) id.
    Id, "RequestId", Syntax::RequestId,
    "8-40 lowercase letters and digits",
    "0194d3a1b2c3deadbeef",
    |b| b.pattern(Some(patterns::REQUEST_ID))
);

text_field!(
    /// An AWS account id.
    Account, "AccountId", Syntax::Account,
    "exactly 12 digits",
    "111111111111",
    |b| b.pattern(Some(patterns::ACCOUNT))
);

text_field!(
    /// A person's email address, lowercase.
    EmailText, "Email", Syntax::Email,
    "an email address in lowercase, as the directory knows the person",
    "alice@example.com",
    |b| b.pattern(Some(patterns::EMAIL)).max_length(Some(patterns::EMAIL_MAX))
);

text_field!(
    /// A length of time.
    DurationText, "Duration", Syntax::Duration,
    "30m, 4h, 7d, 2w or a combination in that order such as 1d12h, or ISO-8601 such as PT4H; from a minute to 366 days (a value out of range is refused with 422)",
    "4h",
    |b| b.pattern(Some(patterns::DURATION)).min_length(Some(1))
);

text_field!(
    /// A length of time typed into a form: empty means none.
    FormDuration, "FormDuration", Syntax::FormDuration,
    "as Duration, or empty for none",
    "2h",
    |b| b.pattern(Some(patterns::DURATION))
);

text_field!(
    /// A signed link's token.
    Token, "LinkToken", Syntax::Token,
    "the token from an emailed decision or prompt link",
    "eyJ2IjoxfQ.c2lnbmF0dXJl",
    |b| b.pattern(Some(patterns::TOKEN)).max_length(Some(patterns::TOKEN_MAX))
);

text_field!(
    /// Free text: a reason or a message, on one line.
    Prose, "Prose", Syntax::PlainText { max: MAX_PROSE },
    "plain text on one line: no line break, control or text-direction character; at most 1000 characters",
    "debugging 5xx on the upload path",
    |b| b.pattern(Some(patterns::PLAIN_TEXT)).max_length(Some(MAX_PROSE))
);

text_field!(
    /// Free text that must say something: an extension's reason.
    Reason, "Reason", Syntax::SomePlainText { max: MAX_PROSE },
    "as Prose, and not only white space",
    "the migration runs another hour",
    |b| b.pattern(Some(patterns::SOME_PLAIN_TEXT)).max_length(Some(MAX_PROSE))
);

text_field!(
    /// A ticket reference, on one line (a flow may require a pattern of its own).
    TicketText, "Ticket", Syntax::PlainText { max: MAX_TICKET },
    "plain text on one line, at most 100 characters; a flow may require it to match its own pattern",
    "INC-7",
    |b| b.pattern(Some(patterns::PLAIN_TEXT)).max_length(Some(MAX_TICKET))
);

text_field!(
    /// Words to look for among the bundles.
    SearchText, "SearchText", Syntax::PlainText { max: MAX_SEARCH },
    "plain text on one line, at most 100 characters, matched in any case against a bundle's name, description, owner team, services and actions",
    "logs",
    |b| b.pattern(Some(patterns::PLAIN_TEXT)).max_length(Some(MAX_SEARCH))
);

/// Longest catalog search, in characters.
pub const MAX_SEARCH: usize = 100;
/// Longest reason or message, in characters.
pub const MAX_PROSE: usize = jit_core::policy::MAX_REASON_CHARS;
/// Longest ticket reference, in characters.
pub const MAX_TICKET: usize = jit_core::policy::MAX_TICKET_CHARS;
