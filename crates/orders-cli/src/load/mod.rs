//! `orders load`: drives the API with realistic traffic, measures it the way serious load
//! generators do, then (`--verify`) reconciles every accepted order against the table and
//! the dead-letter queue.
//!
//! - [`schedule`]: the open-model arrival schedule (constant rate, or bursts).
//! - [`generator`]: seeded, realistic orders, and invalid ones the API must answer 400.
//! - [`client`]: one attempt over HTTP, retries with jittered backoff and one
//!   `Idempotency-Key` per order.
//! - [`stats`]: HdrHistogram latencies and counts by outcome, for the run and second by
//!   second.
//! - [`verify`]: waiting for every accepted order to be stored or dead-lettered.
//! - [`driver`]: sending on schedule with at most `max_in_flight` waiting, and collecting.
//! - [`report`]: the run's report (text and JSON) and its exit code; `--report` renders it
//!   as a page ([`crate::web::report`]).
//! - [`progress`]: the progress bar.
//!
//! **Coordinated omission.** Each order has an *intended* send time from the schedule.
//! Its latency is measured from that time to its final answer, even when it was sent
//! late because `max_in_flight` requests were already waiting: a stalled API delays the
//! orders behind it, and that delay is part of what its clients would see. (A tool that
//! starts the clock at the actual send measures only the requests that got through and
//! reports a stall as a single slow request.) The per-attempt time from actual send to
//! answer is reported too, as `service_time`.

pub mod client;
pub mod driver;
pub mod generator;
pub mod progress;
pub mod report;
pub mod schedule;
pub mod stats;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

pub use client::{Attempt, AttemptResult, Delivery, HttpApi, RetryPolicy, Transport};
pub use driver::{drive, AcceptedOrder, Driven, OrderCounts};
pub use generator::{InvalidKind, OrderGenerator, PlannedOrder};
pub use progress::Progress;
pub use report::{LoadConfig, LoadReport, Rates, EXIT_LOST_ORDERS, EXIT_OK, EXIT_UNREACHABLE};
pub use schedule::{Limit, Schedule};
pub use stats::{
    percentile_grid, CurvePoint, Latency, Outcome, OutcomeCounts, PerSecond, Percentiles,
    SecondStats,
};
pub use verify::{DeadLetterSource, StoredSource, VerifyOptions, VerifyReport};

/// The default target: `orders local`'s default address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The API: a base URL or the order endpoint.
    pub url: String,
    /// Sent as `x-api-key` when set.
    pub api_key: Option<String>,
    /// When orders are due.
    pub schedule: Schedule,
    /// Most requests waiting for an answer at once; later orders wait (and their latency
    /// counts the wait).
    pub max_in_flight: usize,
    /// Share (0 to 1) of deliberately invalid orders.
    pub invalid_ratio: f64,
    /// Seed of the order generator (the `Idempotency-Key`s are random, so a second run
    /// with the same seed creates new orders).
    pub seed: u64,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Retries on 429, 503 and the like.
    pub retry: RetryPolicy,
    /// Reconcile after sending.
    pub verify: Option<VerifyOptions>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl LoadOptions {
    /// Defaults: no API key, 256 in flight, no invalid orders, seed 1, 10 s timeout, 3
    /// retries, no verification, no progress bar.
    pub fn new(url: impl Into<String>, schedule: Schedule) -> Self {
        Self {
            url: url.into(),
            api_key: None,
            schedule,
            max_in_flight: 256,
            invalid_ratio: 0.0,
            seed: 1,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            verify: None,
            progress: false,
        }
    }

    /// Refuses options that cannot make a run.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.schedule.validate()?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.invalid_ratio),
            "--invalid-ratio must be between 0 and 1"
        );
        anyhow::ensure!(self.max_in_flight > 0, "--max-in-flight must be at least 1");
        anyhow::ensure!(
            !self.request_timeout.is_zero(),
            "--timeout must be longer than 0"
        );
        Ok(())
    }
}

/// Runs a whole load test against `options.url`: sends, measures, and reconciles when
/// `options.verify` is set.
pub async fn run(options: LoadOptions) -> anyhow::Result<LoadReport> {
    options.validate()?;
    let api = Arc::new(HttpApi::new(
        &options.url,
        options.api_key.clone(),
        options.request_timeout,
    )?);
    let progress = Progress::new(options.progress, options.schedule.planned());
    let driven = drive(api.clone(), &options, &progress).await;
    let reconciliation = match &options.verify {
        Some(v) => {
            let ids: Vec<String> = driven.accepted.iter().map(|a| a.order_id.clone()).collect();
            Some(verify::verify(&api, &ids, v, driven.started_at, &progress).await)
        }
        None => None,
    };
    progress.finish();
    Ok(LoadReport::new(
        &options,
        api.base(),
        driven,
        reconciliation,
    ))
}

#[cfg(test)]
mod tests;
