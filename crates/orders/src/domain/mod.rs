//! The domain: orders, their identity, and why a request can be refused. No I/O here.

mod error;
mod id;
mod idempotency;
mod order;

pub use error::{FieldError, OrderRejection};
pub use id::{InvalidOrderId, OrderId};
pub use idempotency::{Fingerprint, IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use order::{
    mask_email, Email, Items, LineItem, NewOrder, OrderStatus, Quantity, QueuedOrder, Sku,
    StoredOrder, MAX_EMAIL_LEN, MAX_EMAIL_LOCAL_LEN, MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY,
};
