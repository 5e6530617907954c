//! The ingest handler: `POST /order` (API Gateway REST proxy event) to the order queue.
//!
//! It parses the body into a [`NewOrder`] (every problem reported at once), gives it a
//! UUIDv7 `order_id`, and answers 202 only once the queue holds it. Any failure is an
//! [`ApiError`], turned into a response in one place ([`orders_domain::http`]).
//!
//! Metrics (through the `metrics` facade, label `Function=ingest`): `OrdersReceived` for
//! every request, `OrdersRejected` (label `ErrorCode`) for every 4xx answer,
//! `OrdersEnqueued` when the queue took an order, `EnqueueFailed` when it refused one
//! (503), `ColdStart` on the first request of a handler instance. An idempotent replay is
//! received but neither enqueued nor rejected: nothing new reached the queue.

// Panic isolation needs unwinding: refuse to build a binary where it would silently not work.
#[cfg(panic = "abort")]
compile_error!("ingest turns a panic into a 500 with catch_unwind: build with panic = \"unwind\" (see [profile.release])");

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::header::{CONTENT_TYPE, LOCATION};
use aws_lambda_events::http::HeaderName;
use base64::Engine as _;
use futures::FutureExt as _;
use orders_domain::http::{raw_json_response, ApiError};
use orders_domain::ports::{
    Claim, IdempotencyRecord, IdempotencyStore, OrderQueue, QueueError, StoreError,
};
use orders_domain::{Fingerprint, IdempotencyKey, NewOrder, OrderId};
use orders_platform::metrics::{dimensions, names};
use serde::Serialize;
use tracing::Instrument as _;

/// The `Function` dimension of this function's metrics.
pub const FUNCTION: &str = "ingest";

/// Adds `n` to one of this function's counters.
fn count(name: &'static str, n: u64) {
    metrics::counter!(name, dimensions::FUNCTION => FUNCTION).increment(n);
}

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

/// How long a request may hold an idempotency key before a retry may take the key over
/// (well above the function timeout, so a live request is never overtaken).
pub const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(30);

/// Name of the request header carrying the idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Marks a replayed answer to a retried idempotent request.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The store type of a handler built without one ([`Ingest::new`]): it has no values, so
/// such a handler can only hold `None`, and ignores the `Idempotency-Key` header.
#[derive(Debug, Clone, Copy)]
pub enum NoIdempotency {}

impl IdempotencyStore for NoIdempotency {
    async fn claim(&self, _: &IdempotencyRecord) -> Result<Claim, StoreError> {
        match *self {}
    }
    async fn complete(&self, _: &IdempotencyKey, _: &str) -> Result<(), StoreError> {
        match *self {}
    }
    async fn release(&self, _: &IdempotencyKey) -> Result<(), StoreError> {
        match *self {}
    }
    async fn take_over(&self, _: &IdempotencyKey, _: i64, _: i64) -> Result<bool, StoreError> {
        match *self {}
    }
}

/// The ingest handler over any [`OrderQueue`] and [`IdempotencyStore`].
#[derive(Debug)]
pub struct Ingest<Q, I = NoIdempotency> {
    queue: Q,
    /// Where `Idempotency-Key`s are remembered; `None`: the header is ignored (tests, and
    /// deployments that choose not to offer idempotent retries).
    idempotency: Option<I>,
    counters: Counters,
    retry_after_seconds: u32,
    cold: AtomicBool,
}

impl<Q: OrderQueue> Ingest<Q, NoIdempotency> {
    /// A handler sending to `queue`, answering 503 with `Retry-After: retry_after_seconds`
    /// when the queue does not take an order.
    pub fn new(queue: Q, retry_after_seconds: u32) -> Self {
        Self {
            queue,
            idempotency: None,
            counters: Counters::default(),
            retry_after_seconds,
            cold: AtomicBool::new(true),
        }
    }
}

impl<Q: OrderQueue, I: IdempotencyStore> Ingest<Q, I> {
    /// The same handler, remembering `Idempotency-Key`s in `store`.
    pub fn with_idempotency<J: IdempotencyStore>(self, store: J) -> Ingest<Q, J> {
        self.with_optional_idempotency(Some(store))
    }

    /// The same handler, remembering `Idempotency-Key`s in `store` if there is one (the
    /// deployment's choice, read at init).
    pub fn with_optional_idempotency<J: IdempotencyStore>(self, store: Option<J>) -> Ingest<Q, J> {
        Ingest {
            queue: self.queue,
            idempotency: store,
            counters: self.counters,
            retry_after_seconds: self.retry_after_seconds,
            cold: self.cold,
        }
    }

    /// The idempotency store, if this handler has one.
    pub fn idempotency(&self) -> Option<&I> {
        self.idempotency.as_ref()
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
        // API Gateway's request id (the access log's `requestId`) on every line of this
        // request: an order is followed from the access log to here, then by its order_id.
        let context = tracing::info_span!(
            target: orders_platform::telemetry::LOG_CONTEXT,
            "request",
            api_request_id = request.request_context.request_id.as_deref(),
        );
        self.handle_in_context(request).instrument(context).await
    }

    async fn handle_in_context(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        if self.cold.swap(false, Ordering::Relaxed) {
            count(names::COLD_START, 1);
        }
        count(names::ORDERS_RECEIVED, 1);
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
                if (400..500).contains(&error.status()) {
                    metrics::counter!(
                        names::ORDERS_REJECTED,
                        dimensions::FUNCTION => FUNCTION,
                        dimensions::ERROR_CODE => error.code()
                    )
                    .increment(1);
                }
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
        let key = idempotency_key(request)?;
        let order = NewOrder::parse_json(&body)?;
        self.counters.validated.fetch_add(1, Ordering::Relaxed);

        let (Some(key), Some(store)) = (key, &self.idempotency) else {
            let (order_id, body) = self.enqueue(order, OrderId::new_v7()).await?;
            return Ok(accepted(order_id, body, false));
        };
        let record = IdempotencyRecord {
            key: key.clone(),
            fingerprint: Fingerprint::of(&body),
            order_id: OrderId::new_v7(),
            response: None,
            started_at_ms: now_ms(),
        };
        match store
            .claim(&record)
            .await
            .map_err(|e| self.unavailable(&e))?
        {
            Claim::Claimed => {
                self.enqueue_holding(store, &key, order, record.order_id)
                    .await
            }
            Claim::Existing(existing) if existing.fingerprint != record.fingerprint => {
                tracing::info!(order_id = %existing.order_id, "idempotency key reused with a different body");
                Err(ApiError::IdempotencyKeyReused)
            }
            Claim::Existing(IdempotencyRecord {
                order_id,
                response: Some(body),
                ..
            }) => {
                tracing::info!(%order_id, "idempotent retry: replaying the first answer");
                Ok(accepted(order_id, body, true))
            }
            Claim::Existing(existing) => {
                let held_for = record.started_at_ms - existing.started_at_ms;
                let in_use = ApiError::IdempotencyKeyInUse {
                    retry_after_seconds: 1,
                };
                if held_for < IDEMPOTENCY_LEASE.as_millis() as i64 {
                    return Err(in_use);
                }
                let took_over = store
                    .take_over(&key, existing.started_at_ms, record.started_at_ms)
                    .await
                    .map_err(|e| self.unavailable(&e))?;
                if !took_over {
                    return Err(in_use);
                }
                // The first attempt stopped after claiming the key: finish its work with
                // its order id (a duplicate message is stored once by the worker).
                tracing::warn!(order_id = %existing.order_id, "taking over an abandoned idempotency key");
                self.enqueue_holding(store, &key, order, existing.order_id)
                    .await
            }
        }
    }

    /// Enqueues while holding `key`: completes the key with the answer, or releases it when
    /// the order could not be queued, so a retry starts over.
    async fn enqueue_holding(
        &self,
        store: &I,
        key: &IdempotencyKey,
        order: NewOrder,
        order_id: OrderId,
    ) -> Result<ApiGatewayProxyResponse, ApiError> {
        match self.enqueue(order, order_id).await {
            Ok((order_id, body)) => {
                if let Err(e) = store.complete(key, &body).await {
                    // The order is queued; a retry will find the key in progress, wait out
                    // the lease, and re-send the same order id (stored once).
                    tracing::warn!(%order_id, error = %e, "could not record the idempotent answer");
                }
                Ok(accepted(order_id, body, false))
            }
            Err(error) => {
                if let Err(e) = store.release(key).await {
                    tracing::warn!(%order_id, error = %e, "could not release the idempotency key; it frees itself after the lease");
                }
                Err(error)
            }
        }
    }

    /// Puts the order on the queue; returns its id and the 202 body.
    async fn enqueue(
        &self,
        order: NewOrder,
        order_id: OrderId,
    ) -> Result<(OrderId, String), ApiError> {
        let queued = order.accept(order_id, chrono::Utc::now());
        if let Err(error) = self.queue.enqueue(&queued).await {
            let kind = match error {
                QueueError::Throttled(_) => "throttled",
                QueueError::Unavailable(_) => "unavailable",
            };
            tracing::warn!(%order_id, kind, error = %error, "queue did not take the order");
            count(names::ENQUEUE_FAILED, 1);
            return Err(ApiError::ServiceUnavailable {
                retry_after_seconds: self.retry_after_seconds,
            });
        }
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        count(names::ORDERS_ENQUEUED, 1);
        tracing::info!(%order_id, items = queued.items.len(), "order accepted and queued");
        let body = Accepted {
            order_id,
            status: "queued",
            debug: self.counters.snapshot(),
        };
        let text = serde_json::to_string(&body).map_err(|_| ApiError::Internal)?;
        Ok((order_id, text))
    }

    fn unavailable(&self, error: &StoreError) -> ApiError {
        tracing::warn!(error = %error, "idempotency store unavailable");
        ApiError::ServiceUnavailable {
            retry_after_seconds: self.retry_after_seconds,
        }
    }
}

/// The 202 answer: `Location`, and `Idempotent-Replayed: true` on a replay.
fn accepted(order_id: OrderId, body: String, replayed: bool) -> ApiGatewayProxyResponse {
    let mut headers = vec![(LOCATION, format!("/orders/{order_id}"))];
    if replayed {
        headers.push((HeaderName::from_static(REPLAYED_HEADER), "true".to_owned()));
    }
    raw_json_response(202, body, headers)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The `Idempotency-Key` header, if any.
fn idempotency_key(request: &ApiGatewayProxyRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    match request.headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => Ok(None),
        Some(value) => {
            let text = value.to_str().map_err(|_| {
                ApiError::InvalidIdempotencyKey("Idempotency-Key must be visible ASCII".into())
            })?;
            IdempotencyKey::parse(text)
                .map(Some)
                .map_err(ApiError::InvalidIdempotencyKey)
        }
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
