//! The status handler: `GET /orders/{order_id}` (API Gateway REST proxy event).
//!
//! 200 with the stored order (the e-mail address masked: the route has no authentication,
//! and an id is all it asks for), 404 `not_found` while the order is not stored yet, 400
//! `invalid_order_id` for an id that is not a UUID, 503 when the table cannot be read.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use chrono::{DateTime, Utc};
use orders_domain::http::{json_response, ApiError};
use orders_domain::ports::OrderReader;
use orders_domain::{LineItem, OrderId, OrderStatus, StoredOrder};
use serde::Serialize;

/// The path parameter holding the id (`/orders/{order_id}`).
pub const ORDER_ID_PARAM: &str = "order_id";

/// What `GET /orders/{order_id}` returns for a stored order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    /// The order's id.
    pub order_id: OrderId,
    /// The customer's address, masked (`j***@example.com`).
    pub email: String,
    /// The line items.
    pub items: Vec<LineItem>,
    /// `processed`.
    pub status: OrderStatus,
    /// When ingest accepted it.
    pub received_at: DateTime<Utc>,
    /// When the worker stored it.
    pub processed_at: DateTime<Utc>,
    /// Worker time spent on it.
    pub processing_ms: u64,
    /// Deliveries it took.
    pub attempts: u32,
}

impl From<StoredOrder> for OrderView {
    fn from(order: StoredOrder) -> Self {
        Self {
            order_id: order.order_id,
            email: order.email.masked(),
            items: order.items.into(),
            status: order.status,
            received_at: order.received_at,
            processed_at: order.processed_at,
            processing_ms: order.processing_ms,
            attempts: order.attempts,
        }
    }
}

/// The status handler over any [`OrderReader`].
#[derive(Debug)]
pub struct Status<R> {
    reader: R,
    retry_after_seconds: u32,
}

impl<R: OrderReader> Status<R> {
    /// A handler reading from `reader`.
    pub fn new(reader: R, retry_after_seconds: u32) -> Self {
        Self {
            reader,
            retry_after_seconds,
        }
    }

    /// Handles one request; every outcome is an HTTP response.
    pub async fn handle(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        match self.lookup(request).await {
            Ok(view) => json_response(200, &view, []),
            Err(error) => error.into_response(),
        }
    }

    async fn lookup(&self, request: &ApiGatewayProxyRequest) -> Result<OrderView, ApiError> {
        let raw = request
            .path_parameters
            .get(ORDER_ID_PARAM)
            .map(String::as_str)
            .or_else(|| request.path.as_deref()?.strip_prefix("/orders/"))
            .unwrap_or_default();
        let order_id: OrderId = raw.parse().map_err(|_| ApiError::InvalidOrderId)?;
        match self.reader.get(&order_id).await {
            Ok(Some(order)) => Ok(order.into()),
            Ok(None) => Err(ApiError::OrderNotFound),
            Err(error) => {
                tracing::warn!(%order_id, error = %error, "order lookup failed");
                Err(ApiError::StoreUnavailable {
                    retry_after_seconds: self.retry_after_seconds,
                })
            }
        }
    }
}
