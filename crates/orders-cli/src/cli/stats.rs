//! `orders stats`: the counters of a running `orders local`, or of the deployed queues and
//! table.

use crate::pipeline;
use crate::queue::DeadLetterOps;

use super::*;

pub(super) async fn run(mut args: StatsArgs) -> anyhow::Result<()> {
    args.target = args.target.resolve().await?;
    let value = if args.target.aws {
        let sdk = orders_platform::config::sdk_config().await;
        let ops = args.target.sqs_ops(&sdk)?;
        let (queue, dlq) = ops.counts().await?;
        let stored = match &args.target.table {
            Some(t) => {
                Some(crate::table::count_items(&aws_sdk_dynamodb::Client::new(&sdk), t).await?)
            }
            None => None,
        };
        serde_json::json!({
            "ingest": "per function instance: see the 202 responses' debug counters and the function logs",
            "metrics": format!(
                "in CloudWatch, namespace {} (METRICS_NAMESPACE), dimensions Service and Function: see the README's Observability section",
                <orders_platform::metrics::MetricsConfig as orders_platform::config::FromEnv>::from_env().unwrap_or_default().namespace
            ),
            "queue": queue, "dlq": dlq, "stored_orders": stored,
        })
    } else {
        let url = format!("{}/_local/stats", args.url.trim_end_matches('/'));
        reqwest::get(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e} (is `orders local` running?)"))?
            .json()
            .await?
    };
    if args.summary {
        println!("{}", pipeline::summary_line(&value));
    } else {
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(())
}
