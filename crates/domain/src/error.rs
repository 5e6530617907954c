//! Why an order request was refused.

use serde::Serialize;

/// One problem with one field of a request, such as `items[2].qty`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field: `email`, `items`, `items[2].qty`, or `body` for the whole body.
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a request body is not an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRejection {
    /// The body is not JSON at all.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON, but breaks one or more rules; every problem is listed.
    #[error("order failed validation ({} problems)", .0.len())]
    Validation(Vec<FieldError>),
}
