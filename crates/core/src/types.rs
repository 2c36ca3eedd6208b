//! Validated values. Every string that matters is parsed once, at the edge, into one of these;
//! once constructed it is valid, and the rest of the core never checks it again.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that failed validation: what it was, what kind of value it should have been, and how
/// to write a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {hint}")]
pub struct InvalidValue {
    /// The kind of value, e.g. "bundle name".
    pub kind: &'static str,
    /// The rejected input (truncated to 80 characters so a huge input cannot flood a log).
    pub value: String,
    /// What a valid value looks like.
    pub hint: String,
}

impl InvalidValue {
    fn new(kind: &'static str, value: &str, hint: impl Into<String>) -> Self {
        let value = if value.chars().count() > 80 {
            format!("{}…", value.chars().take(80).collect::<String>())
        } else {
            value.to_string()
        };
        Self {
            kind,
            value,
            hint: hint.into(),
        }
    }
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

/// Declares a string newtype validated by `$check`, with serde, Display and FromStr that all go
/// through the same check.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn parse(value: &str) -> Result<Self, InvalidValue> {
                let check: fn(&str) -> Result<String, String> = $check;
                check(value).map(Self).map_err(|hint| InvalidValue::new($kind, value, hint))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

static SLUG: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"));
static GROUP: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,127}$"));
static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]{12}$"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$",
    )
});
static ACTION: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-z0-9-]{2,40}:[A-Za-z0-9*?]{1,128}$"));
static ARN: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^arn:(aws|aws-cn|aws-us-gov):[a-z0-9-]+:[a-z0-9-*]*:([0-9]{12}|\*|aws)?:[^\s]+$")
});
static PERMISSION_SET: LazyLock<Regex> = LazyLock::new(|| {
    // AWS's documented pattern for permission set ARNs.
    regex(
        r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):sso:::permissionSet/(sso)?ins-[a-zA-Z0-9.-]{16}/ps-[a-zA-Z0-9./-]{16}$",
    )
});
static REQUEST_ID: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-z0-9]{8,40}$"));

validated_string!(
    /// A bundle's name: lowercase letters, digits and '-', 1 to 64 characters.
    BundleName,
    "bundle name",
    |v| if SLUG.is_match(v) { Ok(v.to_string()) } else {
        Err("use 1-64 lowercase letters, digits and '-', starting and ending with a letter or digit".into())
    }
);

static CHAT_CHANNEL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{8,20})$"));

validated_string!(
    /// A chat channel a flow's cards and announcements go to: a Slack channel id (`C0123ABCD`)
    /// or a name with its `#` (`#data-approvals`).
    ChatChannel,
    "chat channel",
    |v| if CHAT_CHANNEL.is_match(v) { Ok(v.to_string()) } else {
        Err("use a channel id such as C0123ABCD, or a name such as #data-approvals (lowercase letters, digits, '-' and '_', at most 80)".into())
    }
);

validated_string!(
    /// An access flow's name: the same rules as a bundle name.
    FlowName,
    "flow name",
    |v| if SLUG.is_match(v) { Ok(v.to_string()) } else {
        Err("use 1-64 lowercase letters, digits and '-', starting and ending with a letter or digit".into())
    }
);

validated_string!(
    /// An Identity Store group's display name.
    GroupName,
    "group name",
    |v| if GROUP.is_match(v) { Ok(v.to_string()) } else {
        Err("use 1-128 letters, digits, spaces and . _ @ + -, starting with a letter or digit".into())
    }
);

validated_string!(
    /// A 12-digit AWS account id.
    AccountId,
    "AWS account id",
    |v| if ACCOUNT.is_match(v) { Ok(v.to_string()) } else {
        Err("an account id is exactly 12 digits, e.g. \"111111111111\" (quote it in TOML)".into())
    }
);

validated_string!(
    /// A person's email address, stored lowercased so that lookups are case-insensitive.
    Email,
    "email address",
    |v| {
        let lower = v.trim().to_ascii_lowercase();
        if lower.len() <= 254 && EMAIL.is_match(&lower) { Ok(lower) } else {
            Err("expected name@example.com (at most 254 characters)".into())
        }
    }
);

validated_string!(
    /// An IAM action such as `s3:GetObject`; wildcards `*` and `?` are allowed in the action part.
    IamAction,
    "IAM action",
    |v| if v == "*" || ACTION.is_match(v) { Ok(v.to_string()) } else {
        Err("expected service:Action, e.g. \"s3:GetObject\" or \"s3:List*\"".into())
    }
);

validated_string!(
    /// A resource ARN (wildcards allowed) or `*`.
    ResourceArn,
    "resource ARN",
    |v| if v == "*" || (v.len() <= 2048 && ARN.is_match(v)) { Ok(v.to_string()) } else {
        Err("expected arn:aws:service:region:account:resource (wildcards allowed) or \"*\"".into())
    }
);

validated_string!(
    /// The ARN of an Identity Center permission set.
    PermissionSetArn,
    "permission set ARN",
    |v| if PERMISSION_SET.is_match(v) { Ok(v.to_string()) } else {
        Err("expected arn:aws:sso:::permissionSet/ssoins-<16 characters>/ps-<16 characters>".into())
    }
);

validated_string!(
    /// A request's id, which is also its grant's id: 8-40 lowercase letters and digits, so that
    /// it can be embedded in an IAM statement Sid and a schedule name as it is.
    RequestId,
    "request id",
    |v| if REQUEST_ID.is_match(v) { Ok(v.to_string()) } else {
        Err("a request id is 8-40 lowercase letters and digits".into())
    }
);

impl RequestId {
    /// A new id that sorts by creation time: 12 hex digits of milliseconds since the epoch, then
    /// 8 random hex digits.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let millis = now.timestamp_millis().max(0) as u64;
        let random: u32 = rand::random();
        Self(format!("{millis:012x}{random:08x}"))
    }
}

/// How sensitive a bundle is; one axis of the risk matrix.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Read-only or sandboxed access.
    Low,
    /// Writes that are easy to undo.
    Medium,
    /// Production data or writes that are hard to undo.
    High,
    /// Access that can change access, or destroy data at scale.
    Critical,
}

impl Risk {
    /// Every level, lowest first.
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    /// The lowercase name used in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Risk {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Risk::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                InvalidValue::new("risk level", s, "use one of low, medium, high, critical")
            })
    }
}

/// A positive length of time, at most [`GrantDuration::MAX_DAYS`] days, written as `30m`, `4h`,
/// `7d`, `2w`, a combination such as `1d12h`, or ISO-8601 such as `PT4H` or `P1DT2H`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantDuration(i64);

impl GrantDuration {
    /// The longest duration anything in the product accepts.
    pub const MAX_DAYS: i64 = 366;
    const HINT: &'static str =
        "write a positive duration such as 30m, 4h, 7d, 2w or 1d12h (or ISO-8601 PT4H), at most 366d";

    /// A duration of whole minutes; minutes must be positive.
    pub fn minutes(minutes: i64) -> Self {
        assert!(minutes > 0, "a duration is positive");
        Self(minutes * 60)
    }

    /// A duration of whole hours.
    pub fn hours(hours: i64) -> Self {
        Self::minutes(hours * 60)
    }

    /// A duration of whole days.
    pub fn days(days: i64) -> Self {
        Self::hours(days * 24)
    }

    /// A duration of `secs` seconds, if it is at least a minute and at most the maximum.
    pub fn from_secs(secs: i64) -> Option<Self> {
        (60..=Self::MAX_DAYS * 86_400)
            .contains(&secs)
            .then_some(Self(secs))
    }

    /// Parses the short or ISO-8601 form.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let err = || InvalidValue::new("duration", text, Self::HINT);
        let t = text.trim();
        let seconds = if let Some(iso) = t.strip_prefix('P').or_else(|| t.strip_prefix('p')) {
            parse_iso(iso).ok_or_else(err)?
        } else {
            parse_units(
                t,
                &[
                    ('w', 604_800),
                    ('d', 86_400),
                    ('h', 3_600),
                    ('m', 60),
                    ('s', 1),
                ],
            )
            .ok_or_else(err)?
        };
        Self::from_secs(seconds).ok_or_else(err)
    }

    /// The length as a chrono duration.
    pub fn as_chrono(self) -> Duration {
        Duration::seconds(self.0)
    }

    /// The length in seconds.
    pub fn as_secs(self) -> i64 {
        self.0
    }
}

/// `4h`, `1d12h`, `90m` → seconds; units must be in the order given, each at most once.
fn parse_units(text: &str, units: &[(char, i64)]) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut rest = text;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 || digits > 6 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let pos = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        total = total.checked_add(n.checked_mul(units[pos].1)?)?;
        next_unit = pos + 1;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(total)
}

/// The part after `P` of an ISO-8601 duration: `[nW][nD][T[nH][nM][nS]]`.
fn parse_iso(iso: &str) -> Option<i64> {
    let upper = iso.to_ascii_uppercase();
    let (date, time) = match upper.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d.to_string(), Some(t.to_string())),
        Some(_) => return None,
        None => (upper.clone(), None),
    };
    let mut total = 0;
    if !date.is_empty() {
        total += parse_units(&date, &[('W', 604_800), ('D', 86_400)])?;
    }
    if let Some(time) = time {
        total += parse_units(&time, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    (total > 0).then_some(total)
}

impl fmt::Display for GrantDuration {
    /// The shortest short form: `4h`, `1d12h`, `90s` is never produced (minimum is a minute).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut out = String::new();
        for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= secs {
                out.push_str(&format!("{}{unit}", rest / secs));
                rest %= secs;
            }
        }
        f.write_str(&out)
    }
}

impl FromStr for GrantDuration {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for GrantDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GrantDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_short_and_iso_forms() {
        for (text, secs) in [
            ("30m", 1_800),
            ("4h", 14_400),
            ("7d", 604_800),
            ("2w", 1_209_600),
            ("1d12h", 129_600),
            ("PT4H", 14_400),
            ("P1DT2H", 93_600),
            ("pt30m", 1_800),
            ("P1W", 604_800),
        ] {
            assert_eq!(
                GrantDuration::parse(text).unwrap().as_secs(),
                secs,
                "{text}"
            );
        }
    }

    #[test]
    fn durations_reject_nonsense_zero_and_too_long() {
        for text in [
            "", "4", "h", "0m", "30s", "4x", "1h1d", "4h4h", "PT", "P", "367d", "-4h", "4 h",
            "9999999h",
        ] {
            let err = GrantDuration::parse(text).unwrap_err();
            assert!(err.to_string().contains("30m, 4h"), "{text}: {err}");
        }
    }

    #[test]
    fn durations_print_in_their_shortest_form() {
        assert_eq!(GrantDuration::parse("PT36H").unwrap().to_string(), "1d12h");
        assert_eq!(GrantDuration::parse("90m").unwrap().to_string(), "1h30m");
        assert_eq!(GrantDuration::parse("7d").unwrap().to_string(), "7d");
    }

    #[test]
    fn names_accounts_and_emails_are_checked() {
        assert!(BundleName::parse("api-production").is_ok());
        assert!(BundleName::parse("Api").is_err());
        assert!(BundleName::parse("-api").is_err());
        assert!(AccountId::parse("111111111111").is_ok());
        assert!(AccountId::parse("11111111111").is_err());
        assert_eq!(
            Email::parse(" Alice@Example.COM").unwrap().as_str(),
            "alice@example.com"
        );
        assert!(Email::parse("alice").is_err());
        assert!(Email::parse("alice@localhost").is_err());
        assert!(GroupName::parse("data-dbas").is_ok());
        assert!(GroupName::parse("").is_err());
    }

    #[test]
    fn actions_and_arns_are_checked() {
        assert!(IamAction::parse("s3:GetObject").is_ok());
        assert!(IamAction::parse("s3:List*").is_ok());
        assert!(IamAction::parse("GetObject").is_err());
        assert!(ResourceArn::parse("arn:aws:s3:::bucket/uploads/*").is_ok());
        assert!(ResourceArn::parse("arn:aws:rds:eu-west-1:111111111111:db:prod").is_ok());
        assert!(ResourceArn::parse("*").is_ok());
        assert!(ResourceArn::parse("bucket").is_err());
        assert!(PermissionSetArn::parse(
            "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef"
        )
        .is_ok());
        assert!(PermissionSetArn::parse(
            "arn:aws:sso:::permissionSet/ins-abcdefghijklmnop/ps-abcdefghijklmnop"
        )
        .is_ok());
        assert!(PermissionSetArn::parse("arn:aws:sso:::permissionSet/x").is_err());
    }

    #[test]
    fn request_ids_sort_by_time_and_validate() {
        let a = RequestId::generate(DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let b = RequestId::generate(DateTime::from_timestamp(1_700_000_001, 0).unwrap());
        assert!(a < b);
        assert!(RequestId::parse(a.as_str()).is_ok());
        assert!(RequestId::parse("ABC").is_err());
    }

    #[test]
    fn errors_say_what_was_wrong_and_truncate_huge_input() {
        let err = BundleName::parse(&"X".repeat(500)).unwrap_err();
        assert_eq!(err.kind, "bundle name");
        assert!(err.value.chars().count() <= 81);
        assert!(err.to_string().contains("lowercase"));
    }
}
