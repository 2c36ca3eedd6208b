//! Calling rate-limited, eventually-consistent AWS APIs politely: a token bucket keeps this
//! process under a share of the service's rate, and throttling or ConflictException (which the
//! SDK's standard retry does not treat as retryable for Identity Center) is retried with
//! exponential backoff and full jitter, a bounded number of times.

use std::error::Error;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::Mutex;

use crate::error::{fault, Fault};

/// Spaces calls at least `interval` apart.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// At most `per_second` calls per second from this process.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Backoff before the second attempt; doubles each time, up to `max_delay`.
    pub base_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Runs `call` (rate-limited) until it succeeds, fails for good, or the attempts run out.
/// Returns the last fault on failure.
pub async fn call<T, E, R, F, Fut>(
    limiter: &RateLimiter,
    policy: RetryPolicy,
    mut call: F,
) -> Result<T, Fault>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: crate::error::HttpStatus + Debug + Send + Sync + 'static,
{
    let mut delay = policy.base_delay;
    let mut attempt = 1;
    loop {
        limiter.wait().await;
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let f = fault(e);
                let transient = matches!(f, Fault::Retryable(_) | Fault::Conflict(_));
                if !transient || attempt >= policy.attempts {
                    return Err(f);
                }
                let jitter =
                    Duration::from_millis(rand::random::<u64>() % (delay.as_millis() as u64 + 1));
                tracing::debug!(attempt, ?jitter, fault = ?f, "retrying AWS call");
                tokio::time::sleep(jitter).await;
                delay = (delay * 2).min(policy.max_delay);
                attempt += 1;
            }
        }
    }
}
