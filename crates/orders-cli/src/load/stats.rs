//! Measurement: latencies in an HdrHistogram (microseconds, 3 significant digits, so every
//! percentile is within 0.1 % of the true value), and counts of answers by outcome.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// `expected` within HdrHistogram's precision (3 significant digits: 0.1 %), plus
    /// one unit of the value's bucket.
    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 0.001
    }

    #[test]
    fn a_uniform_distribution_has_the_textbook_percentiles() {
        let mut l = Latency::new();
        for v in 1..=1000 {
            l.record(ms(v));
        }
        let p = l.percentiles();
        assert_eq!(p.count, 1000);
        assert!(close(p.p50_ms, 500.0), "{p:?}");
        assert!(close(p.p90_ms, 900.0), "{p:?}");
        assert!(close(p.p99_ms, 990.0), "{p:?}");
        assert!(close(p.p99_9_ms, 999.0), "{p:?}");
        assert!(close(p.max_ms, 1000.0), "{p:?}");
        assert!(close(p.min_ms, 1.0), "{p:?}");
        assert!(close(p.mean_ms, 500.5), "{p:?}");
    }

    #[test]
    fn a_constant_distribution_has_every_percentile_equal() {
        let mut l = Latency::new();
        for _ in 0..10_000 {
            l.record(Duration::from_micros(12_345));
        }
        let p = l.percentiles();
        for v in [p.min_ms, p.p50_ms, p.p90_ms, p.p99_ms, p.p99_9_ms, p.max_ms] {
            assert!(close(v, 12.345), "{p:?}");
        }
    }

    #[test]
    fn a_long_tail_shows_in_the_high_percentiles_only() {
        // 99 % fast (10 ms), 0.9 % slow (1 s), 0.1 % very slow (5 s): the shape a
        // coordinated-omission-blind tool hides.
        let mut l = Latency::new();
        for _ in 0..9900 {
            l.record(ms(10));
        }
        for _ in 0..90 {
            l.record(ms(1000));
        }
        for _ in 0..10 {
            l.record(ms(5000));
        }
        let p = l.percentiles();
        assert!(close(p.p50_ms, 10.0), "{p:?}");
        assert!(close(p.p90_ms, 10.0), "{p:?}");
        assert!(close(p.p99_ms, 10.0), "{p:?}");
        assert!(close(p.p99_9_ms, 1000.0), "{p:?}");
        assert!(close(p.max_ms, 5000.0), "{p:?}");
        assert!(close(p.mean_ms, 9.9 + 9.0 + 5.0), "{p:?}");
    }

    #[test]
    fn an_exponential_distribution_matches_its_quantile_function() {
        // Deterministic exponential samples with a mean of 100 ms: quantile q is
        // -100 ln(1 - q). Drawn at evenly spaced q, so the percentiles are exact.
        let mut l = Latency::new();
        let n = 100_000;
        for i in 0..n {
            let q = (i as f64 + 0.5) / n as f64;
            l.record(Duration::from_secs_f64(-0.1 * (1.0 - q).ln()));
        }
        let p = l.percentiles();
        let expect = |q: f64| -100.0 * (1.0f64 - q).ln();
        for (actual, q) in [
            (p.p50_ms, 0.5),
            (p.p90_ms, 0.9),
            (p.p99_ms, 0.99),
            (p.p99_9_ms, 0.999),
        ] {
            assert!(
                (actual - expect(q)).abs() <= expect(q) * 0.002 + 0.01,
                "q={q}: {actual} vs {}",
                expect(q)
            );
        }
        assert!((p.mean_ms - 100.0).abs() < 0.5, "{p:?}");
    }

    #[test]
    fn extremes_are_clamped_not_lost_and_empty_is_zero() {
        assert_eq!(Latency::new().percentiles(), Percentiles::default());
        let mut l = Latency::new();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(7200));
        let p = l.percentiles();
        assert_eq!(p.count, 2);
        assert!(close(p.min_ms, 0.001), "{p:?}");
        assert!(close(p.max_ms, 3_600_000.0), "{p:?}");
    }

    #[test]
    fn merging_adds_the_values() {
        let (mut a, mut b) = (Latency::new(), Latency::new());
        for v in 1..=500 {
            a.record(ms(v));
        }
        for v in 501..=1000 {
            b.record(ms(v));
        }
        a.merge(&b);
        let p = a.percentiles();
        assert_eq!(p.count, 1000);
        assert!(close(p.p50_ms, 500.0), "{p:?}");
    }

    #[test]
    fn outcomes_are_counted_by_status_class() {
        let mut c = OutcomeCounts::default();
        for status in [202, 202, 400, 429, 500, 503, 504, 403, 409] {
            c.add(Outcome::of_status(status));
        }
        c.add(Outcome::Timeout);
        c.add(Outcome::ConnectionError);
        assert_eq!(
            (
                c.accepted,
                c.bad_request,
                c.throttled,
                c.server_error,
                c.other_status
            ),
            (2, 1, 1, 3, 2)
        );
        assert_eq!((c.total(), c.answered()), (11, 9));
        assert!(!Outcome::Accepted.is_error() && !Outcome::BadRequest.is_error());
        assert!(Outcome::Throttled.is_error() && Outcome::Timeout.is_error());
    }
}
