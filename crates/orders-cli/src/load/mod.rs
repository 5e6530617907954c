//! `orders load`: drives the API with realistic traffic, measures it the way serious load
//! generators do, then (`--verify`) reconciles every accepted order against the table and
//! the dead-letter queue.
//!
//! - [`schedule`]: the open-model arrival schedule (constant rate, or bursts).
//! - [`generator`]: seeded, realistic orders, and invalid ones the API must answer 400.
//! - [`client`]: one attempt over HTTP, retries with jittered backoff and one
//!   `Idempotency-Key` per order.
//! - [`stats`]: HdrHistogram latencies and counts by outcome.
//! - [`verify`]: waiting for every accepted order to be stored or dead-lettered.
//!
//! **Coordinated omission.** Each order has an *intended* send time from the schedule.
//! Its latency is measured from that time to its final answer, even when it was sent
//! late because `max_in_flight` requests were already waiting: a stalled API delays the
//! orders behind it, and that delay is part of what its clients would see. (A tool that
//! starts the clock at the actual send measures only the requests that got through and
//! reports a stall as a single slow request.) The per-attempt time from actual send to
//! answer is reported too, as `service_time`.

pub mod client;
pub mod generator;
pub mod schedule;
pub mod stats;
pub mod verify;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use client::{AttemptResult, Delivery, HttpApi, RetryPolicy, Transport};
pub use generator::{InvalidKind, OrderGenerator, PlannedOrder};
pub use schedule::{Limit, Schedule};
pub use stats::{Latency, Outcome, OutcomeCounts, Percentiles};
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

/// Counts of orders (one order = every attempt of one request) by final outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OrderCounts {
    /// Orders sent.
    pub sent: u64,
    /// Of which valid.
    pub valid: u64,
    /// Of which deliberately invalid.
    pub invalid: u64,
    /// Answered 202 (by the first attempt or a retry).
    pub accepted: u64,
    /// Finally answered with a 4xx that a retry cannot change (400, 403, 413, 422...).
    pub rejected: u64,
    /// Neither: gave up after the retries (429, 503, timeouts...) or a 500.
    pub failed: u64,
    /// Invalid orders answered 400, as they must be.
    pub invalid_answered_400: u64,
    /// Invalid orders answered 202: an API bug (they must be 0).
    pub invalid_accepted: u64,
    /// Valid orders finally answered with a 4xx (403 without the API key, 422...).
    pub valid_rejected: u64,
}

/// An order answered 202.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptedOrder {
    /// Its position in the run.
    pub index: u64,
    /// The id the API gave it.
    pub order_id: String,
}

/// What sending produced.
#[derive(Debug, Clone)]
pub struct Driven {
    /// Orders by final outcome.
    pub orders: OrderCounts,
    /// Every attempt's outcome.
    pub responses: OutcomeCounts,
    /// Attempts after the first, over all orders.
    pub retries: u64,
    /// 202s that were idempotent replays of an earlier attempt's answer.
    pub replayed: u64,
    /// Per order: from its intended send time to its final answer.
    pub latency: Latency,
    /// Per attempt: from its actual send to its answer.
    pub service_time: Latency,
    /// The accepted orders, in completion order.
    pub accepted: Vec<AcceptedOrder>,
    /// The latest any order was sent after its intended time.
    pub max_send_lag: Duration,
    /// How late the last order was sent.
    pub final_send_lag: Duration,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// Wall-clock start (to date stores against).
    pub started_at: DateTime<Utc>,
}

#[derive(Default)]
struct Collector {
    orders: OrderCounts,
    responses: OutcomeCounts,
    retries: u64,
    replayed: u64,
    latency: Latency,
    service_time: Latency,
    accepted: Vec<AcceptedOrder>,
}

impl Collector {
    fn record(&mut self, order: &PlannedOrder, delivery: &Delivery, latency: Duration) {
        let o = &mut self.orders;
        o.sent += 1;
        if order.invalid.is_some() {
            o.invalid += 1;
        } else {
            o.valid += 1;
        }
        for (outcome, took) in &delivery.attempts {
            self.responses.add(*outcome);
            self.service_time.record(*took);
        }
        self.retries += delivery.retries();
        self.latency.record(latency);
        let status = match &delivery.last {
            AttemptResult::Response { status, .. } => Some(*status),
            _ => None,
        };
        match status {
            Some(202) => {
                o.accepted += 1;
                if order.invalid.is_some() {
                    o.invalid_accepted += 1;
                }
                if matches!(
                    delivery.last,
                    AttemptResult::Response { replayed: true, .. }
                ) {
                    self.replayed += 1;
                }
                if let Some(id) = delivery.order_id() {
                    self.accepted.push(AcceptedOrder {
                        index: order.index,
                        order_id: id.to_owned(),
                    });
                }
            }
            Some(s @ 400..=499) if !delivery.last.is_retryable() => {
                o.rejected += 1;
                match order.invalid {
                    Some(_) if s == 400 => o.invalid_answered_400 += 1,
                    Some(_) => {}
                    None => o.valid_rejected += 1,
                }
            }
            _ => o.failed += 1,
        }
    }
}

/// Sends every order of the schedule through `transport` and measures it. The clock is
/// tokio's, so tests can run it on a paused clock.
pub async fn drive<T: Transport>(
    transport: Arc<T>,
    options: &LoadOptions,
    progress: &Progress,
) -> Driven {
    let started_at = Utc::now();
    let start = Instant::now();
    let permits = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    let collector = Arc::new(Mutex::new(Collector::default()));
    let ticker = progress.start_ticker();
    let mut tasks = JoinSet::new();
    let (mut max_lag, mut final_lag) = (Duration::ZERO, Duration::ZERO);
    let orders = OrderGenerator::new(options.seed, options.invalid_ratio);
    for (offset, order) in options.schedule.intended().zip(orders) {
        let intended = start + offset;
        tokio::time::sleep_until(intended).await;
        // At the in-flight cap, this order waits here: late, and its latency shows it.
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let lag = intended.elapsed();
        max_lag = max_lag.max(lag);
        final_lag = lag;
        progress.live.started.fetch_add(1, Ordering::Relaxed);
        let (transport, collector, live, policy) = (
            transport.clone(),
            collector.clone(),
            progress.live.clone(),
            options.retry,
        );
        let mut rng = fastrand::Rng::with_seed(
            options.seed ^ order.index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        tasks.spawn(async move {
            // One key per order, random (not seeded): a second run with the same seed must
            // not be answered with the first run's replays.
            let key = uuid::Uuid::new_v4().to_string();
            let delivery =
                client::deliver(&*transport, &order.bytes(), &key, &policy, &mut rng).await;
            let latency = intended.elapsed();
            drop(permit);
            live.finished(&delivery);
            collector.lock().unwrap().record(&order, &delivery, latency);
        });
        // Reap what finished, so memory stays bounded on long runs.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }
    let c = std::mem::take(&mut *collector.lock().unwrap());
    Driven {
        orders: c.orders,
        responses: c.responses,
        retries: c.retries,
        replayed: c.replayed,
        latency: c.latency,
        service_time: c.service_time,
        accepted: c.accepted,
        max_send_lag: max_lag,
        final_send_lag: final_lag,
        elapsed,
        started_at,
    }
}

/// The run's settings, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadConfig {
    /// The API's base URL.
    pub url: String,
    /// Whether an `x-api-key` was sent (never the key itself).
    pub api_key: bool,
    /// The schedule.
    pub schedule: Schedule,
    /// Orders planned.
    pub planned: u64,
    /// In-flight cap.
    pub max_in_flight: usize,
    /// Share of invalid orders.
    pub invalid_ratio: f64,
    /// Generator seed.
    pub seed: u64,
    /// Per-request timeout.
    pub request_timeout_ms: u64,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Whether the run was reconciled.
    pub verify: bool,
}

/// Rates in orders per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    /// Asked for (a burst schedule's average).
    pub requested: f64,
    /// Sent: orders / (the schedule's span + how late the last order went out). Equal to
    /// the requested rate when every order left on time.
    pub achieved: f64,
    /// Answered: orders / time from the start to the last final answer.
    pub completed: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// The settings.
    pub config: LoadConfig,
    /// Orders by final outcome.
    pub orders: OrderCounts,
    /// Every attempt's outcome (`202`, `400`, `429`, `5xx`, other, timeouts, connection
    /// errors).
    pub responses: OutcomeCounts,
    /// Attempts after the first.
    pub retries: u64,
    /// 202s that were idempotent replays.
    pub replayed: u64,
    /// Per order, from its intended send time to its final answer (coordinated omission
    /// corrected), retries and backoff included.
    pub latency: Percentiles,
    /// Per attempt, from its actual send to its answer.
    pub service_time: Percentiles,
    /// Requested, achieved and completed rates.
    pub rate: Rates,
    /// The latest an order left after its intended time.
    pub max_send_lag_ms: f64,
    /// From the start to the last answer.
    pub elapsed_ms: f64,
    /// The reconciliation (`--verify`).
    pub reconciliation: Option<VerifyReport>,
    /// The accepted orders (not in the JSON: it would be as long as the run).
    #[serde(skip)]
    pub accepted: Vec<AcceptedOrder>,
}

/// Exit status: every order went as it should (or `--verify` was not asked for). (1 is
/// an error, 2 a usage error, as clap exits.)
pub const EXIT_OK: i32 = 0;
/// Exit status: `--verify` found accepted orders missing, or stored twice.
pub const EXIT_LOST_ORDERS: i32 = 3;
/// Exit status: no request got any HTTP answer (the target is unreachable).
pub const EXIT_UNREACHABLE: i32 = 4;

impl LoadReport {
    fn new(options: &LoadOptions, base: &str, d: Driven, rec: Option<VerifyReport>) -> Self {
        let s = &options.schedule;
        let n = d.orders.sent as f64;
        let send_span = s.span() + d.final_send_lag;
        Self {
            config: LoadConfig {
                url: base.to_owned(),
                api_key: options.api_key.is_some(),
                schedule: *s,
                planned: s.planned(),
                max_in_flight: options.max_in_flight,
                invalid_ratio: options.invalid_ratio,
                seed: options.seed,
                request_timeout_ms: options.request_timeout.as_millis() as u64,
                retry: options.retry,
                verify: options.verify.is_some(),
            },
            orders: d.orders,
            responses: d.responses,
            retries: d.retries,
            replayed: d.replayed,
            latency: d.latency.percentiles(),
            service_time: d.service_time.percentiles(),
            rate: Rates {
                requested: s.requested_rate(),
                achieved: n / send_span.as_secs_f64().max(1e-9),
                completed: n / d.elapsed.as_secs_f64().max(1e-9),
            },
            max_send_lag_ms: d.max_send_lag.as_secs_f64() * 1000.0,
            elapsed_ms: d.elapsed.as_secs_f64() * 1000.0,
            reconciliation: rec,
            accepted: d.accepted,
        }
    }

    /// [`EXIT_UNREACHABLE`], [`EXIT_LOST_ORDERS`] or [`EXIT_OK`].
    pub fn exit_code(&self) -> i32 {
        if self.orders.sent > 0 && self.responses.answered() == 0 {
            return EXIT_UNREACHABLE;
        }
        match &self.reconciliation {
            Some(r) if r.reconciliation.missing > 0 || r.reconciliation.duplicated > 0 => {
                EXIT_LOST_ORDERS
            }
            _ => EXIT_OK,
        }
    }

    /// The final table, for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let o = &self.orders;
        let r = &self.responses;
        let schedule = match c.schedule {
            Schedule::Rate { per_second, .. } => format!("{per_second}/s"),
            Schedule::Bursts { size, every, .. } => {
                format!("bursts of {size} every {}", human(every))
            }
        };
        let _ = writeln!(out, "orders load: {}", c.url);
        let _ = writeln!(
            out,
            "  {schedule}, {} orders, in-flight cap {}, {} % invalid, seed {}, timeout {} ms, up to {} retries",
            c.planned,
            c.max_in_flight,
            c.invalid_ratio * 100.0,
            c.seed,
            c.request_timeout_ms,
            c.retry.max_retries
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  orders      sent {}  (valid {}, invalid {})   accepted {}   rejected {}   failed {}",
            o.sent, o.valid, o.invalid, o.accepted, o.rejected, o.failed
        );
        if o.invalid > 0 || o.invalid_accepted > 0 || o.valid_rejected > 0 {
            let _ = writeln!(
                out,
                "              invalid answered 400: {}/{}   invalid accepted: {}   valid rejected: {}",
                o.invalid_answered_400, o.invalid, o.invalid_accepted, o.valid_rejected
            );
        }
        let _ = writeln!(
            out,
            "  responses   202: {}   400: {}   429: {}   5xx: {}   other: {}   timeouts: {}   connection errors: {}",
            r.accepted, r.bad_request, r.throttled, r.server_error, r.other_status, r.timeout, r.connection_error
        );
        let _ = writeln!(
            out,
            "  retries     {}   (idempotent replays: {})",
            self.retries, self.replayed
        );
        let _ = writeln!(
            out,
            "  rate        requested {:.1}/s   achieved {:.1}/s   completed {:.1}/s   (max send lag {:.1} ms, run {:.2} s)",
            self.rate.requested,
            self.rate.achieved,
            self.rate.completed,
            self.max_send_lag_ms,
            self.elapsed_ms / 1000.0
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  latency (ms)              {:>9} {:>9} {:>9} {:>9} {:>9}",
            "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, p) in [
            ("from intended send", &self.latency),
            ("per attempt", &self.service_time),
        ] {
            let _ = writeln!(
                out,
                "    {name:<22}{:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                p.p50_ms, p.p90_ms, p.p99_ms, p.p99_9_ms, p.max_ms
            );
        }
        if let Some(v) = &self.reconciliation {
            let rec = &v.reconciliation;
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "  reconciliation ({} after {:.1} s; stored: {}; dead letters: {})",
                if v.settled {
                    "every accepted order accounted for"
                } else {
                    "TIMED OUT"
                },
                v.waited_ms / 1000.0,
                v.stored_from,
                v.dead_letters_from
            );
            let dead = if v.dead_letters_known {
                rec.dead_lettered.to_string()
            } else {
                "unknown".to_owned()
            };
            let _ = writeln!(
                out,
                "    sent {}   accepted {}   rejected {}   stored {}   dead-lettered {}   missing {}   duplicated {}",
                o.sent, rec.accepted, o.rejected, rec.stored, dead, rec.missing, rec.duplicated
            );
            if let Some(ms) = v.last_stored_after_start_ms {
                let _ = writeln!(
                    out,
                    "    last order stored {:.2} s after the start",
                    ms / 1000.0
                );
            }
            if !rec.missing_examples.is_empty() {
                let _ = writeln!(
                    out,
                    "    missing, for example: {}",
                    rec.missing_examples.join(", ")
                );
            }
        }
        out
    }
}

fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
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

/// Live counters for the progress bar.
#[derive(Debug, Default)]
struct Live {
    started: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
}

impl Live {
    fn finished(&self, delivery: &Delivery) {
        let errors = delivery.attempts.iter().filter(|a| a.0.is_error()).count();
        self.errors.fetch_add(errors as u64, Ordering::Relaxed);
        self.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The progress bar on stderr (live rate, errors, in flight), or nothing.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    live: Arc<Live>,
}

impl Progress {
    /// No bar (tests, `--json`, `--quiet`, stderr not a terminal).
    pub fn hidden() -> Self {
        Self {
            bar: None,
            live: Arc::default(),
        }
    }

    /// A bar of `planned` orders when `show` (and stderr is a terminal).
    pub fn new(show: bool, planned: u64) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(planned), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        ) {
            bar.set_style(style);
        }
        Self {
            bar: Some(bar),
            live: Arc::default(),
        }
    }

    /// Refreshes the bar every 200 ms with the rate of answers over the last second.
    fn start_ticker(&self) -> Option<tokio::task::JoinHandle<()>> {
        let bar = self.bar.clone()?;
        let live = self.live.clone();
        Some(tokio::spawn(async move {
            let mut window: VecDeque<(Instant, u64)> = VecDeque::new();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let now = Instant::now();
                let (started, done) = (
                    live.started.load(Ordering::Relaxed),
                    live.completed.load(Ordering::Relaxed),
                );
                window.push_back((now, done));
                while window.len() > 2 && now - window[0].0 > Duration::from_secs(1) {
                    window.pop_front();
                }
                let (t0, d0) = window[0];
                let secs = (now - t0).as_secs_f64();
                let rate = if secs > 0.0 {
                    (done - d0) as f64 / secs
                } else {
                    0.0
                };
                bar.set_position(done);
                bar.set_message(format!(
                    "{rate:.0}/s  in flight {}  errors {}",
                    started.saturating_sub(done),
                    live.errors.load(Ordering::Relaxed)
                ));
            }
        }))
    }

    /// During `--verify`.
    fn verifying(&self, stored: usize, dead: usize, open: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "verifying: stored {stored}  dead-lettered {dead}  not yet seen {open}"
            ));
            bar.tick();
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Parses `2s`, `500ms`, `1.5s`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration such as 2s, 500ms or 1m"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every order 202 after `service` (on the paused clock), one id per key.
    struct Fixed {
        service: Duration,
    }

    impl Transport for Fixed {
        async fn post_order(&self, body: Vec<u8>, key: &str) -> AttemptResult {
            tokio::time::sleep(self.service).await;
            let invalid = serde_json::from_slice::<serde_json::Value>(&body)
                .map(|b| {
                    b.get("items").is_none_or(|i| {
                        i.as_array().is_none_or(|a| {
                            a.is_empty()
                                || a[0]["qty"] == 0
                                || a[0]["qty"] == 10_001
                                || a[0]["sku"] == "   "
                        })
                    }) || !b["email"].as_str().unwrap_or_default().contains('@')
                })
                .unwrap_or(true);
            AttemptResult::Response {
                status: if invalid { 400 } else { 202 },
                retry_after: None,
                order_id: (!invalid).then(|| format!("id-{key}")),
                replayed: false,
            }
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[tokio::test(start_paused = true)]
    async fn latency_counts_from_the_intended_send_time_when_sends_are_delayed() {
        // 10 orders a second (one every 100 ms), one request at a time, each taking
        // 200 ms: order i is due at 100·i ms but can only leave at 200·i ms, and is
        // answered at 200·(i+1) ms. Its latency is 100·i + 200 ms, not 200 ms.
        let mut o = LoadOptions::new(
            "http://unused",
            Schedule::Rate {
                per_second: 10.0,
                limit: Limit::Count(5),
            },
        );
        o.max_in_flight = 1;
        let t = Arc::new(Fixed { service: ms(200) });
        let d = drive(t, &o, &Progress::hidden()).await;
        let latency = d.latency.percentiles();
        let service = d.service_time.percentiles();
        assert_eq!(latency.count, 5);
        assert!((latency.min_ms - 200.0).abs() < 0.5, "{latency:?}");
        assert!((latency.p50_ms - 400.0).abs() < 0.5, "{latency:?}");
        assert!((latency.max_ms - 600.0).abs() < 0.5, "{latency:?}");
        assert!((latency.mean_ms - 400.0).abs() < 0.5, "{latency:?}");
        assert!(
            (service.max_ms - 200.0).abs() < 0.5,
            "each attempt itself took 200 ms: {service:?}"
        );
        assert_eq!(d.max_send_lag, ms(400));
        assert_eq!(d.final_send_lag, ms(400));
        assert_eq!(d.elapsed, ms(1000));
        let report = LoadReport::new(&o, "http://unused", d, None);
        // 5 orders over the 500 ms schedule stretched by the last one's 400 ms lag.
        assert!(
            (report.rate.achieved - 5.0 / 0.9).abs() < 1e-6,
            "{:?}",
            report.rate
        );
        assert_eq!(report.rate.requested, 10.0);
        assert_eq!(report.exit_code(), EXIT_OK);
    }

    #[tokio::test(start_paused = true)]
    async fn on_time_sends_measure_the_service_time_and_the_requested_rate() {
        let mut o = LoadOptions::new(
            "http://unused",
            Schedule::Rate {
                per_second: 100.0,
                limit: Limit::Count(50),
            },
        );
        o.max_in_flight = 8;
        let d = drive(Arc::new(Fixed { service: ms(30) }), &o, &Progress::hidden()).await;
        let latency = d.latency.percentiles();
        assert!((latency.max_ms - 30.0).abs() < 0.1, "{latency:?}");
        assert!((latency.min_ms - 30.0).abs() < 0.1, "{latency:?}");
        assert_eq!(d.max_send_lag, Duration::ZERO);
        let report = LoadReport::new(&o, "u", d, None);
        assert!((report.rate.achieved - 100.0).abs() < 1e-6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_behind_a_small_cap_queues_and_the_latency_shows_the_queue() {
        // 10 orders at once, 2 at a time, 100 ms each: answers at 100, 100, 200, 200...
        let mut o = LoadOptions::new(
            "u",
            Schedule::Bursts {
                size: 10,
                every: Duration::from_secs(2),
                limit: Limit::Count(10),
            },
        );
        o.max_in_flight = 2;
        let d = drive(
            Arc::new(Fixed { service: ms(100) }),
            &o,
            &Progress::hidden(),
        )
        .await;
        let p = d.latency.percentiles();
        assert!((p.min_ms - 100.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 500.0).abs() < 0.5, "{p:?}");
        assert!((p.mean_ms - 300.0).abs() < 0.5, "{p:?}");
        assert_eq!(d.max_send_lag, ms(400));
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_are_counted_per_order_and_per_attempt() {
        let mut o = LoadOptions::new(
            "u",
            Schedule::Rate {
                per_second: 1000.0,
                limit: Limit::Count(400),
            },
        );
        o.invalid_ratio = 0.25;
        o.seed = 9;
        let d = drive(Arc::new(Fixed { service: ms(1) }), &o, &Progress::hidden()).await;
        let expected_invalid = OrderGenerator::new(9, 0.25)
            .take(400)
            .filter(|p| p.invalid.is_some())
            .count() as u64;
        let c = d.orders;
        assert_eq!(c.sent, 400);
        assert_eq!(c.invalid, expected_invalid);
        assert_eq!(c.invalid_answered_400, expected_invalid);
        assert_eq!(c.accepted, 400 - expected_invalid);
        assert_eq!(
            (c.rejected, c.failed, c.invalid_accepted),
            (expected_invalid, 0, 0)
        );
        assert_eq!(d.responses.accepted, c.accepted);
        assert_eq!(d.responses.bad_request, expected_invalid);
        assert_eq!(d.accepted.len() as u64, c.accepted);
    }

    #[test]
    fn report_exit_codes() {
        let o = LoadOptions::new(
            "u",
            Schedule::Rate {
                per_second: 1.0,
                limit: Limit::Count(1),
            },
        );
        let driven = |outcome: Outcome| {
            let mut responses = OutcomeCounts::default();
            responses.add(outcome);
            Driven {
                orders: OrderCounts {
                    sent: 1,
                    ..Default::default()
                },
                responses,
                retries: 0,
                replayed: 0,
                latency: Latency::new(),
                service_time: Latency::new(),
                accepted: vec![],
                max_send_lag: Duration::ZERO,
                final_send_lag: Duration::ZERO,
                elapsed: ms(1),
                started_at: Utc::now(),
            }
        };
        let r = LoadReport::new(&o, "u", driven(Outcome::ConnectionError), None);
        assert_eq!(r.exit_code(), EXIT_UNREACHABLE);
        let verified = |missing: usize| VerifyReport {
            reconciliation: crate::reconcile::Reconciliation {
                accepted: 1,
                stored: 1 - missing,
                missing,
                ..Default::default()
            },
            settled: missing == 0,
            waited_ms: 0.0,
            last_stored_after_start_ms: None,
            dead_letters_known: true,
            stored_from: String::new(),
            dead_letters_from: String::new(),
            check_errors: 0,
        };
        let r = LoadReport::new(&o, "u", driven(Outcome::Accepted), Some(verified(1)));
        assert_eq!(r.exit_code(), EXIT_LOST_ORDERS);
        assert!(r.render().contains("missing 1"), "{}", r.render());
        let r = LoadReport::new(&o, "u", driven(Outcome::Accepted), Some(verified(0)));
        assert_eq!(r.exit_code(), EXIT_OK);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["reconciliation"]["missing"], 0);
        assert_eq!(json["responses"]["202"], 1);
        assert_eq!(json["config"]["schedule"]["mode"], "rate");
        assert_eq!(json["config"]["schedule"]["limit"]["count"], 1);
    }

    #[test]
    fn durations_parse_like_people_write_them() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("2 fortnights").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
