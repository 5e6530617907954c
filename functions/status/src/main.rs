//! Status Lambda: wiring only. The handler lives in the library.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orders::adapters::dynamodb::DynamoOrderStore;
use orders::config::{sdk_config, StatusConfig};
use status::Status;

fn main() -> Result<(), Error> {
    // Before the runtime starts any thread: it sets an environment variable.
    orders::config::pin_ca_bundle();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    orders::telemetry::init();
    let config = StatusConfig::from_env()?;
    let store = DynamoOrderStore::from_sdk_config(&sdk_config().await, config.table_name);
    store.warm_up_reads().await;
    let status = &Status::new(store, config.retry_after_seconds);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(status.handle(&event.payload).await)
        },
    ))
    .await
}
