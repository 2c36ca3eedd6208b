//! `jit-local`: every function's handler in one process on 127.0.0.1: a durable store, a
//! scheduler, a simulated AWS identity side, an email outbox printed to the console, and a test
//! clock that runs with real time and can be moved forward (`POST /local/clock {"advance":
//! "2h"}`). Identity comes from the `X-Jit-User` header, which only this binary accepts.
//!
//! By default everything is kept under a data directory (`--data-dir`, see [`durable`]), so a
//! restart keeps requests, grants, the audit chain, schedules, emails, links (the signing key)
//! and the clock. `--in-memory` keeps nothing. With `--aws-endpoint` (or `AWS_ENDPOINT_URL`)
//! the real AWS adapters are used instead, against that endpoint (moto server in tests): see
//! [`aws`].

mod aws;
mod durable;
mod http;
mod oidc;
mod portal;

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
use chrono::{DateTime, Utc};
use clap::Parser;
use jit_api::{Caller, Unidentified};
use jit_core::catalog::{self, LoadError};
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
    /// Use the real AWS adapters against this endpoint (e.g. moto server) instead of the
    /// simulated side.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    aws_endpoint: Option<String>,
    /// Milliseconds a client may take to send a request's headers before it is cut off.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// The SAM template whose table definition the AWS mode creates its table from.
    #[arg(long, default_value = "infra/template.yaml")]
    template: PathBuf,
    /// Where local mode keeps its state (a SQLite file and the link-signing key), created if
    /// missing; a restart with the same directory picks up where it stopped.
    #[arg(long, env = "JIT_DATA_DIR", default_value = ".jit-local")]
    data_dir: PathBuf,
    /// Keep nothing: state lives in memory and is gone when jit-local stops.
    #[arg(long, conflicts_with = "aws_endpoint")]
    in_memory: bool,
    /// An Identity Center access portal start URL to name in what people are told (how to use
    /// a grant, `jit aws-config`), as a deployment's AccessPortalUrl does.
    #[arg(long, env = "JIT_ACCESS_PORTAL_URL")]
    access_portal_url: Option<String>,
    /// Sign callers in with this OpenID Connect issuer instead of the X-Jit-User header: bearer
    /// tokens are checked as the deployed JWT authorizer checks them (signature by the
    /// issuer's JWKS, issuer, audience, expiry, scope) and the caller is their email claim.
    #[arg(long, env = "JIT_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The client id `jit login` and the portal sign in with (told to them by GET /v1/config).
    #[arg(long, default_value = "jit-cli", requires = "oidc_issuer")]
    oidc_client_id: String,
    /// The built web portal, served at / (npm --prefix web run build makes it).
    #[arg(long, env = "JIT_PORTAL_DIR", default_value = "web/dist")]
    portal: PathBuf,
    /// The audience tokens must carry (`aud`; `client_id` when they have no `aud`), as the
    /// template's JwtAudience; the client id when not given.
    #[arg(long, requires = "oidc_issuer")]
    oidc_audience: Option<String>,
    /// The scope every API route requires, as the template's JwtScope; "" for none.
    #[arg(long, default_value = "jit/use", requires = "oidc_issuer")]
    oidc_scope: String,
    /// Serve the Slack app at /slack/commands, /slack/interactions and /slack/options, with
    /// approval cards and requester messages. Its signing secret is kept in the data directory
    /// (slack-signing-secret); without --slack-api-url, the Web API calls it makes are
    /// answered by a workspace of the directory's people and listed at GET /local/slack.
    #[arg(long, conflicts_with_all = ["in_memory", "aws_endpoint"])]
    slack: bool,
    /// Slack's Web API to call (https://slack.com/api, or a fake in tests), with the bot token
    /// read from --slack-token-file.
    #[arg(long, requires_all = ["slack", "slack_token_file"])]
    slack_api_url: Option<String>,
    /// Apply `postgres` bundles' grants to this server (postgres://ADMIN:PASSWORD@HOST:PORT,
    /// an admin able to create roles): every catalog instance is this server, and the bundles'
    /// database names are used on it. Without it, database grants are simulated.
    #[arg(long, env = "JIT_POSTGRES_URL", conflicts_with = "in_memory")]
    postgres: Option<String>,
    /// A file holding the bot token (xoxb-…) for --slack-api-url.
    #[arg(long, requires = "slack_api_url")]
    slack_token_file: Option<PathBuf>,
}

/// The file under the data directory that holds local mode's Slack signing secret.
const SLACK_SECRET_FILE: &str = "slack-signing-secret";

/// The Slack Web API local mode talks to with --slack: the one named, or a workspace of the
/// directory's people in the process.
fn slack_web(
    args: &Args,
    directory: &MemoryDirectory,
) -> Result<Option<durable::LocalWeb>, String> {
    use jit_slack::local::{AnySlack, LocalSlack, LocalUser};
    if !args.slack {
        return Ok(None);
    }
    let web = match (&args.slack_api_url, &args.slack_token_file) {
        (Some(url), Some(file)) => {
            let token = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the Slack bot token {}: {e}", file.display()))?;
            AnySlack::Http(jit_slack::HttpSlack::new(
                url,
                jit_slack::BotToken::new(token),
            ))
        }
        _ => {
            let mut people = std::collections::BTreeSet::new();
            for (_, members) in directory.groups() {
                people.extend(members.iter().map(|m| m.to_string()));
            }
            AnySlack::Local(Arc::new(LocalSlack::new(
                people.iter().map(|p| LocalUser::person(p)).collect(),
            )))
        }
    };
    Ok(Some(Arc::new(web)))
}

/// Where people are sent from emails and pages: the Identity Center access portal (`--access-
/// portal-url`) and the web portal (this jit-local, when the portal is built).
pub struct Addresses {
    access_portal: Option<String>,
    portal: Option<String>,
}

enum Backend {
    Memory(Arc<MemoryService>),
    Durable(Arc<durable::DurableLocal>),
    Aws(Arc<aws::AwsLocal>),
}

struct Local {
    backend: Backend,
    printed: AtomicUsize,
}

impl Local {
    fn now(&self) -> DateTime<Utc> {
        match &self.backend {
            Backend::Memory(s) => s.now(),
            Backend::Durable(d) => d.svc.now(),
            Backend::Aws(a) => a.svc.now(),
        }
    }

    fn advance(&self, by: chrono::Duration) {
        match &self.backend {
            Backend::Memory(s) => s.ports.clock.advance(by),
            Backend::Durable(d) => d.advance(by),
            Backend::Aws(a) => a.svc.ports.clock.advance(by),
        }
    }

    async fn sweep(&self) -> serde_json::Value {
        let report = match &self.backend {
            Backend::Memory(s) => s.sweep().await,
            Backend::Durable(d) => d.svc.sweep().await,
            Backend::Aws(a) => a.svc.sweep().await,
        };
        report
            .map(|r| json!({ "ended": r.ended, "expired": r.expired }))
            .unwrap_or_default()
    }

    /// What the stream and Scheduler do in AWS: apply approved grants, fire due schedules;
    /// then print new emails. Returns the schedules fired and the requests activated.
    async fn tick(&self) -> (Vec<String>, Vec<String>) {
        let svc = match &self.backend {
            Backend::Memory(s) => s,
            Backend::Durable(d) => return d.tick().await,
            // That side prints emails as they are sent.
            Backend::Aws(a) => return a.tick().await,
        };
        let mut fired = Vec::new();
        let mut activated = Vec::new();
        for _ in 0..3 {
            let done = settle(svc).await;
            activated.extend(
                done.into_iter()
                    .filter_map(|r| r.ok())
                    .map(|r| format!("{} {}", r.id, r.status)),
            );
            let due = run_due(svc).await;
            if due.is_empty() {
                break;
            }
            fired.extend(due.into_iter().map(|(s, _)| s.name));
        }
        let sent = svc.ports.mailer.sent();
        let from = self.printed.swap(sent.len(), Ordering::SeqCst);
        sent.iter().skip(from).for_each(aws::print_mail);
        (fired, activated)
    }
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
    // What the catalog's files alone cannot show: actions AWS does not have, groups the
    // directory does not have (typos such as logs:FilterLogEvnts or api-teem).
    let files = catalog::read_files(&args.catalog).unwrap_or_default();
    let groups: std::collections::BTreeSet<_> =
        directory.groups().into_iter().map(|(g, _)| g).collect();
    let mut errors = catalog::known::unknown_actions(&catalog, &files);
    errors.extend(catalog::known::missing_groups(
        &catalog,
        &files,
        |g| groups.contains(g),
        "directory.toml",
    ));
    if !errors.is_empty() {
        for e in &errors {
            eprintln!(
                "{}:{}: {}: {}",
                args.catalog.join(&e.file).display(),
                e.line,
                e.field,
                e.message
            );
        }
        eprintln!(
            "the catalog in {} names actions or groups that do not exist; fix them (jit catalog check) and start again",
            args.catalog.display()
        );
        return ExitCode::from(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(args, catalog, directory))
}

async fn serve(args: Args, catalog: catalog::Catalog, directory: MemoryDirectory) -> ExitCode {
    // Who is in the directory, for the portal's person picker (local mode without OIDC).
    let mut people: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (group, members) in directory.groups() {
        for m in members {
            people
                .entry(m.to_string())
                .or_default()
                .push(group.to_string());
        }
    }
    let people: Vec<serde_json::Value> = people
        .into_iter()
        .map(|(email, groups)| json!({ "email": email, "groups": groups }))
        .collect();
    let people = Arc::new(json!({ "people": people }));
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
    let version = catalog.version();
    let addresses = Addresses {
        access_portal: args.access_portal_url.clone(),
        portal: args
            .portal
            .join("index.html")
            .is_file()
            .then(|| base.clone()),
    };
    let postgres = match &args.postgres {
        None => None,
        Some(url) => match jit_postgres::FixedServer::parse(url) {
            Ok(server) => {
                println!(
                    "jit-local applies database grants to the PostgreSQL server at --postgres"
                );
                Some(jit_postgres::Postgres::new(server))
            }
            Err(e) => {
                eprintln!("--postgres: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let backend = match &args.aws_endpoint {
        None if args.in_memory => {
            // A fresh key each start: links from an earlier run stop working, as they should.
            let key: [u8; 32] = rand::random();
            let clock = FakeClock::running_from(Utc::now());
            let svc = memory_service_with_clock(Arc::new(catalog), directory, clock, &key, &base)
                .expect("a 32-byte key is long enough")
                .with_access_portal(addresses.access_portal.clone())
                .with_portal(addresses.portal.clone());
            Backend::Memory(Arc::new(svc))
        }
        None => {
            let slack = match slack_web(&args, &directory) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            match durable::DurableLocal::open(
                &args.data_dir,
                catalog,
                directory,
                &base,
                &addresses,
                slack,
                postgres.clone(),
            ) {
                Ok(d) => {
                    let n = d.requests();
                    println!(
                        "jit-local keeps its state in {} ({n} request{} so far)",
                        args.data_dir.display(),
                        if n == 1 { "" } else { "s" }
                    );
                    Backend::Durable(Arc::new(d))
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    return ExitCode::from(1);
                }
            }
        }
        Some(endpoint) => {
            let sdk = sdk_for(endpoint).await;
            // The same key across restarts, so links already emailed keep working.
            let key = match std::fs::create_dir_all(&args.data_dir)
                .map_err(|e| e.to_string())
                .and_then(|()| jit_sqlite::signing_key(&args.data_dir).map_err(|e| e.to_string()))
            {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let built = aws::build(
                &sdk,
                endpoint,
                &args.data_dir,
                catalog,
                &args.catalog,
                &args.template,
                &key,
                &base,
                &addresses,
                postgres.clone(),
            )
            .await;
            match built {
                Ok(a) => {
                    println!(
                        "jit-local uses the AWS adapters at {endpoint} (table {}{})",
                        a.table,
                        if a.reused {
                            ", as before the restart"
                        } else {
                            ", new"
                        }
                    );
                    Backend::Aws(Arc::new(a))
                }
                Err(e) => {
                    eprintln!("cannot set up the AWS side at {endpoint}: {e:#}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    let local = Arc::new(Local {
        backend,
        printed: AtomicUsize::new(0),
    });
    let verifier = match &args.oidc_issuer {
        None => None,
        Some(issuer) => {
            let settings = oidc::Settings {
                issuer: issuer.clone(),
                client_id: args.oidc_client_id.clone(),
                audience: args
                    .oidc_audience
                    .clone()
                    .unwrap_or_else(|| args.oidc_client_id.clone()),
                scope: Some(args.oidc_scope.clone()).filter(|s| !s.is_empty()),
            };
            match tokio::task::block_in_place(|| oidc::Verifier::discover(settings)) {
                Ok(v) => Some(Arc::new(v)),
                Err(e) => {
                    eprintln!("cannot use the OIDC issuer {issuer}: {e:#}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    let portal = Arc::new(portal::Portal::new(
        &args.portal,
        verifier.as_ref().map(|v| v.settings().issuer.as_str()),
    ));
    let (auth, oidc_scopes) = match &verifier {
        None => ("local-header", Vec::new()),
        Some(v) => {
            let mut scopes = vec!["openid".to_string(), "email".to_string()];
            scopes.extend(v.settings().scope.clone());
            ("jwt", scopes)
        }
    };
    let config = Arc::new(jit_contract::ClientConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        oidc_issuer: verifier.as_ref().map(|v| v.settings().issuer.clone()),
        oidc_client_id: verifier.as_ref().map(|v| v.settings().client_id.clone()),
        oidc_scopes,
        portal_url: Some(base.clone()),
        sso_region: args
            .access_portal_url
            .as_ref()
            .map(|_| std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_string())),
        access_portal_url: args.access_portal_url.clone(),
        auth: auth.to_string(),
    });
    let mut api = match &local.backend {
        Backend::Memory(s) => jit_api::router(s.clone(), config),
        Backend::Durable(d) => jit_api::router(d.svc.clone(), config),
        Backend::Aws(a) => jit_api::router(a.svc.clone(), config),
    };
    let slack = match &local.backend {
        Backend::Durable(d) => d.slack_web().map(|web| (d.svc.clone(), web)),
        _ => None,
    };
    if let Some((svc, web)) = slack {
        let secret = match jit_sqlite::secret_file(&args.data_dir, SLACK_SECRET_FILE) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        };
        let app = jit_slack::SlackApp::new(
            svc,
            web,
            jit_slack::SlackSettings {
                secret: jit_slack::SigningSecret::new(secret),
                team: None,
            },
        );
        api = api.merge(jit_slack::router(Arc::new(app)));
        println!(
            "jit-local serves the Slack app at {base}/slack/commands, /slack/interactions and /slack/options (signing secret in {})",
            args.data_dir.join(SLACK_SECRET_FILE).display()
        );
    }
    let app = api
        .merge(
            Router::new()
                .route("/local/clock", get(clock).post(advance))
                .route("/local/outbox", get(outbox))
                .route("/local/slack", get(slack_calls))
                .route("/local/identity", get(identity))
                .route("/local/cloudtrail", axum::routing::post(cloudtrail))
                .with_state(local.clone()),
        )
        .merge(
            Router::new()
                .route(
                    "/local/people",
                    get(move || {
                        let people = people.clone();
                        async move { Json((*people).clone()) }
                    }),
                )
                .route("/", axum::routing::any(portal::serve))
                .route("/{*path}", axum::routing::any(portal::serve))
                .with_state(portal.clone()),
        )
        .layer(middleware::from_fn_with_state(verifier.clone(), identify));

    // Whatever fell due while it was stopped: end grants past expiry, expire requests, put the
    // identity side back in line with the ledger.
    local.tick().await;
    local.sweep().await;
    let ticker = local.clone();
    tokio::spawn(async move {
        let mut ticks = 0u32;
        loop {
            ticker.tick().await;
            ticks += 1;
            if ticks.is_multiple_of(60) {
                ticker.sweep().await;
            }
            tokio::time::sleep(StdDuration::from_millis(500)).await;
        }
    });

    println!("jit-local listening on {base}");
    if portal.built() {
        println!("  the portal: open {base}/ in a browser");
    } else {
        println!(
            "  the portal is not built ({} is missing): npm --prefix web ci && npm --prefix web run build",
            args.portal.join("index.html").display()
        );
    }
    println!(
        "  catalog {} (version {version}), {}",
        args.catalog.display(),
        match &verifier {
            None => "identity from the X-Jit-User header".to_string(),
            Some(v) => format!(
                "callers sign in with {} (jit --api {base} login)",
                v.settings().issuer
            ),
        }
    );
    println!(
        "  emails are printed here; {}. Try:",
        match &local.backend {
            Backend::Memory(_) => "nothing survives a restart (--in-memory)",
            _ => "a restart keeps everything",
        }
    );
    if verifier.is_some() {
        println!("    jit login --api {base}");
        println!("    jit request api-logs-read --for 4h --reason \"debug 5xx\"");
    } else {
        println!("    jit --api {base} --as alice@example.com request api-logs-read --for 4h --reason \"debug 5xx\"");
        println!("    jit --api {base} --as carol@example.com request rds-prod-pii --for 1h --reason \"INC-7 customer data\" --ticket INC-7");
    }
    println!("    jit --api {base} local advance 5h");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let limits = http::Limits {
        header_read: StdDuration::from_millis(args.header_timeout_ms),
        connections: args.max_connections,
    };
    http::serve(listener, app, limits, shutdown).await;
    ExitCode::SUCCESS
}

/// An SDK configuration for `endpoint`; with no credentials in the environment, placeholders
/// (moto accepts any).
async fn sdk_for(endpoint: &str) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint);
    if std::env::var("AWS_REGION").is_err() {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "local",
        ));
    }
    loader.load().await
}

/// Names the caller: from a bearer token when an OIDC issuer is set (the X-Jit-User header is
/// then refused, as the deployed API ignores it), otherwise from the X-Jit-User header.
async fn identify(
    State(verifier): State<Option<Arc<oidc::Verifier>>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(verifier) = verifier {
        let bearer = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| "send the token as: Authorization: Bearer <token>".to_string())
            });
        let outcome = match bearer {
            Some(Ok(token)) => Some(tokio::task::block_in_place(|| verifier.verify(token))),
            Some(Err(why)) => Some(Err(why)),
            None if req.headers().contains_key(USER_HEADER) => Some(Err(
                "this jit-local signs callers in with OIDC: X-Jit-User is not accepted; sign in with jit login".to_string(),
            )),
            None => None,
        };
        match outcome {
            Some(Ok(email)) => {
                req.extensions_mut().insert(Caller(email));
            }
            Some(Err(why)) => {
                req.extensions_mut().insert(Unidentified(why));
            }
            None => {}
        }
        return next.run(req).await;
    }
    if let Some(value) = req.headers().get(USER_HEADER) {
        match value.to_str().ok().and_then(|v| Email::parse(v).ok()) {
            Some(email) => {
                req.extensions_mut().insert(Caller(email));
            }
            // Not a caller: routes that need one answer 401 and say why; public ones serve.
            None => {
                req.extensions_mut().insert(Unidentified(
                    "X-Jit-User must be an email address such as alice@example.com".to_string(),
                ));
            }
        }
    }
    next.run(req).await
}

async fn clock(State(local): State<Arc<Local>>) -> Json<serde_json::Value> {
    Json(json!({ "now": local.now() }))
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
    local.advance(by.as_chrono());
    let (fired, activated) = local.tick().await;
    let swept = local.sweep().await;
    Json(json!({ "now": local.now(), "advanced": by, "fired": fired, "activated": activated, "swept": swept })).into_response()
}

/// What EventBridge does in AWS for the pod function: hands it a CloudTrail event (the JSON
/// of an "AWS API Call via CloudTrail" event, as in events/cloudtrail-*.json).
async fn cloudtrail(
    State(local): State<Arc<Local>>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let event = match body {
        Ok(Json(v)) => v,
        Err(e) => {
            let body = json!({ "error": { "code": "bad_request", "message": format!("{}; send a CloudTrail event as EventBridge delivers it (see events/cloudtrail-*.json)", e.body_text()) } });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let outcome = match &local.backend {
        Backend::Memory(s) => pod::handle(s.as_ref(), &event).await,
        Backend::Durable(d) => pod::handle(d.svc.as_ref(), &event).await,
        Backend::Aws(a) => pod::handle(a.svc.as_ref(), &event).await,
    };
    local.tick().await;
    match outcome {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let body = json!({ "error": { "code": "failed", "message": e.to_string() } });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn outbox(State(local): State<Arc<Local>>) -> Json<serde_json::Value> {
    let messages = match &local.backend {
        Backend::Memory(s) => s.ports.mailer.sent(),
        Backend::Durable(d) => d.outbox(),
        Backend::Aws(a) => a.svc.ports.mailer.sent(),
    };
    Json(json!({ "messages": messages }))
}

/// Local mode's Slack outbox: the workspace's people (their Slack user ids, to sign requests
/// as them) and every Web API call made, when jit-local answers Slack's calls itself.
async fn slack_calls(State(local): State<Arc<Local>>) -> (StatusCode, Json<serde_json::Value>) {
    let web = match &local.backend {
        Backend::Durable(d) => d.slack_web(),
        _ => None,
    };
    match web.as_deref() {
        Some(jit_slack::local::AnySlack::Local(ws)) => (
            StatusCode::OK,
            Json(json!({ "users": ws.users(), "calls": ws.calls() })),
        ),
        Some(_) => (
            StatusCode::NOT_FOUND,
            Json(
                json!({ "error": { "code": "not_local", "message": "Slack calls go to --slack-api-url; see that workspace" } }),
            ),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(
                json!({ "error": { "code": "no_slack", "message": "start jit-local with --slack to serve the Slack app" } }),
            ),
        ),
    }
}

async fn identity(State(local): State<Arc<Local>>) -> Json<serde_json::Value> {
    match &local.backend {
        Backend::Memory(s) => {
            Json(serde_json::to_value(s.ports.grantor.snapshot()).unwrap_or_default())
        }
        Backend::Durable(d) => Json(serde_json::to_value(d.identity()).unwrap_or_default()),
        Backend::Aws(a) => Json(a.identity().await),
    }
}
