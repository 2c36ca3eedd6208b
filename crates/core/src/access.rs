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
    IamRole {
        /// The role's name (the same in every account); empty on records that predate it.
        #[serde(default)]
        role_name: String,
    },
    /// A database role (`postgres`): sign in as `user` to `database` at `endpoint`.
    Database {
        /// Host name.
        endpoint: String,
        /// Port.
        port: u16,
        /// The database.
        database: String,
        /// The person's database role.
        user: String,
        /// `iam` or `password`.
        auth: String,
        /// With `iam`: the region to make a token in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
}

impl Place {
    /// Where `person`'s grant of `bundle` lives; `role_template` names IAM roles (`{user}`:
    /// the email's local part), as the deployment's RoleNameTemplate does.
    pub fn of(bundle: &Bundle, person: &Email, role_template: &str) -> Self {
        match &bundle.strategy {
            Strategy::Container => Place::PermissionSet {
                name: container_name(person),
            },
            Strategy::Assignment { permission_set } => Place::Assignment {
                permission_set_arn: permission_set.as_str().to_string(),
            },
            Strategy::IamRole => Place::IamRole {
                role_name: iam_role_name(role_template, person),
            },
            Strategy::Postgres(db) => Place::Database {
                endpoint: db.endpoint.clone(),
                port: db.port,
                database: db.database.clone(),
                user: crate::database::person_role(person),
                auth: db.auth.as_str().to_string(),
                region: db.iam.as_ref().map(|i| i.region.clone()),
            },
        }
    }

    /// The role name to sign in with, where it is known from the grant alone.
    pub fn role_name(&self) -> Option<&str> {
        match self {
            Place::PermissionSet { name } => Some(name),
            Place::IamRole { role_name } if !role_name.is_empty() => Some(role_name),
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
            Place::IamRole { role_name } if !role_name.is_empty() => {
                let links: Vec<String> = accounts
                    .iter()
                    .map(|a| switch_role_link(a, role_name))
                    .collect();
                format!(
                    "on your IAM role {role_name} in {accounts_text}; switch to it: {}",
                    links.join(" ")
                )
            }
            Place::IamRole { .. } => format!("on your IAM role in {accounts_text}"),
            Place::Database {
                endpoint,
                port,
                database,
                user,
                auth,
                region,
            } => {
                let how = if auth == "iam" {
                    format!(
                        "sign in with an IAM token: {}",
                        iam_token_command(endpoint, *port, user, region.as_deref())
                    )
                } else {
                    "get your password with `jit db-credentials <request id>` or in the portal"
                        .to_string()
                };
                format!("on database {database} at {endpoint}:{port} as {user}; {how}")
            }
        }
    }
}

/// The AWS CLI command that makes an IAM sign-in token for a database user (`auth = "iam"`).
pub fn iam_token_command(endpoint: &str, port: u16, user: &str, region: Option<&str>) -> String {
    format!(
        "aws rds generate-db-auth-token --hostname {endpoint} --port {port} --username {user}{}",
        region.map(|r| format!(" --region {r}")).unwrap_or_default()
    )
}

/// The characters of an email's local part.
fn local_part(person: &Email) -> std::str::Chars<'_> {
    person.as_str().split('@').next().unwrap_or("").chars()
}

/// Whether IAM allows `c` in a role or permission set name.
fn iam_name_char(c: &char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)
}

/// A person's own permission set's name: readable, unique, at most 32 characters.
pub fn container_name(person: &Email) -> String {
    let local: String = local_part(person).filter(iam_name_char).take(18).collect();
    let hash: String = Sha256::digest(person.as_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("jit-{local}-{}", &hash[..8])
}

/// A person's IAM role name under `template` (`{user}`: the email's local part, with any
/// character IAM does not allow in a role name made `-`).
pub fn iam_role_name(template: &str, person: &Email) -> String {
    let local: String = local_part(person)
        .map(|c| if iam_name_char(&c) { c } else { '-' })
        .collect();
    template.replace("{user}", &local)
}

/// The console link that switches to `role` in `account` (the AWS console's switch-role form).
pub fn switch_role_link(account: &AccountId, role: &str) -> String {
    format!("https://signin.aws.amazon.com/switchrole?roleName={role}&account={account}")
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

    #[test]
    fn an_iam_role_is_named_by_the_template_and_opened_by_a_switch_role_link() {
        let bob = Email::parse("bob.o'neil@example.com").unwrap();
        assert_eq!(iam_role_name("jit-{user}", &bob), "jit-bob.o-neil");
        let place = Place::IamRole {
            role_name: iam_role_name("jit-{user}", &bob),
        };
        assert_eq!(place.role_name(), Some("jit-bob.o-neil"));
        let account = AccountId::parse("222222222222").unwrap();
        assert_eq!(
            place.describe(&[account], Some("https://d-1.awsapps.com/start")),
            "on your IAM role jit-bob.o-neil in 222222222222; switch to it: https://signin.aws.amazon.com/switchrole?roleName=jit-bob.o-neil&account=222222222222"
        );
        // A record from before roles were named there still reads.
        let old: Place = serde_json::from_str(r#"{"kind":"iam-role"}"#).unwrap();
        assert_eq!(old.role_name(), None);
    }
}
