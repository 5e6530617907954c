//! The SQS adapter of [`OrderQueue`].

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use aws_sdk_sqs::Client;

use super::describe;
use orders_domain::ports::{OrderQueue, QueueError};
use orders_domain::QueuedOrder;

/// Name of the message attribute that carries the order id, so operators can find an order
/// in the queue or the DLQ without parsing bodies.
pub const ORDER_ID_ATTRIBUTE: &str = "order_id";

/// Error codes SQS uses when it throttles a caller.
const THROTTLE_CODES: &[&str] = &[
    "RequestThrottled",
    "ThrottlingException",
    "Throttling",
    "KmsThrottled",
    "OverLimit",
];

/// Where the current X-Ray trace header comes from.
pub type TraceSource = fn() -> Option<String>;

/// Sends orders to one SQS queue. Each message carries the sender's X-Ray trace header as
/// its `AWSTraceHeader` system attribute, so the worker's invocation joins the same trace.
#[derive(Debug, Clone)]
pub struct SqsOrderQueue {
    client: Client,
    queue_url: String,
    trace_source: TraceSource,
}

impl SqsOrderQueue {
    /// A queue adapter over an already configured client.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            trace_source: crate::config::lambda_trace_header,
        }
    }

    /// Reads the trace header from `source` instead of the Lambda environment.
    pub fn with_trace_source(mut self, source: TraceSource) -> Self {
        self.trace_source = source;
        self
    }

    /// The URL messages go to.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Opens the connection (DNS, TCP, TLS, credentials) during init instead of on the first
    /// request, without sending anything: an empty `SendMessageBatch`, which needs only
    /// `sqs:SendMessage` and which SQS always refuses with `EmptyBatchRequest`.
    /// Never fails: a problem here is logged and the first real request tries again.
    ///
    /// The refusal is kept on purpose (issue 16): `sqs:SendMessage` allows no call that
    /// succeeds without enqueuing a message, and the refusal is seen nowhere that counts: SQS
    /// publishes no error metric (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html>),
    /// init runs without a trace header so no X-Ray subsegment is sent (`crate::xray`), and
    /// only an account that pays for SQS data events in CloudTrail sees one failed
    /// `SendMessageBatch` per cold start. What it buys: the process's first TLS connection
    /// costs about 70 ms of CPU (measured, mostly AWS-LC seeding its random generator from
    /// CPU jitter) against 2 ms for the next ones; at init that CPU is paid at full speed,
    /// in the first invocation at 128 MB's share of a vCPU (128/1769), about 14 times slower.
    pub async fn warm_up(&self) {
        let result = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(Vec::new()))
            .send()
            .await;
        match result {
            Err(SdkError::ServiceError(e)) => {
                tracing::debug!(code = e.err().code(), "SQS connection warmed up")
            }
            Ok(_) => tracing::debug!("SQS connection warmed up"),
            Err(e) => {
                tracing::warn!(error = %describe(&e), "SQS warm-up failed; first request will connect")
            }
        }
    }
}

impl OrderQueue for SqsOrderQueue {
    async fn enqueue(&self, order: &QueuedOrder) -> Result<(), QueueError> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(order.order_id.to_string())
            .build()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let trace = match (self.trace_source)() {
            Some(header) => Some(
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(header)
                    .build()
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?,
            ),
            None => None,
        };
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(order.to_message_body())
            .message_attributes(ORDER_ID_ATTRIBUTE, attribute);
        if let Some(trace) = trace {
            request = request.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                trace,
            );
        }
        request.send().await.map(|_| ()).map_err(|e| classify(&e))
    }
}

fn classify<E, R>(err: &SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = describe(err);
    match err.code() {
        Some(code) if THROTTLE_CODES.contains(&code) => QueueError::Throttled(text),
        _ => QueueError::Unavailable(text),
    }
}

impl SqsOrderQueue {
    /// A queue adapter with a client built from a shared SDK configuration.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        // QueueUrl goes to the SDK's telemetry, so the X-Ray subsegment names the queue.
        let conf = aws_sdk_sqs::config::Builder::from(config)
            .emit_input_attributes(["QueueUrl"])
            .build();
        Self::new(Client::from_conf(conf), queue_url)
    }
}
