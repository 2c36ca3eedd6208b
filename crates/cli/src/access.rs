//! Using a grant: where it lives, and AWS CLI profiles that sign in to it (`jit aws-config`).

use jit_contract::{AccessView, ClientConfig, RequestList};

use crate::remote::{as_value, exit, Client, Failure};

/// Where a grant is, in words.
pub fn where_it_is(a: &AccessView) -> String {
    let accounts = a.accounts.join(", ");
    if let Some(db) = &a.database {
        let how = if db.auth == "iam" {
            format!(
                "sign in with an IAM token: {}",
                jit_core::access::iam_token_command(
                    &db.endpoint,
                    db.port,
                    &db.user,
                    db.region.as_deref()
                )
            )
        } else {
            "`jit db-credentials ID` gives your password".to_string()
        };
        return format!(
            "database {} at {}:{} as {} ({how})",
            db.database, db.endpoint, db.port, db.user
        );
    }
    match (a.kind.as_str(), &a.role_name, &a.permission_set_arn) {
        ("permission-set", Some(role), _) => format!(
            "role {role} in {accounts} (your access portal lists it; `jit aws-config` writes AWS CLI profiles)"
        ),
        ("assignment", _, Some(arn)) => format!("permission set {arn}, assigned to you in {accounts}"),
        _ => format!("your IAM role in {accounts}"),
    }
}

/// The AWS CLI configuration for `grants` (role and account pairs): one `sso-session` for the
/// access portal and one profile per account, named `jit-<account>` (or `jit-<account>-<n>`
/// when a person has more than one role there).
pub fn aws_config(start_url: &str, region: &str, grants: &[(String, String)]) -> String {
    let mut out = format!(
        "# AWS CLI profiles for your active jit grants: add them to ~/.aws/config, run\n\
         # `aws sso login --sso-session jit`, then `aws --profile <name> ...`.\n\n\
         [sso-session jit]\nsso_start_url = {start_url}\nsso_region = {region}\n\
         sso_registration_scopes = sso:account:access\n"
    );
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for (role, account) in grants {
        let n = seen.entry(account.as_str()).or_default();
        *n += 1;
        let name = if *n == 1 {
            format!("jit-{account}")
        } else {
            format!("jit-{account}-{n}")
        };
        out.push_str(&format!(
            "\n[profile {name}]\nsso_session = jit\nsso_account_id = {account}\nsso_role_name = {role}\nregion = {region}\n"
        ));
    }
    out
}

/// `jit aws-config`.
pub fn aws_config_command(c: &Client) -> Result<serde_json::Value, Failure> {
    let config: ClientConfig = c.get_as("/v1/config", &[])?;
    let Some(start_url) = config.access_portal_url.filter(|u| !u.is_empty()) else {
        return Err(Failure {
            code: exit::FAILED,
            message: "the API does not say where your Identity Center access portal is: the deployment's AccessPortalUrl parameter is empty (jit-local: --access-portal-url); ask your platform team".into(),
        });
    };
    let region = config.sso_region.unwrap_or_else(|| "us-east-1".into());
    let mine: RequestList = c.get_as(
        "/v1/requests",
        &[("mine", "true".into()), ("status", "active".into())],
    )?;
    let mut grants: Vec<(String, String)> = mine
        .requests
        .iter()
        .filter_map(|r| r.access.as_ref())
        .filter_map(|a| a.role_name.as_ref().map(|role| (role, &a.accounts)))
        .flat_map(|(role, accounts)| accounts.iter().map(|acct| (role.clone(), acct.clone())))
        .collect();
    grants.sort();
    grants.dedup();
    if grants.is_empty() {
        return Err(Failure {
            code: exit::REFUSED,
            message: "you have no active grant in a permission set of your own; ask for one with: jit request BUNDLE --for 4h --reason \"...\"".into(),
        });
    }
    let text = aws_config(&start_url, &region, &grants);
    let value = serde_json::json!({
        "sso_start_url": start_url,
        "sso_region": region,
        "profiles": grants.iter().map(|(role, account)| serde_json::json!({"sso_account_id": account, "sso_role_name": role})).collect::<Vec<_>>(),
    });
    c.show(&value, |_| text.clone());
    Ok(as_value(&value))
}
