//! What every function shares: configuration from the environment (checked once, at start,
//! naming every missing variable), the AWS-backed service, and JSON logs.
//!
//! Nothing is loaded at init that can wait: the SDK configuration is read once, the catalog and
//! the link-signing key (from Secrets Manager, never the environment) together on first use. What a function may do to access in AWS is fixed by its type ([`Access`]): only
//! the grant and revoke functions link the Identity Center and IAM clients. The catalog in force is the one published with `jit catalog push` (the table's
//! `CATALOG`/`CURRENT` item); it is looked at again at most once a minute, so a push takes
//! effect within a minute without a redeploy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use jit_aws::{
    AwsGrantor, AwsScheduler, DynamoCatalogs, DynamoStore, IdentityConfig, IdentityStoreDirectory,
    SchedulerConfig, SesMailer,
};
use jit_core::catalog::{self, Catalog};
use jit_core::database::WithDatabases;
use jit_core::link::LinkSigner;
use jit_core::ports::{CatalogStore, Grantor, LedgerOnly, SystemClock};
use jit_core::service::{Effects, Ports, Service};
use jit_postgres::{Postgres, SecretsAdmin};
use tokio::sync::Mutex;

/// The service on the AWS adapters, with the grantor of the function's [`Access`].
pub type AwsService<G = AwsGrantor> =
    Service<DynamoStore, G, AwsScheduler, SesMailer, IdentityStoreDirectory, SystemClock>;

/// What a function may do to access in AWS. It decides the grantor and the [`Effects`]
/// together, so a function cannot be wired to change access inline without the clients to do
/// it, nor link clients it never calls.
pub trait Access: Send + Sync + 'static {
    /// The grantor the function's service holds.
    type Grantor: Grantor + 'static;
    /// What the grantor needs, built once per process.
    type Clients: Send + Sync + 'static;
    /// Whether the function's operations change access themselves.
    const EFFECTS: Effects;
    /// Builds the clients (at start).
    fn clients(sdk: &aws_config::SdkConfig, env: &Env) -> Self::Clients;
    /// The grantor for a service (on each catalog change).
    fn grantor(
        clients: &Self::Clients,
        env: &Env,
        dynamo: &aws_sdk_dynamodb::Client,
        directory: &IdentityStoreDirectory,
    ) -> Self::Grantor;
}

/// The grant and revoke functions: they apply and remove grants through Identity Center and
/// IAM ([`Effects::Inline`]).
pub struct ChangesAccess;

/// The database side of a function that reaches databases (DATABASES_ENABLED): admin logins
/// from Secrets Manager, read once and kept across catalog changes.
pub type DbAccess = Option<Arc<SecretsAdmin>>;

fn db_clients(sdk: &aws_config::SdkConfig, env: &Env) -> DbAccess {
    env.databases
        .then(|| Arc::new(SecretsAdmin::new(aws_sdk_secretsmanager::Client::new(sdk))))
}

fn databases(access: &DbAccess) -> Option<Postgres<Arc<SecretsAdmin>>> {
    access.clone().map(Postgres::new)
}

impl Access for ChangesAccess {
    type Grantor = WithDatabases<AwsGrantor, Postgres<Arc<SecretsAdmin>>>;
    type Clients = (aws_sdk_ssoadmin::Client, aws_sdk_iam::Client, DbAccess);
    const EFFECTS: Effects = Effects::Inline;

    fn clients(sdk: &aws_config::SdkConfig, env: &Env) -> Self::Clients {
        (
            aws_sdk_ssoadmin::Client::new(sdk),
            aws_sdk_iam::Client::new(sdk),
            db_clients(sdk, env),
        )
    }

    fn grantor(
        (sso, iam, db): &Self::Clients,
        env: &Env,
        dynamo: &aws_sdk_dynamodb::Client,
        directory: &IdentityStoreDirectory,
    ) -> Self::Grantor {
        let mut identity = IdentityConfig::new(&env.instance_arn);
        if let Some(t) = &env.role_name_template {
            identity.role_name_template = t.clone();
        }
        if let Some(n) = env.quotas.0 {
            identity.permission_set_quota = n;
        }
        if let Some(n) = env.quotas.1 {
            identity.account_quota = n;
        }
        identity.shared_rate = env.identity_center_rate;
        WithDatabases {
            inner: AwsGrantor::new(
                sso.clone(),
                iam.clone(),
                dynamo.clone(),
                &env.table,
                directory.clone(),
                identity,
            ),
            databases: databases(db),
        }
    }
}

/// The API, link, escalate and pod functions: they write only the ledger, and the stream-fed
/// grant function changes access ([`Effects::Stream`]).
pub struct WritesLedgerOnly;

impl Access for WritesLedgerOnly {
    type Grantor = LedgerOnly;
    type Clients = ();
    const EFFECTS: Effects = Effects::Stream;

    fn clients(_: &aws_config::SdkConfig, _: &Env) {}

    fn grantor(
        _: &(),
        _: &Env,
        _: &aws_sdk_dynamodb::Client,
        _: &IdentityStoreDirectory,
    ) -> LedgerOnly {
        LedgerOnly
    }
}

/// The API function: it writes only the ledger, as [`WritesLedgerOnly`], and with databases
/// on it issues database passwords (`POST /v1/requests/{id}/db-credentials`), the one database
/// change made in a person's own call.
pub struct ServesApi;

impl Access for ServesApi {
    type Grantor = WithDatabases<LedgerOnly, Postgres<Arc<SecretsAdmin>>>;
    type Clients = DbAccess;
    const EFFECTS: Effects = Effects::Stream;

    fn clients(sdk: &aws_config::SdkConfig, env: &Env) -> DbAccess {
        db_clients(sdk, env)
    }

    fn grantor(
        db: &DbAccess,
        _: &Env,
        _: &aws_sdk_dynamodb::Client,
        _: &IdentityStoreDirectory,
    ) -> Self::Grantor {
        WithDatabases {
            inner: LedgerOnly,
            databases: databases(db),
        }
    }
}

/// How often the published catalog is looked at again.
pub const CATALOG_REFRESH: Duration = Duration::from_secs(60);

/// The functions' configuration, from environment variables the template sets.
#[derive(Debug, Clone)]
pub struct Env {
    /// TABLE_NAME: the ledger.
    pub table: String,
    /// IDENTITY_STORE_ID: d-xxxxxxxxxx.
    pub identity_store_id: String,
    /// SSO_INSTANCE_ARN: the Identity Center instance.
    pub instance_arn: String,
    /// SCHEDULE_GROUP.
    pub schedule_group: String,
    /// SCHEDULER_ROLE_ARN: the role Scheduler assumes to invoke targets.
    pub scheduler_role_arn: String,
    /// GRANT_FUNCTION_ARN, REVOKE_FUNCTION_ARN, ESCALATE_FUNCTION_ARN: schedule targets.
    pub grant_arn: String,
    /// See `grant_arn`.
    pub revoke_arn: String,
    /// See `grant_arn`.
    pub escalate_arn: String,
    /// DEAD_LETTER_ARN (optional): where failed schedule invocations go.
    pub dead_letter_arn: Option<String>,
    /// SES_FROM: the verified sender.
    pub ses_from: String,
    /// BASE_URL: the API's public URL, for decision links.
    pub base_url: String,
    /// LINK_SIGNING_SECRET: the Secrets Manager secret (name or ARN) holding the link-signing
    /// key, read at start (never in the environment): the key itself (at least 32 bytes), or
    /// `{"current": …, "previous": …}` during a rotation.
    pub link_secret: String,
    /// ROLE_NAME_TEMPLATE (optional): a person's IAM role, `{user}` for the email's local part.
    pub role_name_template: Option<String>,
    /// ACCESS_PORTAL_URL (optional): the Identity Center access portal's start URL, linked in
    /// the emails that tell people their access is active.
    pub access_portal_url: Option<String>,
    /// PORTAL_URL (optional): the web portal, whose inbox approval emails link.
    pub portal_url: Option<String>,
    /// CHAT_ENABLED (`true` when the stack has a Slack app): transitions write chat notices
    /// too, which the chat function takes off the table's stream.
    pub chat: bool,
    /// DATABASES_ENABLED (`true` when the stack is given the databases' subnets): the grant,
    /// revoke and API functions reach `postgres` bundles' databases.
    pub databases: bool,
    /// PERMISSION_SET_QUOTA and ACCOUNT_PERMISSION_SET_QUOTA (optional): Identity Center's
    /// quotas of permission sets per instance and provisioned per account, as raised in
    /// Service Quotas; AWS's defaults when unset.
    pub quotas: (Option<u32>, Option<u32>),
    /// IDENTITY_CENTER_RATE (optional): Identity Center calls a second for all the stack's
    /// functions together, paced through one item of the table; each process alone when unset.
    pub identity_center_rate: Option<u32>,
}

impl Env {
    /// Reads every variable; the error lists all that are missing.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads every variable through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut missing = Vec::new();
        let mut need = |k: &str| {
            get(k).filter(|v| !v.is_empty()).unwrap_or_else(|| {
                missing.push(k.to_string());
                String::new()
            })
        };
        let env = Env {
            table: need("TABLE_NAME"),
            identity_store_id: need("IDENTITY_STORE_ID"),
            instance_arn: need("SSO_INSTANCE_ARN"),
            schedule_group: need("SCHEDULE_GROUP"),
            scheduler_role_arn: need("SCHEDULER_ROLE_ARN"),
            grant_arn: need("GRANT_FUNCTION_ARN"),
            revoke_arn: need("REVOKE_FUNCTION_ARN"),
            escalate_arn: need("ESCALATE_FUNCTION_ARN"),
            ses_from: need("SES_FROM"),
            base_url: need("BASE_URL"),
            link_secret: need("LINK_SIGNING_SECRET"),
            dead_letter_arn: None,
            role_name_template: None,
            access_portal_url: None,
            portal_url: None,
            chat: false,
            databases: false,
            quotas: (None, None),
            identity_center_rate: None,
        };
        if !missing.is_empty() {
            return Err(anyhow!(
                "missing configuration: set {} (the template sets them all)",
                missing.join(", ")
            ));
        }
        Ok(Env {
            dead_letter_arn: get("DEAD_LETTER_ARN").filter(|v| !v.is_empty()),
            role_name_template: get("ROLE_NAME_TEMPLATE"),
            access_portal_url: get("ACCESS_PORTAL_URL").filter(|v| !v.is_empty()),
            portal_url: get("PORTAL_URL").filter(|v| !v.is_empty()),
            chat: get("CHAT_ENABLED").is_some_and(|v| v == "true"),
            databases: get("DATABASES_ENABLED").is_some_and(|v| v == "true"),
            quotas: (
                positive(&get, "PERMISSION_SET_QUOTA")?,
                positive(&get, "ACCOUNT_PERMISSION_SET_QUOTA")?,
            ),
            identity_center_rate: positive(&get, "IDENTITY_CENTER_RATE")?,
            ..env
        })
    }
}

/// An optional quota or rate: a positive whole number, or unset.
fn positive(get: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<u32>> {
    match get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(anyhow!(
                "{name} is {v:?}: set it to a whole number above 0 (a quota as Service Quotas shows it, or calls a second)"
            )),
        },
    }
}

struct Cached<G> {
    checked: Instant,
    version: String,
    service: Arc<AwsService<G>>,
}

/// One per process: the SDK configuration, the environment, and the service built on the
/// catalog in force.
pub struct App<K: Access = WritesLedgerOnly> {
    env: Env,
    secrets: aws_sdk_secretsmanager::Client,
    /// The link-signing key, read once per process with the first catalog.
    signer: tokio::sync::OnceCell<LinkSigner>,
    clients: Clients<K>,
    catalogs: DynamoCatalogs,
    cache: Mutex<Option<Cached<K::Grantor>>>,
}

/// The SDK clients the function uses, built once per process (clones share the connection
/// pool).
struct Clients<K: Access> {
    dynamo: aws_sdk_dynamodb::Client,
    identitystore: aws_sdk_identitystore::Client,
    scheduler: aws_sdk_scheduler::Client,
    ses: aws_sdk_sesv2::Client,
    access: K::Clients,
}

impl<K: Access> App<K> {
    /// Reads the environment and the SDK configuration.
    pub async fn from_env() -> anyhow::Result<Self> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::from_sdk(&sdk)
    }

    /// Reads the environment; builds the clients from `sdk` (for a function that builds
    /// clients of its own from the same configuration). The link-signing key is read with the
    /// catalog, on first use, not here.
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let env = Env::from_env()?;
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let sdk = sdk.clone();
        let clients = Clients::<K> {
            dynamo: aws_sdk_dynamodb::Client::new(&sdk),
            identitystore: aws_sdk_identitystore::Client::new(&sdk),
            scheduler: aws_sdk_scheduler::Client::new(&sdk),
            ses: aws_sdk_sesv2::Client::new(&sdk),
            access: K::clients(&sdk, &env),
        };
        let catalogs = DynamoCatalogs::new(clients.dynamo.clone(), &env.table);
        Ok(Self {
            env,
            secrets,
            signer: tokio::sync::OnceCell::new(),
            clients,
            catalogs,
            cache: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The ledger's DynamoDB client (clones share its connections).
    pub fn dynamo(&self) -> &aws_sdk_dynamodb::Client {
        &self.clients.dynamo
    }

    /// The service on the catalog in force.
    pub async fn service(&self) -> anyhow::Result<Arc<AwsService<K::Grantor>>> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache
            .as_ref()
            .filter(|c| c.checked.elapsed() < CATALOG_REFRESH)
        {
            return Ok(c.service.clone());
        }
        // With a catalog in hand, a small read first: the files are fetched only when the
        // version changed. A cold start has none, and reads the files at once.
        if let Some(c) = cache.as_mut() {
            let version = self
                .catalogs
                .current_version()
                .await
                .context("reading the published catalog's version")?;
            if version.as_ref() == Some(&c.version) {
                c.checked = Instant::now();
                return Ok(c.service.clone());
            }
        }
        // A cold start reads the catalog and the link-signing key at once.
        let (current, signer) = tokio::join!(
            self.catalogs.current(),
            self.signer
                .get_or_try_init(|| read_link_key(&self.secrets, &self.env.link_secret))
        );
        let signer = signer?.clone();
        let current = current
            .context("reading the published catalog")?
            .ok_or_else(|| anyhow!("no catalog has been published yet: run `jit catalog push`"))?;
        let catalog = catalog::parse_files(&current.files).map_err(|e| {
            anyhow!(
                "the published catalog {} does not parse: {e}",
                current.version
            )
        })?;
        let service = Arc::new(self.build(catalog, signer));
        *cache = Some(Cached {
            checked: Instant::now(),
            version: current.version,
            service: service.clone(),
        });
        Ok(service)
    }

    fn build(&self, catalog: Catalog, signer: LinkSigner) -> AwsService<K::Grantor> {
        let env = &self.env;
        let c = &self.clients;
        let dynamo = c.dynamo.clone();
        let directory =
            IdentityStoreDirectory::new(c.identitystore.clone(), &env.identity_store_id);
        let grantor = K::grantor(&c.access, env, &dynamo, &directory);
        let scheduler = AwsScheduler::new(
            c.scheduler.clone(),
            SchedulerConfig {
                group: env.schedule_group.clone(),
                role_arn: env.scheduler_role_arn.clone(),
                grant_target_arn: env.grant_arn.clone(),
                revoke_target_arn: env.revoke_arn.clone(),
                escalate_target_arn: env.escalate_arn.clone(),
                dead_letter_arn: env.dead_letter_arn.clone(),
                max_retries: 10,
                max_event_age_secs: 3_600,
            },
        );
        let ports = Ports {
            store: DynamoStore::new(dynamo, &env.table),
            grantor,
            scheduler,
            mailer: SesMailer::new(c.ses.clone(), &env.ses_from),
            directory,
            clock: SystemClock,
        };
        Service::new(Arc::new(catalog), ports, signer, &env.base_url)
            .with_effects(K::EFFECTS)
            .with_access_portal(env.access_portal_url.clone())
            .with_role_name_template(env.role_name_template.clone())
            .with_portal(env.portal_url.clone())
            .with_chat(env.chat)
    }
}

/// The link-signing key from its secret: the key itself, or `{"current": …, "previous": …}`
/// while a rotation's links are still live. The key never reaches a log or an error message.
pub async fn read_link_key(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> anyhow::Result<LinkSigner> {
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot read the link-signing key's secret {secret}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| anyhow!("the link-signing key's secret {secret} holds no string"))?;
    link_signer(text).map_err(|e| anyhow!("the link-signing key's secret {secret}: {e}"))
}

/// Reads a link-signing secret's text (see [`read_link_key`]).
pub fn link_signer(text: &str) -> anyhow::Result<LinkSigner> {
    #[derive(serde::Deserialize)]
    struct Rotating {
        current: String,
        #[serde(default)]
        previous: Option<String>,
    }
    let weak = |e: jit_core::link::WeakKey| anyhow!("{e}");
    if text.trim_start().starts_with('{') {
        let keys: Rotating = serde_json::from_str(text).map_err(|_| {
            anyhow!("expected the key, or JSON {{\"current\": …, \"previous\": …}}")
        })?;
        return match keys.previous.filter(|p| !p.is_empty()) {
            Some(previous) => {
                LinkSigner::with_previous(keys.current.as_bytes(), previous.as_bytes())
                    .map_err(weak)
            }
            None => LinkSigner::new(keys.current.as_bytes()).map_err(weak),
        };
    }
    LinkSigner::new(text.as_bytes()).map_err(weak)
}

/// JSON logs for CloudWatch; `RUST_LOG` sets the level (default info).
pub fn init_tracing() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing::subscriber::set_global_default(json_logs(std::io::stdout, &filter));
}

/// The log format: one JSON object a line, so a field's text (a reason, a resource name from
/// a CloudTrail event) is escaped inside its string and can never start a line of its own.
fn json_logs<W>(writer: W, filter: &str) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .without_time()
        .with_writer(LineSafe(writer))
        .finish()
}

/// Writes log records with U+2028 and U+2029 escaped (`\u2028`): JSON allows them raw inside
/// a string, and some log viewers break a line there. Outside strings JSON never has them.
struct LineSafe<W>(W);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for LineSafe<M>
{
    type Writer = LineSafe<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        LineSafe(self.0.make_writer())
    }
}

impl<W: std::io::Write> std::io::Write for LineSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes each record whole, so a character is never split across calls.
        let text = String::from_utf8_lossy(buf);
        if text.contains(['\u{2028}', '\u{2029}']) {
            let safe = text
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029");
            self.0.write_all(safe.as_bytes())?;
        } else {
            self.0.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Runs a function whose events are JSON: starts logs, reads the configuration, and hands each
/// event to `handle` with the service on the catalog in force. An `Err` fails the invocation
/// (so the event source retries it).
pub async fn run<K, E, R, F, Fut>(_access: K, handle: F) -> Result<(), lambda_runtime::Error>
where
    K: Access,
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(Arc<AwsService<K::Grantor>>, E) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, String>> + Send,
{
    init_tracing();
    let app = Arc::new(App::<K>::from_env().await?);
    let handle = Arc::new(handle);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| {
            let (app, handle) = (app.clone(), handle.clone());
            async move {
                let svc = app
                    .service()
                    .await
                    .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))?;
                handle(svc, event.payload)
                    .await
                    .map_err(lambda_runtime::Error::from)
            }
        },
    ))
    .await
}

/// Runs an API Gateway function: each request goes to `route` with the service on the catalog
/// in force, or gets a JSON 503 (cause logged, not shown) when the service cannot be built.
pub async fn serve_http<K, F, Fut>(_access: K, route: F) -> Result<(), lambda_http::Error>
where
    K: Access,
    F: Fn(Arc<AwsService<K::Grantor>>, lambda_http::Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = axum::response::Response> + Send,
{
    init_tracing();
    let app = Arc::new(App::<K>::from_env().await?);
    let route = Arc::new(route);
    lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
        let (app, route) = (app.clone(), route.clone());
        async move {
            Ok::<_, std::convert::Infallible>(match app.service().await {
                Ok(svc) => route(svc, req).await,
                Err(e) => unavailable(&e),
            })
        }
    }))
    .await
}

/// A JSON 503 for when the service cannot be built (no catalog published, AWS unreachable);
/// the cause goes to the log, not to the caller.
pub fn unavailable(cause: &anyhow::Error) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!(error = format!("{cause:#}"), "service unavailable");
    let body = serde_json::json!({ "error": { "code": "unavailable", "message": "the service is not ready; it has been logged" } });
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    /// Captures what the log writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// Text that tries to start a log line of its own (a line break, then a forged record;
    /// a carriage return; a Unicode line separator) stays inside its field.
    #[test]
    fn typed_text_cannot_forge_a_log_line() {
        let out = Captured::default();
        let forged =
            "debug\n{\"level\":\"ERROR\",\"fields\":{\"message\":\"forged\"}}\r\u{2028}end";
        tracing::subscriber::with_default(json_logs(out.clone(), "info"), || {
            tracing::warn!(reason = forged, "email not sent");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{2028}'), "{text}");
        let record: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(record["level"], "WARN");
        assert_eq!(record["fields"]["reason"], forged, "kept whole, as data");
    }

    use super::*;

    #[test]
    fn missing_configuration_is_named_all_at_once() {
        let err = Env::from_lookup(|k| (k == "TABLE_NAME").then(|| "t".to_string()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("IDENTITY_STORE_ID")
                && err.contains("LINK_SIGNING_SECRET")
                && !err.contains("TABLE_NAME,"),
            "{err}"
        );
        let all = |k: &str| {
            Some(if k.ends_with("_QUOTA") || k == "IDENTITY_CENTER_RATE" {
                "3500".to_string()
            } else {
                format!("value-of-{k}")
            })
        };
        let env = Env::from_lookup(all).unwrap();
        assert_eq!(env.table, "value-of-TABLE_NAME");
        assert_eq!(
            env.dead_letter_arn.as_deref(),
            Some("value-of-DEAD_LETTER_ARN")
        );
        assert_eq!(env.quotas, (Some(3500), Some(3500)));
        assert_eq!(env.identity_center_rate, Some(3500));
        let err = Env::from_lookup(|k| Some(format!("value-of-{k}")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PERMISSION_SET_QUOTA") && err.contains("a whole number"),
            "{err}"
        );
    }
}
