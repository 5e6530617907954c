//! The ingest handler: `POST /order` (API Gateway REST proxy event) to the order queue.
//!
//! It parses the body into a [`NewOrder`] (every problem reported at once), gives it a
//! UUIDv7 `order_id`, and answers 202 only once the queue holds it. Any failure is an
//! [`ApiError`], turned into a response in one place ([`orders::http`]).

// Panic isolation needs unwinding: refuse to build a binary where it would silently not work.
#[cfg(panic = "abort")]
compile_error!("ingest turns a panic into a 500 with catch_unwind: build with panic = \"unwind\" (see [profile.release])");

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::header::{CONTENT_TYPE, LOCATION};
use base64::Engine as _;
use futures::FutureExt as _;
use orders::domain::{NewOrder, OrderId};
use orders::http::{json_response, ApiError};
use orders::ports::{OrderQueue, QueueError};
use serde::Serialize;

/// Largest accepted request body, in bytes (after base64 decoding).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What this function instance has seen since it started (the original design's debug
/// counters, returned with every accepted order).
#[derive(Debug, Default)]
pub struct Counters {
    received: AtomicU64,
    validated: AtomicU64,
    enqueued: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Requests received.
    pub received: u64,
    /// Requests that were valid orders.
    pub validated: u64,
    /// Orders the queue accepted.
    pub enqueued: u64,
}

impl Counters {
    /// Reads all three counters.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            received: self.received.load(Ordering::Relaxed),
            validated: self.validated.load(Ordering::Relaxed),
            enqueued: self.enqueued.load(Ordering::Relaxed),
        }
    }
}

/// The body of a 202 answer.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    /// The new order's id.
    pub order_id: OrderId,
    /// Always `queued`.
    pub status: &'static str,
    /// This instance's counters after accepting the order.
    pub debug: CounterSnapshot,
}

/// The ingest handler over any [`OrderQueue`].
#[derive(Debug)]
pub struct Ingest<Q> {
    queue: Q,
    counters: Counters,
    retry_after_seconds: u32,
}

impl<Q: OrderQueue> Ingest<Q> {
    /// A handler sending to `queue`, answering 503 with `Retry-After: retry_after_seconds`
    /// when the queue does not take an order.
    pub fn new(queue: Q, retry_after_seconds: u32) -> Self {
        Self {
            queue,
            counters: Counters::default(),
            retry_after_seconds,
        }
    }

    /// This instance's counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// The queue this handler sends to.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Handles one request. Never fails and never panics on any input: every outcome is an
    /// HTTP response (a bug that panics becomes a bare 500 `internal_error`).
    pub async fn handle(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let outcome = AssertUnwindSafe(self.accept(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!("ingest handler panicked; answering 500 without details");
                Err(ApiError::Internal)
            });
        match outcome {
            Ok(response) => response,
            Err(error) => {
                tracing::info!(
                    status = error.status(),
                    error = error.code(),
                    "order rejected"
                );
                error.into_response()
            }
        }
    }

    async fn accept(
        &self,
        request: &ApiGatewayProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, ApiError> {
        check_content_type(request)?;
        let body = decode_body(request)?;
        let order = NewOrder::parse_json(&body)?;
        self.counters.validated.fetch_add(1, Ordering::Relaxed);

        let order_id = OrderId::new_v7();
        let queued = order.accept(order_id, chrono::Utc::now());
        if let Err(error) = self.queue.enqueue(&queued).await {
            let kind = match error {
                QueueError::Throttled(_) => "throttled",
                QueueError::Unavailable(_) => "unavailable",
            };
            tracing::warn!(%order_id, kind, error = %error, "queue did not take the order");
            return Err(ApiError::ServiceUnavailable {
                retry_after_seconds: self.retry_after_seconds,
            });
        }
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%order_id, items = queued.items.len(), "order accepted and queued");

        let body = Accepted {
            order_id,
            status: "queued",
            debug: self.counters.snapshot(),
        };
        Ok(json_response(
            202,
            &body,
            [(LOCATION, format!("/orders/{order_id}"))],
        ))
    }
}

/// Accepts `application/json`, `application/<anything>+json` (with parameters such as
/// `charset`), or no Content-Type at all; anything else is 415.
fn check_content_type(request: &ApiGatewayProxyRequest) -> Result<(), ApiError> {
    let Some(value) = request.headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let raw = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(raw))
    }
}

/// The body as bytes, base64-decoded when API Gateway says so, refused when too large.
fn decode_body(request: &ApiGatewayProxyRequest) -> Result<Vec<u8>, ApiError> {
    let raw = request.body.as_deref().unwrap_or_default();
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    if !request.is_base64_encoded {
        return if raw.len() > MAX_BODY_BYTES {
            Err(too_large)
        } else {
            Ok(raw.as_bytes().to_vec())
        };
    }
    // Refuse oversized bodies before decoding them: 4 base64 characters carry 3 bytes.
    if raw.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
        return Err(too_large);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|e| ApiError::InvalidBody(format!("invalid base64: {e}")))?;
    if decoded.len() > MAX_BODY_BYTES {
        return Err(too_large);
    }
    Ok(decoded)
}
