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
use jit_core::types::Email;
use jit_memory::{IdentitySide, MemoryGrantor};
use rusqlite::params;

use crate::{fault, json, parse, ts, Db};

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
        self.db
            .lock()
            .execute(
                "INSERT INTO schedules (name, at, data) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![schedule.name, ts(schedule.at), data],
            )
            .map(|_| ())
            .map_err(|e| schedule_error(fault(e)))
    }

    async fn cancel(&self, name: &str) -> Result<(), ScheduleError> {
        self.db
            .lock()
            .execute("DELETE FROM schedules WHERE name = ?1", [name])
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
        self.db
            .lock()
            .execute("INSERT INTO mail (data) VALUES (?1)", [data])
            .map(|_| ())
            .map_err(|e| MailError::Unknown(anyhow::anyhow!(fault(e))))
    }
}

/// The simulated identity side ([`MemoryGrantor`]), saved to the local database after every
/// change and loaded from it at start.
#[derive(Debug)]
pub struct PersistedGrantor {
    inner: MemoryGrantor,
    db: Db,
}

const IDENTITY_KEY: &str = "identity-side";

impl PersistedGrantor {
    /// The identity side saved in `db` (empty the first time).
    pub fn load(db: Db) -> Result<Self, StoreError> {
        let side: IdentitySide = match db.meta(IDENTITY_KEY)? {
            Some(text) => parse(&text)?,
            None => IdentitySide::default(),
        };
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

    fn save<T>(&self, outcome: Result<T, GrantError>) -> Result<T, GrantError> {
        let value = outcome?;
        let text =
            json(&self.inner.snapshot()).map_err(|e| GrantError::Unknown(anyhow::anyhow!(e)))?;
        self.db
            .set_meta(IDENTITY_KEY, &text)
            .map_err(|e| GrantError::Retryable(format!("the local store: {e}")))?;
        Ok(value)
    }
}

impl Grantor for PersistedGrantor {
    async fn apply(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.save(self.inner.apply(person, strategy, grant).await)
    }

    async fn remove(
        &self,
        person: &Email,
        strategy: &Strategy,
        grant: &GrantSpec,
    ) -> Result<(), GrantError> {
        self.save(self.inner.remove(person, strategy, grant).await)
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
        self.save(self.inner.replace_role_policies(person, seen, next).await)
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
