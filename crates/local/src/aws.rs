//! Local mode on the real AWS adapters (moto server in tests): a fresh table made from the
//! template, the Identity Store seeded from `directory.toml`, a schedule group, a sender
//! identity. Due schedules are read back from the Scheduler API and fired on the test clock.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use aws_config::SdkConfig;
use chrono::{DateTime, NaiveDateTime, Utc};
use jit_aws::{
    AwsGrantor, AwsScheduler, DynamoStore, IdentityConfig, IdentityStoreDirectory, SchedulerConfig,
    SesMailer,
};
use jit_core::catalog::Catalog;
use jit_core::link::LinkSigner;
use jit_core::ports::*;
use jit_core::service::{Ports, Service};
use jit_core::types::Email;
use jit_memory::FakeClock;

/// Prints every email (subject and decision links) and keeps a copy, then sends it on.
pub struct Outbox<M> {
    inner: M,
    sent: Mutex<Vec<Message>>,
}

impl<M> Outbox<M> {
    /// Wraps a mailer.
    pub fn new(inner: M) -> Self {
        Self {
            inner,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Every message sent so far.
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().expect("not poisoned").clone()
    }
}

/// The console lines for one email.
pub fn print_mail(m: &Message) {
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

impl<M: Mailer> Mailer for Outbox<M> {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        self.inner.send(message).await?;
        print_mail(message);
        self.sent
            .lock()
            .expect("not poisoned")
            .push(message.clone());
        Ok(())
    }
}

/// The service on the AWS adapters with a test clock.
pub type AwsLocalService = Service<
    DynamoStore,
    crate::durable::LocalGrantor<AwsGrantor>,
    AwsScheduler,
    Outbox<SesMailer>,
    IdentityStoreDirectory,
    FakeClock,
>;

/// What the AWS backend made, to read back from.
pub struct AwsLocal {
    /// The service.
    pub svc: Arc<AwsLocalService>,
    scheduler: aws_sdk_scheduler::Client,
    group: String,
    people: BTreeSet<Email>,
    /// The table it made (or found again).
    pub table: String,
    /// Whether it found the table, Identity Store and schedules of an earlier start.
    pub reused: bool,
}

fn suffix() -> String {
    jit_core::link::nonce()[..10].to_string()
}

/// What a start on an endpoint made, kept in the data directory (`aws-local.json`) so that the
/// next start on the same endpoint finds its table, Identity Store and schedules again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Made {
    endpoint: String,
    table: String,
    identity_store: String,
    schedule_group: String,
}

const MADE_FILE: &str = "aws-local.json";

/// What an earlier start made on `endpoint`, if its table is still there.
async fn made_before(
    dir: &Path,
    endpoint: &str,
    dynamo: &aws_sdk_dynamodb::Client,
) -> Option<Made> {
    let text = std::fs::read_to_string(dir.join(MADE_FILE)).ok()?;
    let made: Made = serde_json::from_str(&text).ok()?;
    let there = dynamo
        .describe_table()
        .table_name(&made.table)
        .send()
        .await
        .is_ok();
    (made.endpoint == endpoint && there).then_some(made)
}

/// Sets everything up on the endpoint in `sdk`, or finds again what an earlier start on the
/// same endpoint made (recorded in `data_dir`).
#[allow(clippy::too_many_arguments)]
pub async fn build(
    sdk: &SdkConfig,
    endpoint: &str,
    data_dir: &Path,
    catalog: Catalog,
    catalog_dir: &Path,
    template: &Path,
    key: &[u8],
    base: &str,
    addresses: &crate::Addresses,
    postgres: Option<jit_postgres::Postgres<jit_postgres::FixedServer>>,
) -> anyhow::Result<AwsLocal> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let ids = aws_sdk_identitystore::Client::new(sdk);
    let groups = jit_memory::MemoryDirectory::load(catalog_dir)
        .map_err(|e| anyhow!("{e}"))?
        .groups();
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let (made, people, reused) = match made_before(data_dir, endpoint, &dynamo).await {
        Some(made) => {
            let people = groups.iter().flat_map(|(_, m)| m.iter().cloned()).collect();
            (made, people, true)
        }
        None => {
            let text = std::fs::read_to_string(template)
                .with_context(|| format!("reading {} (set --template)", template.display()))?;
            let doc: serde_norway::Value = serde_norway::from_str(&text)
                .with_context(|| format!("{} is not YAML", template.display()))?;
            let props = serde_json::to_value(&doc["Resources"]["Table"]["Properties"])?;
            let made = Made {
                endpoint: endpoint.to_string(),
                table: format!("jit-local-{}", suffix()),
                identity_store: format!("d-{}", suffix()),
                schedule_group: format!("jit-local-{}", suffix()),
            };
            jit_aws::table::create_table(&dynamo, &made.table, &props).await?;
            // The Identity Store, from directory.toml.
            let people =
                jit_aws::seed::seed_identity_store(&ids, &made.identity_store, &groups).await?;
            scheduler
                .create_schedule_group()
                .name(&made.schedule_group)
                .send()
                .await?;
            std::fs::write(
                data_dir.join(MADE_FILE),
                serde_json::to_string_pretty(&made)?,
            )
            .with_context(|| format!("recording what was made in {}", data_dir.display()))?;
            (made, people, false)
        }
    };
    let table = made.table.clone();
    let group = made.schedule_group.clone();
    let directory = IdentityStoreDirectory::new(ids, &made.identity_store);

    let sso = aws_sdk_ssoadmin::Client::new(sdk);
    let instances = sso.list_instances().send().await?;
    let instance = instances
        .instances()
        .first()
        .and_then(|i| i.instance_arn())
        .ok_or_else(|| anyhow!("no Identity Center instance at this endpoint"))?
        .to_string();
    let grantor = AwsGrantor::new(
        sso,
        aws_sdk_iam::Client::new(sdk),
        dynamo.clone(),
        &table,
        directory.clone(),
        IdentityConfig::new(&instance),
    );

    let fake =
        |name: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:jit-local-{name}");
    let schedules = AwsScheduler::new(
        scheduler.clone(),
        SchedulerConfig {
            group: group.clone(),
            role_arn: "arn:aws:iam::123456789012:role/jit-local-scheduler".into(),
            grant_target_arn: fake("grant"),
            revoke_target_arn: fake("revoke"),
            escalate_target_arn: fake("escalate"),
            dead_letter_arn: None,
            max_retries: 3,
            max_event_age_secs: 3_600,
        },
    );
    let ses = aws_sdk_sesv2::Client::new(sdk);
    let from = "jit-local@example.com";
    if !reused {
        ses.create_email_identity()
            .email_identity(from)
            .send()
            .await?;
    }
    let ports = Ports {
        store: DynamoStore::new(dynamo, &table),
        grantor: jit_core::database::WithDatabases {
            inner: grantor,
            databases: postgres,
        },
        scheduler: schedules,
        mailer: Outbox::new(SesMailer::new(ses, from)),
        directory,
        clock: FakeClock::running_from(Utc::now()),
    };
    let svc = Service::new(Arc::new(catalog), ports, LinkSigner::new(key)?, base)
        .with_access_portal(addresses.access_portal.clone())
        .with_portal(addresses.portal.clone());
    Ok(AwsLocal {
        svc: Arc::new(svc),
        scheduler,
        group,
        people,
        table,
        reused,
    })
}

fn at_of(expression: &str) -> Option<DateTime<Utc>> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

impl AwsLocal {
    /// Applies approved grants whose start has come, then fires (and deletes) every schedule
    /// Scheduler holds whose time has come on the test clock.
    pub async fn tick(&self) -> (Vec<String>, Vec<String>) {
        let now = self.svc.now();
        let mut activated = Vec::new();
        if let Ok(live) = self.svc.live_grants().await {
            for r in live.iter().filter(|r| {
                r.status == jit_core::lifecycle::Status::Approved
                    && r.starts_at.is_some_and(|s| s <= now)
            }) {
                if let Ok(done) = self.svc.activate(&r.id).await {
                    activated.push(format!("{} {}", done.id, done.status));
                }
            }
        }
        let mut fired = Vec::new();
        let Ok(list) = self
            .scheduler
            .list_schedules()
            .group_name(&self.group)
            .send()
            .await
        else {
            return (fired, activated);
        };
        for summary in list.schedules() {
            let Some(name) = summary.name() else { continue };
            let Ok(s) = self
                .scheduler
                .get_schedule()
                .name(name)
                .group_name(&self.group)
                .send()
                .await
            else {
                continue;
            };
            let due = s
                .schedule_expression()
                .and_then(at_of)
                .is_some_and(|at| at <= now);
            let action = s
                .target()
                .and_then(|t| t.input())
                .and_then(|i| serde_json::from_str::<ScheduledAction>(i).ok());
            if let (true, Some(action)) = (due, action) {
                let _ = self.svc.fire(&action).await;
                // What ActionAfterCompletion=DELETE does after the invocation.
                let _ = self
                    .scheduler
                    .delete_schedule()
                    .name(name)
                    .group_name(&self.group)
                    .send()
                    .await;
                fired.push(name.to_string());
            }
        }
        (fired, activated)
    }

    /// Every person's container policy, read back from Identity Center.
    pub async fn identity(&self) -> serde_json::Value {
        let mut containers = serde_json::Map::new();
        for p in &self.people {
            if let Ok(Some(doc)) = self.svc.ports.grantor.container_policy(p).await {
                containers.insert(p.to_string(), serde_json::to_value(doc).unwrap_or_default());
            }
        }
        serde_json::json!({ "containers": containers, "assignments": {} })
    }
}
