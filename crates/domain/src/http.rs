//! The one place where errors become HTTP responses (API Gateway REST proxy shape).
//!
//! Every error answer is JSON: `{"error": "<stable code>", "message": "<for humans>"}`, plus
//! `details` for validation failures. Handlers return [`ApiError`]; nothing else builds an
//! error response, so codes and statuses cannot drift between routes or between the Lambda
//! and the local API.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::json;

use crate::{FieldError, OrderRejection};

/// Everything an API request can fail with.
///
/// With the feature `test-util`, `ApiErrorKind` lists every variant (`strum`'s
/// `EnumDiscriminants` + `EnumIter`), so a contract test can cover a variant added later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(
    feature = "test-util",
    derive(strum::EnumDiscriminants),
    strum_discriminants(name(ApiErrorKind), derive(strum::EnumIter))
)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but not a valid order.
    #[error("the order is invalid")]
    Validation(Vec<FieldError>),
    /// The body could not be decoded (bad base64 from API Gateway).
    #[error("request body could not be decoded: {0}")]
    InvalidBody(String),
    /// The Content-Type is not JSON.
    #[error("Content-Type {0:?} is not supported; send application/json")]
    UnsupportedMediaType(String),
    /// The body is larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The queue is unreachable or throttling: nothing was accepted, retry later.
    #[error("orders cannot be accepted right now; retry after {retry_after_seconds} seconds")]
    ServiceUnavailable {
        /// Seconds for the `Retry-After` header.
        retry_after_seconds: u32,
    },
    /// The path's order id is not a UUID.
    #[error("order id must be a UUID")]
    InvalidOrderId,
    /// No order with this id is stored (yet).
    #[error(
        "no order with this id is stored (yet); orders appear once the worker has processed them"
    )]
    OrderNotFound,
    /// No such route.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The route exists but not with this method.
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the route accepts, for the `Allow` header.
        allow: &'static str,
    },
    /// The table is unreachable or throttling reads.
    #[error("orders cannot be read right now; retry after {retry_after_seconds} seconds")]
    StoreUnavailable {
        /// Seconds for the `Retry-After` header.
        retry_after_seconds: u32,
    },
    /// The `Idempotency-Key` header is malformed.
    #[error("{0}")]
    InvalidIdempotencyKey(String),
    /// The key was already used with a different request body.
    #[error("this Idempotency-Key was already used with a different request; use a new key for a new order")]
    IdempotencyKeyReused,
    /// A request with this key is still being processed.
    #[error("a request with this Idempotency-Key is still in progress; retry after {retry_after_seconds} seconds")]
    IdempotencyKeyInUse {
        /// Seconds for the `Retry-After` header.
        retry_after_seconds: u32,
    },
    /// A failure that is our fault; the message never carries internal detail.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidJson(_)
            | Self::Validation(_)
            | Self::InvalidBody(_)
            | Self::InvalidOrderId
            | Self::InvalidIdempotencyKey(_) => 400,
            Self::IdempotencyKeyInUse { .. } => 409,
            Self::IdempotencyKeyReused => 422,
            Self::OrderNotFound | Self::RouteNotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::StoreUnavailable { .. } => 503,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::ServiceUnavailable { .. } => 503,
            Self::Internal => 500,
        }
    }

    /// The stable, machine-readable code in the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::Validation(_) => "validation_failed",
            Self::InvalidBody(_) => "invalid_body",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::ServiceUnavailable { .. } | Self::StoreUnavailable { .. } => {
                "service_unavailable"
            }
            Self::InvalidOrderId => "invalid_order_id",
            Self::InvalidIdempotencyKey(_) => "invalid_idempotency_key",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse { .. } => "idempotency_key_in_use",
            Self::OrderNotFound | Self::RouteNotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Internal => "internal_error",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        if let Self::Validation(details) = self {
            body["details"] = json!(details);
        }
        body
    }

    /// The full API Gateway response.
    pub fn into_response(self) -> ApiGatewayProxyResponse {
        let mut extra = Vec::new();
        match &self {
            Self::ServiceUnavailable {
                retry_after_seconds,
            }
            | Self::StoreUnavailable {
                retry_after_seconds,
            }
            | Self::IdempotencyKeyInUse {
                retry_after_seconds,
            } => extra.push((RETRY_AFTER, retry_after_seconds.to_string())),
            Self::MethodNotAllowed { allow, .. } => extra.push((ALLOW, (*allow).to_owned())),
            _ => {}
        }
        json_response(self.status(), &self.body(), extra)
    }
}

impl From<OrderRejection> for ApiError {
    fn from(value: OrderRejection) -> Self {
        match value {
            OrderRejection::InvalidJson(m) => Self::InvalidJson(m),
            OrderRejection::Validation(d) => Self::Validation(d),
        }
    }
}

/// A JSON response with `Content-Type: application/json` and any extra headers.
pub fn json_response(
    status: u16,
    body: &impl Serialize,
    extra_headers: impl IntoIterator<Item = (HeaderName, String)>,
) -> ApiGatewayProxyResponse {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    raw_json_response(status, text, extra_headers)
}

/// A response whose JSON body is already serialized (a replayed idempotent answer).
pub fn raw_json_response(
    status: u16,
    body: String,
    extra_headers: impl IntoIterator<Item = (HeaderName, String)>,
) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in extra_headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = Some(Body::Text(body));
    response
}
