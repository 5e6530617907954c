//! Ports: the small capabilities the handlers need from the outside world, one trait each.
//!
//! Each handler takes the smallest trait it needs, matching its least-privilege IAM policy:
//! ingest only sends to the queue ([`OrderQueue`]), the worker only writes new orders
//! ([`OrderStore`]).

use std::future::Future;

use crate::{Fingerprint, IdempotencyKey, OrderId, QueuedOrder, StoredOrder};

/// Why the queue did not take a message. Either way the order was not accepted and the
/// client should retry later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue is throttling this sender.
    #[error("queue throttled the request: {0}")]
    Throttled(String),
    /// The queue could not be reached, or refused the request for a reason the client cannot fix.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// Sends accepted orders to the processing queue (`sqs:SendMessage`).
pub trait OrderQueue: Send + Sync {
    /// Enqueues one order. Returns only once the queue has durably accepted it.
    fn enqueue(&self, order: &QueuedOrder) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// What a conditional write of a new order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The order was written now.
    Created,
    /// An order with this id was already stored (a redelivery): nothing was changed.
    AlreadyExists,
}

/// Why the store did not take a write. The record is retried through the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The table is throttling writes.
    #[error("store throttled the write: {0}")]
    Throttled(String),
    /// The table could not be reached or refused the write.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Stores processed orders, at most once per order id (`dynamodb:PutItem`).
pub trait OrderStore: Send + Sync {
    /// Writes the order unless one with the same id exists.
    fn put_new(
        &self,
        order: &StoredOrder,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;
}

/// Reads stored orders by id (`dynamodb:GetItem`).
pub trait OrderReader: Send + Sync {
    /// The stored order, or `None` while it is not stored (yet).
    fn get(
        &self,
        order_id: &OrderId,
    ) -> impl Future<Output = Result<Option<StoredOrder>, StoreError>> + Send;
}

impl<T: OrderReader> OrderReader for &T {
    fn get(
        &self,
        order_id: &OrderId,
    ) -> impl Future<Output = Result<Option<StoredOrder>, StoreError>> + Send {
        (**self).get(order_id)
    }
}

/// What ingest remembers about an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The client's key.
    pub key: IdempotencyKey,
    /// The fingerprint of the request first sent with it.
    pub fingerprint: Fingerprint,
    /// The order id given to that request.
    pub order_id: OrderId,
    /// The 202 body, once the order is on the queue; `None` while in progress.
    pub response: Option<String>,
    /// When the request holding the key started (epoch milliseconds).
    pub started_at_ms: i64,
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: this request owns it now.
    Claimed,
    /// The key is already known.
    Existing(IdempotencyRecord),
}

/// Remembers idempotency keys for a while (a DynamoDB table with a TTL): put, get, update
/// and delete on that table only.
pub trait IdempotencyStore: Send + Sync {
    /// Records `record` unless its key exists; returns the existing record otherwise.
    fn claim(
        &self,
        record: &IdempotencyRecord,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Saves the response of a completed request.
    fn complete(
        &self,
        key: &IdempotencyKey,
        response: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets a key whose request failed before its order was queued, so a retry starts over.
    fn release(&self, key: &IdempotencyKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes over a key whose holder seems gone: succeeds only if it still started at
    /// `previous_started_at_ms`.
    fn take_over(
        &self,
        key: &IdempotencyKey,
        previous_started_at_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<T: IdempotencyStore> IdempotencyStore for std::sync::Arc<T> {
    fn claim(
        &self,
        record: &IdempotencyRecord,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(record)
    }
    fn complete(
        &self,
        key: &IdempotencyKey,
        response: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(key, response)
    }
    fn release(&self, key: &IdempotencyKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key)
    }
    fn take_over(
        &self,
        key: &IdempotencyKey,
        previous_started_at_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).take_over(key, previous_started_at_ms, now_ms)
    }
}

impl<T: OrderQueue> OrderQueue for &T {
    fn enqueue(&self, order: &QueuedOrder) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).enqueue(order)
    }
}

impl<T: OrderStore> OrderStore for &T {
    fn put_new(
        &self,
        order: &StoredOrder,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send {
        (**self).put_new(order)
    }
}

impl<T: OrderQueue> OrderQueue for std::sync::Arc<T> {
    fn enqueue(&self, order: &QueuedOrder) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).enqueue(order)
    }
}

impl<T: OrderStore> OrderStore for std::sync::Arc<T> {
    fn put_new(
        &self,
        order: &StoredOrder,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send {
        (**self).put_new(order)
    }
}

impl<T: OrderReader> OrderReader for std::sync::Arc<T> {
    fn get(
        &self,
        order_id: &OrderId,
    ) -> impl Future<Output = Result<Option<StoredOrder>, StoreError>> + Send {
        (**self).get(order_id)
    }
}
