//! One Identity Center call budget for every function process at once.
//!
//! Identity Center allows about 20 calls a second for the whole account, shared by every caller;
//! each process limiting itself cannot keep a fleet of them under that (ten grant processes at
//! ten a second each make a hundred). So every call first reserves a slot in one item of the
//! table, with the generic cell rate algorithm: the item holds the *theoretical arrival time*
//! (TAT) of the next call; a reservation moves it on by one interval (`1/rate`) and the caller
//! waits until its slot, less the burst's tolerance. That is one conditional write per call, no
//! read: busy, `SET tat = tat + interval` on condition that it is not behind now; idle (the TAT
//! in the past, or no item), `SET tat = now + interval` on condition that it still is.
//!
//! Why this and not the alternatives: reserved concurrency arithmetic (each of N processes at
//! `rate/N`) keeps a fleet under the rate but makes a lone grant as slow as if all N were busy;
//! a token bucket read and written back costs a read per call and loses to contention. A slot
//! reservation gives a lone process the whole rate and a busy fleet its fair share, and a
//! process that dies holding slots wastes at most the slots it reserved.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use chrono::Utc;

use crate::error::{fault, Fault};

/// The table item that holds the budget.
const KEY: &str = "RATE#identity-center";

/// A rate shared by every process that uses the same table.
#[derive(Debug, Clone)]
pub struct SharedBudget {
    client: Client,
    table: String,
    /// Microseconds between calls at the rate.
    interval: i64,
    /// How far ahead of the rate a burst may go, in microseconds: `(burst - 1) * interval`.
    tolerance: i64,
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

impl SharedBudget {
    /// `per_second` calls a second for all processes together, up to `burst` at once after a
    /// quiet spell.
    pub fn new(client: Client, table: impl Into<String>, per_second: u32, burst: u32) -> Self {
        let interval = 1_000_000 / i64::from(per_second.max(1));
        Self {
            client,
            table: table.into(),
            interval,
            tolerance: interval * (i64::from(burst.max(1)) - 1),
        }
    }

    /// Reserves the next call's slot; how long the caller must wait for it.
    pub async fn reserve(&self) -> Result<Duration, Fault> {
        let (slot, now) = self.reserve_slot().await?;
        Ok(Duration::from_micros(
            u64::try_from(slot - now).unwrap_or(0),
        ))
    }

    /// Reserves the next call's slot: when it may go and when it was asked for, in
    /// microseconds since the epoch.
    pub async fn reserve_slot(&self) -> Result<(i64, i64), Fault> {
        loop {
            let now = now_micros();
            // Busy: the next slot is the TAT's.
            let busy = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(KEY.into()))
                .key("sk", AttributeValue::S("RATE".into()))
                .update_expression("SET tat = tat + :i")
                .condition_expression("tat >= :now")
                .expression_attribute_values(":i", n(self.interval))
                .expression_attribute_values(":now", n(now))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match busy.map_err(fault) {
                Ok(out) => {
                    let tat = out
                        .attributes()
                        .and_then(|a| a.get("tat"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(now);
                    let go = tat - self.interval - self.tolerance;
                    return Ok((go.max(now), now));
                }
                Err(Fault::ConditionFailed(_)) => {}
                Err(f) => return Err(f),
            }
            // Idle: this call goes now, and the next slot is one interval on.
            let idle = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(KEY.into()))
                .key("sk", AttributeValue::S("RATE".into()))
                .update_expression("SET tat = :next")
                .condition_expression("attribute_not_exists(tat) OR tat < :now")
                .expression_attribute_values(":next", n(now + self.interval))
                .expression_attribute_values(":now", n(now))
                .send()
                .await;
            match idle.map_err(fault) {
                Ok(_) => return Ok((now, now)),
                // Another process reserved meanwhile: the budget is busy after all.
                Err(Fault::ConditionFailed(_)) => continue,
                Err(f) => return Err(f),
            }
        }
    }
}
