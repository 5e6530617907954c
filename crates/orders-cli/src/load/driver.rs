//! Sending on schedule, at most `max_in_flight` waiting for an answer, and collecting
//! every order's outcome.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::*;

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
    /// The same, second by second (orders by intended send, attempts by actual send).
    pub per_second: PerSecond,
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
    per_second: PerSecond,
    accepted: Vec<AcceptedOrder>,
}

impl Collector {
    /// Counts one order. `start` is the run's; `intended` the order's offset from it.
    fn record(
        &mut self,
        order: &PlannedOrder,
        delivery: &Delivery,
        latency: Duration,
        start: Instant,
        intended: Duration,
    ) {
        let o = &mut self.orders;
        o.sent += 1;
        if order.invalid.is_some() {
            o.invalid += 1;
        } else {
            o.valid += 1;
        }
        for (i, a) in delivery.attempts.iter().enumerate() {
            self.responses.add(a.outcome);
            self.service_time.record(a.took);
            let sent = a.sent.saturating_duration_since(start);
            self.per_second
                .record_attempt(sent, a.outcome, a.took, i > 0);
        }
        self.retries += delivery.retries();
        self.latency.record(latency);
        self.per_second.record_order(intended, latency);
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
            collector
                .lock()
                .unwrap()
                .record(&order, &delivery, latency, start, offset);
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
        per_second: c.per_second,
        accepted: c.accepted,
        max_send_lag: max_lag,
        final_send_lag: final_lag,
        elapsed,
        started_at,
    }
}
