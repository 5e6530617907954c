//! Ingest Lambda: wiring only. The handler lives in the library.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use ingest::Ingest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orders::adapters::idempotency::DynamoIdempotencyStore;
use orders::adapters::sqs::SqsOrderQueue;
use orders::config::{sdk_config, IngestConfig};
use orders::ports::{IdempotencyStore, OrderQueue};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orders::telemetry::init();
    let config = IngestConfig::from_env()?;
    let sdk = sdk_config().await;
    let queue = SqsOrderQueue::from_sdk_config(&sdk, config.queue_url);
    queue.warm_up().await;
    let ingest = Ingest::new(queue, config.retry_after_seconds);
    match config.idempotency_table {
        Some(table) => {
            serve(ingest.with_idempotency(DynamoIdempotencyStore::from_sdk_config(&sdk, table)))
                .await
        }
        None => serve(ingest).await,
    }
}

async fn serve<Q: OrderQueue, I: IdempotencyStore>(ingest: Ingest<Q, I>) -> Result<(), Error> {
    let ingest = &ingest;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(ingest.handle(&event.payload).await)
        },
    ))
    .await
}
