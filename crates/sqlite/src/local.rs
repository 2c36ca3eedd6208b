//! What AWS keeps deployed, kept in the local database: one-shot schedules (Scheduler), sent
//! emails (the outbox local mode prints and serves), and the simulated identity side
//! (permission sets, assignments, role policies).

use chrono::{DateTime, Utc};
use jit_core::catalog::Strategy;
use jit_core::plan::{GrantSpec, PolicyDocument};
use jit_core::ports::{
    GrantError, Grantor, MailError, Mailer, Message, RolePolicies, Schedule, ScheduleError,
    Scheduler, StoreError,
};
use jit_core::types::{Email, RequestId};
use jit_memory::{IdentitySide, MemoryGrantor, PersonSide};
use rusqlite::params;

use crate::{exec, fault, json, parse, ts, Db};

/// One-shot schedules in the local database.
#[derive(Debug, Clone)]
pub struct SqliteScheduler {
    db: Db,
}

impl SqliteScheduler {
    /// The schedules in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Removes and returns the schedules due at `now`, earliest first.
    pub fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Schedule>, StoreError> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(fault)?;
        let due: Vec<String> = {
            let mut q = tx
                .prepare_cached("SELECT data FROM schedules WHERE at <= ?1 ORDER BY at, name")
                .map_err(fault)?;
            let rows = q
                .query_map([ts(now)], |r| r.get::<_, String>(0))
                .map_err(fault)?;
            rows.collect::<Result<_, _>>().map_err(fault)?
        };
        tx.execute("DELETE FROM schedules WHERE at <= ?1", [ts(now)])
            .map_err(fault)?;
        tx.commit().map_err(fault)?;
        due.iter().map(|d| parse(d)).collect()
    }

    /// Every schedule not yet fired, soonest first.
    pub fn all(&self) -> Result<Vec<Schedule>, StoreError> {
        let c = self.db.lock();
        let mut q = c
            .prepare_cached("SELECT data FROM schedules ORDER BY at, name")
            .map_err(fault)?;
        let rows = q.query_map([], |r| r.get::<_, String>(0)).map_err(fault)?;
        rows.map(|t| parse(&t.map_err(fault)?)).collect()
    }
}

fn schedule_error(e: StoreError) -> ScheduleError {
    match e {
        StoreError::Unavailable(m) => ScheduleError::Retryable(m),
        other => ScheduleError::Unknown(anyhow::anyhow!(other)),
    }
}

impl Scheduler for SqliteScheduler {
    async fn schedule(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let data = json(schedule).map_err(schedule_error)?;
        exec(
            &self.db.lock(),
            "INSERT INTO schedules (name, at, data) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![schedule.name, ts(schedule.at), data],
        )
        .map(|_| ())
        .map_err(|e| schedule_error(fault(e)))
    }

    async fn cancel(&self, name: &str) -> Result<(), ScheduleError> {
        exec(
            &self.db.lock(),
            "DELETE FROM schedules WHERE name = ?1",
            [name],
        )
        .map(|_| ())
        .map_err(|e| schedule_error(fault(e)))
    }
}

/// The email outbox in the local database: every message, numbered in the order sent.
#[derive(Debug, Clone)]
pub struct SqliteMailer {
    db: Db,
}

impl SqliteMailer {
    /// The outbox in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Messages numbered after `after`, oldest first, with their numbers.
    pub fn sent_after(&self, after: i64) -> Result<Vec<(i64, Message)>, StoreError> {
        let c = self.db.lock();
        let mut q = c
            .prepare_cached("SELECT seq, data FROM mail WHERE seq > ?1 ORDER BY seq")
            .map_err(fault)?;
        let rows = q
            .query_map([after], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(fault)?;
        rows.map(|row| {
            let (seq, data) = row.map_err(fault)?;
            Ok((seq, parse(&data)?))
        })
        .collect()
    }
}

impl Mailer for SqliteMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let data = json(message).map_err(|e| MailError::Unknown(anyhow::anyhow!(e)))?;
        exec(
            &self.db.lock(),
            "INSERT INTO mail (data) VALUES (?1)",
            [data],
        )
        .map(|_| ())
        .map_err(|e| MailError::Unknown(anyhow::anyhow!(fault(e))))
    }
}

/// The simulated identity side ([`MemoryGrantor`]), saved to the local database after every
/// change and loaded from it at start: a row a person (`person:<email>`, what they hold) and a
/// row a simulated database grant (`db:<id>`), so a change writes what its person holds, not the
/// whole side (which grows with everyone's grants).
#[derive(Debug)]
pub struct PersistedGrantor {
    inner: MemoryGrantor,
    db: Db,
}

/// Where the whole side was kept as one value before it was kept by person.
const IDENTITY_KEY: &str = "identity-side";

impl PersistedGrantor {
    /// The identity side saved in `db` (empty the first time). A side saved whole by an earlier
    /// version is moved to the rows first, in one transaction.
    pub fn load(db: Db) -> Result<Self, StoreError> {
        if let Some(text) = db.meta(IDENTITY_KEY)? {
            let old: IdentitySide = parse(&text)?;
            let mut c = db.lock();
            let tx = c.transaction().map_err(fault)?;
            for person in old.people() {
                write_row(&tx, &person_key(&person), Some(&old.person(&person)))?;
            }
            for (id, grant) in &old.database_grants {
                write_row(&tx, &db_key(id), Some(grant))?;
            }
            tx.execute("DELETE FROM meta WHERE key = ?1", [IDENTITY_KEY])
                .map_err(fault)?;
            tx.commit().map_err(fault)?;
        }
        let mut side = IdentitySide::default();
        {
            let c = db.lock();
            let mut q = c.prepare("SELECT key, data FROM identity").map_err(fault)?;
            let rows = q
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(fault)?;
            for row in rows {
                let (key, data) = row.map_err(fault)?;
                if let Some(person) = key.strip_prefix("person:") {
                    let person = Email::parse(person)
                        .map_err(|e| StoreError::Unknown(anyhow::anyhow!("{key}: {e}")))?;
                    side.set_person(&person, parse::<PersonSide>(&data)?);
                } else if let Some(id) = key.strip_prefix("db:") {
                    let id = RequestId::parse(id)
                        .map_err(|e| StoreError::Unknown(anyhow::anyhow!("{key}: {e}")))?;
                    side.database_grants.insert(id, parse(&data)?);
                }
            }
        }
        Ok(Self {
            inner: MemoryGrantor::with_side(side),
            db,
        })
    }

    /// A copy of the identity side.
    pub fn snapshot(&self) -> IdentitySide {
        self.inner.snapshot()
    }

    /// Makes the next calls fail as given (tests of retries), as [`MemoryGrantor::inject`].
    pub fn inject(&self, faults: &[jit_memory::Fault]) {
        self.inner.inject(faults);
    }

    /// Saves what `person` holds now (and database grant `grant`'s record) once `outcome`
    /// succeeded. The database's lock is taken before the side is read, so two changes of one
    /// person save in the order they read: the last row written is the newest.
    fn save<T>(
        &self,
        person: &Email,
        grant: Option<&RequestId>,
        outcome: Result<T, GrantError>,
    ) -> Result<T, GrantError> {
        let value = outcome?;
        let saved = (|| {
            let mut c = self.db.lock();
            let tx = c.transaction().map_err(fault)?;
            let part = self.inner.person_part(person);
            write_row(
                &tx,
                &person_key(person),
                (!part.is_empty()).then_some(&part),
            )?;
            if let Some(id) = grant {
                write_row(&tx, &db_key(id), self.inner.db_grant(id).as_ref())?;
            }
            tx.commit().map_err(fault)
        })();
        saved.map_err(|e| GrantError::Retryable(format!("the local store: {e}")))?;
        Ok(value)
    }
}

fn person_key(person: &Email) -> String {
    format!("person:{person}")
}

fn db_key(id: &RequestId) -> String {
    format!("db:{id}")
}

/// Writes `value` under `key`, or deletes the row when there is none.
fn write_row<T: serde::Serialize>(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    value: Option<&T>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => exec(
            tx,
            "INSERT INTO identity (key, data) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET data = excluded.data",
            params![key, json(v)?],
        )
        .map_err(fault)?,
        None => exec(tx, "DELETE FROM identity WHERE key = ?1", [key]).map_err(fault)?,
    };
    Ok(())
}

/// The grant whose record a change touches: a database grant's own.
fn database_grant<'a>(strategy: &Strategy, grant: &'a GrantSpec) -> Option<&'a RequestId> {
    matches!(strategy, Strategy::Postgres(_)).then_some(&grant.id)
}

impl Grantor for PersistedGrantor {
    async fn apply(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.save(
            person,
            database_grant(strategy, grant),
            self.inner.apply(person, strategy, grant).await,
        )
    }

    async fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.save(
            person,
            database_grant(strategy, grant),
            self.inner.remove(person, strategy, grant).await,
        )
    }

    async fn containers(&self) -> Result<Vec<Email>, GrantError> {
        self.inner.containers().await
    }

    async fn container_policy(&self, person: &Email) -> Result<Option<PolicyDocument>, GrantError> {
        self.inner.container_policy(person).await
    }

    async fn replace_container_policy(
        &self,
        person: &Email,
        seen: &PolicyDocument,
        next: &PolicyDocument,
    ) -> Result<bool, GrantError> {
        self.save(
            person,
            None,
            self.inner
                .replace_container_policy(person, seen, next)
                .await,
        )
    }

    async fn role_holders(&self) -> Result<Vec<Email>, GrantError> {
        self.inner.role_holders().await
    }

    async fn role_policies(&self, person: &Email) -> Result<Option<RolePolicies>, GrantError> {
        self.inner.role_policies(person).await
    }

    async fn replace_role_policies(
        &self,
        person: &Email,
        seen: &RolePolicies,
        next: &RolePolicies,
    ) -> Result<bool, GrantError> {
        self.save(
            person,
            None,
            self.inner.replace_role_policies(person, seen, next).await,
        )
    }

    async fn lapse_session_denies(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, GrantError> {
        self.inner.lapse_session_denies(now).await
    }

    async fn db_password(
        &self,
        person: &Email,
        db: &jit_core::database::Database,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<jit_core::database::IssuedPassword, GrantError> {
        self.inner.db_password(person, db, until).await
    }

    async fn db_holdings(
        &self,
        db: &jit_core::database::Database,
    ) -> Result<jit_core::database::DbHoldings, GrantError> {
        self.inner.db_holdings(db).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jit_core::catalog::Statement;
    use jit_core::types::{AccountId, IamAction, ResourceArn};

    fn who(s: &str) -> Email {
        Email::parse(&format!("{s}@example.com")).unwrap()
    }

    fn grant(n: usize) -> GrantSpec {
        GrantSpec {
            id: RequestId::parse(&format!("grant{n:07}")).unwrap(),
            statements: vec![Statement {
                actions: vec![IamAction::parse("s3:GetObject").unwrap()],
                resources: vec![ResourceArn::parse(&format!("arn:aws:s3:::b{n}/*")).unwrap()],
            }],
            accounts: vec![AccountId::parse("111111111111").unwrap()],
            starts_at: None,
            expires_at: chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        }
    }

    fn rows(db: &Db) -> Vec<String> {
        let c = db.lock();
        let mut q = c.prepare("SELECT key FROM identity ORDER BY key").unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Each change writes its person's row (emptied, the row goes), a restart reads the same
    /// side back, and a side an earlier version saved whole is moved to rows on the way.
    #[tokio::test]
    async fn the_identity_side_is_kept_by_person_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_dir(dir.path()).unwrap();
        let grantor = PersistedGrantor::load(db.clone()).unwrap();
        let (alice, bob) = (who("alice"), who("bob"));
        for (person, n) in [(&alice, 1), (&alice, 2), (&bob, 3)] {
            grantor
                .apply(person, &Strategy::Container, &grant(n))
                .await
                .unwrap();
        }
        assert_eq!(
            rows(&db),
            ["person:alice@example.com", "person:bob@example.com"]
        );
        grantor
            .remove(&alice, &Strategy::Container, &grant(2))
            .await
            .unwrap();
        let before = serde_json::to_value(grantor.snapshot()).unwrap();
        drop(grantor);
        let again = PersistedGrantor::load(db.clone()).unwrap();
        assert_eq!(serde_json::to_value(again.snapshot()).unwrap(), before);

        // An earlier version's whole side, with a person the rows do not have.
        let mut old = again.snapshot();
        old.containers
            .insert(who("carol"), PolicyDocument::default());
        db.set_meta(IDENTITY_KEY, &json(&old).unwrap()).unwrap();
        let moved = PersistedGrantor::load(db.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(moved.snapshot()).unwrap(),
            serde_json::to_value(&old).unwrap()
        );
        assert_eq!(db.meta(IDENTITY_KEY).unwrap(), None);
        assert!(rows(&db).contains(&"person:carol@example.com".to_string()));
    }
}
