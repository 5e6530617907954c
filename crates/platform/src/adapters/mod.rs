//! Adapters: the ports implemented over AWS services, and in memory for tests.

#[cfg(feature = "faults")]
pub mod faults;
pub mod memory;

#[cfg(feature = "sqs")]
pub mod sqs;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;

#[cfg(feature = "dynamodb")]
pub mod idempotency;

#[cfg(any(feature = "sqs", feature = "dynamodb"))]
mod sdk_error {
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    /// A one-line description of an SDK error with its service code; never the request.
    pub(crate) fn describe<E, R>(err: &SdkError<E, R>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match err {
            SdkError::ServiceError(service) => format!(
                "{}: {}",
                service.err().code().unwrap_or("ServiceError"),
                service.err().message().unwrap_or("no message")
            ),
            SdkError::TimeoutError(_) => "timeout".to_owned(),
            SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
            other => format!("{other}"),
        }
    }
}

#[cfg(any(feature = "sqs", feature = "dynamodb"))]
use sdk_error::describe;

/// The DynamoDB client configuration of both DynamoDB adapters: the shared SDK settings,
/// and `TableName` handed to the SDK's telemetry so X-Ray subsegments name the table.
#[cfg(feature = "dynamodb")]
fn dynamodb_config(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Config {
    aws_sdk_dynamodb::config::Builder::from(config)
        .emit_input_attributes(["TableName"])
        .build()
}
