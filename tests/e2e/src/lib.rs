//! Support for the end-to-end tests: an SDK interceptor that counts the AWS operations each
//! client makes, so a lifecycle's cost in calls can be printed and kept low.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts operations by `Service.Operation`; clones share the count.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CallCounter {
    /// Adds `counts` back (after a look the test made, which is not the lifecycle's).
    pub fn add(&self, counts: BTreeMap<String, usize>) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        for (op, n) in counts {
            *calls.entry(op).or_default() += n;
        }
    }

    /// The counts so far, and resets them.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map_or_else(
            || "unknown".to_string(),
            |m| format!("{}.{}", m.service(), m.name()),
        );
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(op)
            .or_default() += 1;
        Ok(())
    }
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
