//! The run's report: what was sent, how it was answered, how fast, and (with `--verify`)
//! where every accepted order went; as text or JSON, with the exit code.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::stats::{percentile_grid, CurvePoint, SecondStats};
use super::*;

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

impl LoadConfig {
    /// The schedule in words: `50/s`, `bursts of 20 every 2s`.
    pub fn schedule_text(&self) -> String {
        match self.schedule {
            Schedule::Rate { per_second, .. } => format!("{per_second}/s"),
            Schedule::Bursts { size, every, .. } => {
                format!("bursts of {size} every {}", human(every))
            }
        }
    }
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
    /// When the run started (UTC, RFC 3339).
    pub started_at: DateTime<Utc>,
    /// The run second by second: orders and their latency by intended send time, attempts,
    /// their answers, service times and retries by actual send time (see [`SecondStats`]).
    pub per_second: Vec<SecondStats>,
    /// The latency's percentile curve (from intended send), HdrHistogram's percentile
    /// distribution, on the same percentiles as `service_time_curve`.
    pub latency_curve: Vec<CurvePoint>,
    /// The service time's percentile curve (per attempt).
    pub service_time_curve: Vec<CurvePoint>,
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
    pub(super) fn new(
        options: &LoadOptions,
        base: &str,
        d: Driven,
        rec: Option<VerifyReport>,
    ) -> Self {
        let s = &options.schedule;
        let n = d.orders.sent as f64;
        let send_span = s.span() + d.final_send_lag;
        let grid = percentile_grid(d.latency.count().max(d.service_time.count()));
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
            started_at: d.started_at,
            per_second: d.per_second.series(),
            latency_curve: d.latency.curve(&grid),
            service_time_curve: d.service_time.curve(&grid),
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
        let schedule = c.schedule_text();
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
