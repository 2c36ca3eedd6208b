//! Database grants against a real PostgreSQL server (started by scripts/test.sh, which sets
//! JIT_TEST_POSTGRES_URL), driven through the service as users drive it.
//!
//! Each test works on databases, an instance name and people of its own, so the tests run in
//! parallel on one server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use jit_core::audit::Action;
use jit_core::catalog::{parse_files, Catalog};
use jit_core::database::{person_role, quote_ident, Database, WithDatabases};
use jit_core::lifecycle::Status;
use jit_core::link::LinkSigner;
use jit_core::policy::RequestInput;
use jit_core::ports::GrantError;
use jit_core::service::{Ports, Service, ServiceError};
use jit_core::types::{BundleName, Email, GrantDuration, RequestId};
use jit_memory::{
    FakeClock, MemoryDirectory, MemoryGrantor, MemoryMailer, MemoryScheduler, MemoryStore,
};
use jit_postgres::{AdminLogin, AdminSource, FixedServer, Postgres};
use tokio_postgres::{Client, NoTls};

/// The server's admin URL, or a loud failure: these tests need the server the test script starts.
fn server_url() -> String {
    std::env::var("JIT_TEST_POSTGRES_URL").expect(
        "JIT_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

/// The admin login, switchable to a port nothing listens on (a database that went away).
struct Switch {
    real: FixedServer,
    down: AtomicBool,
}

impl AdminSource for Switch {
    async fn login(&self, db: &Database) -> Result<AdminLogin, GrantError> {
        let mut login = self.real.login(db).await?;
        if self.down.load(Ordering::SeqCst) {
            login.port = 1;
        }
        Ok(login)
    }
}

type Grantor = WithDatabases<MemoryGrantor, Postgres<Arc<Switch>>>;
type Svc = Service<MemoryStore, Grantor, MemoryScheduler, MemoryMailer, MemoryDirectory, FakeClock>;

struct World {
    service: Arc<Svc>,
    admin: Arc<Switch>,
    tag: String,
    host: String,
    port: u16,
    admin_user: String,
    admin_password: String,
}

/// A short tag unique to this test run and test.
fn tag(test: &str) -> String {
    format!("{test}_{:x}", rand_u32())
}

fn rand_u32() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// A catalog with one read bundle per database named, on instance `inst-<tag>`.
fn catalog(tag: &str, databases: &[&str], extra: &str) -> Catalog {
    let mut text = String::new();
    for db in databases {
        text.push_str(&format!(
            r#"
[[bundle]]
name = "{db}-read"
description = "read {db}"
owner_team = "data"
risk = "low"
strategy = "postgres"
accounts = ["111111111111"]
[bundle.database]
instance = "inst-{tag}"
endpoint = "db.internal.example.com"
database = "{db}_{tag}"
admin_secret = "jit/db-admin"
auth = "password"
privileges = "read"
tls = false
"#
        ));
    }
    let names: Vec<String> = databases.iter().map(|d| format!("\"{d}-read\"")).collect();
    if !names.is_empty() {
        text.push_str(&format!(
            r#"
[[flow]]
name = "self-serve"
description = "anyone, at once"
requesters = ["*"]
bundles = [{}]
max_duration = "8h"
justification = "optional"
approval = "auto"
"#,
            names.join(", ")
        ));
    }
    text.push_str(&format!(
        r#"
{extra}

[settings]
platform_group = "platform"
admin_group = "admins"
"#
    ));
    parse_files(&[("catalog.toml".into(), text)]).unwrap_or_else(|e| panic!("{e}"))
}

impl World {
    async fn new(test: &str, databases: &[&str]) -> Self {
        Self::with(test, databases, |_| String::new()).await
    }

    /// A world whose catalog also holds `extra(tag)` (bundles with a flow of their own).
    async fn with(test: &str, databases: &[&str], extra: impl Fn(&str) -> String) -> Self {
        let tag = tag(test);
        let catalog = catalog(&tag, databases, &extra(&tag));
        let url = server_url();
        let real = FixedServer::parse(&url).expect("a valid JIT_TEST_POSTGRES_URL");
        let probe = real
            .login(
                catalog
                    .bundles
                    .values()
                    .next()
                    .unwrap()
                    .strategy
                    .database()
                    .unwrap(),
            )
            .await
            .unwrap();
        let admin = Arc::new(Switch {
            real,
            down: AtomicBool::new(false),
        });
        let world = World {
            service: Arc::new(Service::new(
                Arc::new(catalog),
                Ports {
                    store: MemoryStore::default(),
                    grantor: WithDatabases {
                        inner: MemoryGrantor::default(),
                        databases: Some(Postgres::new(admin.clone())),
                    },
                    scheduler: MemoryScheduler::default(),
                    mailer: MemoryMailer::default(),
                    directory: MemoryDirectory::default(),
                    // Real time as its base: the passwords' VALID UNTIL is checked by the
                    // server's clock.
                    clock: FakeClock::running_from(Utc::now()),
                },
                LinkSigner::new(b"a-signing-key-of-at-least-32-bytes!!").unwrap(),
                "https://jit.example.com",
            )),
            admin,
            host: probe.host,
            port: probe.port,
            admin_user: probe.username,
            admin_password: probe.password,
            tag,
        };
        let admin = world.admin_client("postgres").await;
        for db in databases {
            let name = world.db(db);
            admin
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
                .await
                .unwrap();
            let there = world.admin_client(&name).await;
            there
                .batch_execute(&format!(
                    "CREATE TABLE {db} (id serial PRIMARY KEY, name text); INSERT INTO {db} (name) VALUES ('first'), ('second');"
                ))
                .await
                .unwrap();
        }
        world
    }

    fn db(&self, short: &str) -> String {
        format!("{short}_{}", self.tag)
    }

    async fn connect(
        &self,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(database);
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    async fn admin_client(&self, database: &str) -> Client {
        self.connect(database, &self.admin_user, &self.admin_password)
            .await
            .unwrap_or_else(|e| panic!("admin sign-in to {database}: {e}"))
    }

    /// Asks for `bundle` as `person` for `hours`, and applies it (what the grant function does).
    async fn grant(&self, person: &Email, bundle: &str, hours: i64) -> RequestId {
        let req = self
            .service
            .submit(
                person,
                RequestInput {
                    bundle: Some(BundleName::parse(bundle).unwrap()),
                    duration: Some(GrantDuration::parse(&format!("{hours}h")).unwrap()),
                    reason: Some("timeline".into()),
                    ..RequestInput::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("submit {bundle}: {e}"));
        let req = self.service.activate(&req.id).await.unwrap();
        assert_eq!(req.status, Status::Active, "{:?}", req.status_reason);
        req.id
    }

    async fn password(&self, person: &Email, id: &RequestId) -> String {
        self.service
            .db_credentials(person, id)
            .await
            .unwrap()
            .password
    }

    fn clock(&self) -> &FakeClock {
        &self.service.ports.clock
    }

    /// Every grant role of this test's instance, and the people's roles that can log in.
    async fn left_over(&self, people: &[Email]) -> (Vec<String>, Vec<String>) {
        let admin = self.admin_client("postgres").await;
        let pattern = format!("% in inst-{} on %", self.tag);
        let grants = admin
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'jitg\\_%' AND shobj_description(oid, 'pg_authid') LIKE $1",
                &[&pattern],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let roles: Vec<String> = people.iter().map(person_role).collect();
        let logins = admin
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolcanlogin AND rolname = ANY($1)",
                &[&roles],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        (grants, logins)
    }
}

fn person(name: &str, tag: &str) -> Email {
    Email::parse(&format!("{name}.{tag}@example.com")).unwrap()
}

/// What the server said.
fn message(e: tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

async fn count(client: &Client, table: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?
        .get(0))
}

/// The timeline of the write-up: at 10:00 customers, at 11:00 orders on the same instance as
/// the same user, at 12:00 customers ends: orders still reads, customers does not, and the
/// session open on customers has been ended.
#[tokio::test]
async fn two_grants_on_one_instance_end_independently_and_end_open_sessions() {
    let w = World::new("timeline", &["customers", "orders"]).await;
    let alice = person("alice", &w.tag);
    let user = person_role(&alice);

    // 10:00
    let customers = w.grant(&alice, "customers-read", 2).await;
    let creds = w.service.db_credentials(&alice, &customers).await.unwrap();
    assert_eq!(creds.user, user);
    let session = w
        .connect(&w.db("customers"), &user, &creds.password)
        .await
        .unwrap();
    assert_eq!(count(&session, "customers").await.unwrap(), 2);
    // The password is shown to alice and kept nowhere: not in the audit trail, not in a message.
    let everything = format!(
        "{:?}{:?}",
        w.service.ports.store.all_audit(),
        w.service.ports.mailer.sent()
    );
    assert!(!everything.contains(&creds.password));
    // Nobody else may have it shown.
    let mallory = person("mallory", &w.tag);
    assert!(matches!(
        w.service.db_credentials(&mallory, &customers).await,
        Err(ServiceError::NotFound(_))
    ));

    // 11:00: orders, same instance, same user; the password now lasts until 13:00.
    w.clock().advance(Duration::hours(1));
    let orders = w.grant(&alice, "orders-read", 2).await;
    let creds2 = w.service.db_credentials(&alice, &orders).await.unwrap();
    assert_eq!(creds2.user, user);
    assert_eq!(
        creds2.valid_until,
        w.service.get(&orders).await.unwrap().expires_at.unwrap()
    );
    let orders_session = w
        .connect(&w.db("orders"), &user, &creds2.password)
        .await
        .unwrap();
    assert_eq!(count(&orders_session, "orders").await.unwrap(), 2);
    assert_eq!(
        count(&session, "customers").await.unwrap(),
        2,
        "the 10:00 session still works"
    );

    // 12:00: customers expires.
    w.clock().advance(Duration::hours(1));
    let ended = w.service.end(&customers).await.unwrap();
    assert_eq!(ended.status, Status::Ended);
    assert!(
        count(&session, "customers").await.is_err(),
        "the session open on customers was ended"
    );
    let again = w.connect(&w.db("customers"), &user, &creds2.password).await;
    if let Ok(c) = again {
        let e = message(count(&c, "customers").await.unwrap_err());
        assert!(e.contains("permission denied"), "{e}");
    }
    assert_eq!(
        count(&orders_session, "orders").await.unwrap(),
        2,
        "orders is untouched"
    );
    let fresh = w
        .connect(&w.db("orders"), &user, &creds2.password)
        .await
        .unwrap();
    assert_eq!(count(&fresh, "orders").await.unwrap(), 2);
    assert!(
        w.service.db_credentials(&alice, &customers).await.is_err(),
        "no password for an ended grant"
    );

    // 13:00: orders ends too; the role cannot log in any more.
    w.clock().advance(Duration::hours(1));
    w.service.end(&orders).await.unwrap();
    assert!(count(&orders_session, "orders").await.is_err());
    let refused = message(
        w.connect(&w.db("orders"), &user, &creds2.password)
            .await
            .unwrap_err(),
    );
    // The role is NOLOGIN with no password: sign-in fails either way.
    assert!(
        refused.contains("not permitted to log in")
            || refused.contains("password authentication failed"),
        "{refused}"
    );
    assert_eq!(w.left_over(&[alice]).await, (vec![], vec![]));
}

/// Ten grants made at once on one instance (five people, two databases), then all ended at
/// once: every one works while it lasts, and nothing is left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_grants_at_once_then_ten_ends_leave_nothing() {
    let w = Arc::new(World::new("ten", &["customers", "orders"]).await);
    let people: Vec<Email> = (0..5).map(|i| person(&format!("p{i}"), &w.tag)).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for p in &people {
        for bundle in ["customers-read", "orders-read"] {
            let (w, p) = (w.clone(), p.clone());
            tasks.spawn(async move { (p.clone(), bundle, w.grant(&p, bundle, 1).await) });
        }
    }
    let mut grants = Vec::new();
    while let Some(done) = tasks.join_next().await {
        grants.push(done.unwrap());
    }
    assert_eq!(grants.len(), 10);
    for (p, bundle, id) in &grants {
        let db = w.db(bundle.trim_end_matches("-read"));
        let password = w.password(p, id).await;
        let c = w.connect(&db, &person_role(p), &password).await.unwrap();
        assert_eq!(
            count(&c, bundle.trim_end_matches("-read")).await.unwrap(),
            2
        );
    }
    w.clock().advance(Duration::hours(1));
    let mut ends = tokio::task::JoinSet::new();
    for (_, _, id) in &grants {
        let (w, id) = (w.clone(), id.clone());
        ends.spawn(async move { w.service.end(&id).await });
    }
    while let Some(done) = ends.join_next().await {
        assert_eq!(done.unwrap().unwrap().status, Status::Ended);
    }
    assert_eq!(w.left_over(&people).await, (vec![], vec![]));
    // Ending again (a replayed schedule) changes nothing and fails nothing.
    for (_, _, id) in &grants {
        assert_eq!(w.service.end(id).await.unwrap().status, Status::Ended);
    }
}

/// One person's grants on two databases of one instance, ended at once, eight times over:
/// each end decides about the shared login role from a different database (the advisory lock
/// is per database), and still the role never keeps its login after both end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ends_on_two_databases_at_once_never_leave_a_login() {
    let w = Arc::new(World::new("pair", &["customers", "orders"]).await);
    let people: Vec<Email> = (0..8).map(|i| person(&format!("q{i}"), &w.tag)).collect();
    for p in &people {
        let customers = w.grant(p, "customers-read", 1).await;
        let orders = w.grant(p, "orders-read", 1).await;
        w.clock().advance(Duration::hours(1));
        let (a, b) = (w.clone(), w.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { a.service.end(&customers).await }),
            tokio::spawn(async move { b.service.end(&orders).await })
        );
        assert_eq!(x.unwrap().unwrap().status, Status::Ended);
        assert_eq!(y.unwrap().unwrap().status, Status::Ended);
        assert_eq!(
            w.left_over(std::slice::from_ref(p)).await,
            (vec![], vec![]),
            "{p}"
        );
    }
}

/// A database that cannot be reached at the end: the grant stays active with the reason, is
/// never marked ended while its access remains, and ends once the database is back.
#[tokio::test]
async fn an_unreachable_database_keeps_the_grant_active_with_the_reason() {
    let w = World::new("down", &["customers"]).await;
    let bob = person("bob", &w.tag);
    let id = w.grant(&bob, "customers-read", 1).await;
    let password = w.password(&bob, &id).await;
    w.clock().advance(Duration::hours(1));
    w.admin.down.store(true, Ordering::SeqCst);
    let e = w.service.end(&id).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let req = w.service.get(&id).await.unwrap();
    assert_eq!(req.status, Status::Active);
    assert!(
        req.status_reason
            .as_deref()
            .unwrap_or("")
            .contains("cannot be reached"),
        "{:?}",
        req.status_reason
    );
    let timeline = w.service.timeline(&id).await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e.action == Action::RemovalPending)
            .count(),
        1
    );
    // The sweep tries again (and records the same reason once).
    let report = w.service.sweep().await.unwrap();
    assert!(report.failed >= 1);
    assert_eq!(w.service.get(&id).await.unwrap().status, Status::Active);
    assert_eq!(
        w.service
            .timeline(&id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == Action::RemovalPending)
            .count(),
        1
    );
    // A release now is refused and says why: the grant is not marked released.
    let e = w.service.release(&bob, &id).await.unwrap_err();
    assert!(
        e.is_retryable() && e.to_string().contains("stays active"),
        "{e}"
    );
    // The database is back: the next sweep ends it.
    w.admin.down.store(false, Ordering::SeqCst);
    let c = w
        .connect(&w.db("customers"), &person_role(&bob), &password)
        .await
        .unwrap();
    assert_eq!(
        count(&c, "customers").await.unwrap(),
        2,
        "the access was still there"
    );
    let report = w.service.sweep().await.unwrap();
    assert_eq!(report.ended, 1);
    assert_eq!(w.service.get(&id).await.unwrap().status, Status::Ended);
    assert!(count(&c, "customers").await.is_err());
    assert_eq!(w.left_over(&[bob]).await, (vec![], vec![]));
}

/// Access no live grant explains (a grant role put back by hand, a role made able to log in)
/// is removed by the sweep, which counts it as drift; a live grant is left alone.
#[tokio::test]
async fn the_sweep_removes_database_access_no_live_grant_explains() {
    let w = World::new("drift", &["customers", "orders"]).await;
    let carol = person("carol", &w.tag);
    let dan = person("dan", &w.tag);
    let old = w.grant(&carol, "customers-read", 1).await;
    let live = w.grant(&dan, "orders-read", 3).await;
    w.clock().advance(Duration::hours(1));
    w.service.end(&old).await.unwrap();
    // Someone puts carol's ended grant back by hand, and lets her role log in.
    let admin = w.admin_client(&w.db("customers")).await;
    let g = jit_core::database::grant_role(&old);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {g} NOLOGIN; COMMENT ON ROLE {g} IS 'jit grant {old} of {carol} in inst-{tag} on {db}'; GRANT SELECT ON customers TO {g}; GRANT {g} TO {p}; ALTER ROLE {p} LOGIN PASSWORD 'by-hand'",
            g = quote_ident(&g),
            p = quote_ident(&person_role(&carol)),
            tag = w.tag,
            db = w.db("customers"),
        ))
        .await
        .unwrap();
    let sneaky = w
        .connect(&w.db("customers"), &person_role(&carol), "by-hand")
        .await
        .unwrap();
    assert_eq!(count(&sneaky, "customers").await.unwrap(), 2);
    let report = w.service.sweep().await.unwrap();
    assert_eq!(report.databases, 1);
    assert_eq!(report.drift_removed, 1, "{report:?}");
    assert!(
        count(&sneaky, "customers").await.is_err(),
        "the drifted session was ended"
    );
    assert!(w
        .connect(&w.db("customers"), &person_role(&carol), "by-hand")
        .await
        .is_err());
    // Dan's live grant is untouched.
    let password = w.password(&dan, &live).await;
    let c = w
        .connect(&w.db("orders"), &person_role(&dan), &password)
        .await
        .unwrap();
    assert_eq!(count(&c, "orders").await.unwrap(), 2);
    // A role able to log in with no grant at all is locked out.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {} LOGIN",
            quote_ident(&person_role(&carol))
        ))
        .await
        .unwrap();
    let report = w.service.sweep().await.unwrap();
    assert_eq!(report.drift_removed, 1, "{report:?}");
    assert_eq!(
        w.left_over(&[carol, dan.clone()]).await,
        (
            vec![jit_core::database::grant_role(&live)],
            vec![person_role(&dan)]
        )
    );
}

/// Hostile names: a database named to break out of its quotes, and people whose emails hold
/// quotes or run past Postgres's limit, are quoted and work; nothing they hold is executed.
#[tokio::test]
async fn hostile_names_are_quoted_never_executed() {
    const HOSTILE: &str = "x\"; DROP ROLE jit_admin; --";
    // A bundle on a database whose name is hostile.
    let w = World::with("hostile", &[], |tag| {
        format!(
            r#"
[[bundle]]
name = "odd-read"
description = "odd"
owner_team = "data"
risk = "low"
strategy = "postgres"
accounts = ["111111111111"]
[bundle.database]
instance = "inst-{tag}"
endpoint = "db.internal.example.com"
database = {name:?}
admin_secret = "jit/db-admin"
auth = "password"
grants = ["GRANT SELECT ON TABLE public.t"]
tls = false

[[flow]]
name = "odd"
description = "anyone"
requesters = ["*"]
bundles = ["odd-read"]
max_duration = "8h"
justification = "optional"
approval = "auto"
"#,
            name = format!("{HOSTILE}{tag}")
        )
    })
    .await;
    let name = format!("{HOSTILE}{}", w.tag);
    let admin = w.admin_client("postgres").await;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .await
        .unwrap();
    w.admin_client(&name)
        .await
        .batch_execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let people = [
        Email::parse(&format!("o'brien+{}@example.com", w.tag)).unwrap(),
        Email::parse(&format!("{}.{}@example.com", "l".repeat(60), w.tag)).unwrap(),
    ];
    for p in &people {
        let id = w.grant(p, "odd-read", 1).await;
        let creds = w.service.db_credentials(p, &id).await.unwrap();
        assert!(creds.user.len() <= 63);
        let c = w
            .connect(&name, &creds.user, &creds.password)
            .await
            .unwrap();
        assert_eq!(count(&c, "t").await.unwrap(), 1);
        w.service.release(p, &id).await.unwrap();
        assert!(
            count(&c, "t").await.is_err(),
            "released: the session is ended"
        );
    }
    assert_eq!(w.left_over(&people).await, (vec![], vec![]));
    // The admin role is still there: nothing in the name ran.
    let row = admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'jit_admin'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

/// GRANT statements in a catalog are checked by `jit catalog check`, each mistake with its
/// file and line.
#[test]
fn hostile_grant_statements_are_refused_at_check_with_file_and_line() {
    let text = r#"
[[bundle]]
name = "bad"
description = "bad"
owner_team = "data"
risk = "low"
strategy = "postgres"
accounts = ["111111111111"]
[bundle.database]
instance = "bad; drop"
endpoint = "db.example.com"
database = "orders"
admin_secret = "jit/db-admin"
auth = "password"
grants = [
  "GRANT SELECT ON orders TO PUBLIC",
  "GRANT SELECT ON orders; DROP TABLE orders",
  "GRANT ALL ON DATABASE orders",
]
"#;
    let errors = parse_files(&[("data/bad.toml".into(), text.into())]).unwrap_err();
    let text = errors.to_string();
    for (line, says) in [
        (10, "instance"),
        (16, "remove the TO clause"),
        (17, "without a semicolon"),
        (18, "ON DATABASE is not supported"),
    ] {
        assert!(
            errors.0.iter().any(|e| e.file == "data/bad.toml"
                && e.line == line
                && e.to_string().contains(says)),
            "expected line {line} to say {says:?} in:\n{text}"
        );
    }
}

/// IAM sign-in: the person's role gets rds_iam, and the grant puts a time-conditioned
/// rds-db:connect statement for exactly that database user in their own permission set; both
/// go at the end.
#[tokio::test]
async fn iam_sign_in_gives_rds_iam_and_a_time_conditioned_connect_statement() {
    let w = World::with("iam", &["reports"], |tag| {
        format!(
            r#"
[[bundle]]
name = "reports-iam"
description = "reports with IAM sign-in"
owner_team = "data"
risk = "low"
strategy = "postgres"
accounts = ["222222222222"]
[bundle.database]
instance = "inst-{tag}"
endpoint = "db.internal.example.com"
database = "reports_{tag}"
admin_secret = "jit/db-admin"
auth = "iam"
region = "eu-west-1"
resource_id = "cluster-ABCDEFGHIJKL"
privileges = "read"
tls = false

[[flow]]
name = "iam-self-serve"
description = "anyone, at once"
requesters = ["*"]
bundles = ["reports-iam"]
max_duration = "8h"
justification = "optional"
approval = "auto"
"#
        )
    })
    .await;
    // RDS makes rds_iam; a plain server needs it made.
    let admin = w.admin_client("postgres").await;
    admin
        .batch_execute("DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .await
        .unwrap();
    let erin = person("erin", &w.tag);
    let user = person_role(&erin);
    let id = w.grant(&erin, "reports-iam", 2).await;
    let member = admin
        .query_one(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles p ON p.oid = m.member WHERE g.rolname = 'rds_iam' AND p.rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(member, 1, "the person's role is in rds_iam");
    let expires = w.service.get(&id).await.unwrap().expires_at.unwrap();
    let doc =
        serde_json::to_string(&w.service.ports.grantor.inner.snapshot().containers[&erin]).unwrap();
    assert!(
        doc.contains(&format!(
            "arn:aws:rds-db:eu-west-1:222222222222:dbuser:cluster-ABCDEFGHIJKL/{user}"
        )) && doc.contains("rds-db:connect")
            && doc.contains("DateLessThan")
            && doc.contains(&expires.format("%Y-%m-%dT%H:%M:%S").to_string()),
        "{doc}"
    );
    // No password for an IAM grant: the answer says how to sign in instead.
    let e = w.service.db_credentials(&erin, &id).await.unwrap_err();
    assert!(e.to_string().contains("generate-db-auth-token"), "{e}");
    w.clock().advance(Duration::hours(2));
    w.service.end(&id).await.unwrap();
    let doc =
        serde_json::to_string(&w.service.ports.grantor.inner.snapshot().containers[&erin]).unwrap();
    assert!(!doc.contains("rds-db:connect"), "{doc}");
    assert_eq!(w.left_over(&[erin]).await, (vec![], vec![]));
}

/// What a person made with a grant that allows it stays, owned by the configured owner (here
/// the admin login), once their last grant on the database ends; their roles go.
#[tokio::test]
async fn what_a_person_made_is_reassigned_before_their_access_goes() {
    let w = World::with("owned", &["scratch"], |tag| {
        format!(
            r#"
[[bundle]]
name = "scratch-build"
description = "make tables in scratch"
owner_team = "data"
risk = "low"
strategy = "postgres"
accounts = ["111111111111"]
[bundle.database]
instance = "inst-{tag}"
endpoint = "db.internal.example.com"
database = "scratch_{tag}"
admin_secret = "jit/db-admin"
auth = "password"
grants = ["GRANT USAGE, CREATE ON SCHEMA public"]
tls = false

[[flow]]
name = "build"
description = "anyone, at once"
requesters = ["*"]
bundles = ["scratch-build"]
max_duration = "8h"
justification = "optional"
approval = "auto"
"#
        )
    })
    .await;
    let frank = person("frank", &w.tag);
    let id = w.grant(&frank, "scratch-build", 1).await;
    let password = w.password(&frank, &id).await;
    let c = w
        .connect(&w.db("scratch"), &person_role(&frank), &password)
        .await
        .unwrap();
    c.batch_execute("CREATE TABLE made_by_frank (id int); INSERT INTO made_by_frank VALUES (7)")
        .await
        .unwrap();
    w.clock().advance(Duration::hours(1));
    w.service.end(&id).await.unwrap();
    let admin = w.admin_client(&w.db("scratch")).await;
    let owner: String = admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'made_by_frank'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, w.admin_user, "the table stays, owned by the owner");
    assert_eq!(count(&admin, "made_by_frank").await.unwrap(), 1);
    assert_eq!(w.left_over(&[frank]).await, (vec![], vec![]));
}

/// An extension makes the password already issued last as long as the grant now does.
#[tokio::test]
async fn an_extension_moves_the_issued_passwords_valid_until() {
    let w = World::new("extend", &["customers"]).await;
    let gina = person("gina", &w.tag);
    let id = w.grant(&gina, "customers-read", 1).await;
    let creds = w.service.db_credentials(&gina, &id).await.unwrap();
    let admin = w.admin_client("postgres").await;
    let role = person_role(&gina);
    let until = || async {
        admin
            .query_one(
                "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    assert_eq!(until().await, fmt(creds.valid_until));
    let extended = w
        .service
        .extend(&gina, &id, GrantDuration::parse("2h").unwrap(), "longer")
        .await
        .unwrap();
    // What the grant function does with the change from the table's stream.
    w.service.reconcile(&id).await.unwrap();
    let later = extended.expires_at.unwrap();
    assert!(later > creds.valid_until);
    assert_eq!(
        until().await,
        fmt(later),
        "the issued password lasts as long"
    );
    let c = w
        .connect(&w.db("customers"), &person_role(&gina), &creds.password)
        .await
        .unwrap();
    assert_eq!(count(&c, "customers").await.unwrap(), 2);
}

/// Connections verify the server's certificate, as deployed connections to RDS do: with the CA
/// the admin secret names (here the test run's own) a grant is made over TLS; trusting only the
/// public roots, the same server is refused as unverified and nothing is granted.
#[tokio::test]
async fn connections_verify_the_servers_certificate() {
    use jit_core::database::Databases;
    let ca_file = std::env::var("JIT_TEST_POSTGRES_CA").expect(
        "JIT_TEST_POSTGRES_CA is not set: run the tests with scripts/test.sh, which starts PostgreSQL with TLS",
    );
    let ca = std::fs::read_to_string(&ca_file).unwrap();
    let w = World::new("tls", &["customers"]).await;
    let db = w
        .service
        .catalog()
        .bundle(&BundleName::parse("customers-read").unwrap())
        .unwrap()
        .strategy
        .database()
        .unwrap()
        .clone();
    let hana = person("hana", &w.tag);
    let grant = RequestId::parse("0123456789abcdef0123").unwrap();
    let server = FixedServer::parse(&server_url()).unwrap();

    let unverified = Postgres::new(server.clone().with_tls(None));
    let e = unverified
        .grant(&hana, &db, &grant, Utc::now() + Duration::hours(1))
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert_eq!(
        w.left_over(std::slice::from_ref(&hana)).await,
        (vec![], vec![])
    );

    let verified = Postgres::new(server.with_tls(Some(ca)));
    verified
        .grant(&hana, &db, &grant, Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    let issued = verified
        .password(&hana, &db, Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    assert!(issued.tls);
    let c = w
        .connect(&w.db("customers"), &person_role(&hana), &issued.password)
        .await
        .unwrap();
    assert_eq!(count(&c, "customers").await.unwrap(), 2);
    verified.revoke(&hana, &db, &grant).await.unwrap();
    assert_eq!(w.left_over(&[hana]).await, (vec![], vec![]));
}
