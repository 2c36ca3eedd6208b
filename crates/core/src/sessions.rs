//! Ending the sessions an account assignment already issued.
//!
//! Deleting an account assignment stops new sign-ins through it, but the role sessions it issued
//! keep working for up to the permission set's session duration. So when a person's last grant
//! through a shared permission set ends in an account, that set's inline policy gets a deny of
//! every action for that person's sessions in that account issued before the end
//! (`identitystore:userId` with `aws:TokenIssueTime`, as AWS documents for revoking a user's
//! sessions). The deny itself lapses once the session duration has passed (`aws:CurrentTime`),
//! and the sweep then removes it. The set's own statements are never touched.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::plan::PolicyDocument;

/// Every session deny's Sid starts with this (a grant's Sid never does: see
/// [`crate::plan::grant_of_sid`]).
pub const SESSION_DENY_PREFIX: &str = "JitEnd";

/// The longest session a permission set can issue (Identity Center allows 1 to 12 hours): a
/// deny kept this long outlives every session it is there for.
pub const LONGEST_SESSION: Duration = Duration::hours(12);

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The Sid of the deny for `user` in `account`: one per person and account, so a later end
/// replaces an earlier one (a later issue time denies every session the earlier one did).
pub fn session_deny_sid(user: &str, account: &str) -> String {
    let digest = Sha256::digest(user.as_bytes());
    format!(
        "{SESSION_DENY_PREFIX}{}A{account}",
        hex::encode(&digest[..8])
    )
}

fn is_session_deny(s: &Value) -> bool {
    s.get("Sid")
        .and_then(Value::as_str)
        .is_some_and(|sid| sid.starts_with(SESSION_DENY_PREFIX))
}

/// Reads a permission set's session duration (ISO 8601, `PT8H`, `PT1H30M`); `None` when it
/// is not of that form.
pub fn parse_session_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix("PT")?;
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'H' => Duration::hours(n),
            'M' => Duration::minutes(n),
            'S' => Duration::seconds(n),
            _ => return None,
        };
    }
    (number.is_empty() && total > Duration::zero()).then_some(total)
}

impl PolicyDocument {
    /// With a deny of everything for `user`'s sessions in `account` issued before `before`,
    /// lasting until `until`; it replaces the person's earlier deny in that account, keeping
    /// the later of each time.
    pub fn with_session_deny(
        &self,
        user: &str,
        account: &str,
        before: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Self {
        let sid = session_deny_sid(user, account);
        let earlier = |key: &str| {
            self.statements
                .iter()
                .find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid.as_str()))
                .and_then(|s| {
                    s.pointer(&format!("/Condition/DateLessThan/{key}"))?
                        .as_str()
                })
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let before = earlier("aws:TokenIssueTime").map_or(before, |t| t.max(before));
        let until = earlier("aws:CurrentTime").map_or(until, |t| t.max(until));
        let mut next = self.clone();
        next.statements
            .retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid.as_str()));
        next.statements.push(json!({
            "Sid": sid,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "identitystore:userId": user,
                    "aws:PrincipalAccount": account,
                },
                "DateLessThan": {
                    "aws:TokenIssueTime": time(before),
                    "aws:CurrentTime": time(until),
                },
            },
        }));
        next
    }

    /// Without the session denies that have lapsed by `now` (every session they were there
    /// for has ended); the set's own statements and the denies still needed stay.
    pub fn without_lapsed_denies(&self, now: DateTime<Utc>) -> Self {
        let lapsed = |s: &Value| {
            s.pointer("/Condition/DateLessThan/aws:CurrentTime")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| t.with_timezone(&Utc) <= now)
        };
        let mut next = self.clone();
        next.statements
            .retain(|s| !(is_session_deny(s) && lapsed(s)));
        next
    }

    /// The accounts the session denies here are pinned to (one deny per person and account,
    /// so a person's deny lapsing in an account leaves others there: the caller compares).
    pub fn session_deny_accounts(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .filter(|s| is_session_deny(s))
            .filter_map(|s| {
                s.pointer("/Condition/StringEquals/aws:PrincipalAccount")?
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }

    /// The Sids of the session denies here.
    pub fn session_denies(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .filter(|s| is_session_deny(s))
            .filter_map(|s| s.get("Sid")?.as_str().map(str::to_string))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn a_deny_is_merged_beside_the_sets_own_statements_and_lapses() {
        let mut own = PolicyDocument::default();
        own.statements
            .push(json!({"Sid": "ReadOnly", "Effect": "Allow",
            "Action": "s3:GetObject", "Resource": "*"}));
        let one = own.with_session_deny("u-1", "111111111111", at(0), at(8));
        let two = one.with_session_deny("u-2", "111111111111", at(1), at(9));
        assert_eq!(
            two.statements[0], own.statements[0],
            "their own statement untouched"
        );
        assert_eq!(two.session_denies().len(), 2);
        let d = &two.statements[1];
        assert_eq!(d["Effect"], "Deny");
        assert_eq!(d["Action"], "*");
        assert_eq!(
            d["Condition"]["StringEquals"]["identitystore:userId"],
            "u-1"
        );
        assert_eq!(
            d["Condition"]["StringEquals"]["aws:PrincipalAccount"],
            "111111111111"
        );
        assert_eq!(
            d["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            time(at(0))
        );
        // The same person ending again in the same account: one deny, the later times.
        let again = two.with_session_deny("u-1", "111111111111", at(3), at(11));
        assert_eq!(again.session_denies().len(), 2);
        let d = again
            .statements
            .iter()
            .find(|s| s["Condition"]["StringEquals"]["identitystore:userId"] == "u-1")
            .unwrap();
        assert_eq!(
            d["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            time(at(3))
        );
        // An older end arriving late never shortens a deny.
        let late = again.with_session_deny("u-1", "111111111111", at(0), at(8));
        assert_eq!(late, again);
        // Lapsing: at 9h u-2's deny is gone, u-1's (until 11h) stays; at 11h both.
        assert_eq!(again.without_lapsed_denies(at(9)).session_denies().len(), 1);
        let clean = again.without_lapsed_denies(at(11));
        assert_eq!(clean, own);
        assert!(crate::plan::grant_of_sid(&session_deny_sid("u-1", "111111111111")).is_none());
    }

    #[test]
    fn session_durations_read_as_identity_center_writes_them() {
        assert_eq!(parse_session_duration("PT8H"), Some(Duration::hours(8)));
        assert_eq!(
            parse_session_duration("PT1H30M"),
            Some(Duration::minutes(90))
        );
        assert_eq!(
            parse_session_duration("PT900S"),
            Some(Duration::minutes(15))
        );
        assert_eq!(parse_session_duration("P1D"), None);
        assert_eq!(parse_session_duration("PT"), None);
        assert_eq!(parse_session_duration("PT8"), None);
    }
}
