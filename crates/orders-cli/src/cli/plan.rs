//! `orders plan`: the flags made into settings and a target, then the plan (or a sweep).

use std::time::Duration;

use crate::plan::{self as p, Assumptions, Environment, PlanError, Target};
use crate::settings::LocalSettings;

use super::*;

/// Sampled rates of a sweep (geometric steps).
const SWEEP_POINTS: usize = 9;

pub(super) fn run(args: PlanArgs) -> anyhow::Result<()> {
    let usage = |e: PlanError| UsageError(e.to_string());
    let rates = parse_rates(&args.rate).map_err(usage)?;
    let local = LocalSettings::for_environment(args.env.as_deref())?;
    // For orders local: its emulated limits (its stage throttle and account concurrency,
    // as `orders local --env` would start with them).
    let mut s = if args.local {
        local.emulated()
    } else {
        local.pipeline
    };
    let set = |v: Option<u32>, flag: &'static str, min: u32| -> Result<Option<u32>, PlanError> {
        match v {
            Some(n) if n < min => Err(PlanError {
                flag,
                message: format!("{n} is below its minimum, {min}"),
            }),
            other => Ok(other),
        }
    };
    if let Some(v) = set(args.batch_size, "--batch-size", 1).map_err(usage)? {
        s.batch_size = v;
    }
    if let Some(v) = args.batching_window {
        s.batching_window = Duration::from_secs(v);
    }
    if let Some(v) = set(args.max_concurrency, "--max-concurrency", 2).map_err(usage)? {
        s.maximum_concurrency = v;
    }
    if let Some(v) = set(args.account_concurrency, "--account-concurrency", 1).map_err(usage)? {
        s.account_concurrency = v;
    }
    if let Some(v) = set(args.api_rate, "--api-rate", 1).map_err(usage)? {
        s.api_rate_limit = v;
    }
    if let Some(v) = args.worker_timeout {
        s.worker_timeout = Duration::from_secs(v);
    }
    if let Some(v) = args.visibility_timeout {
        s.visibility_timeout = Duration::from_secs(v);
    }
    let delay = match &args.delay {
        Some(spec) => DelaySpec::parse(spec).map_err(|message| {
            usage(PlanError {
                flag: "--delay",
                message: format!("{message} (give 0, 250 or 2000-5000, in ms)"),
            })
        })?,
        None => s.processing_delay,
    };
    s.processing_delay = delay;
    let mut assumptions = Assumptions::default();
    if let Some(ms) = args.ingest_ms {
        assumptions.ingest_ms = positive(ms, "--ingest-ms").map_err(usage)?;
    }
    if let Some(ms) = args.write_ms {
        assumptions.write_ms = positive(ms, "--write-ms").map_err(usage)?;
    }
    let environment = if args.local {
        Environment::Local
    } else {
        Environment::Aws
    };
    // Settings that break the timing rules are refused, as `orders local` and the template
    // tests refuse them: a plan for a stack that would lose orders is no plan.
    let broken = s.violations();
    if !broken.is_empty() {
        let explained: Vec<String> = broken
            .iter()
            .map(|rule| format!("{rule} (change {})", flags_for(rule)))
            .collect();
        return Err(UsageError(format!(
            "these settings break the timing rules (README \"Timing rules, and why\"): {}",
            explained.join("; ")
        ))
        .into());
    }
    let settings_from = args
        .env
        .as_deref()
        .map_or("template.yaml's defaults".to_owned(), |e| {
            format!("samconfig.toml [{e}]")
        });
    // The cost per order depends on the batch and the delay, not on the rate: one run of
    // the cost model, scaled to each rate's hour.
    let cost = (environment == Environment::Aws)
        .then(|| p::quotas::cost(1.0, s.batch_size, &spec(delay)).ok())
        .flatten();
    let plans: Vec<p::Plan> = rates
        .iter()
        .map(|&rate| {
            let mut plan = p::plan(&s, &Target { rate, delay }, assumptions, environment);
            plan.cost = cost.clone().map(|mut c| {
                c.per_hour = c.per_million_with_logs * rate * 3600.0 / 1e6;
                c
            });
            plan
        })
        .collect();
    match (args.json, plans.as_slice()) {
        (true, [one]) => println!("{}", serde_json::to_string_pretty(one)?),
        (true, many) => println!("{}", serde_json::to_string_pretty(many)?),
        (false, [one]) => print!("{}", p::render_table(one, &settings_from)),
        (false, many) => print!("{}", p::render_sweep(many, &settings_from)),
    }
    Ok(())
}

/// `2000-5000` back, as bench/cost.py and PROCESSING_DELAY_MS take it.
fn spec(delay: DelaySpec) -> String {
    match delay {
        DelaySpec::None => "0".into(),
        DelaySpec::Fixed(ms) => ms.to_string(),
        DelaySpec::Range(lo, hi) => format!("{lo}-{hi}"),
    }
}

fn positive(v: f64, flag: &'static str) -> Result<f64, PlanError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(PlanError {
            flag,
            message: format!("{v} must be a number of ms above 0"),
        })
    }
}

/// `100` or `10..1000` (a sweep of [`SWEEP_POINTS`] geometric steps).
fn parse_rates(raw: &str) -> Result<Vec<f64>, PlanError> {
    let number = |s: &str| {
        s.trim().parse::<f64>().map_err(|_| PlanError {
            flag: "--rate",
            message: format!("{s:?} is not a number of orders per second"),
        })
    };
    match raw.split_once("..") {
        None => {
            let rate = number(raw)?;
            p::check_rate(rate)?;
            Ok(vec![rate])
        }
        Some((lo, hi)) => {
            let (lo, hi) = (number(lo)?, number(hi)?);
            p::check_rate(lo)?;
            p::check_rate(hi)?;
            if lo >= hi {
                return Err(PlanError {
                    flag: "--rate",
                    message: format!("the range {raw} must go from low to high (10..1000)"),
                });
            }
            let step = (hi / lo).powf(1.0 / (SWEEP_POINTS - 1) as f64);
            Ok((0..SWEEP_POINTS)
                .map(|i| {
                    let r = lo * step.powi(i as i32);
                    if i == SWEEP_POINTS - 1 {
                        hi
                    } else {
                        (r * 100.0).round() / 100.0
                    }
                })
                .collect())
        }
    }
}

/// The flags that set what a broken timing rule (`PipelineSettings::violations`) names.
fn flags_for(rule: &str) -> &'static str {
    if rule.starts_with("VisibilityTimeout") {
        "--visibility-timeout, --worker-timeout or --batching-window"
    } else if rule.starts_with("maxReceiveCount") {
        "the environment's MaxReceiveCount"
    } else if rule.starts_with("worker Timeout") {
        "--worker-timeout or --delay"
    } else if rule.starts_with("MaximumConcurrency") {
        "--max-concurrency"
    } else if rule.starts_with("BatchSize") {
        "--batch-size or --batching-window"
    } else if rule.starts_with("the worker's") {
        "--max-concurrency or --account-concurrency"
    } else {
        "--api-rate, --account-concurrency or --max-concurrency"
    }
}
