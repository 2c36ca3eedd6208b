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
//!
//! A grant makes several calls in a row, so a process reserves [`SharedBudget::BLOCK`] slots in
//! one write (`tat + k × interval`) and hands them to its next calls; a slot not used within
//! [`SharedBudget::STALE`] of its time is dropped (a few slots of the rate wasted, never a
//! burst past it later). It also remembers the last TAT it saw, so it tries the write that
//! will succeed first: a lone process finds the budget idle, a busy fleet finds it busy. One
//! write per block instead of two per call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
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
    /// Slots reserved and not yet used, and the last TAT seen (this process's, shared by its
    /// clones).
    local: Arc<Mutex<Local>>,
}

#[derive(Debug, Default)]
struct Local {
    /// When each reserved slot may go, in microseconds since the epoch, earliest first.
    slots: VecDeque<i64>,
    /// The TAT the last reservation left.
    tat: i64,
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
            local: Arc::default(),
        }
    }

    /// Slots reserved in one write.
    pub const BLOCK: i64 = 4;
    /// How long after its time a reserved slot may still be used, in microseconds.
    pub const STALE: i64 = 1_000_000;

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves the next call's slot; how long the caller must wait for it.
    pub async fn reserve(&self) -> Result<Duration, Fault> {
        let (slot, now) = self.reserve_slot().await?;
        Ok(Duration::from_micros(
            u64::try_from(slot - now).unwrap_or(0),
        ))
    }

    /// Reserves the next call's slot: when it may go and when it was asked for, in
    /// microseconds since the epoch. Uses a slot this process reserved already while one is
    /// fresh; otherwise reserves a block.
    pub async fn reserve_slot(&self) -> Result<(i64, i64), Fault> {
        let now = now_micros();
        let idle_first = {
            let mut local = self.local();
            while let Some(slot) = local.slots.pop_front() {
                if slot + Self::STALE >= now {
                    return Ok((slot.max(now), now));
                }
            }
            local.tat < now
        };
        let first = self.reserve_block(idle_first).await?;
        let mut local = self.local();
        local
            .slots
            .extend((1..Self::BLOCK).map(|j| (first + j * self.interval).max(now)));
        Ok((first.max(now), now))
    }

    /// Reserves [`Self::BLOCK`] slots in one conditional write, trying first the write that
    /// `idle_first` predicts; returns the first slot's time less the burst's tolerance (the
    /// rest follow one interval apart; none goes before it was asked for).
    async fn reserve_block(&self, mut idle_first: bool) -> Result<i64, Fault> {
        let span = Self::BLOCK * self.interval;
        let mut misses = 0;
        loop {
            let now = now_micros();
            if idle_first {
                // Idle: the block starts now, and the next slot is after it.
                let idle = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(KEY.into()))
                    .key("sk", AttributeValue::S("RATE".into()))
                    .update_expression("SET tat = :next")
                    .condition_expression("attribute_not_exists(tat) OR tat < :now")
                    .expression_attribute_values(":next", n(now + span))
                    .expression_attribute_values(":now", n(now))
                    .send()
                    .await;
                match idle.map_err(fault) {
                    Ok(_) => {
                        self.local().tat = now + span;
                        return Ok(now - self.tolerance);
                    }
                    // Another process reserved meanwhile: the budget is busy.
                    Err(Fault::ConditionFailed(_)) => {}
                    Err(f) => return Err(f),
                }
            } else {
                // Busy: the block starts at the TAT.
                let busy = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(KEY.into()))
                    .key("sk", AttributeValue::S("RATE".into()))
                    .update_expression("SET tat = tat + :span")
                    .condition_expression("tat >= :now")
                    .expression_attribute_values(":span", n(span))
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
                            .unwrap_or(now + span);
                        self.local().tat = tat;
                        return Ok(tat - span - self.tolerance);
                    }
                    // The budget went idle (or was never used).
                    Err(Fault::ConditionFailed(_)) => {}
                    Err(f) => return Err(f),
                }
            }
            misses += 1;
            if misses > 8 {
                return Err(Fault::Retryable(
                    "the shared Identity Center budget is contended; try again".into(),
                ));
            }
            idle_first = !idle_first;
        }
    }
}
