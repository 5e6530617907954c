//! Ingest Lambda: wiring only. The handler lives in the library.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use ingest::Ingest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orders::adapters::sqs::SqsOrderQueue;
use orders::config::{sdk_config, IngestConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orders::telemetry::init();
    let config = IngestConfig::from_env()?;
    let queue = SqsOrderQueue::from_sdk_config(&sdk_config().await, config.queue_url);
    queue.warm_up().await;
    let ingest = &Ingest::new(queue, config.retry_after_seconds);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(ingest.handle(&event.payload).await)
        },
    ))
    .await
}
