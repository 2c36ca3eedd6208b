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
    AwsGrantor,
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
    /// The table it made.
    pub table: String,
}

fn suffix() -> String {
    jit_core::link::nonce()[..10].to_string()
}

/// Sets everything up on the endpoint in `sdk`.
pub async fn build(
    sdk: &SdkConfig,
    catalog: Catalog,
    catalog_dir: &Path,
    template: &Path,
    key: &[u8],
    base: &str,
) -> anyhow::Result<AwsLocal> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("reading {} (set --template)", template.display()))?;
    let doc: serde_norway::Value = serde_norway::from_str(&text)
        .with_context(|| format!("{} is not YAML", template.display()))?;
    let props = serde_json::to_value(&doc["Resources"]["Table"]["Properties"])?;
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let table = format!("jit-local-{}", suffix());
    jit_aws::table::create_table(&dynamo, &table, &props).await?;

    // The Identity Store, from directory.toml.
    let ids = aws_sdk_identitystore::Client::new(sdk);
    let store = format!("d-{}", suffix());
    let groups = jit_memory::MemoryDirectory::load(catalog_dir)
        .map_err(|e| anyhow!("{e}"))?
        .groups();
    let people = jit_aws::seed::seed_identity_store(&ids, &store, &groups).await?;
    let directory = IdentityStoreDirectory::new(ids, &store);

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

    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let group = format!("jit-local-{}", suffix());
    scheduler
        .create_schedule_group()
        .name(&group)
        .send()
        .await?;
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
    ses.create_email_identity()
        .email_identity(from)
        .send()
        .await?;
    let ports = Ports {
        store: DynamoStore::new(dynamo, &table),
        grantor,
        scheduler: schedules,
        mailer: Outbox::new(SesMailer::new(ses, from)),
        directory,
        clock: FakeClock::running_from(Utc::now()),
    };
    let svc = Service::new(Arc::new(catalog), ports, LinkSigner::new(key)?, base);
    Ok(AwsLocal {
        svc: Arc::new(svc),
        scheduler,
        group,
        people,
        table,
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
