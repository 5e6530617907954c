//! Ingest Lambda: wiring only. The handler lives in the library; what every function does
//! around it, in `orders_platform::lambda`.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use ingest::Ingest;
use orders_platform::adapters::idempotency::DynamoIdempotencyStore;
use orders_platform::adapters::sqs::SqsOrderQueue;
use orders_platform::config::{FromEnv as _, IngestConfig};
use orders_platform::lambda::{self, Error, LambdaEvent};

fn main() -> Result<(), Error> {
    lambda::run(
        |sdk| async move {
            let config = IngestConfig::from_env()?;
            let queue = SqsOrderQueue::from_sdk_config(&sdk, config.queue_url);
            queue.warm_up().await;
            let idempotency = config
                .idempotency_table
                .map(|table| DynamoIdempotencyStore::from_sdk_config(&sdk, table));
            Ok(Ingest::new(queue, config.retry_after_seconds)
                .with_optional_idempotency(idempotency))
        },
        |ingest, event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok(ingest.handle(&event.payload).await)
        },
    )
}
