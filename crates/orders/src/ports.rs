//! Ports: the small capabilities the handlers need from the outside world, one trait each.
//!
//! Each handler takes the smallest trait it needs, matching its least-privilege IAM policy:
//! ingest only sends to the queue ([`OrderQueue`]), the worker only writes new orders
//! ([`OrderStore`]).

use std::future::Future;

use crate::domain::{OrderId, QueuedOrder, StoredOrder};

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
