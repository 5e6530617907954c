//! The AWS limits the plan checks, each beside the documentation page it comes from, and
//! the cost model (bench/cost.py, run for the plan's settings).

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// API Gateway: requests per second per account and Region, across every API (can be
/// raised: Service Quotas L-8A5B8E43).
pub const API_ACCOUNT_RPS: f64 = 10_000.0;
/// API Gateway: the account's burst (a token bucket of 5,000 requests; not adjustable).
pub const API_ACCOUNT_BURST: u32 = 5_000;
/// Where the two above come from.
pub const API_QUOTAS: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html";
/// API Gateway's stage throttling (a token bucket; 429 beyond it).
pub const API_THROTTLING: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html";
/// Lambda's account concurrency (1,000 by default; new accounts may start lower) and
/// reserved concurrency.
pub const LAMBDA_CONCURRENCY: &str =
    "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html";
/// The SQS event source: at most 1,000 concurrent batches per mapping.
pub const ESM_MAX_BATCHES: f64 = 1_000.0;
/// The SQS event source starts with 5 concurrent batches ...
pub const ESM_START_BATCHES: f64 = 5.0;
/// ... and adds up to 300 a minute while messages remain.
pub const ESM_RAMP_PER_MINUTE: f64 = 300.0;
/// Where the three above come from.
pub const ESM_SCALING: &str =
    "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html";
/// SQS standard queue: about 120,000 messages in flight (received, not deleted).
pub const SQS_IN_FLIGHT: f64 = 120_000.0;
/// Where it comes from.
pub const SQS_QUOTAS: &str =
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html";
/// DynamoDB on-demand: a new table takes up to 4,000 write request units a second at once.
pub const DDB_NEW_TABLE_WRU: f64 = 4_000.0;
/// DynamoDB: each partition takes up to 1,000 write request units a second.
pub const DDB_PARTITION_WRU: u32 = 1_000;
/// Where the two above come from.
pub const DDB_ON_DEMAND: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html";

/// The cost of the plan's configuration, from the project's one cost model (bench/cost.py).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Dollars per million orders, the components (API, Lambda, SQS, DynamoDB).
    pub per_million: f64,
    /// The same with CloudWatch Logs and X-Ray.
    pub per_million_with_logs: f64,
    /// Dollars per hour at the plan's rate (with logs).
    #[serde(default)]
    pub per_hour: f64,
    /// The prices' date and source, as cost.py states them.
    pub prices: String,
}

/// Runs bench/cost.py (next to this crate's sources) for these settings, with the warm
/// durations it measured (not the plan's ingest figure, which includes the network and is
/// not billed); `Err` says why it could not (no python3, not a checkout of the repository).
pub fn cost(rate: f64, batch_size: u32, delay: &str) -> Result<Cost, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/cost.py");
    if !script.is_file() {
        return Err(format!(
            "{} is not here (not a checkout of the repository)",
            script.display()
        ));
    }
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "--json",
            "--batch-size",
            &batch_size.to_string(),
            "--delay",
            delay,
        ])
        .output()
        .map_err(|e| format!("python3 could not run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut cost: Cost = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} printed something else than its JSON: {e}",
            script.display()
        )
    })?;
    cost.per_hour = cost.per_million_with_logs * rate * 3600.0 / 1e6;
    Ok(cost)
}
