//! Measurement: latencies in an HdrHistogram (microseconds, 3 significant digits, so every
//! percentile is within 0.1 % of the true value), and counts of answers by outcome; the
//! same, second by second, for the report's charts ([`PerSecond`]); and the percentile
//! curve of a whole distribution ([`Latency::curve`]).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded exactly: one hour (longer values are clamped to it).
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency distribution.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty distribution.
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    /// Records one latency (below 1 µs counts as 1 µs, above an hour as an hour).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Adds another distribution's values.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// The distribution at each quantile of `grid` (see [`percentile_grid`]): HdrHistogram's
    /// percentile distribution, in milliseconds. Empty when nothing was recorded.
    pub fn curve(&self, grid: &[f64]) -> Vec<CurvePoint> {
        let h = &self.histogram;
        if h.is_empty() {
            return Vec::new();
        }
        grid.iter()
            .map(|&q| CurvePoint {
                percentile: q * 100.0,
                ms: h.value_at_quantile(q) as f64 / 1000.0,
            })
            .collect()
    }

    /// The summary: p50, p90, p99, p99.9, max (and min, mean), in milliseconds.
    pub fn percentiles(&self) -> Percentiles {
        let h = &self.histogram;
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p99_9_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Percentiles of a [`Latency`], in milliseconds (HdrHistogram's "highest equivalent
/// value": at most 0.1 % above the recorded value). All zero when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p99_9_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// What one attempt (one HTTP request) came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 202: the order is queued.
    Accepted,
    /// 400: the API refused the order as invalid.
    BadRequest,
    /// 429: throttled (the stage, or an API key's throttle or quota).
    Throttled,
    /// Any 5xx.
    ServerError,
    /// Any other status (403 without a valid API key, 409 key in use, 413, 415, 422...).
    OtherStatus,
    /// No answer within the request timeout.
    Timeout,
    /// No connection, or it broke before a complete answer.
    ConnectionError,
}

impl Outcome {
    /// The outcome of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        match status {
            202 => Outcome::Accepted,
            400 => Outcome::BadRequest,
            429 => Outcome::Throttled,
            500..=599 => Outcome::ServerError,
            _ => Outcome::OtherStatus,
        }
    }

    /// Whether it is an error in a load test's sense: neither an acceptance nor a
    /// validation answer.
    pub fn is_error(self) -> bool {
        !matches!(self, Outcome::Accepted | Outcome::BadRequest)
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// 202.
    #[serde(rename = "202")]
    pub accepted: u64,
    /// 400.
    #[serde(rename = "400")]
    pub bad_request: u64,
    /// 429.
    #[serde(rename = "429")]
    pub throttled: u64,
    /// 500-599.
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// Any other status.
    pub other_status: u64,
    /// No answer in time.
    pub timeout: u64,
    /// Connection refused, reset or broken.
    pub connection_error: u64,
}

impl OutcomeCounts {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Accepted => &mut self.accepted,
            Outcome::BadRequest => &mut self.bad_request,
            Outcome::Throttled => &mut self.throttled,
            Outcome::ServerError => &mut self.server_error,
            Outcome::OtherStatus => &mut self.other_status,
            Outcome::Timeout => &mut self.timeout,
            Outcome::ConnectionError => &mut self.connection_error,
        };
        *slot += 1;
    }

    /// Everything counted.
    pub fn total(&self) -> u64 {
        self.accepted
            + self.bad_request
            + self.throttled
            + self.server_error
            + self.other_status
            + self.timeout
            + self.connection_error
    }

    /// Answers that came back with an HTTP status.
    pub fn answered(&self) -> u64 {
        self.total() - self.timeout - self.connection_error
    }
}

/// Ticks per halving of the distance to 100 %: HdrHistogram's own default for its
/// percentile distribution (`outputPercentileDistribution`, `iter_quantiles(5)`).
pub const CURVE_TICKS_PER_HALF: u32 = 5;

/// The quantiles of a percentile curve over `count` values: 0, then 5 per halving of the
/// distance to 1 (0.5, 0.75, 0.875... as HdrHistogram's `iter_quantiles(5)` steps), as long
/// as `count` values can tell them apart (1/(1-q) up to `count`), then 1 (the maximum).
/// One grid for two distributions makes their curves share their x values.
pub fn percentile_grid(count: u64) -> Vec<f64> {
    if count == 0 {
        return Vec::new();
    }
    let mut grid = Vec::new();
    for i in 0.. {
        let q = 1.0 - 0.5f64.powf(f64::from(i) / f64::from(CURVE_TICKS_PER_HALF));
        if 1.0 / (1.0 - q) > count as f64 {
            break;
        }
        grid.push(q);
    }
    grid.push(1.0);
    grid
}

/// One point of a percentile curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The percentile, 0 to 100 (100: the maximum).
    pub percentile: f64,
    /// The value at that percentile, in milliseconds.
    pub ms: f64,
}

/// Per-second histograms keep 2 significant digits (1 %: plenty for a chart) and grow with
/// the largest value recorded: a few KB a second of run, where a 3-digit histogram up to an
/// hour takes ~190 KB.
const SECOND_SIGFIG: u8 = 2;

#[derive(Debug, Clone, Default)]
struct Second {
    orders: u64,
    latency: Option<Histogram<u32>>,
    service_time: Option<Histogram<u32>>,
    responses: OutcomeCounts,
    retries: u64,
}

fn record_into(slot: &mut Option<Histogram<u32>>, value: Duration) {
    let h = slot.get_or_insert_with(|| {
        Histogram::new(SECOND_SIGFIG).expect("2 significant digits are valid")
    });
    let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
    // `record`, not `saturating_record`: that one clamps to the current top instead of
    // growing. It can only fail on a count above u32::MAX in one bucket of one second.
    let _ = h.record(micros.clamp(1, MAX_MICROS));
}

fn quantile_ms(h: &Option<Histogram<u32>>, q: f64) -> Option<f64> {
    h.as_ref()
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
}

/// The run second by second (second 0 starts with the run), for the report's charts.
/// Memory grows with the run's length, not with its rate: per second, two small
/// histograms and a few counters, created when the second gets its first value.
#[derive(Debug, Clone, Default)]
pub struct PerSecond {
    seconds: Vec<Second>,
}

impl PerSecond {
    fn at(&mut self, offset: Duration) -> &mut Second {
        let i = usize::try_from(offset.as_secs()).unwrap_or(usize::MAX);
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, Second::default);
        }
        &mut self.seconds[i]
    }

    /// One order, in the second of its *intended* send time (`intended`, from the start),
    /// with its latency from that time to its final answer.
    pub fn record_order(&mut self, intended: Duration, latency: Duration) {
        let s = self.at(intended);
        s.orders += 1;
        record_into(&mut s.latency, latency);
    }

    /// One attempt, in the second it was actually *sent* (`sent`, from the start): its
    /// outcome, its service time (send to answer), and whether it was a retry.
    pub fn record_attempt(
        &mut self,
        sent: Duration,
        outcome: Outcome,
        took: Duration,
        retry: bool,
    ) {
        let s = self.at(sent);
        s.responses.add(outcome);
        s.retries += u64::from(retry);
        record_into(&mut s.service_time, took);
    }

    /// One entry per second from the start to the last second that holds anything (empty
    /// seconds included: zero counts, no percentiles).
    pub fn series(&self) -> Vec<SecondStats> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| SecondStats {
                second: i as u64,
                orders: s.orders,
                latency_p50_ms: quantile_ms(&s.latency, 0.50),
                latency_p99_ms: quantile_ms(&s.latency, 0.99),
                attempts: s.responses.total(),
                service_time_p50_ms: quantile_ms(&s.service_time, 0.50),
                service_time_p99_ms: quantile_ms(&s.service_time, 0.99),
                responses: s.responses,
                retries: s.retries,
            })
            .collect()
    }
}

/// One second of the run. Two clocks: the orders and their latency are counted in the
/// second each order was *due* (its intended send time, so a stall shows where the orders
/// it delayed were due); the attempts, their answers, service times and retries in the
/// second each attempt was *sent*. Percentiles are within 1 % (2 significant digits), and
/// `None` (JSON `null`) in a second without values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondStats {
    /// Seconds from the start of the run to the start of this one.
    pub second: u64,
    /// Orders due in this second.
    pub orders: u64,
    /// Median latency, from intended send to final answer, of the orders due in it.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub latency_p99_ms: Option<f64>,
    /// Attempts sent in this second (first attempts and retries).
    pub attempts: u64,
    /// Median service time (actual send to answer) of the attempts sent in it.
    pub service_time_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub service_time_p99_ms: Option<f64>,
    /// The answers to the attempts sent in it, by outcome (as the run's `responses`).
    pub responses: OutcomeCounts,
    /// Of the attempts sent in it, the retries.
    pub retries: u64,
}

#[cfg(test)]
mod tests;
