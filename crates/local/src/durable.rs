//! Local mode's default: everything kept in one SQLite file under the data directory
//! (`jit_sqlite`), so a restart loses nothing. The table's stream is the store's change feed:
//! each tick hands every changed request to [`Service::reconcile`] in order, exactly as the
//! grant function is fed deployed, and a change whose reconcile fails for a retryable reason is
//! tried again at the next tick (a released grant whose removal was throttled, say). Due
//! schedules fire from the schedules table; the clock's lead over real time is kept too.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration, Utc};
use jit_core::catalog::Catalog;
use jit_core::database::WithDatabases;
use jit_core::link::LinkSigner;
use jit_core::ports::{Message, WithChat};
use jit_core::service::{Ports, Service};
use jit_memory::{FakeClock, IdentitySide, MemoryDirectory};
use jit_postgres::{FixedServer, Postgres};
use jit_slack::local::AnySlack;
use jit_slack::SlackChat;
use jit_sqlite::{Db, PersistedGrantor, SqliteMailer, SqliteScheduler, SqliteStore};

/// A grantor of local mode: database grants go to `--postgres`'s server when one is given, and
/// are simulated by `G` otherwise.
pub type LocalGrantor<G> = WithDatabases<G, Postgres<FixedServer>>;

/// Slack as local mode talks to it: over HTTP, or the workspace in the process.
pub type LocalWeb = Arc<AnySlack>;

/// The service on the durable local adapters; chat notices go to Slack when it is on.
pub type DurableService = Service<
    SqliteStore,
    LocalGrantor<PersistedGrantor>,
    SqliteScheduler,
    WithChat<SqliteMailer, Option<SlackChat<LocalWeb, SqliteStore>>>,
    MemoryDirectory,
    FakeClock,
>;

const CURSOR: &str = "stream-cursor";
const CLOCK: &str = "clock-lead-ms";
/// Changes handed to reconcile per pass of a tick.
const BATCH: usize = 256;

/// The durable backend.
pub struct DurableLocal {
    /// The service.
    pub svc: Arc<DurableService>,
    db: Db,
    /// The change feed position acted on so far.
    cursor: AtomicI64,
    /// The last email printed to the console.
    printed: AtomicI64,
}

impl DurableLocal {
    /// Opens (or creates) the data directory's store and builds the service on it; the
    /// signing key comes from the same directory.
    pub fn open(
        dir: &Path,
        catalog: Catalog,
        directory: MemoryDirectory,
        base_url: &str,
        addresses: &crate::Addresses,
        slack: Option<LocalWeb>,
        postgres: Option<Postgres<FixedServer>>,
    ) -> anyhow::Result<Self> {
        let catalog = Arc::new(catalog);
        let db = Db::open_dir(dir)?;
        let key = jit_sqlite::signing_key(dir)?;
        let lead_ms: i64 = db
            .meta(CLOCK)?
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        let clock = FakeClock::running_from(Utc::now() + Duration::milliseconds(lead_ms));
        let ports = Ports {
            store: SqliteStore::new(db.clone()),
            grantor: WithDatabases {
                inner: PersistedGrantor::load(db.clone())?,
                databases: postgres,
            },
            scheduler: SqliteScheduler::new(db.clone()),
            mailer: WithChat {
                mail: SqliteMailer::new(db.clone()),
                chat: slack.clone().map(|web| {
                    SlackChat::new(
                        web,
                        SqliteStore::new(db.clone()),
                        catalog.clone(),
                        addresses.portal.clone(),
                    )
                }),
            },
            directory,
            clock,
        };
        let signer = LinkSigner::new(&key).context("the signing key")?;
        let svc = Service::new(catalog, ports, signer, base_url)
            .with_access_portal(addresses.access_portal.clone())
            .with_portal(addresses.portal.clone())
            .with_chat(slack.is_some());
        let cursor = db
            .meta(CURSOR)?
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        // What was printed before a restart is not printed again.
        let printed = svc
            .ports
            .mailer
            .mail
            .sent_after(0)?
            .last()
            .map_or(0, |(seq, _)| *seq);
        Ok(Self {
            svc: Arc::new(svc),
            db,
            cursor: AtomicI64::new(cursor),
            printed: AtomicI64::new(printed),
        })
    }

    /// The Slack Web API the service's chat channel calls, when Slack is on.
    pub fn slack_web(&self) -> Option<LocalWeb> {
        self.svc.ports.mailer.chat.as_ref().map(|c| c.web().clone())
    }

    /// How many requests the store holds (for the start-up line).
    pub fn requests(&self) -> u64 {
        self.svc.ports.store.count().unwrap_or_default()
    }

    /// Moves the clock forward and keeps its lead over real time.
    pub fn advance(&self, by: Duration) {
        self.svc.ports.clock.advance(by);
        let lead = (self.svc.now() - Utc::now()).num_milliseconds();
        if let Err(e) = self.db.set_meta(CLOCK, &lead.to_string()) {
            tracing::warn!(error = %e, "the clock's lead was not saved");
        }
    }

    /// What the stream and Scheduler do deployed: reconcile every changed request, fire due
    /// schedules; then print new emails. Returns the schedules fired and the requests
    /// reconciled into a new state, as `id status`.
    pub async fn tick(&self) -> (Vec<String>, Vec<String>) {
        let svc = &self.svc;
        let mut fired = Vec::new();
        let mut changed = Vec::new();
        for _ in 0..3 {
            let seen = self.stream(&mut changed).await;
            let due = svc.ports.scheduler.take_due(svc.now()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading due schedules");
                Vec::new()
            });
            for s in &due {
                if let Err(e) = svc.fire(&s.action).await {
                    tracing::warn!(schedule = %s.name, error = %e, "a schedule's action failed");
                }
                fired.push(s.name.clone());
                tokio::task::yield_now().await;
            }
            if seen == 0 && due.is_empty() {
                break;
            }
        }
        self.print_new_mail();
        (fired, changed)
    }

    /// One pass over the change feed; returns how many changes it acted on.
    async fn stream(&self, changed: &mut Vec<String>) -> usize {
        let svc = &self.svc;
        let from = self.cursor.load(Ordering::SeqCst);
        let changes = match svc.ports.store.changes_after(from, BATCH) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "reading the change feed");
                return 0;
            }
        };
        let (mut done, mut acted) = (from, 0);
        for change in &changes {
            let id = &change.request_id;
            match svc.reconcile(id).await {
                // Reported when reconciling moved it on (approved, now active).
                Ok(r) if r.status != change.status => {
                    changed.push(format!("{} {}", r.id, r.status));
                }
                Ok(_) => {}
                // As a stream shard waits on a failed batch: this change, and the ones after
                // it, are tried again at the next tick.
                Err(e) if e.is_retryable() => {
                    tracing::warn!(request_id = %id, error = %e, "reconcile will be retried");
                    break;
                }
                Err(e) => tracing::error!(request_id = %id, error = %e, "reconcile failed"),
            }
            done = change.seq;
            acted += 1;
            // The store's calls never wait, so a batch would otherwise hold its worker thread
            // until it ends, and the API's calls queued behind it with it.
            tokio::task::yield_now().await;
        }
        if done > from {
            self.cursor.store(done, Ordering::SeqCst);
            let kept = self
                .db
                .set_meta(CURSOR, &done.to_string())
                .and_then(|()| svc.ports.store.trim_changes(done));
            if let Err(e) = kept {
                tracing::warn!(error = %e, "the change feed position was not saved");
            }
        }
        acted
    }

    fn print_new_mail(&self) {
        let after = self.printed.load(Ordering::SeqCst);
        match self.svc.ports.mailer.mail.sent_after(after) {
            Ok(new) => {
                for (seq, m) in new {
                    crate::aws::print_mail(&m);
                    self.printed.store(seq, Ordering::SeqCst);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the outbox"),
        }
    }

    /// Every email sent, oldest first (before restarts too).
    pub fn outbox(&self) -> Vec<Message> {
        self.svc
            .ports
            .mailer
            .mail
            .sent_after(0)
            .map(|all| all.into_iter().map(|(_, m)| m).collect())
            .unwrap_or_default()
    }

    /// The simulated identity side.
    pub fn identity(&self) -> IdentitySide {
        self.svc.ports.grantor.inner.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jit_core::lifecycle::Status;
    use jit_core::policy::RequestInput;
    use jit_core::types::{BundleName, Email, GrantDuration};

    fn examples() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples")
    }

    /// A release whose removal is throttled answers that removal is under way; the change feed
    /// then retries it at each tick until it succeeds, as the stream does deployed.
    #[tokio::test]
    async fn a_throttled_removal_is_retried_from_the_change_feed_until_done() {
        let dir = std::env::temp_dir().join(format!(
            "jit-durable-test-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let local = DurableLocal::open(
            &dir,
            jit_core::catalog::load_dir(&examples()).unwrap(),
            MemoryDirectory::load(&examples()).unwrap(),
            "http://127.0.0.1:8080",
            &crate::Addresses {
                access_portal: None,
                portal: None,
            },
            None,
            None,
        )
        .unwrap();
        let alice = Email::parse("alice@example.com").unwrap();
        let req = local
            .svc
            .submit(
                &alice,
                RequestInput {
                    bundle: Some(BundleName::parse("api-logs-read").unwrap()),
                    duration: Some(GrantDuration::parse("4h").unwrap()),
                    reason: Some("debug".into()),
                    ..RequestInput::default()
                },
            )
            .await
            .unwrap();
        let (_, changed) = local.tick().await;
        assert_eq!(changed, vec![format!("{} active", req.id)]);
        let holds = |l: &DurableLocal| {
            l.identity()
                .containers
                .get(&alice)
                .is_some_and(|d| d.grant_ids().contains(&req.id))
        };
        assert!(holds(&local));

        // Throttled in the release itself and at the next tick's first try.
        local
            .svc
            .ports
            .grantor
            .inner
            .inject(&[jit_memory::Fault::Throttle, jit_memory::Fault::Throttle]);
        let ending = local.svc.release(&alice, &req.id).await.unwrap();
        assert_eq!(ending.request.status, Status::Released);
        assert!(ending.removal.is_some());
        local.tick().await;
        assert!(holds(&local), "still throttled: kept for the next tick");
        local.tick().await;
        assert!(!holds(&local), "removed once the grantor answers");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
