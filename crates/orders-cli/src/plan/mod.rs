//! `orders plan`: capacity arithmetic for a target rate. For each component of the
//! pipeline, what the target needs, the limit it runs into, the headroom, and the rate at
//! which it saturates; the first limit the target exceeds, and the settings that lift it.
//!
//! Every limit comes from AWS's documentation, cited beside its number in [`quotas`]. The
//! same arithmetic, given `orders local`'s emulated limits ([`Environment::Local`]),
//! predicts what `orders local` stores (checked by `tests/plan_local.rs`).

pub mod quotas;
mod render;

use std::time::Duration;

use orders_platform::config::DelaySpec;
use orders_template::PipelineSettings;
use serde::Serialize;

pub use render::{render_sweep, render_table};

/// What is planned for.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Orders per second.
    pub rate: f64,
    /// The worker's simulated processing time per order (`PROCESSING_DELAY_MS`).
    pub delay: DelaySpec,
}

/// Durations the arithmetic assumes (measured: bench/RESULTS.md; or given as flags).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assumptions {
    /// How long one API request holds an ingest execution, ms.
    pub ingest_ms: f64,
    /// One order's DynamoDB write in the worker, ms.
    pub write_ms: f64,
    /// Write request units per order (an item under 1 KB: 1; with an Idempotency-Key: 3).
    pub wru_per_order: f64,
}

impl Default for Assumptions {
    /// The template's planning figure for an API request (50 ms, what the timing rules use:
    /// the measured warm ingest is a few ms, plus AWS's network), a 10 ms PutItem (DynamoDB's
    /// single-digit-millisecond latency plus the SDK), and 1 WRU per order.
    fn default() -> Self {
        Self {
            ingest_ms: orders_template::API_REQUEST_PLANNING_DURATION.as_millis() as f64,
            write_ms: 10.0,
            wru_per_order: 1.0,
        }
    }
}

/// Where the plan is for: AWS (every quota), or `orders local` (only what it emulates: the
/// stage throttle, the account's executions, the event source's concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// A deployed stack.
    Aws,
    /// `orders local`'s emulation.
    Local,
}

/// One component's line of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Short machine name (`worker_batches`).
    pub id: &'static str,
    /// What it is (`worker: concurrent batches (event source)`).
    pub component: String,
    /// What the target needs of it.
    pub need: f64,
    /// Its limit (`None`: nothing limits it here).
    pub limit: Option<f64>,
    /// The unit of `need` and `limit`.
    pub unit: &'static str,
    /// The rate (orders/s) at which the need reaches the limit.
    pub saturates_at: Option<f64>,
    /// Where the limit comes from: a template setting or an AWS page.
    pub source: String,
    /// Anything the numbers alone do not say.
    pub note: Option<String>,
}

impl Row {
    /// `limit / need`: above 1 there is room.
    pub fn headroom(&self) -> Option<f64> {
        self.limit.map(|l| {
            if self.need > 0.0 {
                l / self.need
            } else {
                f64::INFINITY
            }
        })
    }

    /// Whether the target needs more than the limit.
    pub fn exceeded(&self) -> bool {
        self.limit.is_some_and(|l| self.need > l)
    }
}

/// A setting that lifts the first limit, and what it gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lift {
    /// What to change (`MaximumConcurrency=40`, or a quota to request).
    pub change: String,
    /// The limited row's headroom after it.
    pub headroom: Option<f64>,
    /// The first limit after it, and its saturation rate.
    pub next_limit: Option<(String, f64)>,
    /// The timing rules the change alone would break (then it needs a companion change).
    pub breaks: Vec<String>,
}

/// The whole plan for one rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Orders per second planned for.
    pub rate: f64,
    /// The delay, as `PROCESSING_DELAY_MS` takes it.
    pub delay: String,
    /// AWS or orders local.
    pub environment: Environment,
    /// The durations assumed.
    pub assumptions: Assumptions,
    /// How long one worker invocation takes (a batch takes about its slowest record), ms.
    pub batch_ms: f64,
    /// Records per invocation at this rate (a full batch, or what the window collects).
    pub batch_records: f64,
    /// One row per component.
    pub rows: Vec<Row>,
    /// The row that saturates at the lowest rate, and that rate.
    pub first_limit: Option<(String, f64)>,
    /// Whether the target exceeds it.
    pub exceeded: bool,
    /// What the pipeline sustains at most: the first limit's saturation rate.
    pub sustained: f64,
    /// Orders per second the API accepts at this target (the stage throttle, the API
    /// account quota and the ingest's executions cap it).
    pub accepted: f64,
    /// Orders per second the worker stores in steady state: the accepted rate, or less when
    /// the worker's executions (its event source's concurrency, or what the account's
    /// executions leave it beside the ingest's) cannot keep up; the queue then grows by
    /// `accepted - stored` a second, and nothing is lost.
    pub stored: f64,
    /// What caps `stored`: the row that binds (`worker_batches`, `account_executions`,
    /// `api_stage`...), or `target` when nothing does.
    pub stored_limited_by: String,
    /// Settings that lift the first limit.
    pub lifts: Vec<Lift>,
    /// The timing rules the settings break (each one a reason not to deploy them).
    pub timing: Vec<String>,
    /// Cost at this rate, from bench/cost.py (`None` where it could not run).
    pub cost: Option<quotas::Cost>,
}

/// Why a plan cannot be made: names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct PlanError {
    /// The flag at fault (`--rate`).
    pub flag: &'static str,
    /// What is wrong and what it takes.
    pub message: String,
}

/// Checks a target before any arithmetic: a rate must be a positive number.
pub fn check_rate(rate: f64) -> Result<(), PlanError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(())
    } else {
        Err(PlanError {
            flag: "--rate",
            message: format!(
                "{rate} is not a rate: give orders per second above 0 (or a range, 10..1000)"
            ),
        })
    }
}

/// How long a worker invocation with `records` records takes: the records run concurrently
/// (up to the worker's `MAX_CONCURRENT_RECORDS`), so a batch takes about its slowest
/// record: the expected maximum of `records` uniform delays, lo + (hi - lo) x n / (n + 1),
/// plus one write (the same formula as bench/cost.py's `worker_batch_ms`).
pub fn batch_ms(delay: DelaySpec, records: f64, write_ms: f64) -> f64 {
    let waves = (records / worker::MAX_CONCURRENT_RECORDS as f64)
        .ceil()
        .max(1.0);
    let per_wave = records / waves;
    let longest = match delay {
        DelaySpec::None => 0.0,
        DelaySpec::Fixed(ms) => ms as f64,
        DelaySpec::Range(lo, hi) => lo as f64 + (hi - lo) as f64 * per_wave / (per_wave + 1.0),
    };
    waves * (longest + write_ms)
}

/// The plan for `target` under `settings`.
pub fn plan(
    settings: &PipelineSettings,
    target: &Target,
    assumptions: Assumptions,
    environment: Environment,
) -> Plan {
    let mut plan = rows(settings, target, assumptions, environment);
    plan.lifts = lifts(settings, target, assumptions, environment, &plan);
    plan
}

fn rows(s: &PipelineSettings, target: &Target, a: Assumptions, environment: Environment) -> Plan {
    use quotas::*;
    let rate = target.rate;
    let window = s.batching_window.as_secs_f64();
    let full = f64::from(s.batch_size.max(1));
    // Without a window, a poller takes what is there: at a high rate a full batch; the
    // arithmetic assumes full batches (the conservative side for throughput). With a
    // window, a batch holds what arrives within it, up to BatchSize.
    let records = if window > 0.0 {
        (rate * window).clamp(1.0, full)
    } else {
        full
    };
    let batch_ms = batch_ms(target.delay, records, a.write_ms);
    let batch_s = batch_ms / 1000.0;
    let ingest_s = a.ingest_ms / 1000.0;
    let per_order_batches = batch_s / records;
    let mut rows = Vec::new();
    let mut push = |id,
                    component: &str,
                    per_order: f64,
                    limit: Option<f64>,
                    unit,
                    source: String,
                    note: Option<String>| {
        // A limit orders local does not emulate (off) is carried as u32::MAX: no limit.
        let limit = limit.filter(|&l| l < f64::from(u32::MAX / 2));
        rows.push(Row {
            id,
            component: component.to_owned(),
            need: rate * per_order,
            limit,
            unit,
            saturates_at: limit.map(|l| l / per_order),
            source,
            note,
        });
    };
    if environment == Environment::Aws {
        push(
            "api_account",
            "API Gateway: the account's requests per second (all APIs, per Region)",
            1.0,
            Some(API_ACCOUNT_RPS),
            "requests/s",
            API_QUOTAS.into(),
            Some(format!(
                "plus a burst of {API_ACCOUNT_BURST} requests; 2,500/s in some newer Regions"
            )),
        );
    }
    push(
        "api_stage",
        "API Gateway: the stage's throttle",
        1.0,
        Some(f64::from(s.api_rate_limit)),
        "requests/s",
        format!(
            "ApiThrottlingRateLimit (burst {}); {API_THROTTLING}",
            s.api_burst_limit
        ),
        None,
    );
    let worker_limit = f64::from(s.maximum_concurrency.min(ESM_MAX_BATCHES as u32));
    let ingest_limit = f64::from(s.api_concurrency());
    push(
        "ingest_executions",
        "ingest: concurrent executions (rate x ingest duration)",
        ingest_s,
        Some(ingest_limit),
        "executions",
        match s.ingest_reserved_concurrency {
            Some(_) => "IngestReservedConcurrency".to_owned(),
            None => format!(
                "AccountConcurrency {} less the worker's {} ({LAMBDA_CONCURRENCY})",
                s.account_concurrency,
                s.worker_concurrency()
            ),
        },
        None,
    );
    push(
        "account_executions",
        "Lambda: the account's concurrent executions (ingest + worker)",
        ingest_s + per_order_batches,
        Some(f64::from(s.account_concurrency)),
        "executions",
        format!("AccountConcurrency: the account's quota (10 on a new account, 1,000 by default); {LAMBDA_CONCURRENCY}"),
        None,
    );
    let ramp_min = ((rate * per_order_batches - ESM_START_BATCHES) / ESM_RAMP_PER_MINUTE).max(0.0);
    push(
        "worker_batches",
        "worker: concurrent batches (rate x batch time / batch size)",
        per_order_batches,
        Some(worker_limit),
        "batches",
        format!("MaximumConcurrency {} (the event source's ceiling: 1,000); {ESM_SCALING}", s.maximum_concurrency),
        (environment == Environment::Aws && ramp_min >= 0.1).then(|| {
            format!("from {ESM_START_BATCHES} batches, +{ESM_RAMP_PER_MINUTE}/min: about {ramp_min:.1} min to reach")
        }),
    );
    if environment == Environment::Aws {
        push(
            "sqs_in_flight",
            "SQS: messages in flight (rate x time received but not deleted)",
            batch_s + window,
            Some(SQS_IN_FLIGHT),
            "messages",
            SQS_QUOTAS.into(),
            None,
        );
        push(
            "dynamodb_writes",
            "DynamoDB: write request units per second (on-demand)",
            a.wru_per_order,
            Some(DDB_NEW_TABLE_WRU),
            "WRU/s",
            DDB_ON_DEMAND.into(),
            Some(format!(
                "what a new on-demand table absorbs at once; it doubles its previous peak within 30 min, and each partition takes {DDB_PARTITION_WRU} WRU/s (order ids are random: writes spread)"
            )),
        );
    }
    let (first, at) = rows
        .iter()
        .filter_map(|r| r.saturates_at.map(|at| (r, at)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(r, at)| (r.id.to_owned(), at))
        .unzip();
    let sustained = at.map_or(rate, |at: f64| at);
    // Steady state at this offered rate. The worker holds the executions its batches need
    // (all of MaximumConcurrency only when it falls behind); the API gets what is left.
    // Either both fit in the account's executions (up to the account row's saturation
    // rate), or the worker runs at its ceiling and the API has the rest (the ingest row).
    let cap = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .and_then(|r| r.saturates_at)
            .unwrap_or(f64::INFINITY)
    };
    let both_fit = cap("account_executions");
    let api_side = if both_fit * per_order_batches <= worker_limit {
        (both_fit, "account_executions")
    } else {
        (cap("ingest_executions"), "ingest_executions")
    };
    let (accepted, accepted_by) = [
        (rate, "target"),
        (cap("api_stage"), "api_stage"),
        (cap("api_account"), "api_account"),
        api_side,
    ]
    .into_iter()
    .min_by(|x, y| x.0.total_cmp(&y.0))
    .unwrap_or((rate, "target"));
    let by_worker = worker_limit * records / batch_s;
    let (stored, stored_limited_by) = if by_worker < accepted {
        (by_worker, "worker_batches".to_owned())
    } else {
        (accepted, accepted_by.to_owned())
    };
    let mut timing = s.violations();
    let slowest = self::batch_ms(target.delay_max(), full, a.write_ms);
    let budget = s
        .worker_timeout
        .saturating_sub(s.deadline_margin)
        .as_secs_f64()
        * 1000.0;
    if slowest > budget {
        timing.push(format!(
            "a full batch takes up to {slowest:.0} ms > worker Timeout less the margin ({budget:.0} ms): records would be failed and retried"
        ));
    }
    Plan {
        rate,
        delay: target.delay.to_string(),
        environment,
        assumptions: a,
        batch_ms,
        batch_records: records,
        exceeded: rows.iter().any(Row::exceeded),
        first_limit: first.zip(at),
        sustained,
        accepted,
        stored,
        stored_limited_by,
        rows,
        lifts: Vec::new(),
        timing,
        cost: None,
    }
}

impl Target {
    /// The same target with every record at the longest delay (the timing rules' case).
    fn delay_max(&self) -> DelaySpec {
        match self.delay.max().as_millis() as u64 {
            0 => DelaySpec::None,
            ms => DelaySpec::Fixed(ms),
        }
    }
}

/// Batches of 100 records, collected for up to a second (so fewer worker executions per
/// order), with the visibility timeout the timing rules then ask for.
fn batching(s: &PipelineSettings) -> (String, PipelineSettings) {
    let mut t = s.clone();
    t.batch_size = 100;
    t.batching_window = Duration::from_secs(1);
    let mut change = "BatchSize=100 with MaximumBatchingWindowInSeconds=1".to_owned();
    let visibility = t.worker_timeout * 6 + t.batching_window;
    if t.visibility_timeout < visibility {
        t.visibility_timeout = visibility;
        change += &format!(" and QueueVisibilityTimeout={}", visibility.as_secs());
    }
    (change, t)
}

/// The settings that lift the first limit: each applied alone, with the limited row's
/// headroom after it and the next limit.
fn lifts(
    s: &PipelineSettings,
    target: &Target,
    a: Assumptions,
    environment: Environment,
    plan: &Plan,
) -> Vec<Lift> {
    let Some((first, _)) = &plan.first_limit else {
        return Vec::new();
    };
    let row = |id: &str| plan.rows.iter().find(|r| r.id == id);
    let need = |id: &str| row(id).map_or(0.0, |r| r.need);
    let with = 1.2; // 20% above the need: room for bursts and for the estimate's error
    let mut changes: Vec<(String, PipelineSettings)> = Vec::new();
    let mut text: Vec<String> = Vec::new();
    match first.as_str() {
        "api_stage" => {
            let mut t = s.clone();
            t.api_rate_limit = (target.rate * with).ceil() as u32;
            changes.push((format!("ApiThrottlingRateLimit={}", t.api_rate_limit), t));
        }
        "worker_batches" => {
            let wanted = ((need("worker_batches") * with).ceil() as u32).clamp(2, 1000);
            let mut t = s.clone();
            t.maximum_concurrency = wanted;
            if let Some(r) = t.worker_reserved_concurrency.as_mut() {
                *r = (*r).max(wanted);
            }
            changes.push((format!("MaximumConcurrency={wanted}"), t));
            changes.push(batching(s));
        }
        "account_executions" | "ingest_executions" => {
            let wanted = (need("account_executions") * with).ceil() as u32;
            let mut t = s.clone();
            t.account_concurrency = wanted.max(s.account_concurrency.saturating_add(1));
            changes.push((
                format!(
                    "AccountConcurrency={} (request the Lambda quota \"Concurrent executions\", L-B99A9384)",
                    t.account_concurrency
                ),
                t,
            ));
            changes.push(batching(s));
        }
        "api_account" => text.push(format!(
            "request the API Gateway quota \"Throttle rate\" (L-8A5B8E43) above {:.0}/s",
            target.rate * with
        )),
        "sqs_in_flight" => text.push(
            "shorten the time a message is in flight (smaller batches, no batching window), spread orders over more queues, or ask AWS Support to raise the in-flight quota".to_owned(),
        ),
        "dynamodb_writes" => text.push(format!(
            "give the table warm throughput (WarmThroughput.WriteUnitsPerSecond >= {:.0}), or ramp traffic up over 30 minutes (on-demand doubles its previous peak)",
            need("dynamodb_writes") * with
        )),
        _ => {}
    }
    // A change that leaves the API fewer executions than its stage lets through (a timing
    // rule) comes with the account's executions that make room for both.
    let companions: Vec<(String, PipelineSettings)> = changes
        .iter()
        .filter(|(_, t)| !t.violations().is_empty())
        .filter_map(|(change, t)| {
            let mut t = t.clone();
            let ingest = (need("ingest_executions") * with).ceil() as u32;
            t.account_concurrency = t
                .worker_concurrency()
                .saturating_add(ingest.max(t.api_peak_concurrency()));
            (t.account_concurrency > s.account_concurrency && t.violations().is_empty()).then(|| {
                (
                    format!(
                        "{change} with AccountConcurrency={} (request the Lambda quota \"Concurrent executions\", L-B99A9384)",
                        t.account_concurrency
                    ),
                    t,
                )
            })
        })
        .collect();
    changes.extend(companions);
    let mut out: Vec<Lift> = changes
        .into_iter()
        .map(|(change, settings)| {
            let after = rows(&settings, target, a, environment);
            Lift {
                change,
                headroom: after
                    .rows
                    .iter()
                    .find(|r| r.id == first)
                    .and_then(Row::headroom),
                next_limit: after.first_limit,
                breaks: settings.violations(),
            }
        })
        .collect();
    out.extend(text.into_iter().map(|change| Lift {
        change,
        headroom: None,
        next_limit: None,
        breaks: Vec::new(),
    }));
    out
}

#[cfg(test)]
mod tests;
