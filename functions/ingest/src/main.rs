//! Ingest Lambda: wiring only. The handler lives in the library.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use ingest::Ingest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orders::adapters::idempotency::DynamoIdempotencyStore;
use orders::adapters::sqs::SqsOrderQueue;
use orders::config::{sdk_config, IngestConfig};
use orders::metrics::{EmfMetrics, MetricsConfig};
use orders::ports::{IdempotencyStore, OrderQueue};

fn main() -> Result<(), Error> {
    // Before the runtime starts any thread: it sets an environment variable.
    orders::config::pin_ca_bundle();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    orders::telemetry::init();
    let config = IngestConfig::from_env()?;
    // CloudWatch Embedded Metric Format on stdout, flushed after every invocation.
    let metrics = EmfMetrics::stdout(MetricsConfig::from_env()?);
    metrics.install()?;
    let sdk = sdk_config().await;
    let queue = SqsOrderQueue::from_sdk_config(&sdk, config.queue_url);
    queue.warm_up().await;
    let ingest = Ingest::new(queue, config.retry_after_seconds);
    match config.idempotency_table {
        Some(table) => {
            let store = DynamoIdempotencyStore::from_sdk_config(&sdk, table);
            serve(ingest.with_idempotency(store), &metrics).await
        }
        None => serve(ingest, &metrics).await,
    }
}

async fn serve<Q: OrderQueue, I: IdempotencyStore>(
    ingest: Ingest<Q, I>,
    metrics: &EmfMetrics,
) -> Result<(), Error> {
    let ingest = &ingest;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            let response = ingest.handle(&event.payload).await;
            metrics.flush_or_log();
            Ok::<_, Error>(response)
        },
    ))
    .await
}
