//! Reading a `postgres` bundle's `[bundle.database]` table.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, Strings};
use crate::database::{check_ident, Database, DbAuth, DbGrant, DbPrivileges, IamTarget};

/// The fields of `[bundle.database]`.
pub(super) const DATABASE_KEYS: &[&str] = &[
    "instance",
    "endpoint",
    "port",
    "database",
    "admin_secret",
    "auth",
    "privileges",
    "schemas",
    "grants",
    "owner",
    "region",
    "resource_id",
    "tls",
];

#[derive(Deserialize)]
pub(super) struct RawDatabase {
    instance: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    database: Option<Spanned<String>>,
    admin_secret: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    privileges: Option<Spanned<String>>,
    schemas: Option<Strings>,
    grants: Option<Strings>,
    owner: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    resource_id: Option<Spanned<String>>,
    tls: Option<Spanned<bool>>,
}

/// Reads and checks the table; every mistake is recorded with its line.
pub(super) fn read_database(
    ctx: &mut Ctx,
    raw: Option<&Spanned<RawDatabase>>,
    at: &Range<usize>,
    label: &str,
) -> Option<Database> {
    let f = |field: &str| format!("{label}.database.{field}");
    let Some(spanned) = raw else {
        ctx.error(
            at,
            f(""),
            "missing: strategy = \"postgres\" needs a [bundle.database] table (instance, endpoint, database, admin_secret, auth, privileges or grants)",
        );
        return None;
    };
    let at = spanned.span();
    let raw = spanned.get_ref();
    let before = ctx.errors.len();
    let name = |ctx: &mut Ctx, v: &Option<Spanned<String>>, field: &str, hint: &str| {
        let s = ctx.required(v, &at, &f(field), hint)?;
        match check_ident(s.get_ref()) {
            Ok(()) => Some(s.get_ref().clone()),
            Err(e) => {
                ctx.error(&s.span(), f(field), e);
                None
            }
        }
    };
    let instance = ctx
        .required(
            &raw.instance,
            &at,
            &f("instance"),
            "name the instance or cluster, e.g. \"orders-prod\"",
        )
        .and_then(|i| {
            let ok = !i.get_ref().is_empty()
                && i.get_ref().len() <= 63
                && i.get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                ctx.error(
                    &i.span(),
                    f("instance"),
                    "expected 1 to 63 letters, digits, '-', '_' or '.', e.g. \"orders-prod\"",
                );
            }
            ok.then(|| i.get_ref().clone())
        });
    let database = name(
        ctx,
        &raw.database,
        "database",
        "name the database the privileges are on",
    );
    let owner = raw
        .owner
        .as_ref()
        .and_then(|o| match check_ident(o.get_ref()) {
            Ok(()) => Some(o.get_ref().clone()),
            Err(e) => {
                ctx.error(&o.span(), f("owner"), e);
                None
            }
        });
    let endpoint = ctx
        .required(&raw.endpoint, &at, &f("endpoint"), "the host name to connect to")
        .and_then(|e| {
            let host = e.get_ref();
            let ok = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !ok {
                ctx.error(
                    &e.span(),
                    f("endpoint"),
                    "expected a host name such as orders.cluster-abc.us-east-1.rds.amazonaws.com (letters, digits, dots and dashes)",
                );
            }
            ok.then(|| host.clone())
        });
    let port = match &raw.port {
        None => Some(5432),
        Some(p) => match u16::try_from(*p.get_ref()) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                ctx.error(&p.span(), f("port"), "expected a port between 1 and 65535");
                None
            }
        },
    };
    let admin_secret = ctx
        .required(
            &raw.admin_secret,
            &at,
            &f("admin_secret"),
            "the Secrets Manager secret (ARN or name) with the admin login: {\"username\": …, \"password\": …}",
        )
        .and_then(|s| {
            let ok = !s.get_ref().is_empty()
                && s.get_ref().len() <= 2048
                && s.get_ref().chars().all(|c| c.is_ascii_graphic());
            if !ok {
                ctx.error(&s.span(), f("admin_secret"), "expected a secret ARN or name");
            }
            ok.then(|| s.get_ref().clone())
        });
    let auth = match raw.auth.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
        Some(("iam", _)) => Some(DbAuth::Iam),
        Some(("password", _)) => Some(DbAuth::Password),
        Some((other, span)) => {
            ctx.error(
                &span,
                f("auth"),
                format!("unknown auth {other:?}: use \"iam\" or \"password\""),
            );
            None
        }
        None => {
            ctx.error(
                &at,
                f("auth"),
                "missing: set auth to \"iam\" (RDS IAM authentication) or \"password\"",
            );
            None
        }
    };
    let iam = match (auth, &raw.region, &raw.resource_id) {
        (Some(DbAuth::Iam), Some(region), Some(id)) => {
            let region_ok = region.get_ref().len() <= 30
                && region.get_ref().split('-').count() >= 3
                && region
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            let id_ok = id.get_ref().len() <= 64
                && (id.get_ref().starts_with("db-") || id.get_ref().starts_with("cluster-"))
                && id
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !region_ok {
                ctx.error(
                    &region.span(),
                    f("region"),
                    "expected a region such as us-east-1",
                );
            }
            if !id_ok {
                ctx.error(&id.span(), f("resource_id"), "expected the instance's DbiResourceId (db-…) or the cluster's resource id (cluster-…)");
            }
            (region_ok && id_ok).then(|| IamTarget {
                region: region.get_ref().clone(),
                resource_id: id.get_ref().clone(),
            })
        }
        (Some(DbAuth::Iam), region, id) => {
            if region.is_none() {
                ctx.error(
                    &at,
                    f("region"),
                    "missing: auth = \"iam\" needs the instance's region",
                );
            }
            if id.is_none() {
                ctx.error(&at, f("resource_id"), "missing: auth = \"iam\" needs the resource id in rds-db:connect ARNs (DbiResourceId, db-…, or the cluster's cluster-…)");
            }
            None
        }
        (_, region, id) => {
            for (v, field) in [(region, "region"), (id, "resource_id")] {
                if let Some(v) = v {
                    ctx.error(
                        &v.span(),
                        f(field),
                        format!("{field} is only used with auth = \"iam\"; remove it"),
                    );
                }
            }
            None
        }
    };
    let schemas = match &raw.schemas {
        None => vec!["public".to_string()],
        Some(list) => {
            let mut out = Vec::new();
            for (i, s) in list.get_ref().iter().enumerate().take(50) {
                match check_ident(s.get_ref()) {
                    Ok(()) => out.push(s.get_ref().clone()),
                    Err(e) => ctx.error(&s.span(), f(&format!("schemas[{i}]")), e),
                }
            }
            if list.get_ref().is_empty() {
                ctx.error(&list.span(), f("schemas"), "list at least one schema");
            }
            out
        }
    };
    let privileges = match (&raw.privileges, &raw.grants) {
        (Some(p), None) => match p.get_ref().as_str() {
            "read" => Some(DbPrivileges::Read { schemas }),
            "write" => Some(DbPrivileges::Write { schemas }),
            other => {
                ctx.error(&p.span(), f("privileges"), format!("unknown privileges {other:?}: use \"read\" or \"write\", or list GRANT statements in grants"));
                None
            }
        },
        (None, Some(list)) => {
            if let Some(s) = &raw.schemas {
                ctx.error(&s.span(), f("schemas"), "schemas is used with privileges = \"read\" or \"write\"; name the schemas in the GRANT statements instead");
            }
            if list.get_ref().is_empty() || list.get_ref().len() > 50 {
                ctx.error(
                    &list.span(),
                    f("grants"),
                    "list between 1 and 50 GRANT statements",
                );
            }
            let mut grants = Vec::new();
            for (i, g) in list.get_ref().iter().enumerate().take(50) {
                match DbGrant::parse(g.get_ref()) {
                    Ok(g) => grants.push(g),
                    Err(e) => ctx.error(&g.span(), f(&format!("grants[{i}]")), e),
                }
            }
            Some(DbPrivileges::Grants { grants })
        }
        (Some(p), Some(_)) => {
            ctx.error(&p.span(), f("privileges"), "give either privileges (\"read\" or \"write\") or grants (GRANT statements), not both");
            None
        }
        (None, None) => {
            ctx.error(&at, f("privileges"), "missing: set privileges to \"read\" or \"write\", or list GRANT statements in grants");
            None
        }
    };
    let tls = raw.tls.as_ref().is_none_or(|t| *t.get_ref());
    if ctx.errors.len() > before {
        return None;
    }
    Some(Database {
        instance: instance?,
        endpoint: endpoint?,
        port: port?,
        database: database?,
        admin_secret: admin_secret?,
        auth: auth?,
        privileges: privileges?,
        owner,
        iam,
        tls,
    })
}
