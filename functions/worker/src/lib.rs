//! The worker handler: an SQS batch in, a partial batch response out.
//!
//! [`Worker::process_record`] handles one message; [`Worker::handle_batch`] runs the records
//! of a batch concurrently, isolates each one (a malformed body, a panic or a store error
//! fails that record only) and reports exactly the records that did not finish, before the
//! invocation's deadline.
//!
//! Metrics (through the `metrics` facade, label `Function=worker`), per invocation:
//! `BatchSize` (records), `RecordsRetried` (records with `ApproximateReceiveCount` > 1),
//! `OrdersProcessed` (stored now), `OrdersDuplicate` (already stored), `OrdersFailed`
//! (records that did not finish), each counter touched even when 0 so every invocation
//! publishes explicit zeros; `ProcessingTime` (ms, wall time of each record);
//! `ColdStart` on the first invocation of a handler instance.

// Panic isolation needs unwinding: refuse to build a binary where it would silently not work.
#[cfg(panic = "abort")]
compile_error!("the worker isolates a panicking record with catch_unwind: build with panic = \"unwind\" (see [profile.release])");

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use orders_domain::ports::{OrderStore, PutOutcome, StoreError};
use orders_domain::{OrderId, QueuedOrder, StoredOrder};
use orders_platform::config::DelaySpec;
use orders_platform::metrics::{dimensions, names};
use tokio::time::Instant;
use tracing::Instrument as _;

/// The `Function` dimension of this function's metrics.
pub const FUNCTION: &str = "worker";

/// Adds `n` to one of this function's counters.
fn count(name: &'static str, n: u64) {
    metrics::counter!(name, dimensions::FUNCTION => FUNCTION).increment(n);
}

/// Records one value of one of this function's distributions.
fn record_value(name: &'static str, value: f64) {
    metrics::histogram!(name, dimensions::FUNCTION => FUNCTION).record(value);
}

/// Most records of one batch processed at the same time (a batching window can deliver
/// thousands; simulated delays cost nothing, but table writes are bounded).
pub const MAX_CONCURRENT_RECORDS: usize = 256;

/// The SQS system attribute holding the sender's X-Ray trace header.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// What happened to a record that finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The order was written now.
    Stored {
        /// The order.
        order_id: OrderId,
    },
    /// The order was already stored (a redelivery): a successful no-op.
    Duplicate {
        /// The order.
        order_id: OrderId,
    },
}

/// Why a record did not finish. The record stays on the queue and is retried; after
/// maxReceiveCount receives SQS moves it to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The message has no body.
    #[error("message has no body")]
    MissingBody,
    /// The body is not a valid queued order.
    #[error("malformed message body: {0}")]
    MalformedBody(String),
    /// Not enough time left before the deadline to process and write the order.
    #[error("not enough time before the deadline: needs {needed_ms} ms, {left_ms} ms left")]
    NoTimeLeft {
        /// Time the record would need, including the safety margin.
        needed_ms: u64,
        /// Time left before the deadline.
        left_ms: u64,
    },
    /// The record was still running at the deadline minus the safety margin.
    #[error("deadline reached before the record finished")]
    DeadlineExceeded,
    /// The table did not take the write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record's processing panicked.
    #[error("processing panicked: {0}")]
    Panicked(String),
}

/// The whole invocation must fail (every record is retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A record failed but has no message id, so it cannot be reported on its own; an empty
    /// `itemIdentifier` would fail the batch anyway, so fail it explicitly.
    #[error("{0} failed record(s) have no messageId; failing the whole batch")]
    UnidentifiedFailures(usize),
}

/// Space-separated ids, or no field at all (`None`) when there are none.
fn joined(ids: &[String]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// Counts of one batch's outcomes, logged once per invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Records in the batch.
    pub records: usize,
    /// Orders written now.
    pub stored: usize,
    /// Redeliveries of stored orders.
    pub duplicates: usize,
    /// Records left for retry.
    pub failed: usize,
    /// The ids of the orders written now.
    pub stored_order_ids: Vec<String>,
    /// The ids of the orders delivered again.
    pub duplicate_order_ids: Vec<String>,
    /// Each failed record's message id and why it failed (not logged here: each has its
    /// own WARN line); what `orders local` shows beside a dead letter.
    pub failures: Vec<(String, String)>,
}

/// The worker handler over any [`OrderStore`].
#[derive(Debug)]
pub struct Worker<S> {
    store: S,
    delay: DelaySpec,
    deadline_margin: Duration,
    cold: AtomicBool,
}

impl<S: OrderStore> Worker<S> {
    /// A worker writing to `store`, simulating `delay` per record, and giving up on a record
    /// `deadline_margin` before the invocation deadline.
    pub fn new(store: S, delay: DelaySpec, deadline_margin: Duration) -> Self {
        Self {
            store,
            delay,
            deadline_margin,
            cold: AtomicBool::new(true),
        }
    }

    /// The store this worker writes to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Processes one record: parse, simulate work, write with a duplicate check.
    /// Returns before `deadline` minus the safety margin, or fails.
    pub async fn process_record(
        &self,
        record: &SqsMessage,
        deadline: Instant,
    ) -> Result<RecordOutcome, RecordError> {
        let cutoff = deadline
            .checked_sub(self.deadline_margin)
            .unwrap_or_else(Instant::now);
        match tokio::time::timeout_at(cutoff, self.process_inner(record, cutoff)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(RecordError::DeadlineExceeded),
        }
    }

    async fn process_inner(
        &self,
        record: &SqsMessage,
        cutoff: Instant,
    ) -> Result<RecordOutcome, RecordError> {
        let started = Instant::now();
        let message_id = record.message_id.as_deref().unwrap_or("-");
        let body = record.body.as_deref().ok_or(RecordError::MissingBody)?;
        let order = QueuedOrder::from_message_body(body)
            .map_err(|e| RecordError::MalformedBody(e.to_string()))?;
        let order_id = order.order_id;
        tracing::Span::current().record("order_id", tracing::field::display(order_id));
        let attempts = receive_count(record);
        tracing::debug!(%order_id, message_id, attempts, "order received");

        let delay = self.delay.sample();
        let left = cutoff.saturating_duration_since(started);
        if delay >= left {
            return Err(RecordError::NoTimeLeft {
                needed_ms: (delay + self.deadline_margin).as_millis() as u64,
                left_ms: (left + self.deadline_margin).as_millis() as u64,
            });
        }
        if !delay.is_zero() {
            // A zero sleep still waits for the timer wheel's next tick (about 1 ms).
            tokio::time::sleep(delay).await;
        }

        let processing_ms = started.elapsed().as_millis() as u64;
        let stored = StoredOrder::processed(order, Utc::now(), processing_ms, attempts);
        match self.store.put_new(&stored).await? {
            PutOutcome::Created => Ok(RecordOutcome::Stored { order_id }),
            PutOutcome::AlreadyExists => Ok(RecordOutcome::Duplicate { order_id }),
        }
    }

    /// One record with its panic caught and its duration measured.
    async fn isolated_record<'r>(
        &self,
        record: &'r SqsMessage,
        deadline: Instant,
    ) -> (&'r SqsMessage, Result<RecordOutcome, RecordError>, Duration) {
        let started = Instant::now();
        // Every log line (and trace subsegment) of this record carries its ids; the
        // sender's trace header links it to the ingest request that queued it.
        let span = tracing::info_span!(
            "record",
            message_id = record.message_id.as_deref().unwrap_or("-"),
            order_id = tracing::field::Empty,
            sender_trace = record
                .attributes
                .get(AWS_TRACE_HEADER)
                .map(String::as_str)
                .unwrap_or("-"),
        );
        let result = AssertUnwindSafe(self.process_record(record, deadline))
            .catch_unwind()
            .instrument(span)
            .await
            .unwrap_or_else(|panic| Err(RecordError::Panicked(panic_text(&panic))));
        (record, result, started.elapsed())
    }

    /// Processes a batch concurrently and lists exactly the records that did not finish.
    pub async fn handle_batch(
        &self,
        event: &SqsEvent,
        deadline: Instant,
    ) -> Result<SqsBatchResponse, BatchError> {
        self.handle_batch_with_failures(event, deadline)
            .await
            .map(|(response, _)| response)
    }

    /// [`Worker::handle_batch`], also returning each failed record's message id and error
    /// (what `orders local` shows beside a dead letter).
    pub async fn handle_batch_with_failures(
        &self,
        event: &SqsEvent,
        deadline: Instant,
    ) -> Result<(SqsBatchResponse, Vec<(String, String)>), BatchError> {
        let (response, summary) = self.handle_batch_with_summary(event, deadline).await?;
        // One line per batch names every order it stored (Logs Insights finds an order with
        // `filter @message like "<order_id>"`); a failed record has a line of its own.
        tracing::info!(
            records = summary.records,
            stored = summary.stored,
            duplicates = summary.duplicates,
            failed = summary.failed,
            stored_order_ids = joined(&summary.stored_order_ids),
            duplicate_order_ids = joined(&summary.duplicate_order_ids),
            "batch done"
        );
        Ok((response, summary.failures))
    }

    /// [`Worker::handle_batch`], also returning the counts.
    pub async fn handle_batch_with_summary(
        &self,
        event: &SqsEvent,
        deadline: Instant,
    ) -> Result<(SqsBatchResponse, BatchSummary), BatchError> {
        if self.cold.swap(false, Ordering::Relaxed) {
            count(names::COLD_START, 1);
        }
        record_value(names::BATCH_SIZE, event.records.len() as f64);
        let retried = event
            .records
            .iter()
            .filter(|r| receive_count(r) > 1)
            .count();
        count(names::RECORDS_RETRIED, retried as u64);
        tracing::debug!(
            records = event.records.len(),
            time_left_ms = deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
            "batch received"
        );
        // At most MAX_CONCURRENT_RECORDS records in flight; a named method (not a closure)
        // keeps the future Send for callers that spawn the batch.
        let mut pending = event.records.iter();
        let mut running = FuturesUnordered::new();
        let mut results = Vec::with_capacity(event.records.len());
        loop {
            while running.len() < MAX_CONCURRENT_RECORDS {
                match pending.next() {
                    Some(record) => running.push(self.isolated_record(record, deadline)),
                    None => break,
                }
            }
            match running.next().await {
                Some(result) => results.push(result),
                None => break,
            }
        }

        let mut summary = BatchSummary {
            records: results.len(),
            ..BatchSummary::default()
        };
        let mut failed_ids = Vec::new();
        let mut unidentified = 0;
        for (record, result, elapsed) in results {
            let message_id = record.message_id.as_deref().filter(|id| !id.is_empty());
            let log_id = message_id.unwrap_or("-");
            let ms = elapsed.as_millis() as u64;
            // Whole microseconds: 12.212 ms, not 12.21227000000001 (bytes in every EMF line).
            record_value(names::PROCESSING_TIME, elapsed.as_micros() as f64 / 1000.0);
            match result {
                Ok(RecordOutcome::Stored { order_id }) => {
                    summary.stored += 1;
                    summary.stored_order_ids.push(order_id.to_string());
                    tracing::debug!(%order_id, message_id = log_id, processing_ms = ms, "order stored");
                }
                Ok(RecordOutcome::Duplicate { order_id }) => {
                    summary.duplicates += 1;
                    summary.duplicate_order_ids.push(order_id.to_string());
                    tracing::debug!(%order_id, message_id = log_id, processing_ms = ms, "duplicate delivery: order already stored, nothing written");
                }
                Err(error) => {
                    summary.failed += 1;
                    let order_id = order_id_hint(record);
                    tracing::warn!(order_id = order_id.as_deref().unwrap_or("-"), message_id = log_id, attempts = receive_count(record), processing_ms = ms, error = %error, "record failed; left on the queue for retry");
                    match message_id {
                        Some(id) => {
                            failed_ids.push(id.to_owned());
                            summary.failures.push((id.to_owned(), error.to_string()));
                        }
                        None => unidentified += 1,
                    }
                }
            }
        }
        count(names::ORDERS_PROCESSED, summary.stored as u64);
        count(names::ORDERS_DUPLICATE, summary.duplicates as u64);
        count(names::ORDERS_FAILED, summary.failed as u64);
        if unidentified > 0 {
            return Err(BatchError::UnidentifiedFailures(unidentified));
        }
        let mut response = SqsBatchResponse::default();
        response.set_failures(failed_ids);
        Ok((response, summary))
    }
}

/// Deadlines below this (2001-09-09 in epoch milliseconds) cannot be absolute.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The invocation deadline (`Lambda-Runtime-Deadline-Ms`) as a monotonic instant.
///
/// Lambda sends epoch milliseconds. The cargo-lambda emulator sends the function timeout
/// as a relative number of milliseconds instead (600000 by default); a value too small to
/// be an epoch time is read that way, so local runs get a real deadline rather than none.
pub fn deadline_from_ms(deadline_ms: u64) -> Instant {
    let left = if deadline_ms < EPOCH_MS_FLOOR {
        Duration::from_millis(deadline_ms)
    } else {
        (SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms))
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Instant::now() + left
}

/// ApproximateReceiveCount, or 1 when absent.
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The order id of a failed record, for its log line: from the `order_id` message attribute
/// (ingest sets it), else from the body when it is a valid order (a store failure after the
/// parse, on a message sent without the attribute); `None` when neither names one.
fn order_id_hint(record: &SqsMessage) -> Option<String> {
    let from_attribute = record
        .message_attributes
        .get("order_id")
        .and_then(|a| a.string_value.as_deref())
        .and_then(|v| v.parse::<OrderId>().ok());
    let from_body = || {
        record
            .body
            .as_deref()
            .and_then(|body| QueuedOrder::from_message_body(body).ok())
            .map(|order| order.order_id)
    };
    from_attribute.or_else(from_body).map(|id| id.to_string())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
