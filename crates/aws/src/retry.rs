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

use crate::budget::SharedBudget;
use crate::error::{fault, Fault};

/// A token bucket: up to `burst` calls at once, then `per_second` calls a second on average.
/// A caller that finds the bucket empty takes the next token ahead of time (the count goes
/// below zero) and sleeps until it has been earned, so waiting callers are served in order.
///
/// With a [`SharedBudget`], calls are paced by the one budget every process shares instead,
/// and this bucket is only the fallback for when the table cannot be reached.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<Bucket>,
    shared: Option<SharedBudget>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens in hand; below zero, tokens promised to callers still sleeping.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl RateLimiter {
    /// `per_second` calls a second on average, and up to `burst` at once after a quiet spell
    /// (at least 1: a burst of 1 spaces every call `1/per_second` apart).
    pub fn with_burst(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: f64::from(per_second.max(1)),
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
            shared: None,
        }
    }

    /// Paces calls by `budget`, shared with every other process, instead of this process's
    /// own bucket.
    pub fn shared(mut self, budget: SharedBudget) -> Self {
        self.shared = Some(budget);
        self
    }

    /// Takes a token, waiting until one is earned if the bucket is empty.
    pub async fn wait(&self) {
        if let Some(budget) = &self.shared {
            match budget.reserve().await {
                Ok(pause) => {
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    return;
                }
                Err(f) => {
                    tracing::warn!(fault = ?f, "the shared Identity Center budget could not be reserved; pacing this process alone");
                }
            }
        }
        let pause = self.take(Instant::now()).await;
        if let Some(p) = pause {
            tokio::time::sleep(p).await;
        }
    }

    /// Takes a token at `now`: how long the caller must wait for it, if at all.
    async fn take(&self, now: Instant) -> Option<Duration> {
        let mut b = self.state.lock().await;
        let earned = now.saturating_duration_since(b.at).as_secs_f64() * self.per_second;
        b.tokens = (b.tokens + earned).min(self.burst);
        b.at = b.at.max(now);
        b.tokens -= 1.0;
        (b.tokens < 0.0).then(|| Duration::from_secs_f64(-b.tokens / self.per_second))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// When (ms from `t0`) each of `n` callers arriving together at `t0` may go.
    async fn goes(limiter: &RateLimiter, t0: Instant, n: usize) -> Vec<u128> {
        let mut out = Vec::new();
        for _ in 0..n {
            let wait = limiter.take(t0).await.unwrap_or_default();
            out.push(wait.as_millis());
        }
        out
    }

    // Times are given, not measured: exact on any machine.
    #[tokio::test]
    async fn a_burst_goes_at_once_then_calls_come_at_the_rate() {
        let limiter = RateLimiter::with_burst(10, 5);
        let t0 = Instant::now();
        assert_eq!(
            goes(&limiter, t0, 8).await,
            vec![0, 0, 0, 0, 0, 100, 200, 300]
        );
        // Two quiet seconds later the bucket is full again, up to the burst and no more.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(goes(&limiter, t1, 7).await, vec![0, 0, 0, 0, 0, 100, 200]);
    }

    #[tokio::test]
    async fn a_burst_of_one_spaces_every_call() {
        let limiter = RateLimiter::with_burst(10, 1);
        let t0 = Instant::now();
        assert_eq!(goes(&limiter, t0, 4).await, vec![0, 100, 200, 300]);
    }
}
