//! Helpers shared by the end-to-end tests.

use std::time::Duration;

use orders_cli::pipeline::LocalPipeline;
use serde_json::Value;

/// Polls the pipeline's counters until `done` holds, failing after `limit` with the last
/// counters (polling an eventual state, not a fixed wait).
pub async fn wait_for(
    pipeline: &LocalPipeline,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let give_up = tokio::time::Instant::now() + limit;
    loop {
        let stats = pipeline.stats().await;
        if done(&stats) {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "timed out waiting for {what}; last stats: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
