//! Where a grant lives in AWS, so a person can use it: the permission set (or role) it is in,
//! the accounts, and the access-portal link that opens that role in that account.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{Bundle, Strategy};
use crate::types::{AccountId, Email};

/// Where a grant's permissions are, by the bundle's strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Place {
    /// The person's own permission set (`container`), assigned in each of the grant's accounts.
    PermissionSet {
        /// Its name, which is also the role name the access portal and AWS CLI show.
        name: String,
    },
    /// An existing permission set assigned to the person for the grant (`assignment`).
    Assignment {
        /// Its ARN.
        permission_set_arn: String,
    },
    /// The person's IAM role in each account (`iam-role`).
    IamRole,
}

impl Place {
    /// Where `person`'s grant of `bundle` lives.
    pub fn of(bundle: &Bundle, person: &Email) -> Self {
        match &bundle.strategy {
            Strategy::Container => Place::PermissionSet {
                name: container_name(person),
            },
            Strategy::Assignment { permission_set } => Place::Assignment {
                permission_set_arn: permission_set.as_str().to_string(),
            },
            Strategy::IamRole => Place::IamRole,
        }
    }

    /// The role name to sign in with, where it is known from the grant alone.
    pub fn role_name(&self) -> Option<&str> {
        match self {
            Place::PermissionSet { name } => Some(name),
            _ => None,
        }
    }

    /// One line for people: where it is and, with the access portal's start URL, how to open
    /// it in each account.
    pub fn describe(&self, accounts: &[AccountId], portal: Option<&str>) -> String {
        let accounts_text = accounts
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match self {
            Place::PermissionSet { name } => {
                let mut out = format!("in your permission set {name} in {accounts_text}");
                if let Some(portal) = portal {
                    let links: Vec<String> = accounts
                        .iter()
                        .map(|a| portal_link(portal, a, name))
                        .collect();
                    out.push_str(&format!("; open it: {}", links.join(" ")));
                }
                out
            }
            Place::Assignment { permission_set_arn } => format!(
                "in permission set {permission_set_arn}, assigned to you in {accounts_text}{}",
                portal
                    .map(|p| format!("; sign in at {p}"))
                    .unwrap_or_default()
            ),
            Place::IamRole => format!("on your IAM role in {accounts_text}"),
        }
    }
}

/// A person's own permission set's name: readable, unique, at most 32 characters.
pub fn container_name(person: &Email) -> String {
    let local: String = person
        .as_str()
        .split('@')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(18)
        .collect();
    let hash: String = Sha256::digest(person.as_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("jit-{local}-{}", &hash[..8])
}

/// The access-portal link that opens `role` in `account` (the portal's shortcut-link form).
pub fn portal_link(portal: &str, account: &AccountId, role: &str) -> String {
    format!(
        "{}/#/console?account_id={account}&role_name={role}",
        portal.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_named_after_its_person_and_opened_by_a_portal_link() {
        let alice = Email::parse("alice@example.com").unwrap();
        let name = container_name(&alice);
        assert!(name.starts_with("jit-alice-") && name.len() <= 32, "{name}");
        assert_eq!(name, container_name(&alice), "stable");
        let place = Place::PermissionSet { name: name.clone() };
        let account = AccountId::parse("111111111111").unwrap();
        assert_eq!(
            place.describe(std::slice::from_ref(&account), Some("https://d-1.awsapps.com/start/")),
            format!("in your permission set {name} in 111111111111; open it: https://d-1.awsapps.com/start/#/console?account_id=111111111111&role_name={name}")
        );
        assert_eq!(
            place.describe(&[account], None),
            format!("in your permission set {name} in 111111111111")
        );
    }
}
