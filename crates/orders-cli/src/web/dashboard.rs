//! The live dashboard of `orders local` (`/_local/`): the local twin of the stack's
//! CloudWatch dashboard, with the same metric names and sections.
//!
//! - A sampler reads the pipeline's counters once a second (the handlers' metrics, the API's
//!   answers, the queues, the limits) and keeps the last [`KEPT_SECONDS`] seconds as
//!   per-second points: what CloudWatch graphs per minute, graphed per second.
//! - The template's alarms are evaluated on those points with the template's thresholds,
//!   periods and datapoints ([`evaluate`]).
//! - The page polls `GET /_local/dashboard.json?since=T` once a second and gets the full
//!   `/_local/stats` and only the points it lacks. Polling, not server-sent events: a
//!   stream never ends, so it would hold `orders local`'s graceful shutdown (which waits
//!   for open connections) until the tab closes; a poll is one short request, its cost is
//!   fixed by the refresh interval whatever the load, and a tab in the background (whose
//!   timers browsers slow down) simply polls less.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use orders_platform::metrics::{names, InMemoryMetrics};
use orders_template::{AlarmRule, Watched};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::limits::Limits;
use crate::poller::PollerCounters;
use crate::queue::{DeadLetterOps, Located, QueueOpError};

/// Seconds of points kept (what the page's charts can show).
pub const KEPT_SECONDS: usize = 900;
/// How often the page polls, and the sampler samples.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The page, with every asset inline.
pub fn page() -> String {
    include_str!("../../assets/dashboard.html")
        .replace("<!--ASSETS-->", &super::head_assets())
        .replace(
            "/*DASHBOARD_JS*/",
            include_str!("../../assets/dashboard.js"),
        )
}

/// The API's answers as API Gateway's metrics count them (`Count`, `4XXError`, `5XXError`,
/// `Latency`), for the routes of the deployed API only (not `/_local/`).
#[derive(Debug, Default)]
pub struct ApiTraffic {
    count: AtomicU64,
    ok: AtomicU64,
    client_errors: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    latencies_ms: Mutex<Vec<f64>>,
}

impl ApiTraffic {
    /// Counts one answer.
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let class = match status {
            429 => &self.throttled,
            400..=499 => &self.client_errors,
            500..=599 => &self.server_errors,
            _ => &self.ok,
        };
        class.fetch_add(1, Ordering::Relaxed);
        let mut latencies = self
            .latencies_ms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if latencies.len() < orders_platform::metrics::MAX_PENDING_VALUES {
            latencies.push(elapsed.as_secs_f64() * 1000.0);
        }
    }

    fn totals(&self) -> [u64; 5] {
        [
            &self.count,
            &self.ok,
            &self.client_errors,
            &self.throttled,
            &self.server_errors,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }

    fn take_latencies(&self) -> Vec<f64> {
        std::mem::take(
            &mut *self
                .latencies_ms
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// One second of the pipeline: counts are what happened during the second, levels what
/// was there at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Point {
    /// The second's end, in seconds since the epoch.
    pub t: u64,
    /// `OrdersReceived`.
    pub received: u64,
    /// `OrdersRejected` (every error code).
    pub rejected: u64,
    /// `OrdersEnqueued`.
    pub enqueued: u64,
    /// `EnqueueFailed`.
    pub enqueue_failed: u64,
    /// `OrdersProcessed` (stored).
    pub processed: u64,
    /// `OrdersDuplicate`.
    pub duplicate: u64,
    /// `OrdersFailed` (left for retry).
    pub failed: u64,
    /// `RecordsRetried` (delivered again).
    pub retried: u64,
    /// API answers (`Count`).
    pub api_count: u64,
    /// 2xx/3xx answers.
    pub api_2xx: u64,
    /// 4xx answers but 429 (`4XXError` counts both).
    pub api_4xx: u64,
    /// 429 answers: the stage throttle.
    pub api_429: u64,
    /// 5xx answers (`5XXError`).
    pub api_5xx: u64,
    /// API `Latency` p50, ms.
    pub api_p50_ms: Option<f64>,
    /// API `Latency` p99, ms.
    pub api_p99_ms: Option<f64>,
    /// `ProcessingTime` p50, ms.
    pub processing_p50_ms: Option<f64>,
    /// `ProcessingTime` p99, ms.
    pub processing_p99_ms: Option<f64>,
    /// Orders queue: `ApproximateNumberOfMessagesVisible`.
    pub queue_visible: u64,
    /// Orders queue: `ApproximateNumberOfMessagesNotVisible`.
    pub queue_in_flight: u64,
    /// Orders queue: `ApproximateAgeOfOldestMessage`, seconds (where the queue can tell).
    pub oldest_age_s: Option<f64>,
    /// Dead-letter queue: `ApproximateNumberOfMessagesVisible`.
    pub dlq_visible: u64,
    /// Worker `Errors`: invocations that failed or timed out.
    pub worker_errors: u64,
    /// Worker `Throttles`: invocations that found no free execution.
    pub worker_throttles: u64,
    /// Ingest `Throttles` (API requests that found no free execution).
    pub ingest_throttles: u64,
    /// Executions of the account's pool in use (when emulated).
    pub executions_in_use: Option<u32>,
}

/// The last seconds of points, and the alarms to evaluate on them.
#[derive(Debug)]
pub struct Dashboard {
    points: Mutex<VecDeque<Point>>,
    alarms: Vec<AlarmRule>,
    traffic: Arc<ApiTraffic>,
}

impl Dashboard {
    /// An empty history; `alarms` are the template's.
    pub fn new(alarms: Vec<AlarmRule>) -> Self {
        Self {
            points: Mutex::new(VecDeque::with_capacity(KEPT_SECONDS)),
            alarms,
            traffic: Arc::default(),
        }
    }

    /// Where the API records its answers.
    pub fn traffic(&self) -> &Arc<ApiTraffic> {
        &self.traffic
    }

    fn push(&self, point: Point) {
        let mut points = self.points.lock().unwrap_or_else(PoisonError::into_inner);
        if points.len() == KEPT_SECONDS {
            points.pop_front();
        }
        points.push_back(point);
    }

    /// The points after `since` (seconds since the epoch; all with `None`).
    pub fn points_since(&self, since: Option<u64>) -> Vec<Point> {
        let points = self.points.lock().unwrap_or_else(PoisonError::into_inner);
        points
            .iter()
            .filter(|p| since.is_none_or(|s| p.t > s))
            .cloned()
            .collect()
    }

    /// Every alarm's state now.
    pub fn alarm_states(&self) -> Vec<AlarmState> {
        let points = self.points.lock().unwrap_or_else(PoisonError::into_inner);
        let points: Vec<&Point> = points.iter().collect();
        self.alarms.iter().map(|a| evaluate(a, &points)).collect()
    }
}

/// An alarm as evaluated locally.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmState {
    /// The template's logical id.
    pub id: String,
    /// `OK`, `ALARM`, or `INSUFFICIENT_DATA` (no point yet, or a metric `orders local`
    /// cannot evaluate).
    pub state: &'static str,
    /// The newest datapoint (the newest period's statistic).
    pub value: Option<f64>,
    /// The rule, from the template.
    pub rule: AlarmRule,
    /// What the datapoint is computed from locally.
    pub source: &'static str,
}

/// What a period's points reduce to: the alarm's datapoint.
type Reduce = fn(&[&Point]) -> Option<f64>;

/// The local series an alarm's metric is read from, and how a period's points are reduced.
fn local_series(rule: &AlarmRule) -> Option<(&'static str, Reduce)> {
    fn sum(points: &[&Point], f: fn(&Point) -> u64) -> Option<f64> {
        Some(points.iter().map(|p| f(p) as f64).sum())
    }
    fn max(points: &[&Point], f: fn(&Point) -> Option<f64>) -> Option<f64> {
        points.iter().filter_map(|p| f(p)).reduce(f64::max)
    }
    let Watched::Metric {
        namespace,
        metric,
        statistic,
        resource,
    } = &rule.watched
    else {
        let Watched::Expression { expression, .. } = &rule.watched else {
            return None;
        };
        // The one expression the template uses: the 5xx share of API answers, in percent.
        return (expression == "IF(requests > 0, 100 * errors / requests, 0)").then_some((
            "100 × 5xx answers / answers of the local API, per period",
            |points: &[&Point]| {
                let requests: u64 = points.iter().map(|p| p.api_count).sum();
                let errors: u64 = points.iter().map(|p| p.api_5xx).sum();
                Some(if requests > 0 {
                    100.0 * errors as f64 / requests as f64
                } else {
                    0.0
                })
            },
        ));
    };
    let found: (&'static str, Reduce) = match (
        namespace.as_str(),
        metric.as_str(),
        resource.as_deref(),
        statistic.as_str(),
    ) {
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            Some("OrdersDeadLetterQueue"),
            "Maximum",
        ) => ("messages in the local dead-letter queue", |p| {
            max(p, |p| Some(p.dlq_visible as f64))
        }),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", Some("OrdersQueue"), "Maximum") => (
            "age of the oldest message of the local queue, seconds",
            |p| max(p, |p| p.oldest_age_s),
        ),
        ("AWS/Lambda", "Errors", Some("WorkerFunction"), "Sum") => {
            ("worker invocations that failed or timed out", |p| {
                sum(p, |p| p.worker_errors)
            })
        }
        ("AWS/Lambda", "Throttles", Some("WorkerFunction"), "Sum") => {
            ("worker invocations that found no free execution", |p| {
                sum(p, |p| p.worker_throttles)
            })
        }
        ("AWS/Lambda", "Throttles", Some("IngestFunction"), "Sum") => {
            ("API invocations that found no free execution", |p| {
                sum(p, |p| p.ingest_throttles)
            })
        }
        _ => return None,
    };
    Some(found)
}

/// Evaluates an alarm as CloudWatch does, on `points` (oldest first): the newest
/// `EvaluationPeriods` periods of `Period` seconds each, ending at the newest point; ALARM
/// when at least `DatapointsToAlarm` of them breach; a period without points is missing
/// and does not breach (the template's alarms all say `TreatMissingData: notBreaching`).
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html>
pub fn evaluate(rule: &AlarmRule, points: &[&Point]) -> AlarmState {
    let state = |state, value, source| AlarmState {
        id: rule.id.clone(),
        state,
        value,
        rule: rule.clone(),
        source,
    };
    let Some((source, reduce)) = local_series(rule) else {
        return state("INSUFFICIENT_DATA", None, "not available in orders local");
    };
    let Some(newest) = points.last().map(|p| p.t) else {
        return state("INSUFFICIENT_DATA", None, source);
    };
    let period = rule.period_s.max(1);
    let mut breaching = 0;
    let mut latest = None;
    for i in 0..u64::from(rule.evaluation_periods.max(1)) {
        let end = newest.saturating_sub(i * period);
        let start = end.saturating_sub(period);
        let in_period: Vec<&Point> = points
            .iter()
            .filter(|p| p.t > start && p.t <= end)
            .copied()
            .collect();
        if in_period.is_empty() {
            continue;
        }
        let value = reduce(&in_period);
        if i == 0 {
            latest = value;
        }
        if value.is_some_and(|v| rule.breaches(v)) {
            breaching += 1;
        }
    }
    let alarm = breaching >= rule.datapoints_to_alarm.max(1);
    state(if alarm { "ALARM" } else { "OK" }, latest, source)
}

/// What the sampler reads each second.
pub struct Sources<Q> {
    /// The queues.
    pub queue: Arc<Q>,
    /// The handlers' metrics (made [`InMemoryMetrics::with_values`] for the percentiles).
    pub metrics: InMemoryMetrics,
    /// The emulated limits.
    pub limits: Arc<Limits>,
    /// The event source's counters.
    pub poller: Arc<PollerCounters>,
}

/// Samples once a second into `dashboard` until `stop` turns true.
pub async fn sample<Q: DeadLetterOps>(
    dashboard: Arc<Dashboard>,
    sources: Sources<Q>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(REFRESH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The counters start at 0 with the pipeline: the first point holds what came before it.
    let mut previous = [0u64; 16];
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let totals = totals(&sources, &dashboard.traffic);
        let delta = |i: usize| totals[i].saturating_sub(previous[i]);
        let (main, dlq) = sources.queue.counts().await.unwrap_or_default();
        let oldest = sources.queue.oldest_age().await;
        let processing = sources
            .metrics
            .take_values(names::PROCESSING_TIME, &[("Function", "worker")]);
        let api = dashboard.traffic.take_latencies();
        let point = Point {
            t: unix_now(),
            received: delta(0),
            rejected: delta(1),
            enqueued: delta(2),
            enqueue_failed: delta(3),
            processed: delta(4),
            duplicate: delta(5),
            failed: delta(6),
            retried: delta(7),
            api_count: delta(8),
            api_2xx: delta(9),
            api_4xx: delta(10),
            api_429: delta(11),
            api_5xx: delta(12),
            api_p50_ms: percentile(&api, 0.50),
            api_p99_ms: percentile(&api, 0.99),
            processing_p50_ms: percentile(&processing, 0.50),
            processing_p99_ms: percentile(&processing, 0.99),
            queue_visible: main.visible,
            queue_in_flight: main.in_flight,
            oldest_age_s: oldest.map(|d| d.as_secs_f64()),
            dlq_visible: dlq.visible,
            worker_errors: delta(13),
            worker_throttles: delta(14),
            ingest_throttles: delta(15),
            executions_in_use: sources.limits.executions_in_use(),
        };
        previous = totals;
        dashboard.push(point);
    }
}

/// The running totals a point is the difference of, in [`Point`]'s order.
fn totals<Q>(sources: &Sources<Q>, traffic: &ApiTraffic) -> [u64; 16] {
    let m = &sources.metrics;
    let ingest = |name| m.counter(name, &[("Function", "ingest")]);
    let worker = |name| m.counter(name, &[("Function", "worker")]);
    let [count, ok, client, throttled, server] = traffic.totals();
    let limits = sources.limits.stats();
    let poller = sources.poller.snapshot();
    [
        ingest(names::ORDERS_RECEIVED),
        ingest(names::ORDERS_REJECTED),
        ingest(names::ORDERS_ENQUEUED),
        ingest(names::ENQUEUE_FAILED),
        worker(names::ORDERS_PROCESSED),
        worker(names::ORDERS_DUPLICATE),
        worker(names::ORDERS_FAILED),
        worker(names::RECORDS_RETRIED),
        count,
        ok,
        client,
        throttled,
        server,
        poller.invocation_errors + poller.timeouts,
        limits.worker_concurrency_throttled,
        limits.api_concurrency_throttled,
    ]
}

/// The `q` quantile of `values` (nearest rank), `None` for none.
fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).map(|v| (v * 1000.0).round() / 1000.0)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the dashboard's routes read from the running pipeline.
pub trait Console: Send + Sync {
    /// `GET /_local/stats`.
    fn stats(&self) -> BoxFuture<'static, Value>;
    /// `POST /_local/dlq/redrive` (confirmed): how many messages moved.
    fn redrive(&self) -> BoxFuture<'static, Result<u64, QueueOpError>>;
    /// `GET /_local/dlq`: the dead letters, each with its last error where known.
    fn dead_letters(&self) -> BoxFuture<'static, Result<Value, QueueOpError>>;
    /// Where an order's message is, when a queue holds it.
    fn locate(&self, order_id: String) -> BoxFuture<'static, Option<Located>>;
    /// `GET /_local/dashboard.json?since=T`.
    fn dashboard(&self, since: Option<u64>) -> BoxFuture<'static, Value>;
}

/// The dead letters the dashboard lists (at most).
pub const DLQ_LISTED: usize = 100;

/// The console of a local pipeline over the queues `Q`.
pub struct LocalConsole<Q> {
    /// The queues.
    pub queue: Arc<Q>,
    /// The event source's counters (the last errors).
    pub poller: Arc<PollerCounters>,
    /// The history and the alarms.
    pub dashboard: Arc<Dashboard>,
    /// `/_local/stats`.
    pub stats: Arc<dyn Fn() -> BoxFuture<'static, Value> + Send + Sync>,
    /// The settings line of the banner.
    pub settings: String,
}

impl<Q: DeadLetterOps + 'static> Console for LocalConsole<Q> {
    fn stats(&self) -> BoxFuture<'static, Value> {
        (self.stats)()
    }

    fn redrive(&self) -> BoxFuture<'static, Result<u64, QueueOpError>> {
        let queue = self.queue.clone();
        Box::pin(async move { queue.dlq_redrive().await })
    }

    fn dead_letters(&self) -> BoxFuture<'static, Result<Value, QueueOpError>> {
        let (queue, poller) = (self.queue.clone(), self.poller.clone());
        Box::pin(async move {
            let letters = queue.dlq_list(DLQ_LISTED).await?;
            let listed: Vec<Value> = letters
                .into_iter()
                .map(|l| {
                    json!({
                        "message_id": l.message_id,
                        "order_id": l.order_id,
                        "receive_count": l.receive_count,
                        "last_error": poller.last_error(&l.message_id),
                    })
                })
                .collect();
            Ok(json!({ "messages": listed, "limit": DLQ_LISTED }))
        })
    }

    fn locate(&self, order_id: String) -> BoxFuture<'static, Option<Located>> {
        let queue = self.queue.clone();
        Box::pin(async move { queue.locate(&order_id).await })
    }

    fn dashboard(&self, since: Option<u64>) -> BoxFuture<'static, Value> {
        let (stats, dashboard, settings) = (
            (self.stats)(),
            self.dashboard.clone(),
            self.settings.clone(),
        );
        Box::pin(async move {
            json!({
                "refresh_ms": REFRESH.as_millis() as u64,
                "stats": stats.await,
                "points": dashboard.points_since(since),
                "alarms": dashboard.alarm_states(),
                "settings": settings,
            })
        })
    }
}

#[cfg(test)]
mod tests;
