//! Small queries the adapter's changes share, and how Postgres errors read.

use jit_core::database::{person_comment, quote_ident, quote_literal, Database};
use jit_core::ports::GrantError;
use jit_core::types::Email;
use rand::Rng;
use tokio_postgres::error::SqlState;
use tokio_postgres::Transaction;

use crate::Failure;

/// Whether a role of that name exists.
pub(crate) async fn role_exists(tx: &Transaction<'_>, name: &str) -> Result<bool, Failure> {
    Ok(tx
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await?
        .is_some())
}

/// Makes `person`'s role if it is not there; refuses when a role of that name is someone
/// else's (two emails that read alike), naming both, so nobody ever shares a role.
pub(crate) async fn ensure_person(
    tx: &Transaction<'_>,
    person: &Email,
    role: &str,
) -> Result<(), Failure> {
    let row = tx
        .query_opt(
            "SELECT coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await?;
    let comment = person_comment(person);
    match row {
        None => {
            tx.batch_execute(&format!("CREATE ROLE {} NOLOGIN", quote_ident(role)))
                .await?;
            tx.batch_execute(&format!(
                "COMMENT ON ROLE {} IS {}",
                quote_ident(role),
                quote_literal(&comment)
            ))
            .await?;
            Ok(())
        }
        Some(row) if row.get::<_, String>(0) == comment => Ok(()),
        Some(row) => {
            let other: String = row.get(0);
            Err(Failure::Grant(GrantError::NoIdentity(format!(
                "the database role {role} for {person} already exists and is not theirs ({}); an admin must rename one of the two",
                if other.is_empty() { "it has no jit comment".to_string() } else { other }
            ))))
        }
    }
}

/// Takes `role`'s row for this transaction by writing it (login off until [`settle_login`]
/// decides). The role is shared by every database of the instance while the advisory lock is
/// per database, so an end on another database may be deciding at once: whichever writes the
/// row second waits for the first, fails as a race and is tried again, then reads what the
/// first changed. Reading first and writing later would let both decide on a stale read.
pub(crate) async fn claim_person(tx: &Transaction<'_>, role: &str) -> Result<(), Failure> {
    tx.batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(role)))
        .await?;
    Ok(())
}

/// Sets `role`'s login from the grants it holds now (claimed first with [`claim_person`]): on
/// while any is left, off with no password when none is. Returns what is left.
pub(crate) async fn settle_login(
    tx: &Transaction<'_>,
    role: &str,
) -> Result<Vec<(String, String)>, Failure> {
    let left = grants_of(tx, role).await?;
    let login = if left.is_empty() {
        "NOLOGIN PASSWORD NULL"
    } else {
        "LOGIN"
    };
    tx.batch_execute(&format!("ALTER ROLE {} {login}", quote_ident(role)))
        .await?;
    Ok(left)
}

/// The grant roles granted to `role`, with the database each is on.
pub(crate) async fn grants_of(
    tx: &Transaction<'_>,
    role: &str,
) -> Result<Vec<(String, String)>, Failure> {
    let rows = tx
        .query(
            "SELECT g.rolname::text, coalesce(shobj_description(g.oid, 'pg_authid'), '') \
             FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles p ON p.oid = m.member \
             WHERE p.rolname = $1 AND g.rolname LIKE 'jitg\\_%'",
            &[&role],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let comment: String = r.get(1);
            let database = comment
                .split_once(" in ")
                .and_then(|(_, rest)| rest.split_once(" on "))
                .map(|(_, d)| d.to_string())
                .unwrap_or_default();
            (r.get(0), database)
        })
        .collect())
}

/// 32 letters and digits from the OS's generator (about 190 bits).
pub(crate) fn new_password() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Whether `e` is another transaction's concurrent change, worth trying again.
pub(crate) fn is_race(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(c) => {
            *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::DUPLICATE_OBJECT
                || *c == SqlState::LOCK_NOT_AVAILABLE
                // A catalog row written by a transaction that committed while this one waited
                // for it. The error's own text is only "db error": the server's is read.
                || (*c == SqlState::INTERNAL_ERROR
                    && e.as_db_error().is_some_and(|d| d.message().contains("concurrently")))
        }
        None => false,
    }
}

/// The server's own message, or the connection error's chain, in one line.
pub(crate) fn cause(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return jit_core::text::one_line(db.message());
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    jit_core::text::one_line(&out)
}

/// A Postgres error as a grant error: unreachable, busy or shutting down is retryable; the
/// rest is not, and says what the server said.
pub(crate) fn error(db: &Database, e: tokio_postgres::Error) -> GrantError {
    let retryable = match e.code() {
        None => true,
        Some(c) => {
            let class = &c.code()[..2];
            matches!(class, "08" | "53" | "57" | "40") || *c == SqlState::LOCK_NOT_AVAILABLE
        }
    };
    let message = format!("database {}/{}: {}", db.instance, db.database, cause(&e));
    if retryable {
        GrantError::Retryable(message)
    } else {
        GrantError::Unknown(anyhow::anyhow!(message))
    }
}
