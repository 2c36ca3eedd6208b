//! The ledger on SQLite: every lookup the service makes is one indexed query (see
//! [`crate::SCHEMA`]), and every write is one transaction that checks what the contract says
//! it checks (an id not taken, a person's admissions unchanged, a version and status), then
//! writes the request, its audit records, its notices, the groups it waits on and a
//! change-feed entry together or not at all.

use chrono::{DateTime, Utc};
use jit_core::audit::AuditEvent;
use jit_core::lifecycle::{Request, Status, Transition};
use jit_core::ports::{Card, CardStore, Notice, OpenRequests, RequestStore, StoreError};
use jit_core::prompt::{Prompt, PromptStatus};
use jit_core::types::{Email, GroupName, RequestId};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::{exec, fault, json, parse, ts, CachedRow, Db};

/// The ledger, indexed, with a change feed.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Db,
}

/// One entry of the change feed: a request was written, with this status (the stream
/// record's new image, as far as the grant function needs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its position in the feed.
    pub seq: i64,
    /// The request written.
    pub request_id: RequestId,
    /// Its status as written.
    pub status: Status,
}

/// Statuses that are not final, as stored (the same words as the `requests_open` index, so
/// SQLite uses it).
const OPEN: &str = "('requested', 'pending', 'approved', 'active')";

impl SqliteStore {
    /// The ledger in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Requests changed after position `after` of the change feed, oldest change first, at
    /// most `limit`: what the table's stream delivers deployed. Positions only grow.
    pub fn changes_after(&self, after: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let c = self.db.lock();
        let mut q = c
            .prepare_cached(
                "SELECT seq, request_id, status FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(fault)?;
        let rows = q
            .query_map(params![after, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(fault)?;
        let bad = |e: jit_core::types::InvalidValue| StoreError::Unknown(e.into());
        rows.map(|row| {
            let (seq, id, status) = row.map_err(fault)?;
            Ok(Change {
                seq,
                request_id: RequestId::parse(&id).map_err(bad)?,
                status: status.parse().map_err(bad)?,
            })
        })
        .collect()
    }

    /// Forgets the change feed up to and including `upto` (read and acted on).
    pub fn trim_changes(&self, upto: i64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute("DELETE FROM changes WHERE seq <= ?1", [upto])
            .map(|_| ())
            .map_err(fault)
    }

    /// How many requests are stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.db
            .lock()
            .row("SELECT COUNT(*) FROM requests", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(fault)
    }

    /// The records a query's first column holds, as JSON, in the order it returns them.
    fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>, StoreError> {
        let c = self.db.lock();
        let mut q = c.prepare_cached(sql).map_err(fault)?;
        let rows = q
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(fault)?;
        rows.map(|t| parse(&t.map_err(fault)?)).collect()
    }

    fn requests(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Request>, StoreError> {
        self.fetch(sql, args)
    }

    fn prompts(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Prompt>, StoreError> {
        self.fetch(sql, args)
    }
}

/// Writes the request with what indexes it, its audit records, and a change-feed entry.
fn put(tx: &Transaction<'_>, t: &Transition) -> Result<(), StoreError> {
    let r = &t.request;
    let id = r.id.as_str();
    let live_until = r.expires_at.filter(|_| r.status.is_live()).map(ts);
    let deadline = (r.status == Status::Pending).then(|| ts(r.decision_deadline()));
    exec(tx,
        "INSERT INTO requests (id, requester, status, version, created_at, live_until, deadline, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, version = excluded.version,
           live_until = excluded.live_until, deadline = excluded.deadline, data = excluded.data",
        params![
            id,
            r.requester.as_str(),
            r.status.as_str(),
            r.version as i64,
            ts(r.created_at),
            live_until,
            deadline,
            json(r)?
        ],
    )
    .map_err(fault)?;
    exec(tx, "DELETE FROM waits WHERE request_id = ?1", [id]).map_err(fault)?;
    for g in r.waiting_on() {
        exec(
            tx,
            "INSERT INTO waits (grp, created_at, request_id) VALUES (?1, ?2, ?3)",
            params![g.as_str(), ts(r.created_at), id],
        )
        .map_err(fault)?;
    }
    for e in &t.events {
        exec(
            tx,
            "INSERT INTO audit (request_id, seq, at, data) VALUES (?1, ?2, ?3, ?4)",
            params![e.request_id.as_str(), e.seq as i64, ts(e.at), json(e)?],
        )
        .map_err(fault)?;
    }
    for n in &t.notices {
        exec(
            tx,
            "INSERT INTO notices (request_id, key, written_at, data) VALUES (?1, ?2, ?3, ?4)",
            params![id, n.key, ts(n.written_at), json(n)?],
        )
        .map_err(fault)?;
    }
    exec(
        tx,
        "INSERT INTO changes (request_id, status) VALUES (?1, ?2)",
        [id, r.status.as_str()],
    )
    .map_err(fault)?;
    Ok(())
}

impl RequestStore for SqliteStore {
    async fn create(&self, t: &Transition, open: &OpenRequests) -> Result<(), StoreError> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(fault)?;
        let taken = tx
            .row(
                "SELECT 1 FROM requests WHERE id = ?1",
                [t.request.id.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map_err(fault)?;
        if taken.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let person = t.request.requester.as_str();
        let admitted: i64 = tx
            .row(
                "SELECT version FROM admissions WHERE person = ?1",
                [person],
                |r| r.get(0),
            )
            .optional()
            .map_err(fault)?
            .unwrap_or(0);
        if admitted as u64 != open.version {
            return Err(StoreError::Conflict);
        }
        exec(
            &tx,
            "INSERT INTO admissions (person, version) VALUES (?1, ?2)
             ON CONFLICT (person) DO UPDATE SET version = excluded.version",
            params![person, admitted + 1],
        )
        .map_err(fault)?;
        put(&tx, t)?;
        tx.commit().map_err(fault)
    }

    async fn open_for(&self, person: &Email) -> Result<OpenRequests, StoreError> {
        let version: i64 = self
            .db
            .lock()
            .row(
                "SELECT version FROM admissions WHERE person = ?1",
                [person.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(fault)?
            .unwrap_or(0);
        let requests = self.requests(
            &format!("SELECT data FROM requests WHERE requester = ?1 AND status IN {OPEN}"),
            [person.as_str()],
        )?;
        Ok(OpenRequests {
            version: version as u64,
            requests,
        })
    }

    async fn update(
        &self,
        expected_version: u64,
        expected_status: Status,
        t: &Transition,
    ) -> Result<(), StoreError> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(fault)?;
        let current: Option<(i64, String)> = tx
            .row(
                "SELECT version, status FROM requests WHERE id = ?1",
                [t.request.id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(fault)?;
        match current {
            Some((v, s)) if v as u64 == expected_version && s == expected_status.as_str() => {}
            _ => return Err(StoreError::Conflict),
        }
        put(&tx, t)?;
        tx.commit().map_err(fault)
    }

    async fn get(&self, id: &RequestId) -> Result<Option<Request>, StoreError> {
        Ok(self
            .requests("SELECT data FROM requests WHERE id = ?1", [id.as_str()])?
            .pop())
    }

    async fn timeline(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        self.fetch(
            "SELECT data FROM audit WHERE request_id = ?1 ORDER BY seq",
            [id.as_str()],
        )
    }

    async fn by_requester(&self, email: &Email, limit: usize) -> Result<Vec<Request>, StoreError> {
        self.requests(
            "SELECT data FROM requests WHERE requester = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2",
            params![email.as_str(), limit as i64],
        )
    }

    async fn pending_for_group(&self, group: &GroupName) -> Result<Vec<Request>, StoreError> {
        self.requests(
            "SELECT r.data FROM waits w JOIN requests r ON r.id = w.request_id
             WHERE w.grp = ?1 ORDER BY w.created_at, w.request_id",
            [group.as_str()],
        )
    }

    async fn live_for(&self, email: &Email) -> Result<Vec<Request>, StoreError> {
        self.requests(
            "SELECT data FROM requests WHERE requester = ?1 AND live_until IS NOT NULL",
            [email.as_str()],
        )
    }

    async fn expiring_before(&self, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        self.requests(
            "SELECT data FROM requests WHERE live_until IS NOT NULL AND live_until <= ?1
             ORDER BY live_until, id",
            [ts(t)],
        )
    }

    async fn undecided_before(&self, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        self.requests(
            "SELECT data FROM requests WHERE deadline IS NOT NULL AND deadline <= ?1
             ORDER BY deadline, id",
            [ts(t)],
        )
    }

    async fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.fetch(
            "SELECT data FROM audit WHERE at >= ?1 AND at < ?2 ORDER BY at, request_id, seq",
            [ts(from), ts(to)],
        )
    }

    async fn nonce_used(&self, nonce: &str) -> Result<bool, StoreError> {
        self.db
            .lock()
            .row("SELECT 1 FROM nonces WHERE nonce = ?1", [nonce], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(fault)
    }

    async fn use_nonce(&self, nonce: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let inserted = self
            .db
            .lock()
            .execute(
                "INSERT INTO nonces (nonce, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                [nonce, &ts(expires)],
            )
            .map_err(fault)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    async fn create_prompt(
        &self,
        prompt: &Prompt,
        quiet_until: DateTime<Utc>,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(fault)?;
        let key = prompt.quiet_key();
        let quiet = tx
            .row(
                "SELECT 1 FROM quiet WHERE key = ?1 AND until >= ?2",
                [&key, &ts(prompt.created_at)],
                |_| Ok(()),
            )
            .optional()
            .map_err(fault)?
            .is_some();
        let taken = tx
            .row(
                "SELECT 1 FROM prompts WHERE id = ?1",
                [prompt.id.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map_err(fault)?
            .is_some();
        if quiet || taken {
            return Err(StoreError::AlreadyExists);
        }
        exec(
            &tx,
            "INSERT INTO quiet (key, until) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET until = excluded.until",
            [&key, &ts(quiet_until)],
        )
        .map_err(fault)?;
        put_prompt(&tx, prompt)?;
        for n in notices {
            exec(
                &tx,
                "INSERT INTO notices (request_id, key, written_at, data) VALUES (?1, ?2, ?3, ?4)",
                params![prompt.id.as_str(), n.key, ts(n.written_at), json(n)?],
            )
            .map_err(fault)?;
        }
        tx.commit().map_err(fault)
    }

    async fn get_prompt(&self, id: &RequestId) -> Result<Option<Prompt>, StoreError> {
        Ok(self
            .prompts("SELECT data FROM prompts WHERE id = ?1", [id.as_str()])?
            .pop())
    }

    async fn update_prompt(
        &self,
        expected_version: u64,
        prompt: &Prompt,
    ) -> Result<(), StoreError> {
        let mut c = self.db.lock();
        let tx = c.transaction().map_err(fault)?;
        let version: Option<i64> = tx
            .row(
                "SELECT version FROM prompts WHERE id = ?1",
                [prompt.id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(fault)?;
        if version.map(|v| v as u64) != Some(expected_version) {
            return Err(StoreError::Conflict);
        }
        put_prompt(&tx, prompt)?;
        tx.commit().map_err(fault)
    }

    async fn prompts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Prompt>, StoreError> {
        self.prompts(
            "SELECT data FROM prompts WHERE created_at >= ?1 AND created_at < ?2
             ORDER BY created_at, id",
            [ts(from), ts(to)],
        )
    }

    async fn notices_before(&self, t: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
        self.fetch(
            "SELECT data FROM notices WHERE written_at <= ?1 ORDER BY written_at, key",
            [ts(t)],
        )
    }

    async fn notice_delivered(&self, request: &RequestId, key: &str) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "DELETE FROM notices WHERE request_id = ?1 AND key = ?2",
                [request.as_str(), key],
            )
            .map(|_| ())
            .map_err(fault)
    }

    async fn prompts_unanswered_before(&self, t: DateTime<Utc>) -> Result<Vec<Prompt>, StoreError> {
        self.prompts(
            "SELECT data FROM prompts WHERE answer_by IS NOT NULL AND answer_by <= ?1
             ORDER BY answer_by, id",
            [ts(t)],
        )
    }
}

fn put_prompt(tx: &Transaction<'_>, p: &Prompt) -> Result<(), StoreError> {
    let answer_by = (p.status == PromptStatus::Prompted).then(|| ts(p.answer_by()));
    exec(
        tx,
        "INSERT INTO prompts (id, version, created_at, answer_by, data) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version,
           answer_by = excluded.answer_by, data = excluded.data",
        params![
            p.id.as_str(),
            p.version as i64,
            ts(p.created_at),
            answer_by,
            json(p)?
        ],
    )
    .map(|_| ())
    .map_err(fault)
}

impl CardStore for SqliteStore {
    async fn put_card(&self, request: &RequestId, card: &Card) -> Result<(), StoreError> {
        let data = serde_json::to_string(card).map_err(|e| StoreError::Unknown(e.into()))?;
        self.db
            .lock()
            .execute(
                "INSERT OR REPLACE INTO cards (request_id, key, data) VALUES (?1, ?2, ?3)",
                [request.as_str(), card.key.as_str(), data.as_str()],
            )
            .map(|_| ())
            .map_err(fault)
    }

    async fn cards(&self, request: &RequestId) -> Result<Vec<Card>, StoreError> {
        self.fetch(
            "SELECT data FROM cards WHERE request_id = ?1 ORDER BY key",
            [request.as_str()],
        )
    }
}
