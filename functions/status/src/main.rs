//! Status Lambda: wiring only. The handler lives in the library; what every function does
//! around it, in `orders_platform::lambda`.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::config::{FromEnv as _, StatusConfig};
use orders_platform::lambda::{self, Error, LambdaEvent};
use status::Status;

fn main() -> Result<(), Error> {
    lambda::run(
        |sdk| async move {
            let config = StatusConfig::from_env()?;
            let store = DynamoOrderStore::from_sdk_config(&sdk, config.table_name);
            store.warm_up().await;
            Ok(Status::new(store, config.retry_after_seconds))
        },
        |status, event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok(status.handle(&event.payload).await)
        },
    )
}
