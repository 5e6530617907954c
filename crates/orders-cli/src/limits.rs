//! The limits a deployed stack runs under, emulated by `orders local` (issue 13):
//!
//! - **API Gateway's stage throttle**: a token bucket in front of the API's routes
//!   (`ApiThrottlingRateLimit` tokens a second, up to `ApiThrottlingBurstLimit`; a request
//!   takes one or is answered with the template's `THROTTLED` gateway response). API
//!   Gateway's algorithm: "a token bucket ... where a token counts for a request"
//!   (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html>).
//! - **The account's concurrent executions** (`AccountConcurrency`): one pool shared by the
//!   ingest, status and worker invocations, as in one AWS account
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html>). An API request
//!   that finds no free execution is answered as API Gateway answers a throttled Lambda
//!   (the template's `INTEGRATION_FAILURE` response); a worker invocation that finds none
//!   waits, as the SQS event source retries a throttled invoke with back-off while the
//!   batch's visibility timeout runs, and gives the batch back to the queue if it cannot
//!   start in time (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html>).
//!
//! Both are off when not configured, and then cost one branch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

/// API Gateway's token bucket: it holds up to `burst` tokens, gains `rate` a second and
/// starts full; each request takes one token or is throttled.
///
/// Kept as the generic cell rate algorithm, the token bucket's exact equivalent in one
/// atomic word: the bucket is represented by the time at which it would be full again
/// (`full_at`); taking a token moves that time one token's interval later, and a request is
/// throttled when doing so would need more than `burst` tokens' worth of time. No lock, so
/// requests on different threads never wait for each other here.
#[derive(Debug)]
pub struct TokenBucket {
    base: Instant,
    /// One token's worth of time, in nanoseconds.
    interval: u64,
    /// How far `full_at` may run ahead of now and still grant a token: `burst - 1` tokens.
    tolerance: Option<u64>,
    /// When the bucket would be full again, in nanoseconds since `base`.
    full_at: AtomicU64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_second: u32, burst: u32) -> Self {
        let interval = match rate_per_second {
            // Never refilled: an interval no run outlives, small enough that `burst` of
            // them cannot overflow.
            0 => u64::MAX / (u64::from(burst) + 2),
            rate => 1_000_000_000 / u64::from(rate),
        };
        Self {
            base: Instant::now(),
            interval,
            tolerance: burst.checked_sub(1).map(|b| u64::from(b) * interval),
            full_at: AtomicU64::new(0),
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&self) -> bool {
        let Some(tolerance) = self.tolerance else {
            return false;
        };
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut full_at = self.full_at.load(Ordering::Relaxed);
        loop {
            let from = full_at.max(now);
            if from - now > tolerance {
                return false;
            }
            match self.full_at.compare_exchange_weak(
                full_at,
                from + self.interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => full_at = actual,
            }
        }
    }
}

/// Concurrent executions shared by every function invocation: the worker's, held for as long
/// as they run, and the API's, each held for exactly its emulated duration.
///
/// An API invocation's execution is accounted from the moment its request passed the stage
/// (its token) for [`LimitSettings::invocation_hold`], whatever this machine's scheduler
/// does meanwhile: so the stage throttle's guarantee (at most a burst plus a refill's worth
/// of requests in any such window, rule 7) carries over to the executions exactly, as it
/// does in AWS where each invocation has its own CPU.
#[derive(Debug)]
pub struct Executions {
    limit: u32,
    state: Mutex<Held>,
    freed: Notify,
}

#[derive(Debug, Default)]
struct Held {
    /// API invocations: when each started and ends.
    api: Vec<(Instant, Instant)>,
    /// Worker invocations running now.
    workers: u32,
}

impl Held {
    /// Drops API invocations over by `now`; counts those running at `at` plus the workers.
    fn in_use(&mut self, now: Instant, at: Instant) -> u32 {
        self.api.retain(|&(_, end)| end > now);
        let api = self
            .api
            .iter()
            .filter(|&&(start, end)| start <= at && at < end)
            .count() as u32;
        api + self.workers
    }
}

/// A worker invocation's execution; dropping it frees the execution.
#[derive(Debug)]
pub struct Execution {
    executions: Arc<Executions>,
}

impl Drop for Execution {
    fn drop(&mut self) {
        let mut held = self.executions.lock();
        held.workers = held.workers.saturating_sub(1);
        drop(held);
        self.executions.freed.notify_waiters();
    }
}

impl Executions {
    /// A pool of `limit` executions.
    pub fn new(limit: u32) -> Arc<Self> {
        Arc::new(Self {
            limit,
            state: Mutex::new(Held::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pool's size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Executions running now.
    pub fn in_use(&self) -> u32 {
        let now = Instant::now();
        self.lock().in_use(now, now)
    }

    /// An API invocation that started at `start` and lasts until `end`, if an execution is
    /// free at `start` (a synchronous invoke gets one or is throttled).
    pub fn try_start_api(&self, start: Instant, end: Instant) -> bool {
        let mut held = self.lock();
        if held.in_use(Instant::now(), start) >= self.limit {
            return false;
        }
        held.api.push((start, end));
        true
    }

    /// A worker invocation's execution if one is free now.
    pub fn try_start_worker(self: &Arc<Self>) -> Option<Execution> {
        let now = Instant::now();
        let mut held = self.lock();
        if held.in_use(now, now) >= self.limit {
            return None;
        }
        held.workers += 1;
        Some(Execution {
            executions: self.clone(),
        })
    }

    /// A worker invocation's execution as soon as one is free, waiting at most `limit` (an
    /// event source's retries of a throttled invoke).
    pub async fn start_worker_within(self: &Arc<Self>, limit: Duration) -> Option<Execution> {
        let give_up = Instant::now() + limit;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(execution) = self.try_start_worker() {
                return Some(execution);
            }
            let now = Instant::now();
            if now >= give_up {
                return None;
            }
            // Woken by a worker's end, or by the next API invocation's.
            let next_api_end = self
                .lock()
                .api
                .iter()
                .map(|&(_, end)| end)
                .filter(|&end| end > now)
                .min();
            let wake = next_api_end.map_or(give_up, |end| end.min(give_up));
            tokio::select! {
                _ = &mut freed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// What `orders local` emulates, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// The stage throttle: (requests a second, burst), or off.
    pub api: Option<(u32, u32)>,
    /// The account's concurrent executions, or off.
    pub account_concurrency: Option<u32>,
    /// How long an API invocation holds its execution ([`INVOCATION_HOLD`] by default; zero:
    /// it frees it at once).
    pub invocation_hold: Duration,
    /// Answer a throttled invoke as a template without an `INTEGRATION_FAILURE` gateway
    /// response does (500, the naive design's failure) instead of as this template does.
    pub unmapped_throttles: bool,
}

impl LimitSettings {
    /// No limits (tests of other behaviour, benchmarks of the pipeline itself).
    pub const OFF: Self = Self {
        api: None,
        account_concurrency: None,
        invocation_hold: INVOCATION_HOLD,
        unmapped_throttles: false,
    };

    /// One line for the banner.
    pub fn describe(&self) -> String {
        let api = match self.api {
            Some((rate, burst)) => format!("API stage throttle {rate}/s, burst {burst} (429)"),
            None => "API stage throttle off".to_owned(),
        };
        let concurrency = match self.account_concurrency {
            Some(n) => format!(
                "account concurrency {n}, shared by ingest, status and worker (an API invocation holds one {} ms; {})",
                self.invocation_hold.as_millis(),
                if self.unmapped_throttles {
                    "a throttled API request gets 500, as without the INTEGRATION_FAILURE mapping"
                } else {
                    "a throttled API request gets 503 + Retry-After"
                }
            ),
            None => "account concurrency off".to_owned(),
        };
        format!("limits: {api}; {concurrency}")
    }
}

/// How many requests and invocations the limits turned away.
#[derive(Debug, Default)]
pub struct LimitCounters {
    api_throttled: AtomicU64,
    api_concurrency_throttled: AtomicU64,
    worker_concurrency_throttled: AtomicU64,
    worker_batches_given_back: AtomicU64,
}

/// A copy of [`LimitCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LimitStats {
    /// Requests the stage throttle answered 429.
    pub api_throttled: u64,
    /// API requests that found no free execution (503, or 500 unmapped).
    pub api_concurrency_throttled: u64,
    /// Worker invocations that found no free execution at first (and waited).
    pub worker_concurrency_throttled: u64,
    /// Batches that found none before their visibility timeout (back to the queue).
    pub worker_batches_given_back: u64,
}

/// The limits of one `orders local`, shared by its API and its poller.
#[derive(Debug)]
pub struct Limits {
    settings: LimitSettings,
    bucket: Option<TokenBucket>,
    executions: Option<Arc<Executions>>,
    counters: LimitCounters,
}

/// Why an API request was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The stage throttle: `THROTTLED`.
    Throttled,
    /// No free execution: `INTEGRATION_FAILURE`.
    NoExecution,
}

impl Refusal {
    /// The gateway response API Gateway answers it with.
    pub fn response_type(self) -> &'static str {
        match self {
            Refusal::Throttled => "THROTTLED",
            Refusal::NoExecution => "INTEGRATION_FAILURE",
        }
    }
}

/// What an API request's function holds while it runs (nothing without a concurrency
/// limit); [`Admission::finish`] frees the execution.
#[derive(Debug)]
#[must_use = "the execution is freed by finish (or when this is dropped)"]
pub struct Admission {
    /// When its execution frees itself (`None`: the account's concurrency is not emulated).
    until: Option<Instant>,
}

impl Admission {
    /// Ends the invocation: the answer waits until [`LimitSettings::invocation_hold`] has
    /// passed since it started, when the account's concurrency is emulated (its execution
    /// is accounted free from then on, whenever this runs).
    pub async fn finish(self) {
        // A deadline already passed is not awaited: tokio's timer would still hold the
        // answer until its next tick (about a millisecond), which the bench measured as
        // a third of the API's rate.
        if let Some(until) = self.until.filter(|&until| until > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// How long an emulated API invocation holds its execution by default: the duration the
/// template's concurrency rule plans with.
pub const INVOCATION_HOLD: Duration = orders_template::API_REQUEST_PLANNING_DURATION;

impl Limits {
    /// The limits `settings` describe.
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            settings,
            bucket: settings
                .api
                .map(|(rate, burst)| TokenBucket::new(rate, burst)),
            executions: settings.account_concurrency.map(Executions::new),
            counters: LimitCounters::default(),
        }
    }

    /// What these limits emulate.
    pub fn settings(&self) -> LimitSettings {
        self.settings
    }

    /// An API request at the stage: a token of the stage throttle, or `THROTTLED`. Returns
    /// when the request passed it: its invocation's emulated start.
    pub fn pass_stage(&self) -> Result<Instant, Refusal> {
        let now = Instant::now();
        match &self.bucket {
            Some(bucket) if !bucket.try_take() => {
                self.counters.api_throttled.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::Throttled)
            }
            _ => Ok(now),
        }
    }

    /// An API request's function invocation, emulated as starting at `start` (from
    /// [`Limits::pass_stage`]): a free execution then, or a throttle (API Gateway invokes
    /// synchronously and does not retry).
    pub fn start_execution(&self, start: Instant) -> Result<Admission, Refusal> {
        let until = start + self.settings.invocation_hold;
        match &self.executions {
            None => Ok(Admission { until: None }),
            Some(executions) if executions.try_start_api(start, until) => {
                Ok(Admission { until: Some(until) })
            }
            Some(_) => {
                self.counters
                    .api_concurrency_throttled
                    .fetch_add(1, Ordering::Relaxed);
                Err(Refusal::NoExecution)
            }
        }
    }

    /// A worker invocation: an execution now, or within `limit` (`None`: give the batch
    /// back to the queue), or no limit at all (`Some(None)`).
    pub async fn admit_invocation(&self, limit: Duration) -> Option<Option<Execution>> {
        let Some(executions) = &self.executions else {
            return Some(None);
        };
        if let Some(execution) = executions.try_start_worker() {
            return Some(Some(execution));
        }
        self.counters
            .worker_concurrency_throttled
            .fetch_add(1, Ordering::Relaxed);
        match executions.start_worker_within(limit).await {
            Some(execution) => Some(Some(execution)),
            None => {
                self.counters
                    .worker_batches_given_back
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Executions running now (`None` without a concurrency limit).
    pub fn executions_in_use(&self) -> Option<u32> {
        self.executions.as_ref().map(|e| e.in_use())
    }

    /// The counters.
    pub fn stats(&self) -> LimitStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LimitStats {
            api_throttled: get(&self.counters.api_throttled),
            api_concurrency_throttled: get(&self.counters.api_concurrency_throttled),
            worker_concurrency_throttled: get(&self.counters.worker_concurrency_throttled),
            worker_batches_given_back: get(&self.counters.worker_batches_given_back),
        }
    }
}

#[cfg(test)]
mod tests;
