//! The ledger on one DynamoDB table (defined in `infra/template.yaml`).
//!
//! Item kinds, all under `pk`/`sk`:
//! - `REQ#<id>` / `META`: the request as JSON in `data`, with `version` and `status`; while live it
//!   is indexed by person (gsi2 `LIVE#<email>`) and by expiry (gsi3 `DUE#EXP#<shard>`); while
//!   pending, by decision deadline (gsi3 `DUE#TTL#<shard>`); always by requester (gsi1 `USER#`).
//! - `REQ#<id>` / `AUDIT#<seq>`: one audit record, also indexed by day (gsi1 `AUDIT#<day>`).
//! - `REQ#<id>` / `WAIT#<group>`: present while the request waits for `group` (gsi2 `WAIT#`).
//! - `NONCE#<nonce>`: a used decision link, expiring with `expires_ttl`.
//! - `PROMPT#<id>` / `PROMPT`: an access-denied prompt, indexed by day (gsi1 `PROMPTS#<day>`);
//!   while unanswered, also by its answer-by time (gsi3 `DUE#PROMPT`).
//! - `QUIET#<email>#<action>` / `QUIET`: when that person may next be prompted for that action
//!   (`until`), expiring with `expires_ttl`.
//! - `REQ#<id>` / `NOTICE#<key>`: a notification written with the transition that caused it,
//!   deleted once sent; indexed by when it was written (gsi3 `DUE#NOTICE`) for the sweep;
//!   `channel` says `email` or `chat` (the chat function takes chat notices off the stream).
//! - `REQ#<id>` / `CARD#<key>`: a chat message posted about the request ([`crate::cards`]).
//! - `LEASE#<key>`: a write lease (see [`Leases`]).
//! - `PERSON#<email>` / `OPEN`: the person's admission `version` and the `ids` of their requests
//!   that were open at the last admission; every new request is created in one transaction with
//!   it, conditional on the version the room and caps were checked against.
//!
//! Every transition is one TransactWriteItems: the META item conditional on its version and
//! status, its new audit records conditional on not existing, and the WAIT items it adds or
//! removes. Two writers racing on one request therefore produce one outcome and one record.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use jit_core::audit::AuditEvent;
use jit_core::lifecycle::{Request, Status, Transition};
use jit_core::ports::{Notice, OpenRequests, RequestStore, StoreError};
use jit_core::prompt::{Prompt, PromptStatus};
use jit_core::types::{Email, GroupName, RequestId};
use tracing::instrument;

use crate::error::{fault, Fault};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Shards of the due-date index, so that the sweeper's queries never pile onto one partition.
pub const DUE_SHARDS: u32 = 4;

/// Longest range `audit_between` reads, in days.
pub const MAX_AUDIT_DAYS: i64 = 400;

/// A timestamp that sorts as text: fixed width, microseconds, UTC.
pub fn sortable(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn shard(id: &RequestId) -> u32 {
    id.as_str()
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)))
        % DUE_SHARDS
}

fn person_pk(email: &Email) -> String {
    format!("PERSON#{email}")
}

pub(crate) fn req_pk(id: &RequestId) -> String {
    format!("REQ#{id}")
}

pub(crate) fn unknown(e: impl Into<anyhow::Error>) -> StoreError {
    StoreError::Unknown(e.into())
}

pub(crate) fn store_fault(f: Fault) -> StoreError {
    match f {
        Fault::Retryable(m) => StoreError::Unavailable(m),
        Fault::Conflict(_) | Fault::ConditionFailed(_) => StoreError::Conflict,
        Fault::NotFound(m) => StoreError::Unknown(anyhow::anyhow!("the table is missing: {m}")),
        Fault::Other(e) => StoreError::Unknown(e),
    }
}

fn meta_item(r: &Request) -> Result<Item, StoreError> {
    let mut item: Item = HashMap::new();
    let id = r.id.as_str();
    item.insert("pk".into(), s(req_pk(&r.id)));
    item.insert("sk".into(), s("META"));
    item.insert("id".into(), s(id));
    item.insert("data".into(), s(serde_json::to_string(r).map_err(unknown)?));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("version".into(), n(r.version));
    item.insert("gsi1pk".into(), s(format!("USER#{}", r.requester)));
    item.insert(
        "gsi1sk".into(),
        s(format!("{}#{id}", sortable(r.created_at))),
    );
    if let (true, Some(expires)) = (r.status.is_live(), r.expires_at) {
        item.insert("gsi2pk".into(), s(format!("LIVE#{}", r.requester)));
        item.insert("gsi2sk".into(), s(format!("{}#{id}", sortable(expires))));
        item.insert("gsi3pk".into(), s(format!("DUE#EXP#{}", shard(&r.id))));
        item.insert("gsi3sk".into(), s(format!("{}#{id}", sortable(expires))));
    } else if r.status == Status::Pending {
        item.insert("gsi3pk".into(), s(format!("DUE#TTL#{}", shard(&r.id))));
        item.insert(
            "gsi3sk".into(),
            s(format!("{}#{id}", sortable(r.decision_deadline()))),
        );
    }
    Ok(item)
}

fn audit_item(e: &AuditEvent) -> Result<Item, StoreError> {
    let mut item: Item = HashMap::new();
    item.insert("pk".into(), s(req_pk(&e.request_id)));
    item.insert("sk".into(), s(format!("AUDIT#{:010}", e.seq)));
    item.insert("data".into(), s(serde_json::to_string(e).map_err(unknown)?));
    item.insert(
        "gsi1pk".into(),
        s(format!("AUDIT#{}", e.at.format("%Y-%m-%d"))),
    );
    item.insert(
        "gsi1sk".into(),
        s(format!("{}#{}#{:010}", sortable(e.at), e.request_id, e.seq)),
    );
    Ok(item)
}

fn notice_item(id: &RequestId, n: &Notice) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        ("pk".to_string(), s(req_pk(id))),
        ("sk".to_string(), s(format!("NOTICE#{}", n.key))),
        (
            "data".to_string(),
            s(serde_json::to_string(n).map_err(unknown)?),
        ),
        ("gsi3pk".to_string(), s("DUE#NOTICE")),
        (
            "gsi3sk".to_string(),
            s(format!("{}#{id}#{}", sortable(n.written_at), n.key)),
        ),
        // The chat function's stream filter picks chat notices by this.
        (
            "channel".to_string(),
            s(if n.is_chat() { "chat" } else { "email" }),
        ),
    ]))
}

/// A transaction holds at most 100 actions. Notices past that room (a tier of ninety-odd
/// approvers) are written by a second transaction straight after the first commits, before
/// anything is sent: only they could be lost to a crash between the two.
const TRANSACTION_ITEMS: usize = 100;

fn wait_item(r: &Request, g: &GroupName) -> Item {
    HashMap::from([
        ("pk".to_string(), s(req_pk(&r.id))),
        ("sk".to_string(), s(format!("WAIT#{g}"))),
        ("id".to_string(), s(r.id.as_str())),
        ("gsi2pk".to_string(), s(format!("WAIT#{g}"))),
        (
            "gsi2sk".to_string(),
            s(format!("{}#{}", sortable(r.created_at), r.id)),
        ),
    ])
}

fn prompt_item(p: &Prompt) -> Result<Item, StoreError> {
    let mut item: Item = HashMap::new();
    item.insert("pk".into(), s(format!("PROMPT#{}", p.id)));
    item.insert("sk".into(), s("PROMPT"));
    item.insert("data".into(), s(serde_json::to_string(p).map_err(unknown)?));
    item.insert("status".into(), s(p.status.as_str()));
    item.insert("version".into(), n(p.version));
    item.insert(
        "gsi1pk".into(),
        s(format!("PROMPTS#{}", p.created_at.format("%Y-%m-%d"))),
    );
    item.insert(
        "gsi1sk".into(),
        s(format!("{}#{}", sortable(p.created_at), p.id)),
    );
    if p.status == PromptStatus::Prompted {
        item.insert("gsi3pk".into(), s("DUE#PROMPT"));
        item.insert(
            "gsi3sk".into(),
            s(format!("{}#{}", sortable(p.answer_by()), p.id)),
        );
    }
    Ok(item)
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| unknown(anyhow::anyhow!("item without data: {:?}", item.get("pk"))))?;
    serde_json::from_str(data).map_err(unknown)
}

/// The ledger.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string));
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(unknown)?)
            .build())
    }

    /// Adds the transition's notices to `items` as far as the transaction has room; returns
    /// the items for the rest.
    fn with_notices(
        &self,
        items: &mut Vec<TransactWriteItem>,
        t: &Transition,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut rest = Vec::new();
        for n in &t.notices {
            let item = self.put(notice_item(&t.request.id, n)?, None)?;
            if items.len() < TRANSACTION_ITEMS {
                items.push(item);
            } else {
                rest.push(item);
            }
        }
        Ok(rest)
    }

    /// Writes notices that did not fit in their transition's transaction.
    async fn write_rest(&self, rest: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let mut rest = rest.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<_> = rest.by_ref().take(TRANSACTION_ITEMS).collect();
            self.transact(chunk, |_| StoreError::Conflict).await?;
        }
        Ok(())
    }

    /// Runs one transaction; a failed condition becomes `on_condition(index)`, the index of
    /// the first item whose condition failed (`None` where the answer does not say).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        on_condition: impl Fn(Option<usize>) -> StoreError,
    ) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
                    err.as_service_error()
                {
                    let codes: Vec<&str> = e
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code())
                        .collect();
                    let message = e.message().unwrap_or_default();
                    let failed = e
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"));
                    if failed.is_some() || message.contains("ConditionalCheckFailed") {
                        return Err(on_condition(failed));
                    }
                    if codes.contains(&"TransactionConflict")
                        || message.contains("TransactionConflict")
                    {
                        return Err(StoreError::Conflict);
                    }
                    if codes
                        .iter()
                        .any(|c| c.contains("Throttl") || *c == "ProvisionedThroughputExceeded")
                    {
                        return Err(StoreError::Unavailable(format!(
                            "transaction throttled: {codes:?}"
                        )));
                    }
                }
                Err(store_fault(fault(err)))
            }
        }
    }

    async fn query(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: &[(&str, AttributeValue)],
        forward: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(key_condition)
                .set_expression_attribute_values(Some(
                    values
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                ))
                .scan_index_forward(forward)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_fault(fault(e)))?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() || limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        if let Some(l) = limit {
            out.truncate(l);
        }
        Ok(out)
    }

    /// Items indexed by day under gsi1 `<prefix>#<yyyy-mm-dd>` with `from <= at < to`, oldest
    /// first: one query per day.
    async fn by_day<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        at: impl Fn(&T) -> DateTime<Utc>,
    ) -> Result<Vec<T>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        if to - from > Duration::days(MAX_AUDIT_DAYS) {
            return Err(unknown(anyhow::anyhow!(
                "a query by day covers at most {MAX_AUDIT_DAYS} days"
            )));
        }
        let mut out = Vec::new();
        let mut day = from.date_naive();
        while day <= to.date_naive() {
            let items = self
                .query(
                    Some("gsi1"),
                    "gsi1pk = :p AND gsi1sk BETWEEN :a AND :b",
                    &[
                        (":p", s(format!("{prefix}#{}", day.format("%Y-%m-%d")))),
                        (":a", s(sortable(from))),
                        (":b", s(format!("{}#~", sortable(to)))),
                    ],
                    true,
                    None,
                )
                .await?;
            for item in &items {
                let v: T = parse(item)?;
                let t = at(&v);
                if t >= from && t < to {
                    out.push(v);
                }
            }
            day = day.succ_opt().expect("dates within range");
        }
        Ok(out)
    }

    async fn due(&self, kind: &str, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        let upper = format!("{}#~", sortable(t));
        let mut out = Vec::new();
        for shard in 0..DUE_SHARDS {
            let items = self
                .query(
                    Some("gsi3"),
                    "gsi3pk = :p AND gsi3sk <= :t",
                    &[(":p", s(format!("DUE#{kind}#{shard}"))), (":t", s(&upper))],
                    true,
                    None,
                )
                .await?;
            for item in &items {
                out.push(parse::<Request>(item)?);
            }
        }
        Ok(out)
    }
}

impl RequestStore for DynamoStore {
    #[instrument(skip(self, t), fields(request_id = %t.request.id))]
    async fn create(&self, t: &Transition, open: &OpenRequests) -> Result<(), StoreError> {
        // First item: the person's admissions, kept only if nobody was admitted since `open`
        // was read. It lists the requests still open then, plus this one, and nothing else:
        // requests that closed are dropped here, so the list stays as short as the caps.
        let ids: Vec<String> = open
            .requests
            .iter()
            .map(|r| r.id.as_str().to_string())
            .chain([t.request.id.as_str().to_string()])
            .collect();
        let person = HashMap::from([
            ("pk".to_string(), s(person_pk(&t.request.requester))),
            ("sk".to_string(), s("OPEN")),
            ("version".to_string(), n(open.version + 1)),
            ("ids".to_string(), AttributeValue::Ss(ids)),
        ]);
        let admitted = if open.version == 0 {
            Put::builder().condition_expression("attribute_not_exists(pk)")
        } else {
            Put::builder()
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(open.version))
        };
        let admitted = admitted
            .table_name(&self.table)
            .set_item(Some(person))
            .build()
            .map_err(unknown)?;
        let mut items = vec![
            TransactWriteItem::builder().put(admitted).build(),
            self.put(meta_item(&t.request)?, Some("attribute_not_exists(pk)"))?,
        ];
        for e in &t.events {
            items.push(self.put(audit_item(e)?, Some("attribute_not_exists(pk)"))?);
        }
        for g in t.request.waiting_on() {
            items.push(self.put(wait_item(&t.request, &g), None)?);
        }
        let rest = self.with_notices(&mut items, t)?;
        self.transact(items, |failed| match failed {
            Some(i) if i > 0 => StoreError::AlreadyExists,
            _ => StoreError::Conflict,
        })
        .await?;
        self.write_rest(rest).await
    }

    async fn open_for(&self, person: &Email) -> Result<OpenRequests, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(person_pk(person)))
            .key("sk", s("OPEN"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        let Some(item) = out.item else {
            // Nobody admitted since admissions were recorded: what the person holds is what
            // the index of live grants lists.
            return Ok(OpenRequests {
                version: 0,
                requests: self.live_for(person).await?,
            });
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unknown(anyhow::anyhow!("admissions of {person} have no version")))?;
        let mut requests = Vec::new();
        for id in item
            .get("ids")
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
        {
            let id = RequestId::parse(id).map_err(unknown)?;
            // Each read as last written (the indexes may lag): few, since the caps bound them.
            if let Some(r) = self.get(&id).await? {
                if !r.status.is_final() {
                    requests.push(r);
                }
            }
        }
        Ok(OpenRequests { version, requests })
    }

    #[instrument(skip(self, t), fields(request_id = %t.request.id))]
    async fn update(
        &self,
        expected_version: u64,
        expected_status: Status,
        t: &Transition,
    ) -> Result<(), StoreError> {
        let meta = Put::builder()
            .table_name(&self.table)
            .set_item(Some(meta_item(&t.request)?))
            .condition_expression("#v = :v AND #st = :st")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":v", n(expected_version))
            .expression_attribute_values(":st", s(expected_status.as_str()))
            .build()
            .map_err(unknown)?;
        let mut items = vec![TransactWriteItem::builder().put(meta).build()];
        for e in &t.events {
            items.push(self.put(audit_item(e)?, Some("attribute_not_exists(pk)"))?);
        }
        // While the request is or was pending: keep a WAIT item for each group it waits on now,
        // and remove those of every other group it could wait on (deleting a missing item is a
        // no-op), so the index never lists a request for a group that can no longer decide it.
        if expected_status == Status::Pending || t.request.status == Status::Pending {
            let waiting = t.request.waiting_on();
            let possible: BTreeSet<&GroupName> = t
                .request
                .plan
                .groups
                .iter()
                .map(|g| &g.group)
                .chain(t.request.plan.tiers.iter().map(|t| &t.group))
                .collect();
            for g in &waiting {
                items.push(self.put(wait_item(&t.request, g), None)?);
            }
            for g in possible.into_iter().filter(|g| !waiting.contains(*g)) {
                let key = HashMap::from([
                    ("pk".to_string(), s(req_pk(&t.request.id))),
                    ("sk".to_string(), s(format!("WAIT#{g}"))),
                ]);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .build()
                    .map_err(unknown)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
        }
        let rest = self.with_notices(&mut items, t)?;
        self.transact(items, |_| StoreError::Conflict).await?;
        self.write_rest(rest).await
    }

    async fn get(&self, id: &RequestId) -> Result<Option<Request>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(req_pk(id)))
            .key("sk", s("META"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        out.item.as_ref().map(parse).transpose()
    }

    async fn timeline(&self, id: &RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let items = self
            .query(
                None,
                "pk = :p AND begins_with(sk, :a)",
                &[(":p", s(req_pk(id))), (":a", s("AUDIT#"))],
                true,
                None,
            )
            .await?;
        items.iter().map(parse).collect()
    }

    async fn by_requester(&self, email: &Email, limit: usize) -> Result<Vec<Request>, StoreError> {
        let items = self
            .query(
                Some("gsi1"),
                "gsi1pk = :p",
                &[(":p", s(format!("USER#{email}")))],
                false,
                Some(limit),
            )
            .await?;
        items.iter().map(parse).collect()
    }

    async fn pending_for_group(&self, group: &GroupName) -> Result<Vec<Request>, StoreError> {
        let items = self
            .query(
                Some("gsi2"),
                "gsi2pk = :p",
                &[(":p", s(format!("WAIT#{group}")))],
                true,
                None,
            )
            .await?;
        let mut out = Vec::new();
        for item in items {
            let Some(id) = item
                .get("id")
                .and_then(|v| v.as_s().ok())
                .and_then(|i| RequestId::parse(i).ok())
            else {
                continue;
            };
            // The index is eventually consistent: trust only the request itself.
            if let Some(r) = self.get(&id).await? {
                if r.waiting_on().contains(group) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    async fn live_for(&self, email: &Email) -> Result<Vec<Request>, StoreError> {
        let items = self
            .query(
                Some("gsi2"),
                "gsi2pk = :p",
                &[(":p", s(format!("LIVE#{email}")))],
                true,
                None,
            )
            .await?;
        items.iter().map(parse).collect()
    }

    async fn expiring_before(&self, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        let mut out = self.due("EXP", t).await?;
        out.sort_by_key(|r| r.expires_at);
        Ok(out)
    }

    async fn undecided_before(&self, t: DateTime<Utc>) -> Result<Vec<Request>, StoreError> {
        let mut out = self.due("TTL", t).await?;
        out.sort_by_key(|r| r.decision_deadline());
        Ok(out)
    }

    async fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.by_day("AUDIT", from, to, |e: &AuditEvent| e.at).await
    }

    async fn nonce_used(&self, nonce: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("NONCE#{nonce}")))
            .key("sk", s("NONCE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        Ok(out.item.is_some())
    }

    async fn use_nonce(&self, nonce: &str, expires: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("NONCE#{nonce}")))
            .item("sk", s("NONCE"))
            .item("expires_ttl", n(expires.timestamp()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match fault(e) {
                Fault::ConditionFailed(_) => Err(StoreError::AlreadyExists),
                other => Err(store_fault(other)),
            },
        }
    }

    #[instrument(skip(self, prompt, notices), fields(prompt_id = %prompt.id))]
    async fn create_prompt(
        &self,
        prompt: &Prompt,
        quiet_until: DateTime<Utc>,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        let quiet = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("QUIET#{}", prompt.quiet_key())))
            .item("sk", s("QUIET"))
            .item("until", s(sortable(quiet_until)))
            .item("expires_ttl", n(quiet_until.timestamp()))
            .condition_expression("attribute_not_exists(pk) OR #u < :now")
            .expression_attribute_names("#u", "until")
            .expression_attribute_values(":now", s(sortable(prompt.created_at)))
            .build()
            .map_err(unknown)?;
        let mut items = vec![
            TransactWriteItem::builder().put(quiet).build(),
            self.put(prompt_item(prompt)?, Some("attribute_not_exists(pk)"))?,
        ];
        for n in notices {
            items.push(self.put(notice_item(&prompt.id, n)?, None)?);
        }
        self.transact(items, |_| StoreError::AlreadyExists).await
    }

    async fn get_prompt(&self, id: &RequestId) -> Result<Option<Prompt>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("PROMPT#{id}")))
            .key("sk", s("PROMPT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        out.item.as_ref().map(parse::<Prompt>).transpose()
    }

    #[instrument(skip(self, prompt), fields(prompt_id = %prompt.id))]
    async fn update_prompt(
        &self,
        expected_version: u64,
        prompt: &Prompt,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(prompt_item(prompt)?))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match fault(e) {
                Fault::ConditionFailed(_) => Err(StoreError::Conflict),
                other => Err(store_fault(other)),
            },
        }
    }

    async fn prompts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Prompt>, StoreError> {
        self.by_day("PROMPTS", from, to, |p: &Prompt| p.created_at)
            .await
    }

    async fn notices_before(&self, t: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
        let items = self
            .query(
                Some("gsi3"),
                "gsi3pk = :p AND gsi3sk <= :t",
                &[
                    (":p", s("DUE#NOTICE")),
                    (":t", s(format!("{}#~", sortable(t)))),
                ],
                true,
                None,
            )
            .await?;
        items.iter().map(parse).collect()
    }

    async fn notice_delivered(&self, request: &RequestId, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(req_pk(request)))
            .key("sk", s(format!("NOTICE#{key}")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_fault(fault(e)))
    }

    async fn prompts_unanswered_before(&self, t: DateTime<Utc>) -> Result<Vec<Prompt>, StoreError> {
        let items = self
            .query(
                Some("gsi3"),
                "gsi3pk = :p AND gsi3sk <= :t",
                &[
                    (":p", s("DUE#PROMPT")),
                    (":t", s(format!("{}#~", sortable(t)))),
                ],
                true,
                None,
            )
            .await?;
        items.iter().map(parse::<Prompt>).collect()
    }

    async fn account_use(
        &self,
        account: &jit_core::types::AccountId,
    ) -> Result<Option<jit_core::ports::AccountUse>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_use_key(account.as_str())))
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        let number = |k: &str| out.item.as_ref()?.get(k)?.as_n().ok()?.parse::<u32>().ok();
        Ok(number("used")
            .zip(number("limit"))
            .map(|(used, limit)| jit_core::ports::AccountUse { used, limit }))
    }
}

/// The key of the item holding an account's count against Identity Center's per-account
/// quota (`used`, `limit`): the grantor writes it at every assignment change there, and the
/// ledger reads it at submit ([`DynamoStore::account_use`]).
pub(crate) fn account_use_key(account: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), s(format!("QUOTA#{account}"))),
        ("sk".to_string(), s("QUOTA")),
    ])
}

/// Write leases in the table: one holder per key at a time, expiring so that a crashed holder
/// cannot block others for longer than the lease.
#[derive(Debug, Clone)]
pub struct Leases {
    client: Client,
    table: String,
    /// How long a lease lasts unless released.
    pub ttl: Duration,
    /// How long to keep trying to acquire before giving up.
    pub wait: std::time::Duration,
    /// The longest pause between attempts to acquire (the first is 20 ms, doubling up to it).
    pub max_pause: std::time::Duration,
}

/// A held lease.
#[derive(Debug)]
pub struct Lease {
    key: String,
    token: String,
}

impl Leases {
    /// Leases on `table`, lasting 60 s and waited for up to 30 s.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            ttl: Duration::seconds(60),
            wait: std::time::Duration::from_secs(30),
            max_pause: std::time::Duration::from_millis(500),
        }
    }

    /// Takes the lease on `key`, waiting (with jittered backoff) while someone else holds it.
    pub async fn acquire(&self, key: &str) -> Result<Lease, StoreError> {
        let token = jit_core::link::nonce();
        let started = std::time::Instant::now();
        let max_pause = u64::try_from(self.max_pause.as_millis())
            .unwrap_or(u64::MAX)
            .max(2);
        let mut pause = 20u64.min(max_pause);
        loop {
            let now = Utc::now();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("LEASE#{key}")))
                .item("sk", s("LEASE"))
                .item("token", s(&token))
                .item("until", n((now + self.ttl).timestamp_millis()))
                .item(
                    "expires_ttl",
                    n((now + self.ttl + Duration::hours(1)).timestamp()),
                )
                .condition_expression("attribute_not_exists(pk) OR #u < :now")
                .expression_attribute_names("#u", "until")
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(Lease {
                        key: key.to_string(),
                        token,
                    })
                }
                Err(e) => match fault(e) {
                    Fault::ConditionFailed(_) | Fault::Retryable(_) => {}
                    other => return Err(store_fault(other)),
                },
            }
            if started.elapsed() > self.wait {
                return Err(StoreError::Unavailable(format!(
                    "lease {key} is held by another writer"
                )));
            }
            let jitter = rand::random::<u64>() % pause;
            tokio::time::sleep(std::time::Duration::from_millis(pause / 2 + jitter)).await;
            pause = (pause * 2).min(max_pause);
        }
    }

    /// Gives the lease back, if it is still ours.
    pub async fn release(&self, lease: Lease) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("LEASE#{}", lease.key)))
            .key("sk", s("LEASE"))
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", s(&lease.token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // It expired and someone else took it: nothing of ours to release.
            Err(e) => match fault(e) {
                Fault::ConditionFailed(_) => Ok(()),
                other => Err(store_fault(other)),
            },
        }
    }
}

/// Largest catalog publishable (a DynamoDB item holds at most 400 KB).
pub const MAX_CATALOG_BYTES: usize = 350 * 1024;

/// Published catalog versions in the table: `CATALOG` / `CURRENT` points at the version in
/// force; `CATALOG` / `V#<published>#<version>` keeps every version ever published, with its
/// files, for audit and rollback.
#[derive(Debug, Clone)]
pub struct DynamoCatalogs {
    store: DynamoStore,
}

impl DynamoCatalogs {
    /// Catalog versions on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            store: DynamoStore::new(client, table),
        }
    }

    /// The version in force, without its files (a small read, for checking whether it changed).
    pub async fn current_version(&self) -> Result<Option<String>, StoreError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .key("pk", s("CATALOG"))
            .key("sk", s("CURRENT"))
            .projection_expression("version")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| i.get("version"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }
}

impl jit_core::ports::CatalogStore for DynamoCatalogs {
    async fn publish(&self, v: &jit_core::ports::CatalogVersion) -> Result<bool, StoreError> {
        let current = self.current().await?;
        if current.as_ref().is_some_and(|c| c.version == v.version) {
            return Ok(false);
        }
        let data = serde_json::to_string(v).map_err(unknown)?;
        if data.len() > MAX_CATALOG_BYTES {
            return Err(unknown(anyhow::anyhow!(
                "the catalog is {} KB; at most {} KB can be published: split rarely used bundles out or shorten descriptions",
                data.len() / 1024,
                MAX_CATALOG_BYTES / 1024
            )));
        }
        let history = HashMap::from([
            ("pk".to_string(), s("CATALOG")),
            (
                "sk".to_string(),
                s(format!("V#{}#{}", sortable(v.published_at), v.version)),
            ),
            ("data".to_string(), s(&data)),
        ]);
        let head = HashMap::from([
            ("pk".to_string(), s("CATALOG")),
            ("sk".to_string(), s("CURRENT")),
            ("version".to_string(), s(&v.version)),
            ("data".to_string(), s(&data)),
        ]);
        // Someone else publishing at the same moment makes this a conflict, not a silent overwrite.
        let mut put_head = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(head));
        put_head = match &current {
            Some(c) => put_head
                .condition_expression("#v = :prev")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":prev", s(&c.version)),
            None => put_head.condition_expression("attribute_not_exists(pk)"),
        };
        let items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.store.table)
                        .set_item(Some(history))
                        .build()
                        .map_err(unknown)?,
                )
                .build(),
            TransactWriteItem::builder()
                .put(put_head.build().map_err(unknown)?)
                .build(),
        ];
        self.store.transact(items, |_| StoreError::Conflict).await?;
        Ok(true)
    }

    async fn current(&self) -> Result<Option<jit_core::ports::CatalogVersion>, StoreError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .key("pk", s("CATALOG"))
            .key("sk", s("CURRENT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_fault(fault(e)))?;
        out.item.as_ref().map(parse).transpose()
    }

    async fn history(
        &self,
        limit: usize,
    ) -> Result<Vec<jit_core::ports::CatalogVersion>, StoreError> {
        let items = self
            .store
            .query(
                None,
                "pk = :p AND begins_with(sk, :v)",
                &[(":p", s("CATALOG")), (":v", s("V#"))],
                false,
                Some(limit),
            )
            .await?;
        items
            .iter()
            .map(|i| {
                parse::<jit_core::ports::CatalogVersion>(i).map(|v| {
                    jit_core::ports::CatalogVersion {
                        files: Vec::new(),
                        ..v
                    }
                })
            })
            .collect()
    }
}
