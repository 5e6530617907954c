//! Queues as the event-source poller and the operator commands see them: receive, delete,
//! and the dead-letter queue. Two implementations: [`local::LocalQueue`] (embedded, SQLite,
//! SQS semantics) and [`sqs::SqsQueues`] (real SQS).

pub mod local;
pub mod sqs;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

/// A received message, with what Lambda's SQS event source puts in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// SQS message id.
    pub message_id: String,
    /// Handle for deleting this receive of the message.
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// System attributes (`ApproximateReceiveCount`, `SentTimestamp`, ...).
    pub attributes: HashMap<String, String>,
    /// String message attributes (`order_id`).
    pub message_attributes: HashMap<String, String>,
}

/// Messages in a queue by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted or visible again.
    pub in_flight: u64,
}

/// A queue failure, with the service's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueueOpError(pub String);

/// What the event-source poller needs from a queue.
pub trait QueueSource: Send + Sync + 'static {
    /// Receives up to `max` messages, waiting up to `wait` for the first (long polling).
    /// Each receive hides the message for the queue's visibility timeout and counts
    /// towards its maxReceiveCount.
    fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Received>, QueueOpError>> + Send;

    /// Deletes received messages by receipt handle.
    fn delete(
        &self,
        receipt_handles: &[String],
    ) -> impl Future<Output = Result<(), QueueOpError>> + Send;
}

/// A dead-lettered message, for `orders dlq list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// SQS message id.
    pub message_id: String,
    /// The `order_id` attribute, if any.
    pub order_id: Option<String>,
    /// Receives before it was dead-lettered, where known.
    pub receive_count: Option<u64>,
    /// The body (may carry an e-mail address: shown only on request).
    pub body: String,
}

/// Operator commands on a queue pair.
pub trait DeadLetterOps: Send + Sync {
    /// Messages in the dead-letter queue (up to `limit`), without removing them.
    fn dlq_list(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, QueueOpError>> + Send;

    /// Moves every dead-lettered message back to the main queue; returns how many.
    fn dlq_redrive(&self) -> impl Future<Output = Result<u64, QueueOpError>> + Send;

    /// Depths of the main queue and the dead-letter queue.
    fn counts(
        &self,
    ) -> impl Future<Output = Result<(QueueCounts, QueueCounts), QueueOpError>> + Send;

    /// How long the oldest message of the main queue has waited (SQS's
    /// `ApproximateAgeOfOldestMessage`); `None` when empty, or where only CloudWatch can
    /// tell (SQS's API does not return it).
    fn oldest_age(&self) -> impl Future<Output = Option<Duration>> + Send {
        std::future::ready(None)
    }

    /// Where the message of an order is, if it is still in a queue and the queue can tell
    /// (SQS cannot be searched without receiving its messages: `None`).
    fn locate(&self, order_id: &str) -> impl Future<Output = Option<Located>> + Send {
        let _ = order_id;
        std::future::ready(None)
    }
}

/// Where an order's message is (`GET /_local/orders/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// `queued` (waiting), `in_flight` (received, not yet deleted) or `dead_lettered`.
    #[serde(rename = "where")]
    pub place: &'static str,
    /// SQS message id.
    pub message_id: String,
    /// Receives so far.
    pub receive_count: u64,
}
