//! In-memory adapters of the ports, for tests and examples. They can be told to fail, so
//! every error path of the handlers can be exercised without a network.

use std::collections::HashMap;
use std::sync::Mutex;

use orders_domain::ports::{
    Claim, IdempotencyRecord, IdempotencyStore, OrderQueue, OrderReader, OrderStore, PutOutcome,
    QueueError, StoreError,
};
use orders_domain::{IdempotencyKey, OrderId, QueuedOrder, StoredOrder};

/// A failure an in-memory adapter can be told to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer as a throttled service would.
    Throttle,
    /// Answer as an unreachable service would.
    Unavailable,
    /// Panic inside the call, as a bug would.
    Panic,
}

/// A queue that keeps what it is sent.
#[derive(Debug, Default)]
pub struct InMemoryQueue {
    sent: Mutex<Vec<QueuedOrder>>,
    fault: Mutex<Option<Fault>>,
}

impl InMemoryQueue {
    /// An empty, healthy queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following `enqueue` fail with `fault` (or succeed again with `None`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Everything enqueued so far, in order.
    pub fn sent(&self) -> Vec<QueuedOrder> {
        self.sent.lock().unwrap().clone()
    }
}

impl OrderQueue for InMemoryQueue {
    async fn enqueue(&self, order: &QueuedOrder) -> Result<(), QueueError> {
        let fault = self.fault.lock().unwrap().clone();
        match fault {
            Some(Fault::Throttle) => Err(QueueError::Throttled("injected throttle".into())),
            Some(Fault::Unavailable) => Err(QueueError::Unavailable("injected outage".into())),
            Some(Fault::Panic) => panic!("injected panic in InMemoryQueue::enqueue"),
            None => {
                self.sent.lock().unwrap().push(order.clone());
                Ok(())
            }
        }
    }
}

/// A table that keeps orders by id, with the same conditional-put semantics as DynamoDB.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    orders: Mutex<HashMap<OrderId, StoredOrder>>,
    puts: Mutex<u64>,
    faults: Mutex<HashMap<OrderId, Fault>>,
}

impl InMemoryStore {
    /// An empty, healthy table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every write of `order_id` fail with `fault`.
    pub fn set_fault(&self, order_id: OrderId, fault: Fault) {
        self.faults.lock().unwrap().insert(order_id, fault);
    }

    /// The stored order with this id.
    pub fn get(&self, order_id: &OrderId) -> Option<StoredOrder> {
        self.orders.lock().unwrap().get(order_id).cloned()
    }

    /// Number of stored orders.
    pub fn len(&self) -> usize {
        self.orders.lock().unwrap().len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of write attempts that reached the table (created or duplicate).
    pub fn put_attempts(&self) -> u64 {
        *self.puts.lock().unwrap()
    }
}

impl OrderStore for InMemoryStore {
    async fn put_new(&self, order: &StoredOrder) -> Result<PutOutcome, StoreError> {
        let fault = self.faults.lock().unwrap().get(&order.order_id).cloned();
        match fault {
            Some(Fault::Throttle) => Err(StoreError::Throttled("injected throttle".into())),
            Some(Fault::Unavailable) => Err(StoreError::Unavailable("injected outage".into())),
            Some(Fault::Panic) => panic!("injected panic in InMemoryStore::put_new"),
            None => {
                *self.puts.lock().unwrap() += 1;
                let mut orders = self.orders.lock().unwrap();
                if orders.contains_key(&order.order_id) {
                    return Ok(PutOutcome::AlreadyExists);
                }
                orders.insert(order.order_id, order.clone());
                Ok(PutOutcome::Created)
            }
        }
    }
}

impl OrderReader for InMemoryStore {
    async fn get(&self, order_id: &OrderId) -> Result<Option<StoredOrder>, StoreError> {
        let fault = self.faults.lock().unwrap().get(order_id).cloned();
        match fault {
            Some(Fault::Throttle) => Err(StoreError::Throttled("injected throttle".into())),
            Some(Fault::Unavailable) => Err(StoreError::Unavailable("injected outage".into())),
            Some(Fault::Panic) => panic!("injected panic in InMemoryStore::get"),
            None => Ok(self.orders.lock().unwrap().get(order_id).cloned()),
        }
    }
}

/// Idempotency records in memory, with the same conditional semantics as the table.
#[derive(Debug, Default)]
pub struct InMemoryIdempotency {
    records: Mutex<HashMap<String, IdempotencyRecord>>,
    fault: Mutex<Option<Fault>>,
}

impl InMemoryIdempotency {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following call fail with `fault` (or succeed with `None`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap() = fault;
    }

    /// The record of `key`.
    pub fn get(&self, key: &IdempotencyKey) -> Option<IdempotencyRecord> {
        self.records.lock().unwrap().get(key.as_str()).cloned()
    }

    fn check(&self) -> Result<(), StoreError> {
        match self.fault.lock().unwrap().clone() {
            Some(Fault::Throttle) => Err(StoreError::Throttled("injected throttle".into())),
            Some(Fault::Unavailable) => Err(StoreError::Unavailable("injected outage".into())),
            Some(Fault::Panic) => panic!("injected panic in InMemoryIdempotency"),
            None => Ok(()),
        }
    }
}

/// Each call yields to the executor once before it touches the records, as a call to the real
/// store (a network round trip) does: concurrent requests with one key then interleave here as
/// they do against DynamoDB, instead of running one after another.
impl IdempotencyStore for InMemoryIdempotency {
    async fn claim(&self, record: &IdempotencyRecord) -> Result<Claim, StoreError> {
        tokio::task::yield_now().await;
        self.check()?;
        let mut records = self.records.lock().unwrap();
        match records.get(record.key.as_str()) {
            Some(existing) => Ok(Claim::Existing(existing.clone())),
            None => {
                records.insert(record.key.as_str().to_owned(), record.clone());
                Ok(Claim::Claimed)
            }
        }
    }

    async fn complete(&self, key: &IdempotencyKey, response: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.check()?;
        if let Some(r) = self.records.lock().unwrap().get_mut(key.as_str()) {
            r.response = Some(response.to_owned());
        }
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.check()?;
        self.records.lock().unwrap().remove(key.as_str());
        Ok(())
    }

    async fn take_over(
        &self,
        key: &IdempotencyKey,
        previous_started_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        match self.records.lock().unwrap().get_mut(key.as_str()) {
            Some(r) if r.started_at_ms == previous_started_at_ms && r.response.is_none() => {
                r.started_at_ms = now_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
