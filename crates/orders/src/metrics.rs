//! Business metrics: the names every entry point emits, and (in Lambda) their CloudWatch
//! Embedded Metric Format output.
//!
//! Every metric carries the dimensions `Service` (the `SERVICE_NAME` setting) and
//! `Function` (`ingest` or `worker`); `OrdersRejected` also carries `ErrorCode`.
//! The dashboard and alarms in `template.yaml` may reference only these names (tested).

/// Namespace used when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "OrderPipeline";
/// Service dimension used when `SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE: &str = "orders";

/// Dimension names.
pub mod dimensions {
    /// The service (stack-wide) dimension.
    pub const SERVICE: &str = "Service";
    /// `ingest` or `worker`.
    pub const FUNCTION: &str = "Function";
    /// The rejection's machine-readable error code (`OrdersRejected` only).
    pub const ERROR_CODE: &str = "ErrorCode";
}

/// Metric names.
pub mod names {
    /// Ingest: requests received (count).
    pub const ORDERS_RECEIVED: &str = "OrdersReceived";
    /// Ingest: requests rejected, by `ErrorCode` (count).
    pub const ORDERS_REJECTED: &str = "OrdersRejected";
    /// Ingest: orders the queue accepted (count).
    pub const ORDERS_ENQUEUED: &str = "OrdersEnqueued";
    /// Ingest: valid orders the queue did not accept (count).
    pub const ENQUEUE_FAILED: &str = "EnqueueFailed";
    /// Worker: orders stored (count).
    pub const ORDERS_PROCESSED: &str = "OrdersProcessed";
    /// Worker: deliveries of orders already stored (count).
    pub const ORDERS_DUPLICATE: &str = "OrdersDuplicate";
    /// Worker: records that failed and go back to the queue (count).
    pub const ORDERS_FAILED: &str = "OrdersFailed";
    /// Worker: time to process one record (milliseconds).
    pub const PROCESSING_TIME: &str = "ProcessingTime";
    /// Worker: records per invocation (count).
    pub const BATCH_SIZE: &str = "BatchSize";
    /// Worker: records delivered more than once (`ApproximateReceiveCount` > 1) (count).
    pub const RECORDS_RETRIED: &str = "RecordsRetried";
    /// Both: first invocation of a process (count).
    pub const COLD_START: &str = "ColdStart";
}

/// `(function, metric)` for every metric the functions emit.
pub const EMITTED: &[(&str, &str)] = &[
    ("ingest", names::ORDERS_RECEIVED),
    ("ingest", names::ORDERS_REJECTED),
    ("ingest", names::ORDERS_ENQUEUED),
    ("ingest", names::ENQUEUE_FAILED),
    ("ingest", names::COLD_START),
    ("worker", names::ORDERS_PROCESSED),
    ("worker", names::ORDERS_DUPLICATE),
    ("worker", names::ORDERS_FAILED),
    ("worker", names::PROCESSING_TIME),
    ("worker", names::BATCH_SIZE),
    ("worker", names::RECORDS_RETRIED),
    ("worker", names::COLD_START),
];
