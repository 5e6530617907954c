//! Worker Lambda: wiring only. The handler lives in the library.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use orders::adapters::dynamodb::DynamoOrderStore;
use orders::adapters::faults::{FaultConfig, FaultyStore};
use orders::config::{sdk_config, WorkerConfig};
use orders::metrics::{EmfMetrics, MetricsConfig};
use worker::{deadline_from_ms, Worker};

fn main() -> Result<(), Error> {
    // Before the runtime starts any thread: it sets an environment variable.
    orders::config::pin_ca_bundle();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    orders::telemetry::init();
    let config = WorkerConfig::from_env()?;
    // CloudWatch Embedded Metric Format on stdout, flushed after every invocation.
    let metrics = &EmfMetrics::stdout(MetricsConfig::from_env()?);
    metrics.install()?;
    let store = DynamoOrderStore::from_sdk_config(&sdk_config().await, config.table_name);
    store.warm_up().await;
    // Off unless FAULT_* variables are set (fault injection at the adapter boundary).
    let store = FaultyStore::new(store, FaultConfig::from_env()?, None);
    let worker = &Worker::new(store, config.delay, config.deadline_margin);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = deadline_from_ms(event.context.deadline);
        let result = worker.handle_batch(&event.payload, deadline).await;
        metrics.flush_or_log();
        Ok::<_, Error>(result?)
    }))
    .await
}
