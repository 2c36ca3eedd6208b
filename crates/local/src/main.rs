//! `jit-local`: every function's handler in one process on 127.0.0.1, on the in-memory
//! adapters: an embedded store, an in-process scheduler, a simulated AWS identity side, an
//! email outbox printed to the console, and a test clock that runs with real time and can be
//! moved forward (`POST /local/clock {"advance": "2h"}`). Identity comes from the `X-Jit-User`
//! header, which only this binary accepts. Nothing survives a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use clap::Parser;
use jit_api::Caller;
use jit_core::catalog::{self, LoadError};
use jit_core::ports::MessageKind;
use jit_core::types::{Email, GrantDuration};
use jit_memory::{
    memory_service_with_clock, run_due, settle, FakeClock, MemoryDirectory, MemoryService,
};
use serde::Deserialize;
use serde_json::json;

/// The header that names the caller in local mode.
const USER_HEADER: &str = "x-jit-user";

/// Run the whole product locally.
#[derive(Parser)]
#[command(name = "jit-local", version, about)]
struct Args {
    /// Catalog directory (its directory.toml stands in for the Identity Store).
    #[arg(long, default_value = "catalog/examples")]
    catalog: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
}

struct Local {
    svc: Arc<MemoryService>,
    printed: AtomicUsize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_target(false)
        .init();
    let catalog = match catalog::load_dir(&args.catalog) {
        Ok(c) => c,
        Err(LoadError::Invalid(errors)) => {
            for e in &errors.0 {
                eprintln!(
                    "{}:{}: {}: {}",
                    args.catalog.join(&e.file).display(),
                    e.line,
                    e.field,
                    e.message
                );
            }
            eprintln!(
                "the catalog in {} has errors; fix them (jit catalog check) and start again",
                args.catalog.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let directory = match MemoryDirectory::load(&args.catalog) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}\nlocal mode needs a directory.toml beside the catalog: [[group]] tables with name and members");
            return ExitCode::from(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(args, catalog, directory))
}

async fn serve(args: Args, catalog: catalog::Catalog, directory: MemoryDirectory) -> ExitCode {
    let listener =
        match tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "cannot listen on 127.0.0.1:{}: {e}; pick another with --port",
                    args.port
                );
                return ExitCode::from(1);
            }
        };
    let addr = listener.local_addr().expect("bound");
    let base = format!("http://{addr}");
    // A fresh key each start: links from an earlier run stop working, as they should.
    let key: [u8; 32] = rand::random();
    let svc = memory_service_with_clock(
        Arc::new(catalog),
        directory,
        FakeClock::running_from(Utc::now()),
        &key,
        &base,
    )
    .expect("a 32-byte key is long enough");
    let local = Arc::new(Local {
        svc: Arc::new(svc),
        printed: AtomicUsize::new(0),
    });

    let app = jit_api::router(local.svc.clone())
        .merge(
            Router::new()
                .route("/local/clock", get(clock).post(advance))
                .route("/local/outbox", get(outbox))
                .route("/local/identity", get(identity))
                .with_state(local.clone()),
        )
        .layer(middleware::from_fn(dev_identity));

    let ticker = local.clone();
    tokio::spawn(async move {
        let mut sweeps = 0u32;
        loop {
            tick(&ticker).await;
            sweeps += 1;
            if sweeps.is_multiple_of(60) {
                let _ = ticker.svc.sweep().await;
            }
            tokio::time::sleep(StdDuration::from_millis(500)).await;
        }
    });

    println!("jit-local listening on {base}");
    println!(
        "  catalog {} (version {}), identity from the X-Jit-User header",
        args.catalog.display(),
        local.svc.catalog().version()
    );
    println!("  emails are printed here; nothing survives a restart. Try:");
    println!("    jit --api {base} --as alice@example.com request api-logs-read --for 4h --reason \"debug 5xx\"");
    println!("    jit --api {base} --as carol@example.com request rds-prod-pii --for 1h --reason \"INC-7 customer data\" --ticket INC-7");
    println!("    jit --api {base} local advance 5h");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server stopped: {e}");
            ExitCode::from(1)
        }
    }
}

/// What the stream and Scheduler do in AWS: fire due schedules, apply approved grants; then
/// print new emails. Returns the names of the schedules fired and the requests activated.
async fn tick(local: &Local) -> (Vec<String>, Vec<String>) {
    let mut fired = Vec::new();
    let mut activated = Vec::new();
    for _ in 0..3 {
        let done = settle(&local.svc).await;
        activated.extend(
            done.into_iter()
                .filter_map(|r| r.ok())
                .map(|r| format!("{} {}", r.id, r.status)),
        );
        let due = run_due(&local.svc).await;
        if due.is_empty() {
            break;
        }
        fired.extend(due.into_iter().map(|(s, _)| s.name));
    }
    print_new_mail(local);
    (fired, activated)
}

fn print_new_mail(local: &Local) {
    let sent = local.svc.ports.mailer.sent();
    let from = local.printed.swap(sent.len(), Ordering::SeqCst);
    for m in sent.iter().skip(from) {
        let to: Vec<&str> = m.to.iter().map(|e| e.as_str()).collect();
        println!("✉  to {}: {}", to.join(", "), m.subject);
        if m.kind == MessageKind::ApprovalRequest {
            for line in m
                .text
                .lines()
                .filter(|l| l.starts_with("Approve: ") || l.starts_with("Deny: "))
            {
                println!("     {line}");
            }
        }
    }
}

async fn dev_identity(mut req: Request, next: Next) -> Response {
    if let Some(value) = req.headers().get(USER_HEADER) {
        match value.to_str().ok().and_then(|v| Email::parse(v).ok()) {
            Some(email) => {
                req.extensions_mut().insert(Caller(email));
            }
            None => {
                let body = json!({ "error": { "code": "bad_request", "message": "X-Jit-User must be an email address" } });
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
        }
    }
    next.run(req).await
}

async fn clock(State(local): State<Arc<Local>>) -> Json<serde_json::Value> {
    Json(json!({ "now": local.svc.now() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance: String,
}

async fn advance(
    State(local): State<Arc<Local>>,
    body: Result<Json<Advance>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let by = match body
        .map_err(|e| e.body_text())
        .and_then(|Json(a)| GrantDuration::parse(&a.advance).map_err(|e| e.to_string()))
    {
        Ok(d) => d,
        Err(msg) => {
            let body = json!({ "error": { "code": "bad_request", "message": format!("{msg}; send {{\"advance\": \"2h\"}}") } });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    local.svc.ports.clock.advance(by.as_chrono());
    let (fired, activated) = tick(&local).await;
    let swept = local
        .svc
        .sweep()
        .await
        .map(|r| json!({ "ended": r.ended, "expired": r.expired }))
        .unwrap_or_default();
    Json(json!({ "now": local.svc.now(), "advanced": by, "fired": fired, "activated": activated, "swept": swept })).into_response()
}

async fn outbox(State(local): State<Arc<Local>>) -> Json<serde_json::Value> {
    Json(json!({ "messages": local.svc.ports.mailer.sent() }))
}

async fn identity(State(local): State<Arc<Local>>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(local.svc.ports.grantor.snapshot()).unwrap_or_default())
}
