//! Local mode's store as it fills: submits (the whole service path, room and caps included)
//! and reads of one request with its timeline (what `GET /v1/requests/{id}` does), on an empty
//! store and after 100,000 requests, for the SQLite store jit-local keeps by default and for
//! the in-memory one (`--in-memory`). Prints figures; asserts nothing (these machines are
//! shared). Run by `scripts/bench.sh`; `JIT_BENCH_FILL=N` changes the fill.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use jit_core::audit::AuditEvent;
use jit_core::catalog::{self, Catalog};
use jit_core::lifecycle::{Request, Status, Transition};
use jit_core::link::LinkSigner;
use jit_core::policy::RequestInput;
use jit_core::ports::{OpenRequests, RequestStore};
use jit_core::service::{Ports, Service};
use jit_core::types::{BundleName, Email, GrantDuration, RequestId};
use jit_memory::{
    FakeClock, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler, MemoryStore,
};
use jit_sqlite::{Db, SqliteStore};

const PEOPLE: usize = 1_000;
const SAMPLES: usize = 2_000;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn person(i: usize) -> Email {
    Email::parse(&format!("p{i:05}@example.com")).unwrap()
}

fn catalog() -> Catalog {
    catalog::parse_files(&[(
        "c.toml".into(),
        "[[bundle]]\nname = \"logs\"\nowner_team = \"t\"\nrisk = \"low\"\naccounts = [\"111111111111\"]\nstatements = [{ actions = [\"logs:GetLogEvents\"], resources = [\"*\"] }]\n[[flow]]\nname = \"f\"\nrequesters = [\"t\"]\nbundles = [\"logs\"]\napproval = \"auto\"\n".into(),
    )])
    .unwrap()
}

fn directory() -> MemoryDirectory {
    let members: Vec<String> = (0..PEOPLE).map(|i| format!("\"{}\"", person(i))).collect();
    MemoryDirectory::from_toml(
        "directory.toml",
        &format!(
            "[[group]]\nname = \"t\"\nmembers = [{}]\n",
            members.join(",")
        ),
    )
    .unwrap()
}

type Svc<S> = Service<S, MemoryGrantor, MemoryScheduler, MemoryMailer, MemoryDirectory, FakeClock>;

fn service<S: RequestStore>(store: S) -> Svc<S> {
    Service::new(
        Arc::new(catalog()),
        Ports {
            store,
            grantor: MemoryGrantor::default(),
            scheduler: MemoryScheduler::default(),
            mailer: MemoryMailer::default(),
            directory: directory(),
            clock: FakeClock::at(start()),
        },
        LinkSigner::new(&[7; 32]).unwrap(),
        "http://127.0.0.1:8080",
    )
}

fn ask() -> RequestInput {
    RequestInput {
        bundle: Some(BundleName::parse("logs").unwrap()),
        duration: Some(GrantDuration::parse("1h").unwrap()),
        reason: Some("bench".into()),
        ..RequestInput::default()
    }
}

/// Calls per second over a run, and the median call in microseconds.
fn summary(mut micros: Vec<f64>, seconds: f64) -> (f64, f64) {
    let per_second = micros.len() as f64 / seconds;
    micros.sort_by(f64::total_cmp);
    (per_second, micros[micros.len() / 2])
}

/// Submits, then reads of one request with its timeline, by people `offset..` (each asks once,
/// so no one's caps or room are the subject).
async fn measure<S: RequestStore>(svc: &Svc<S>, offset: usize) -> [(f64, f64); 2] {
    let mut made = Vec::with_capacity(SAMPLES);
    let mut times = Vec::with_capacity(SAMPLES);
    let all = Instant::now();
    for i in 0..SAMPLES {
        let who = person((offset + i) % PEOPLE);
        let t = Instant::now();
        made.push(svc.submit(&who, ask()).await.unwrap().id);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let submit = summary(times, all.elapsed().as_secs_f64());
    let mut times = Vec::with_capacity(SAMPLES);
    let all = Instant::now();
    for i in 0..SAMPLES {
        let id = &made[(i * 7919) % made.len()];
        let t = Instant::now();
        svc.get(id).await.unwrap();
        svc.timeline(id).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    [submit, summary(times, all.elapsed().as_secs_f64())]
}

/// Writes `n` ended requests, with their audit records, straight into the store (as many
/// people over months would have left them).
async fn fill<S: RequestStore>(svc: &Svc<S>, n: usize) {
    let probe = service(MemoryStore::default());
    let first = probe.submit(&person(0), ask()).await.unwrap();
    let events = probe.timeline(&first.id).await.unwrap();
    let mut admitted = vec![0u64; PEOPLE];
    for i in 0..n {
        let at = start() - Duration::seconds((n - i) as i64);
        let p = i % PEOPLE;
        let id = RequestId::generate(at);
        let request = Request {
            id: id.clone(),
            requester: person(p),
            created_at: at,
            status: Status::Released,
            ..first.clone()
        };
        let events = events
            .iter()
            .map(|e| AuditEvent {
                request_id: id.clone(),
                at,
                ..e.clone()
            })
            .collect();
        let open = OpenRequests {
            version: admitted[p],
            requests: Vec::new(),
        };
        svc.ports
            .store
            .create(
                &Transition {
                    request,
                    events,
                    notices: Vec::new(),
                },
                &open,
            )
            .await
            .unwrap();
        admitted[p] += 1;
    }
}

async fn bench<S: RequestStore>(label: &str, empty: Svc<S>, full: Svc<S>, fill_to: usize) {
    let e = measure(&empty, 0).await;
    let t = Instant::now();
    fill(&full, fill_to).await;
    let filled = t.elapsed().as_secs_f64();
    let f = measure(&full, PEOPLE / 2).await;
    println!("{label}: filled with {fill_to} requests in {filled:.1} s");
    for (what, (a, b)) in ["submit (auto-approved)", "read by id + timeline"]
        .iter()
        .zip(e.iter().zip(f.iter()))
    {
        println!(
            "  {what:<24} empty {:>8.0}/s (median {:>6.0} µs)   {fill_to} stored {:>8.0}/s (median {:>6.0} µs)   full/empty {:.2}",
            a.0,
            a.1,
            b.0,
            b.1,
            a.0 / b.0
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::var("JIT_BENCH_FILL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!(
        "local store bench: {SAMPLES} submits and {SAMPLES} reads each, {PEOPLE} people; slowdown = empty rate / full rate (target for SQLite: at most 2)"
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| {
        let d = dir.path().join(name);
        service(SqliteStore::new(Db::open_dir(&d).unwrap()))
    };
    bench(
        "sqlite (jit-local's default)",
        sqlite("empty"),
        sqlite("full"),
        n,
    )
    .await;
    bench(
        "in memory (--in-memory)",
        service(MemoryStore::default()),
        service(MemoryStore::default()),
        n,
    )
    .await;
}
