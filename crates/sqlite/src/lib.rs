//! Local mode's durable adapters, all in one SQLite file under a data directory, so that a
//! restart of `jit-local` loses nothing: the ledger ([`SqliteStore`], held to the same store
//! contract as the DynamoDB and in-memory stores), its change feed (what the table's stream is
//! deployed), one-shot schedules, the email outbox, the simulated identity side, the local
//! clock's offset, and beside the database the link-signing key.
//!
//! Why SQLite rather than redb: every access pattern is an index declared in one schema
//! ([`SCHEMA`]), a transaction gives the conditional writes the contract asks for, and a person
//! can open the file with the `sqlite3` shell to see what local mode holds. It is compiled in
//! (`bundled`), so nothing needs installing. Writes go through the write-ahead log with
//! `synchronous = NORMAL`: a committed write survives the process being killed; a power cut
//! may lose the last moments, which a development tool can afford.
//!
//! Calls are synchronous and short (one indexed statement or one small transaction) behind
//! one lock: local mode serves one developer, not a fleet.

mod ledger;
mod local;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use jit_core::ports::StoreError;
use rusqlite::{Connection, OptionalExtension};

pub use ledger::{Change, SqliteStore};
pub use local::{PersistedGrantor, SqliteMailer, SqliteScheduler};

/// The file under the data directory that holds everything but the key.
pub const DB_FILE: &str = "jit-local.db";
/// The file under the data directory that holds the link-signing key (mode 0600).
pub const KEY_FILE: &str = "signing.key";

/// Every table and index; applied at each open (idempotent).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY, requester TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
  created_at TEXT NOT NULL, live_until TEXT, deadline TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS requests_by_requester ON requests (requester, created_at);
CREATE INDEX IF NOT EXISTS requests_open ON requests (requester)
  WHERE status IN ('requested', 'pending', 'approved', 'active');
CREATE INDEX IF NOT EXISTS requests_live ON requests (live_until) WHERE live_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS requests_undecided ON requests (deadline) WHERE deadline IS NOT NULL;
CREATE TABLE IF NOT EXISTS waits (
  grp TEXT NOT NULL, created_at TEXT NOT NULL, request_id TEXT NOT NULL,
  PRIMARY KEY (grp, created_at, request_id));
CREATE INDEX IF NOT EXISTS waits_by_request ON waits (request_id);
CREATE TABLE IF NOT EXISTS audit (
  request_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (request_id, seq));
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE TABLE IF NOT EXISTS admissions (person TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notices (
  request_id TEXT NOT NULL, key TEXT NOT NULL, written_at TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (request_id, key));
CREATE INDEX IF NOT EXISTS notices_by_time ON notices (written_at);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (
  id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, answer_by TEXT,
  data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS prompts_by_time ON prompts (created_at);
CREATE INDEX IF NOT EXISTS prompts_unanswered ON prompts (answer_by) WHERE answer_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS quiet (key TEXT PRIMARY KEY, until TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, at TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS schedules_by_time ON schedules (at);
CREATE TABLE IF NOT EXISTS mail (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identity (key TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
  request_id TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (request_id, key));
";

/// One SQLite database shared by the adapters.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

/// What went wrong opening the data directory, in words a person can act on.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

impl Db {
    /// Opens (creating if needed) the database in `dir`, which is created too.
    pub fn open_dir(dir: &Path) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            OpenError(format!(
                "cannot create the data directory {}: {e}; choose another with --data-dir",
                dir.display()
            ))
        })?;
        Self::open(&dir.join(DB_FILE))
    }

    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let fail = |e: rusqlite::Error| {
            OpenError(format!(
                "cannot open the local store {}: {e}; is another jit-local using it? (stop it, or choose another --data-dir)",
                path.display()
            ))
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        // Every statement the adapters run is prepared once and kept: rusqlite keeps 16 by
        // default, fewer than the adapters use, and an evicted one is parsed again.
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves a connection whose transaction rolled back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A value kept across restarts.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.lock()
            .row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(fault)
    }

    /// Keeps `value` under `key` across restarts.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        exec(
            &self.lock(),
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
        .map(|_| ())
        .map_err(fault)
    }
}

/// The link-signing key kept in `dir` (created with 32 random bytes, readable only by its
/// owner, the first time), so that links emailed before a restart still work after it.
pub fn signing_key(dir: &Path) -> Result<[u8; 32], OpenError> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|b: Vec<u8>| {
            OpenError(format!(
                "{} holds {} bytes, not the 32 of a signing key; delete it to start with a new key (links already sent stop working)",
                path.display(),
                b.len()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            write_private(&path, &key).map_err(|e| {
                OpenError(format!("cannot write the signing key {}: {e}", path.display()))
            })?;
            Ok(key)
        }
        Err(e) => Err(OpenError(format!(
            "cannot read the signing key {}: {e}",
            path.display()
        ))),
    }
}

/// A secret kept as text in `dir/name` (mode 0600), made of 32 random bytes (hex) the first
/// time: local mode's Slack signing secret.
pub fn secret_file(dir: &Path, name: &str) -> Result<String, OpenError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: String = rand::random::<[u8; 32]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            write_private(&path, secret.as_bytes()).map_err(|e| {
                OpenError(format!("cannot write the secret {}: {e}", path.display()))
            })?;
            Ok(secret)
        }
        Err(e) => Err(OpenError(format!(
            "cannot read the secret {}: {e}",
            path.display()
        ))),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A timestamp that sorts as text in time order (fixed width, UTC).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// One row of a query, its plan cached (what `query_row` does, without parsing the SQL again).
pub(crate) trait CachedRow {
    fn row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        args: P,
        f: F,
    ) -> rusqlite::Result<T>;
}

impl CachedRow for Connection {
    fn row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        args: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(args, f)
    }
}

/// Runs one statement, its plan cached (a submit writes half a dozen); a transaction's too.
pub(crate) fn exec(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(args)
}

pub(crate) fn fault(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(format!("the local store is busy: {e}"))
        }
        other => StoreError::Unknown(anyhow::Error::new(other).context("the local store")),
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Unknown(e.into()))
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Unknown(anyhow::Error::new(e).context("a stored record")))
}
