//! Time-bound grants on Postgres (the `postgres` strategy), as [`jit_core::database::Databases`].
//!
//! On each instance a person has one role (`jit_<email>`, its comment naming them) that logs in
//! only while they hold a grant there; each grant is a role of its own (`jitg_<id>`) holding the
//! bundle's privileges on one database, granted to the person's role. Ending a grant revokes and
//! drops its role, then ends the person's sessions on that database, so an open session does not
//! keep the access. Changes run in one transaction each; a concurrent change to the same catalog
//! rows is retried.
//!
//! The admin login comes from the bundle's Secrets Manager secret (read once per secret and
//! kept) or, in local mode, from `jit-local --postgres URL`.

mod admin;
mod sql;
mod tls;

pub use admin::{AdminLogin, AdminSource, FixedServer, SecretsAdmin};

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use jit_core::database::{
    grant_of_role, person_role, quote_ident, quote_literal, Database, Databases, DbAuth,
    DbHoldings, HeldGrant, IssuedPassword,
};
use jit_core::ports::GrantError;
use jit_core::types::{Email, RequestId};
use tokio_postgres::{Client, Transaction};
use tracing::{instrument, warn};

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often one change is tried when another transaction changed the same rows.
const ATTEMPTS: usize = 6;

/// Runs `$body` (which uses the transaction `$tx` and may fail with [`Failure`]) in a
/// transaction on `$client` (a connection to `$db`'s database), committing at its end and
/// trying again when a concurrent change got there first.
macro_rules! in_transaction {
    ($client:ident, $db:expr, |$tx:ident| $body:block) => {{
        let db: &Database = $db;
        let client = &mut $client;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let $tx = client.transaction().await.map_err(|e| sql::error(db, e))?;
            let result: Result<_, Failure> = async {
                let value: Result<_, Failure> = async $body.await;
                let value = value?;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err(Failure::Sql(e)) if attempt < ATTEMPTS && sql::is_race(&e) => {
                    tokio::time::sleep(Duration::from_millis(20 * attempt as u64)).await;
                }
                Err(Failure::Sql(e)) => break Err(sql::error(db, e)),
                Err(Failure::Grant(e)) => break Err(e),
                Ok(v) => break Ok(v),
            }
        }
    }};
}

/// The Postgres adapter.
#[derive(Debug, Clone)]
pub struct Postgres<A> {
    admin: A,
}

impl<A: AdminSource> Postgres<A> {
    /// An adapter that signs in with `admin`'s logins.
    pub fn new(admin: A) -> Self {
        Self { admin }
    }

    /// A connection to `database` on `db`'s instance as its admin.
    async fn connect(&self, db: &Database, database: &str) -> Result<Client, GrantError> {
        let login = self.admin.login(db).await?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&login.host)
            .port(login.port)
            .user(&login.username)
            .password(login.password.as_bytes())
            .dbname(database)
            .application_name("jit")
            .connect_timeout(CONNECT_TIMEOUT);
        let unreachable = |e: tokio_postgres::Error| {
            GrantError::Retryable(format!(
                "database {}/{database} cannot be reached: {}",
                db.instance,
                sql::cause(&e)
            ))
        };
        let client = if login.tls {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tls::Verified::new(login.ca_pem.as_deref()).map_err(GrantError::Unknown)?;
            let (client, connection) = config.connect(tls).await.map_err(unreachable)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    warn!(error = %e, "database connection ended");
                }
            });
            client
        } else {
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(unreachable)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    warn!(error = %e, "database connection ended");
                }
            });
            client
        };
        client
            .batch_execute("SET statement_timeout = '20s'; SET lock_timeout = '10s'")
            .await
            .map_err(|e| sql::error(db, e))?;
        Ok(client)
    }

    /// The admin login's user name, who objects are given to by default.
    async fn owner(&self, db: &Database) -> Result<String, GrantError> {
        match &db.owner {
            Some(o) => Ok(o.clone()),
            None => Ok(self.admin.login(db).await?.username),
        }
    }
}

/// What a transaction's work may fail with: SQL (maybe a race, tried again) or a refusal.
enum Failure {
    Sql(tokio_postgres::Error),
    Grant(GrantError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Sql(e)
    }
}

/// The comment on a grant's role: whose it is, and the instance and database it is on.
fn grant_comment(grant: &RequestId, person: &Email, db: &Database) -> String {
    format!(
        "jit grant {grant} of {person} in {} on {}",
        db.instance, db.database
    )
}

/// The person, instance and database a grant role's comment names.
fn parse_grant_comment(comment: &str) -> Option<(Email, String, String)> {
    let rest = comment.strip_prefix("jit grant ")?;
    let (_, rest) = rest.split_once(" of ")?;
    let (person, rest) = rest.split_once(" in ")?;
    let (instance, database) = rest.split_once(" on ")?;
    Some((
        Email::parse(person).ok()?,
        instance.to_string(),
        database.to_string(),
    ))
}

/// Takes the lock this product's changes on a database hold, one at a time: concurrent GRANTs
/// on one table would otherwise fail ("tuple concurrently updated"). Advisory locks are per
/// database; a change to the shared roles made meanwhile from another database is caught as a
/// race and tried again, because every change claims the person's role row first
/// ([`sql::claim_person`]).
async fn lock(tx: &Transaction<'_>) -> Result<(), Failure> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('jit'))", &[])
        .await?;
    Ok(())
}

impl<A: AdminSource> Databases for Postgres<A> {
    #[instrument(skip(self, db), fields(instance = %db.instance, database = %db.database, grant_id = %grant))]
    async fn grant(
        &self,
        person: &Email,
        db: &Database,
        grant: &RequestId,
        until: DateTime<Utc>,
    ) -> Result<(), GrantError> {
        let until = until.to_rfc3339_opts(SecondsFormat::Secs, true);
        let role = person_role(person);
        let granted = jit_core::database::grant_role(grant);
        let statements = db.privileges.sql(&granted);
        let comment = grant_comment(grant, person, db);
        let mut client = self.connect(db, &db.database).await?;
        in_transaction!(client, db, |tx| {
            lock(&tx).await?;
            sql::ensure_person(&tx, person, &role).await?;
            tx.batch_execute(&format!("ALTER ROLE {} LOGIN", quote_ident(&role)))
                .await?;
            // A password issued before an extension lasts as long as the grant now does.
            let extend = tx
                .query_opt(
                    "SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolvaliduntil IS NOT NULL AND rolvaliduntil < $2::text::timestamptz",
                    &[&role, &until],
                )
                .await?
                .is_some();
            if extend {
                tx.batch_execute(&format!(
                    "ALTER ROLE {} VALID UNTIL {}",
                    quote_ident(&role),
                    quote_literal(&until)
                ))
                .await?;
            }
            if db.auth == DbAuth::Iam {
                if !sql::role_exists(&tx, "rds_iam").await? {
                    return Err(Failure::Grant(GrantError::Unknown(anyhow::anyhow!(
                            "database {}: the rds_iam role does not exist, so IAM sign-in cannot work here; turn on IAM database authentication for the instance, or use auth = \"password\"",
                            db.instance
                        ))));
                }
                tx.batch_execute(&format!("GRANT rds_iam TO {}", quote_ident(&role)))
                    .await?;
            }
            if !sql::role_exists(&tx, &granted).await? {
                tx.batch_execute(&format!("CREATE ROLE {} NOLOGIN", quote_ident(&granted)))
                    .await?;
                tx.batch_execute(&format!(
                    "COMMENT ON ROLE {} IS {}",
                    quote_ident(&granted),
                    quote_literal(&comment)
                ))
                .await?;
            }
            tx.batch_execute(&format!(
                "GRANT CONNECT ON DATABASE {} TO {}",
                quote_ident(&db.database),
                quote_ident(&granted)
            ))
            .await?;
            for statement in &statements {
                tx.batch_execute(statement).await?;
            }
            tx.batch_execute(&format!(
                "GRANT {} TO {}",
                quote_ident(&granted),
                quote_ident(&role)
            ))
            .await?;
            Ok(())
        })
    }

    #[instrument(skip(self, db), fields(instance = %db.instance, database = %db.database, grant_id = %grant))]
    async fn revoke(
        &self,
        person: &Email,
        db: &Database,
        grant: &RequestId,
    ) -> Result<(), GrantError> {
        let role = person_role(person);
        let granted = jit_core::database::grant_role(grant);
        let owner = self.owner(db).await?;
        let database = db.database.clone();
        let mut client = self.connect(db, &db.database).await?;
        in_transaction!(client, db, |tx| {
            lock(&tx).await?;
            let person_exists = sql::role_exists(&tx, &role).await?;
            if person_exists {
                sql::claim_person(&tx, &role).await?;
            }
            if sql::role_exists(&tx, &granted).await? {
                if person_exists {
                    tx.batch_execute(&format!(
                        "REVOKE {} FROM {}",
                        quote_ident(&granted),
                        quote_ident(&role)
                    ))
                    .await?;
                }
                tx.batch_execute(&format!(
                    "REASSIGN OWNED BY {g} TO {o}; DROP OWNED BY {g}; DROP ROLE {g}",
                    g = quote_ident(&granted),
                    o = quote_ident(&owner)
                ))
                .await?;
            }
            if !person_exists {
                return Ok(());
            }
            let left = sql::settle_login(&tx, &role).await?;
            if !left.iter().any(|(_, d)| *d == database) {
                // What they made on this database stays, owned by someone who stays.
                tx.batch_execute(&format!(
                    "REASSIGN OWNED BY {} TO {}",
                    quote_ident(&role),
                    quote_ident(&owner)
                ))
                .await?;
            }
            Ok(())
        })?;
        // After the commit: a session opened before it must not keep the access.
        let ended = client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND pid <> pg_backend_pid()",
                &[&role, &db.database],
            )
            .await
            .map_err(|e| sql::error(db, e))?;
        if ended > 0 {
            tracing::info!(
                sessions = ended,
                "ended the person's open sessions on the database"
            );
        }
        Ok(())
    }

    #[instrument(skip(self, db), fields(instance = %db.instance))]
    async fn password(
        &self,
        person: &Email,
        db: &Database,
        until: DateTime<Utc>,
    ) -> Result<IssuedPassword, GrantError> {
        let role = person_role(person);
        let login = self.admin.login(db).await?;
        let password = sql::new_password();
        // The server is sent the SCRAM verifier, never the password: a statement log on the
        // server cannot show it.
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let until = until.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut client = self.connect(db, &db.database).await?;
        in_transaction!(client, db, |tx| {
            lock(&tx).await?;
            if !sql::role_exists(&tx, &role).await? || sql::grants_of(&tx, &role).await?.is_empty()
            {
                return Err(Failure::Grant(GrantError::NoIdentity(format!(
                    "{person} holds no grant on database instance {}",
                    db.instance
                ))));
            }
            tx.batch_execute(&format!(
                "ALTER ROLE {} LOGIN PASSWORD {} VALID UNTIL {}",
                quote_ident(&role),
                quote_literal(&verifier),
                quote_literal(&until)
            ))
            .await?;
            Ok(())
        })?;
        Ok(IssuedPassword {
            password,
            host: login.host,
            port: login.port,
            tls: login.tls,
        })
    }

    async fn holdings(&self, db: &Database) -> Result<DbHoldings, GrantError> {
        let client = self.connect(db, &db.database).await?;
        let rows = client
            .query(
                "SELECT g.rolname::text, coalesce(shobj_description(g.oid, 'pg_authid'), '') FROM pg_roles g WHERE g.rolname LIKE 'jitg\\_%'",
                &[],
            )
            .await
            .map_err(|e| sql::error(db, e))?;
        let mut out = DbHoldings::default();
        for row in rows {
            let name: String = row.get(0);
            let comment: String = row.get(1);
            match (grant_of_role(&name), parse_grant_comment(&comment)) {
                (Some(grant), Some((person, instance, database))) => {
                    // One server may serve several catalog instances only in tests and local
                    // mode; each keeps to its own.
                    if instance == db.instance {
                        out.grants.push(HeldGrant {
                            person,
                            grant,
                            database,
                        })
                    }
                }
                _ => warn!(role = %name, "a jitg_ role without this product's comment; left alone"),
            }
        }
        let idle = client
            .query(
                "SELECT coalesce(shobj_description(r.oid, 'pg_authid'), '') FROM pg_roles r \
                 WHERE r.rolcanlogin AND shobj_description(r.oid, 'pg_authid') LIKE 'jit person %' \
                 AND NOT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                                 WHERE m.member = r.oid AND g.rolname LIKE 'jitg\\_%')",
                &[],
            )
            .await
            .map_err(|e| sql::error(db, e))?;
        for row in idle {
            let comment: String = row.get(0);
            if let Some(p) = comment
                .strip_prefix("jit person ")
                .and_then(|p| Email::parse(p).ok())
            {
                out.idle_logins.push(p);
            }
        }
        Ok(out)
    }

    async fn lock_out(&self, person: &Email, db: &Database) -> Result<(), GrantError> {
        let role = person_role(person);
        let mut client = self.connect(db, &db.database).await?;
        in_transaction!(client, db, |tx| {
            lock(&tx).await?;
            if sql::role_exists(&tx, &role).await? {
                sql::claim_person(&tx, &role).await?;
                sql::settle_login(&tx, &role).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"
[[bundle]]
name = "orders-read"
description = "d"
owner_team = "data"
risk = "low"
strategy = "postgres"
accounts = ["111111111111"]
[bundle.database]
instance = "orders-prod"
endpoint = "db.example.com"
database = "orders on x"
admin_secret = "jit/orders"
auth = "password"
privileges = "read"

[settings]
platform_group = "platform"
admin_group = "admins"
"#;

    #[test]
    fn grant_comments_round_trip() {
        let id = RequestId::parse("0123456789abcdef0123").unwrap();
        let who = Email::parse("a.b@example.com").unwrap();
        let db = jit_core::catalog::parse_files(&[("c.toml".into(), CATALOG.into())])
            .unwrap()
            .bundles
            .into_values()
            .find_map(|b| b.strategy.database().cloned())
            .unwrap();
        let c = grant_comment(&id, &who, &db);
        assert_eq!(
            parse_grant_comment(&c),
            Some((who, "orders-prod".to_string(), "orders on x".to_string()))
        );
        assert_eq!(parse_grant_comment("something else"), None);
    }
}
