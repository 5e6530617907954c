//! Worker Lambda: wiring only. The handler lives in the library; what every function does
//! around it, in `orders_platform::lambda`.

use aws_lambda_events::sqs::SqsEvent;
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::config::{FromEnv as _, WorkerConfig};
use orders_platform::lambda::{self, Error, LambdaEvent};
use worker::{deadline_from_ms, Worker};

fn main() -> Result<(), Error> {
    lambda::run(
        |sdk| async move {
            let config = WorkerConfig::from_env()?;
            let store = DynamoOrderStore::from_sdk_config(&sdk, config.table_name);
            store.warm_up().await;
            // Built with the `faults` feature only: FAULT_* variables, off unless set.
            #[cfg(feature = "faults")]
            let store = orders_platform::adapters::faults::FaultyStore::new(
                store,
                orders_platform::adapters::faults::FaultConfig::from_env()?,
                None,
            );
            Ok(Worker::new(store, config.delay, config.deadline_margin))
        },
        |worker, event: LambdaEvent<SqsEvent>| async move {
            let deadline = deadline_from_ms(event.context.deadline);
            Ok(worker.handle_batch(&event.payload, deadline).await?)
        },
    )
}
