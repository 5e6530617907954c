//! The order pipeline's domain: orders, their identity, why a request can be refused, the
//! capabilities the handlers need (ports), and the one mapping from those errors to API
//! responses. No I/O, no runtime, no AWS SDK: the functions, the platform adapters, the local
//! runner and the fuzz targets all depend on this crate, and it on none of them.
//!
//! - the order types ([`NewOrder`], [`QueuedOrder`], [`StoredOrder`], ...) and their rules;
//! - [`ports`]: the capabilities handlers need, one small trait each;
//! - [`http`]: the single mapping from errors to API responses.

mod error;
mod id;
mod idempotency;
mod order;

pub mod http;
#[cfg(feature = "test-util")]
pub mod oracle;
pub mod ports;

pub use error::{FieldError, OrderRejection};
pub use id::{InvalidOrderId, OrderId};
pub use idempotency::{Fingerprint, IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use order::{
    mask_email, Email, Items, LineItem, NewOrder, OrderStatus, Quantity, QueuedOrder, Sku,
    StoredOrder, MAX_EMAIL_LEN, MAX_EMAIL_LOCAL_LEN, MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY,
};
