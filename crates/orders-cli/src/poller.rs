//! An event-source poller that behaves like Lambda's SQS event source mapping.
//!
//! It receives batches (up to `batch_size`, waiting up to `batching_window` to fill one),
//! invokes the worker handler with an `SqsEvent` and a deadline of the function timeout,
//! deletes the records that succeeded and leaves the failed ones to reappear after the
//! visibility timeout. At most `max_concurrency` batches run at once. A handler that
//! errors or overruns its timeout is treated as Lambda treats it: nothing of the batch is
//! deleted. A response naming a record that is not in the batch fails the whole batch.
//! Each invocation records its metrics into the pipeline's recorder, as each Lambda
//! invocation does into its own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use orders_domain::ports::OrderStore;
use orders_platform::metrics::InMemoryMetrics;
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use worker::Worker;

use crate::limits::Limits;
use crate::queue::{QueueSource, Received};

/// The event source mapping's settings (defaults from `template.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollerConfig {
    /// Most records per invocation.
    pub batch_size: usize,
    /// Longest wait to fill a batch.
    pub batching_window: Duration,
    /// Most concurrent invocations.
    pub max_concurrency: usize,
    /// The worker function's timeout: each invocation's deadline.
    pub function_timeout: Duration,
    /// The queue's visibility timeout: how long a received batch may wait for an
    /// execution (less the function timeout) before it goes back to the queue.
    pub visibility_timeout: Duration,
    /// Queue ARN put in each record's `eventSourceARN`.
    pub queue_arn: &'static str,
}

/// What the poller has done so far.
#[derive(Debug, Default)]
pub struct PollerCounters {
    batches: AtomicU64,
    records: AtomicU64,
    deleted: AtomicU64,
    record_failures: AtomicU64,
    invocation_errors: AtomicU64,
    timeouts: AtomicU64,
    /// Why each message last failed, by message id (at most [`LAST_ERRORS_KEPT`]).
    last_errors: std::sync::Mutex<HashMap<String, String>>,
}

/// How many messages' last errors [`PollerCounters`] keeps; past it, it starts over (a
/// dead letter older than that shows no reason).
pub const LAST_ERRORS_KEPT: usize = 10_000;

/// A copy of [`PollerCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PollerStats {
    /// Worker invocations.
    pub batches: u64,
    /// Records delivered to the worker (with redeliveries).
    pub records: u64,
    /// Records that succeeded and were deleted.
    pub deleted: u64,
    /// Records the worker reported failed (left for retry).
    pub record_failures: u64,
    /// Invocations that returned an error (whole batch retried).
    pub invocation_errors: u64,
    /// Invocations that overran the function timeout (whole batch retried).
    pub timeouts: u64,
}

impl PollerCounters {
    /// Records why these messages failed.
    pub fn note_errors(&self, errors: impl IntoIterator<Item = (String, String)>) {
        let mut kept = self
            .last_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (message_id, error) in errors {
            if kept.len() >= LAST_ERRORS_KEPT {
                kept.clear();
            }
            kept.insert(message_id, error);
        }
    }

    /// Why a message last failed, if it failed while this process ran.
    pub fn last_error(&self, message_id: &str) -> Option<String> {
        self.last_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(message_id)
            .cloned()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> PollerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PollerStats {
            batches: get(&self.batches),
            records: get(&self.records),
            deleted: get(&self.deleted),
            record_failures: get(&self.record_failures),
            invocation_errors: get(&self.invocation_errors),
            timeouts: get(&self.timeouts),
        }
    }
}

/// Builds the record Lambda's SQS event source would deliver for a received message.
pub fn to_record(message: &Received, queue_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message.message_id.clone());
    record.receipt_handle = Some(message.receipt_handle.clone());
    record.body = Some(message.body.clone());
    record.attributes = message.attributes.clone();
    record.message_attributes = message
        .message_attributes
        .iter()
        .map(|(k, v)| {
            let mut attribute = SqsMessageAttribute::default();
            attribute.string_value = Some(v.clone());
            attribute.data_type = Some("String".into());
            (k.clone(), attribute)
        })
        .collect();
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some(queue_arn.into());
    record.aws_region = Some("local".into());
    record
}

/// Receives one batch: waits (long poll, at most `poll_wait`) for a first message, then
/// keeps receiving until the batch is full or the batching window has passed.
async fn receive_batch<Q: QueueSource>(
    queue: &Q,
    config: &PollerConfig,
    poll_wait: Duration,
) -> Vec<Received> {
    let mut batch = match queue.receive(config.batch_size, poll_wait).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "receive failed; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Vec::new();
        }
    };
    if batch.is_empty() || config.batching_window.is_zero() {
        return batch;
    }
    let window_ends = Instant::now() + config.batching_window;
    while batch.len() < config.batch_size {
        let left = window_ends.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match queue.receive(config.batch_size - batch.len(), left).await {
            Ok(more) if more.is_empty() => break,
            Ok(more) => batch.extend(more),
            Err(e) => {
                tracing::warn!(error = %e, "receive failed while filling a batch");
                break;
            }
        }
    }
    batch
}

/// What the poller invokes with a batch, as Lambda invokes the worker function: the
/// [`Worker`], or in tests a handler that fails or overruns on purpose (the paths a healthy
/// worker never takes, because its per-record deadline answers first).
pub trait BatchHandler {
    /// Why a whole invocation failed (a function error in Lambda's terms).
    type Error: std::fmt::Display;

    /// Handles one batch; `deadline` is the invocation's (now + the function timeout).
    fn handle(
        &self,
        event: &SqsEvent,
        deadline: Instant,
    ) -> impl Future<Output = Result<Handled, Self::Error>> + Send;
}

/// A batch's response and, for each failed record, its message id and why it failed.
pub type Handled = (SqsBatchResponse, Vec<(String, String)>);

impl<S: OrderStore + Send + Sync> BatchHandler for Worker<S> {
    type Error = worker::BatchError;

    async fn handle(&self, event: &SqsEvent, deadline: Instant) -> Result<Handled, Self::Error> {
        self.handle_batch_with_failures(event, deadline).await
    }
}

/// Invokes the handler with one batch and deletes what succeeded. Returns the receipt
/// handles deleted. An invocation that errors or overruns the function timeout deletes
/// nothing, and neither does a response naming a record that is not in the batch: the
/// whole batch comes back after its visibility timeout, as with Lambda.
pub async fn invoke_batch<Q: QueueSource, H: BatchHandler>(
    queue: &Q,
    worker: &H,
    batch: Vec<Received>,
    config: &PollerConfig,
    counters: &PollerCounters,
) -> Vec<String> {
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters
        .records
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|m| to_record(m, config.queue_arn))
        .collect();
    let deadline = Instant::now() + config.function_timeout;
    let outcome = tokio::time::timeout_at(deadline, worker.handle(&event, deadline)).await;
    let failed_ids: HashSet<String> = match outcome {
        Err(_elapsed) => {
            counters.timeouts.fetch_add(1, Ordering::Relaxed);
            counters.note_errors(batch.iter().map(|m| {
                (
                    m.message_id.clone(),
                    format!(
                        "the worker invocation timed out after {}s",
                        config.function_timeout.as_secs()
                    ),
                )
            }));
            tracing::error!(
                records = batch.len(),
                timeout_s = config.function_timeout.as_secs(),
                "worker invocation timed out; the whole batch will be retried"
            );
            return Vec::new();
        }
        Ok(Err(error)) => {
            counters.invocation_errors.fetch_add(1, Ordering::Relaxed);
            counters.note_errors(batch.iter().map(|m| {
                (
                    m.message_id.clone(),
                    format!("the worker invocation failed: {error}"),
                )
            }));
            tracing::error!(error = %error, "worker invocation failed; the whole batch will be retried");
            return Vec::new();
        }
        Ok(Ok((response, errors))) => {
            counters.note_errors(errors);
            response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect()
        }
    };
    let ids: HashMap<&str, &str> = batch
        .iter()
        .map(|m| (m.message_id.as_str(), m.receipt_handle.as_str()))
        .collect();
    if let Some(unknown) = failed_ids.iter().find(|id| !ids.contains_key(id.as_str())) {
        counters.invocation_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(item_identifier = %unknown, "batch response names a record not in the batch; the whole batch will be retried");
        return Vec::new();
    }
    counters
        .record_failures
        .fetch_add(failed_ids.len() as u64, Ordering::Relaxed);
    let done: Vec<String> = ids
        .iter()
        .filter(|(id, _)| !failed_ids.contains(**id))
        .map(|(_, receipt)| (*receipt).to_owned())
        .collect();
    if done.is_empty() {
        return done;
    }
    match queue.delete(&done).await {
        Ok(()) => {
            counters
                .deleted
                .fetch_add(done.len() as u64, Ordering::Relaxed);
            done
        }
        Err(e) => {
            tracing::warn!(error = %e, "delete failed; those records will be delivered again (and found stored)");
            Vec::new()
        }
    }
}

/// Polls until `shutdown` turns true, then waits for the batches in flight to finish.
/// What the worker records goes to `metrics`. Each invocation needs an execution of
/// `limits`' pool (the account's concurrency, when emulated): a received batch waits for
/// one, as the event source retries a throttled invoke, and goes back to the queue (its
/// receive counted) if none is free before its visibility timeout would leave the function
/// too little time.
pub async fn run<Q: QueueSource, S: OrderStore + 'static>(
    queue: Arc<Q>,
    worker: Arc<Worker<S>>,
    config: PollerConfig,
    counters: Arc<PollerCounters>,
    metrics: InMemoryMetrics,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let wait_for_execution = config
        .visibility_timeout
        .saturating_sub(config.function_timeout);
    let permits = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    // Short long-polls so a shutdown is noticed quickly.
    let poll_wait = Duration::from_millis(500);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore never closes"),
            _ = shutdown.changed() => break,
        };
        let batch = tokio::select! {
            b = receive_batch(queue.as_ref(), &config, poll_wait) => b,
            _ = shutdown.changed() => break,
        };
        if batch.is_empty() {
            continue;
        }
        let (queue, worker, counters, limits) = (
            queue.clone(),
            worker.clone(),
            counters.clone(),
            limits.clone(),
        );
        // Spawned tasks do not inherit a scoped recorder: scope each invocation.
        tokio::spawn(metrics.scope(async move {
            match limits.admit_invocation(wait_for_execution).await {
                Some(execution) => {
                    invoke_batch(queue.as_ref(), worker.as_ref(), batch, &config, &counters)
                        .await;
                    drop(execution);
                }
                None => tracing::warn!(
                    records = batch.len(),
                    "no execution was free for the worker before the batch's visibility timeout: it goes back to the queue"
                ),
            }
            drop(permit);
        }));
    }
    // Let in-flight batches finish (each is bounded by the function timeout).
    let _all = permits
        .acquire_many(config.max_concurrency.max(1) as u32)
        .await;
}
