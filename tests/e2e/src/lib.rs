//! Support for the end-to-end tests: an SDK interceptor that counts the AWS operations each
//! client makes, so a lifecycle's cost in calls can be printed and kept low, and records the
//! IAM actions they need, so each function's role can be compared with what its code does.

pub mod capacity;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef, Input,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts operations by `Service.Operation` and records the IAM actions they need; clones
/// share what they record.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
    actions: Arc<Mutex<BTreeSet<String>>>,
    units: Arc<Mutex<capacity::Units>>,
}

impl CallCounter {
    /// The counts and the DynamoDB capacity so far, and resets both.
    pub fn take_all(&self) -> (BTreeMap<String, usize>, capacity::Units) {
        (self.take(), std::mem::take(&mut *lock(&self.units)))
    }

    /// Adds counts and capacity back (after a look the test made).
    pub fn add_all(&self, counts: BTreeMap<String, usize>, units: capacity::Units) {
        self.add(counts);
        *lock(&self.units) += units;
    }

    /// Adds `counts` back (after a look the test made, which is not the lifecycle's).
    pub fn add(&self, counts: BTreeMap<String, usize>) {
        let mut calls = lock(&self.calls);
        for (op, n) in counts {
            *calls.entry(op).or_default() += n;
        }
    }

    /// The counts so far, and resets them.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *lock(&self.calls))
    }

    /// The IAM actions the operations so far needed, and resets them.
    pub fn take_actions(&self) -> BTreeSet<String> {
        std::mem::take(&mut *lock(&self.actions))
    }
}

/// The IAM service prefix of an SDK service name.
fn prefix(service: &str) -> String {
    match service {
        "SSO Admin" => "sso".into(),
        "SESv2" => "ses".into(),
        other => other.to_ascii_lowercase().replace(' ', ""),
    }
}

/// The IAM actions an operation needs. A DynamoDB transaction is authorized item by item, as
/// the item operations it contains (there is no `dynamodb:TransactWriteItems` action).
pub fn iam_actions(service: &str, op: &str, input: &Input) -> Vec<String> {
    if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
        let mut out = BTreeSet::new();
        for item in tx.transact_items() {
            if item.put().is_some() {
                out.insert("dynamodb:PutItem");
            }
            if item.delete().is_some() {
                out.insert("dynamodb:DeleteItem");
            }
            if item.update().is_some() {
                out.insert("dynamodb:UpdateItem");
            }
            if item.condition_check().is_some() {
                out.insert("dynamodb:ConditionCheckItem");
            }
        }
        return out.into_iter().map(str::to_string).collect();
    }
    vec![format!("{}:{op}", prefix(service))]
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, name) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        lock(&self.actions).extend(iam_actions(service, name, context.input()));
        if std::env::var_os("JIT_E2E_TRACE").is_some() {
            eprintln!("call {service}.{name} {}", item_keys(context.input()));
        }
        *lock(&self.calls)
            .entry(format!("{service}.{name}"))
            .or_default() += 1;
        let (units, consistent) = capacity::of_request(context.input());
        *lock(&self.units) += units;
        if let Some(c) = consistent {
            cfg.interceptor_state().store_put(c);
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(c), Ok(output)) = (
            cfg.load::<capacity::Consistent>().copied(),
            context.output_or_error(),
        ) {
            *lock(&self.units) += capacity::of_response(output, c.0);
        }
        Ok(())
    }
}

/// The table keys a DynamoDB item operation names (`JIT_E2E_TRACE=1` prints every call with
/// them), empty for other operations.
fn item_keys(input: &Input) -> String {
    use aws_sdk_dynamodb::operation::{
        delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput,
        update_item::UpdateItemInput,
    };
    use aws_sdk_dynamodb::types::AttributeValue;
    type Item = std::collections::HashMap<String, AttributeValue>;
    let show = |m: Option<&Item>| {
        m.map(|m| {
            ["pk", "sk"]
                .iter()
                .filter_map(|k| m.get(*k).and_then(|v| v.as_s().ok()).cloned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
    };
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        return show(i.key());
    }
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        return show(i.item());
    }
    if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        return show(i.key());
    }
    if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        return show(i.key());
    }
    if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
        return tx
            .transact_items()
            .iter()
            .map(|t| {
                if let Some(p) = t.put() {
                    format!("put[{}]", show(Some(p.item())))
                } else if let Some(u) = t.update() {
                    format!("update[{}]", show(Some(u.key())))
                } else if let Some(d) = t.delete() {
                    format!("delete[{}]", show(Some(d.key())))
                } else if let Some(c) = t.condition_check() {
                    format!("check[{}]", show(Some(c.key())))
                } else {
                    String::new()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    String::new()
}

/// Prints a lifecycle's calls as a table and returns their total.
pub fn report(lifecycle: &str, calls: &BTreeMap<String, usize>) -> usize {
    let total: usize = calls.values().sum();
    println!("\n{lifecycle}: {total} AWS calls");
    for (op, n) in calls {
        println!("  {n:>3}  {op}");
    }
    total
}

/// Prints a lifecycle's steps and totals, and one line for the bench to read
/// (`bench lifecycle=… calls=… read_units=… write_units=… emails=… invocations=… api=…
/// scheduled=…`: each step is one function invocation; `api` of them came through the HTTP API,
/// `scheduled` from a schedule); returns the total of calls.
pub fn summary(
    lifecycle: &str,
    steps: &BTreeMap<&str, BTreeMap<String, usize>>,
    units: capacity::Units,
) -> usize {
    let total: usize = steps.iter().map(|(s, c)| report(s, c)).sum();
    let emails: usize = steps
        .values()
        .filter_map(|c| c.get("SESv2.SendEmail"))
        .sum();
    println!("{lifecycle} lifecycle: {total} AWS calls in all; DynamoDB {units} (estimated from item sizes)");
    let api = steps
        .keys()
        .filter(|s| s.contains("intake") || s.contains("approval"))
        .count();
    let scheduled = steps
        .keys()
        .filter(|s| s.contains("schedule") || s.contains("escalate"))
        .count();
    println!(
        "bench lifecycle={} calls={total} read_units={:.1} write_units={:.0} emails={emails} invocations={} api={api} scheduled={scheduled}",
        lifecycle.replace(' ', "-"),
        units.read,
        units.write,
        steps.len()
    );
    total
}
