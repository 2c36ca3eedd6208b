//! Grant planning: the IAM statements a grant adds, and the one inline policy of a person's
//! container built from all their live grants, kept within the Identity Center budget.
//!
//! Every statement carries `DateLessThan aws:CurrentTime <expiry>` (and `DateGreaterThan` for a
//! later start), so IAM itself stops honouring it at expiry even if nothing removes it. Because a
//! permission set is assigned in every account its holder has grants in, each statement is also
//! pinned to its grant's accounts with `aws:PrincipalAccount`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::Statement;
use crate::types::{AccountId, RequestId};

/// Non-whitespace characters allowed in a permission set's inline policy (and shared by a
/// role's inline policies).
pub const POLICY_BUDGET: usize = 10_240;

/// Every statement this product writes has a Sid starting with this.
pub const SID_PREFIX: &str = "Jit";

/// What one grant puts in AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    /// The grant (= request) id.
    pub id: RequestId,
    /// The bundle's statements.
    pub statements: Vec<Statement>,
    /// The accounts it is valid in.
    pub accounts: Vec<AccountId>,
    /// A start later than now, enforced with `DateGreaterThan`.
    pub starts_at: Option<DateTime<Utc>>,
    /// The expiry, enforced with `DateLessThan`.
    pub expires_at: DateTime<Utc>,
}

/// An IAM policy document as this product reads and writes it. Statements it did not write are
/// kept as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// Always "2012-10-17".
    #[serde(rename = "Version")]
    pub version: String,
    /// The statements.
    #[serde(rename = "Statement", default)]
    pub statements: Vec<Value>,
}

/// A grant that would not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this grant needs {needed} characters of policy but the container has {room} of {budget} left; release a grant you no longer need, or ask for a narrower bundle")]
pub struct TooLarge {
    /// What the grant's statements take.
    pub needed: usize,
    /// What is left before adding it.
    pub room: usize,
    /// The budget.
    pub budget: usize,
}

/// A policy document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the inline policy is not a policy document this product can read: {0}")]
pub struct BadDocument(#[from] serde_json::Error);

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn one_or_many(items: &[String]) -> Value {
    match items {
        [one] => json!(one),
        many => json!(many),
    }
}

/// The grant id a Sid belongs to, if this product wrote it.
pub fn grant_of_sid(sid: &str) -> Option<RequestId> {
    let rest = sid.strip_prefix(SID_PREFIX)?;
    let (id, n) = rest.split_once('S')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    RequestId::parse(id).ok()
}

/// Merges a grant's statements where they can be merged without widening them: statements on
/// the same resources share one action list; statements with the same actions share one
/// resource list. `service:*` absorbs that service's other actions; `*` absorbs every resource.
pub fn compact(statements: &[Statement]) -> Vec<(Vec<String>, Vec<String>)> {
    let norm = |items: Vec<String>, wildcard_service: bool| -> Vec<String> {
        let set: BTreeSet<String> = items.into_iter().collect();
        if set.contains("*") {
            return vec!["*".into()];
        }
        let services: BTreeSet<String> = if wildcard_service {
            set.iter()
                .filter_map(|a| a.strip_suffix(":*").map(str::to_string))
                .collect()
        } else {
            BTreeSet::new()
        };
        set.into_iter()
            .filter(|a| {
                a.ends_with(":*") || !services.iter().any(|s| a.starts_with(&format!("{s}:")))
            })
            .collect()
    };
    let mut by_resources: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for st in statements {
        let resources = norm(st.resources.iter().map(|r| r.to_string()).collect(), false);
        by_resources
            .entry(resources)
            .or_default()
            .extend(st.actions.iter().map(|a| a.to_string()));
    }
    let mut by_actions: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (resources, actions) in by_resources {
        by_actions
            .entry(norm(actions, true))
            .or_default()
            .extend(resources);
    }
    by_actions
        .into_iter()
        .map(|(actions, resources)| (actions, norm(resources, false)))
        .collect()
}

impl GrantSpec {
    /// The statements this grant adds, Sids `Jit<id>S<n>`.
    pub fn statements(&self) -> Vec<Value> {
        let mut condition = serde_json::Map::new();
        condition.insert(
            "DateLessThan".into(),
            json!({ "aws:CurrentTime": time(self.expires_at) }),
        );
        if let Some(start) = self.starts_at {
            condition.insert(
                "DateGreaterThan".into(),
                json!({ "aws:CurrentTime": time(start) }),
            );
        }
        if !self.accounts.is_empty() {
            let accounts: Vec<String> = self.accounts.iter().map(|a| a.to_string()).collect();
            condition.insert(
                "StringEquals".into(),
                json!({ "aws:PrincipalAccount": one_or_many(&accounts) }),
            );
        }
        compact(&self.statements)
            .into_iter()
            .enumerate()
            .map(|(n, (actions, resources))| {
                json!({
                    "Sid": format!("{SID_PREFIX}{}S{n}", self.id),
                    "Effect": "Allow",
                    "Action": one_or_many(&actions),
                    "Resource": one_or_many(&resources),
                    "Condition": condition,
                })
            })
            .collect()
    }

    /// A document holding only this grant (the `iam-role` strategy's per-grant policy).
    pub fn document(&self) -> PolicyDocument {
        PolicyDocument {
            version: "2012-10-17".into(),
            statements: self.statements(),
        }
    }
}

impl Default for PolicyDocument {
    fn default() -> Self {
        Self {
            version: "2012-10-17".into(),
            statements: Vec::new(),
        }
    }
}

impl PolicyDocument {
    /// Reads a document as AWS returns it; an empty string is an empty document.
    pub fn parse(json: &str) -> Result<Self, BadDocument> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        Ok(serde_json::from_str(json)?)
    }

    /// The document as compact JSON, the form written to AWS.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy document always serializes")
    }

    /// Characters counted against the budget: everything but whitespace.
    pub fn size(&self) -> usize {
        self.to_json()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
    }

    /// The grants that have statements here.
    pub fn grant_ids(&self) -> BTreeSet<RequestId> {
        self.statements
            .iter()
            .filter_map(|s| s.get("Sid")?.as_str())
            .filter_map(grant_of_sid)
            .collect()
    }

    /// The accounts this product's grant statements are pinned to (`aws:PrincipalAccount`);
    /// `None` when one of them is pinned to none (valid in every account it is assigned in).
    pub fn grant_accounts(&self) -> Option<BTreeSet<String>> {
        let mut accounts = BTreeSet::new();
        for s in self.statements.iter().filter(|s| {
            s.get("Sid")
                .and_then(Value::as_str)
                .and_then(grant_of_sid)
                .is_some()
        }) {
            match s.pointer("/Condition/StringEquals/aws:PrincipalAccount")? {
                Value::String(one) => {
                    accounts.insert(one.clone());
                }
                Value::Array(many) => {
                    accounts.extend(many.iter().filter_map(Value::as_str).map(str::to_string))
                }
                _ => return None,
            }
        }
        Some(accounts)
    }

    /// The expiry written in a grant's first statement.
    pub fn expiry_of(&self, id: &RequestId) -> Option<String> {
        self.statements
            .iter()
            .find(|s| {
                s.get("Sid")
                    .and_then(Value::as_str)
                    .and_then(grant_of_sid)
                    .as_ref()
                    == Some(id)
            })
            .and_then(|s| {
                s.pointer("/Condition/DateLessThan/aws:CurrentTime")?
                    .as_str()
                    .map(str::to_string)
            })
    }

    /// The document without `id`'s statements.
    pub fn without(&self, id: &RequestId) -> Self {
        let statements = self
            .statements
            .iter()
            .filter(|s| {
                s.get("Sid")
                    .and_then(Value::as_str)
                    .and_then(grant_of_sid)
                    .as_ref()
                    != Some(id)
            })
            .cloned()
            .collect();
        Self {
            version: self.version.clone(),
            statements,
        }
    }

    /// The document with `grant`'s statements in place of any it had, if it fits `budget`.
    /// Refused before anything is written when it would not.
    pub fn with(&self, grant: &GrantSpec, budget: usize) -> Result<Self, TooLarge> {
        let base = self.without(&grant.id);
        let mut next = base.clone();
        next.statements.extend(grant.statements());
        let size = next.size();
        if size > budget {
            let used = if base.statements.is_empty() {
                0
            } else {
                base.size()
            };
            let room = budget.saturating_sub(used);
            return Err(TooLarge {
                needed: size - used,
                room,
                budget,
            });
        }
        Ok(next)
    }

    /// The document for exactly `grants`, keeping statements this product did not write.
    /// Linear in the statements: built once and measured once; only a document over budget is
    /// built again grant by grant, to say which grant does not fit and by how much.
    pub fn rebuilt(&self, grants: &[GrantSpec], budget: usize) -> Result<Self, TooLarge> {
        let ids: BTreeSet<&RequestId> = grants.iter().map(|g| &g.id).collect();
        if ids.len() == grants.len() {
            let mut doc = self.clone();
            doc.statements.retain(|s| {
                s.get("Sid")
                    .and_then(Value::as_str)
                    .and_then(grant_of_sid)
                    .is_none()
            });
            for g in grants {
                doc.statements.extend(g.statements());
            }
            if doc.size() <= budget {
                return Ok(doc);
            }
        }
        self.rebuilt_one_by_one(grants, budget)
    }

    /// [`Self::rebuilt`], adding one grant at a time (the first that does not fit is named).
    fn rebuilt_one_by_one(&self, grants: &[GrantSpec], budget: usize) -> Result<Self, TooLarge> {
        let mut doc = self.clone();
        let live: BTreeSet<&RequestId> = grants.iter().map(|g| &g.id).collect();
        for stale in self.grant_ids().iter().filter(|id| !live.contains(id)) {
            doc = doc.without(stale);
        }
        for g in grants {
            doc = doc.with(g, budget)?;
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::types::{IamAction, ResourceArn};

    fn st(actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            actions: actions
                .iter()
                .map(|a| IamAction::parse(a).unwrap())
                .collect(),
            resources: resources
                .iter()
                .map(|r| ResourceArn::parse(r).unwrap())
                .collect(),
        }
    }

    /// Built at once or grant by grant, the same document: foreign statements kept in their
    /// place, stale grants gone, live ones in the order given.
    #[test]
    fn rebuilding_at_once_matches_rebuilding_grant_by_grant() {
        let grant = |n: usize| GrantSpec {
            id: RequestId::parse(&format!("grant{n:07}")).unwrap(),
            statements: vec![st(&["s3:GetObject"], &[&format!("arn:aws:s3:::b{n}/*")])],
            accounts: vec![crate::types::AccountId::parse("111111111111").unwrap()],
            starts_at: None,
            expires_at: chrono::DateTime::from_timestamp(1_800_000_000 + n as i64, 0).unwrap(),
        };
        let mut old = PolicyDocument::default();
        old.statements
            .push(serde_json::json!({"Sid": "TheirOwn", "Effect": "Allow",
            "Action": "sts:GetCallerIdentity", "Resource": "*"}));
        for n in 0..12 {
            old = old.with(&grant(n), POLICY_BUDGET).unwrap();
        }
        let live: Vec<GrantSpec> = (6..30).map(grant).collect();
        let at_once = old.rebuilt(&live, POLICY_BUDGET).unwrap();
        let one_by_one = old.rebuilt_one_by_one(&live, POLICY_BUDGET).unwrap();
        assert_eq!(at_once, one_by_one);
        // Over budget, the same refusal: the first grant that does not fit.
        let many: Vec<GrantSpec> = (0..200).map(grant).collect();
        assert_eq!(
            old.rebuilt(&many, POLICY_BUDGET).unwrap_err(),
            old.rebuilt_one_by_one(&many, POLICY_BUDGET).unwrap_err()
        );
    }

    fn grant(id: &str, statements: Vec<Statement>) -> GrantSpec {
        GrantSpec {
            id: RequestId::parse(id).unwrap(),
            statements,
            accounts: vec![AccountId::parse("111111111111").unwrap()],
            starts_at: None,
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn statements_carry_the_expiry_account_and_a_grant_sid() {
        let mut g = grant(
            "aaaa1111",
            vec![st(&["s3:GetObject"], &["arn:aws:s3:::b/*"])],
        );
        g.starts_at = Some(DateTime::from_timestamp(1_799_990_000, 0).unwrap());
        let s = &g.statements()[0];
        assert_eq!(s["Sid"], "Jitaaaa1111S0");
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(
            s["Condition"]["DateLessThan"]["aws:CurrentTime"],
            "2027-01-15T08:00:00Z"
        );
        assert_eq!(
            s["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
            "2027-01-15T05:13:20Z"
        );
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:PrincipalAccount"],
            "111111111111"
        );
        assert_eq!(grant_of_sid("Jitaaaa1111S0").unwrap().as_str(), "aaaa1111");
        assert_eq!(grant_of_sid("AdminAccess"), None);
        assert_eq!(grant_of_sid("JitaaaaS"), None);
    }

    #[test]
    fn the_accounts_still_in_use_are_read_from_the_grants_statements() {
        let mut a = grant("aaaa1111", vec![st(&["s3:GetObject"], &["*"])]);
        let mut b = grant("bbbb2222", vec![st(&["s3:GetObject"], &["*"])]);
        a.accounts.push(AccountId::parse("222222222222").unwrap());
        b.accounts = vec![AccountId::parse("333333333333").unwrap()];
        let mut doc = PolicyDocument::default();
        doc.statements
            .push(serde_json::json!({"Sid": "TheirOwn", "Effect": "Allow",
            "Action": "sts:GetCallerIdentity", "Resource": "*"}));
        let doc = doc
            .with(&a, POLICY_BUDGET)
            .unwrap()
            .with(&b, POLICY_BUDGET)
            .unwrap();
        let names =
            |d: &PolicyDocument| d.grant_accounts().unwrap().into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(&doc),
            ["111111111111", "222222222222", "333333333333"]
        );
        assert_eq!(names(&doc.without(&a.id)), ["333333333333"]);
        assert!(names(&doc.without(&a.id).without(&b.id)).is_empty());
        b.accounts.clear();
        assert_eq!(doc.with(&b, POLICY_BUDGET).unwrap().grant_accounts(), None);
    }

    #[test]
    fn compaction_merges_without_widening() {
        let merged = compact(&[
            st(&["s3:GetObject"], &["arn:aws:s3:::b/*"]),
            st(&["s3:PutObject"], &["arn:aws:s3:::b/*"]),
            st(
                &["logs:GetLogEvents"],
                &["arn:aws:logs:eu-west-1:111111111111:log-group:a"],
            ),
            st(
                &["logs:GetLogEvents"],
                &["arn:aws:logs:eu-west-1:111111111111:log-group:b"],
            ),
            st(
                &["ec2:DescribeInstances", "ec2:*"],
                &["*", "arn:aws:ec2:eu-west-1:111111111111:instance/i-1"],
            ),
        ]);
        assert_eq!(
            merged,
            vec![
                (vec!["ec2:*".to_string()], vec!["*".to_string()]),
                (
                    vec!["logs:GetLogEvents".to_string()],
                    vec![
                        "arn:aws:logs:eu-west-1:111111111111:log-group:a".to_string(),
                        "arn:aws:logs:eu-west-1:111111111111:log-group:b".to_string()
                    ]
                ),
                (
                    vec!["s3:GetObject".to_string(), "s3:PutObject".to_string()],
                    vec!["arn:aws:s3:::b/*".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn a_grant_that_does_not_fit_is_refused_with_the_room_left() {
        let resources: Vec<String> = (0..60)
            .map(|i| format!("arn:aws:s3:::bucket-number-{i:04}/*"))
            .collect();
        let refs: Vec<&str> = resources.iter().map(String::as_str).collect();
        let big = |id: &str| grant(id, vec![st(&["s3:GetObject"], &refs)]);
        let mut doc = PolicyDocument::default();
        let mut fitted = 0;
        let err = loop {
            match doc.with(&big(&format!("aaaa{fitted:04}")), POLICY_BUDGET) {
                Ok(next) => {
                    doc = next;
                    fitted += 1;
                }
                Err(e) => break e,
            }
        };
        assert!(fitted >= 3, "several grants fit first");
        assert!(doc.size() <= POLICY_BUDGET);
        assert_eq!(err.room, POLICY_BUDGET - doc.size());
        assert!(err.needed > err.room);
        assert!(err.to_string().contains("left"), "{err}");
    }

    #[test]
    fn foreign_statements_survive_and_rebuild_drops_stale_grants() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Baseline","Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#,
        )
        .unwrap();
        let a = grant("aaaa0001", vec![st(&["s3:GetObject"], &["*"])]);
        let b = grant("bbbb0002", vec![st(&["s3:PutObject"], &["*"])]);
        let both = doc
            .with(&a, POLICY_BUDGET)
            .unwrap()
            .with(&b, POLICY_BUDGET)
            .unwrap();
        assert_eq!(both.grant_ids().len(), 2);
        let only_b = both
            .rebuilt(std::slice::from_ref(&b), POLICY_BUDGET)
            .unwrap();
        assert_eq!(
            only_b.grant_ids().into_iter().collect::<Vec<_>>(),
            vec![b.id.clone()]
        );
        assert_eq!(only_b.statements[0]["Sid"], "Baseline");
        assert_eq!(
            PolicyDocument::parse("").unwrap(),
            PolicyDocument::default()
        );
    }
}
