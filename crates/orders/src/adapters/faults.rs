//! Fault injection at the adapter boundary: a store wrapper that fails chosen writes.
//!
//! Off unless a rule is given. The local pipeline's tests use it to make a record fail on
//! every delivery; later fault settings (failure rates, throttling) build on the same seam.

use std::sync::Arc;

use crate::domain::StoredOrder;
use crate::ports::{OrderStore, PutOutcome, StoreError};

/// Decides, per write, whether to fail it and how.
pub type StoreFaultRule = Arc<dyn Fn(&StoredOrder) -> Option<StoreError> + Send + Sync>;

/// An [`OrderStore`] that fails the writes its rule picks and passes the rest through.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    rule: Option<StoreFaultRule>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`; with `rule` = `None` every write passes through.
    pub fn new(inner: S, rule: Option<StoreFaultRule>) -> Self {
        Self { inner, rule }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: OrderStore> OrderStore for FaultyStore<S> {
    async fn put_new(&self, order: &StoredOrder) -> Result<PutOutcome, StoreError> {
        if let Some(error) = self.rule.as_ref().and_then(|rule| rule(order)) {
            return Err(error);
        }
        self.inner.put_new(order).await
    }
}
