//! The order as the rest of the system sees it: types that can only hold valid data.
//!
//! A request body is parsed once, at the edge, into a [`NewOrder`]; everything after that
//! works with types whose constructors enforce the rules, so no later code re-checks them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{FieldError, OrderRejection};
use super::id::OrderId;

/// Longest accepted e-mail address, in bytes (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest accepted local part of an e-mail address, in bytes (RFC 5321).
pub const MAX_EMAIL_LOCAL_LEN: usize = 64;
/// Most line items in one order.
pub const MAX_ITEMS: usize = 100;
/// Longest accepted SKU, in characters.
pub const MAX_SKU_LEN: usize = 64;
/// Smallest quantity of one line item.
pub const MIN_QTY: u32 = 1;
/// Largest quantity of one line item.
pub const MAX_QTY: u32 = 10_000;

/// A plausible e-mail address. Its `Debug` and `Display` forms are masked, so an address
/// cannot reach a log line by accident; use [`Email::as_str`] where the real value is needed.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address, returning a human-readable reason when it is not plausible.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > MAX_EMAIL_LEN {
            return Err(format!("must be at most {MAX_EMAIL_LEN} characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err("must contain an @".into());
        };
        if local.contains('@') {
            return Err("must contain exactly one @".into());
        }
        if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_LEN {
            return Err(format!(
                "must have 1 to {MAX_EMAIL_LOCAL_LEN} characters before the @"
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("must not have a leading, trailing or double dot before the @".into());
        }
        if local.chars().any(|c| "()<>[]\\,;:\"".contains(c)) {
            return Err("must not contain ()<>[]\\,;:\" before the @".into());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err("must have a domain with a dot, such as example.com".into());
        }
        for label in &labels {
            let valid_chars = label.chars().all(|c| c.is_alphanumeric() || c == '-');
            if label.is_empty()
                || label.len() > 63
                || !valid_chars
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err("must have a valid domain after the @".into());
            }
        }
        let tld = labels[labels.len() - 1];
        if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
            return Err("must end in a valid top-level domain".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The address itself. Never log this; log [`Email::masked`] instead.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with all but the first character of the local part hidden: `j***@example.com`.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// Masks any string that looks like an e-mail address (`j***@example.com`); anything else
/// becomes `***`. Used for log fields that may carry an address.
pub fn mask_email(raw: &str) -> String {
    match raw.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value).map_err(|m| format!("email {m}"))
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// A stock keeping unit: 1 to 64 characters, not blank, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// Parses a SKU, returning a human-readable reason when it is invalid.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty or blank".into());
        }
        if raw.chars().count() > MAX_SKU_LEN {
            return Err(format!("must be at most {MAX_SKU_LEN} characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Sku::parse(&value).map_err(|m| format!("sku {m}"))
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

/// A line item quantity: a whole number from [`MIN_QTY`] to [`MAX_QTY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Checks the range of an already whole number.
    pub fn new(value: u64) -> Result<Self, String> {
        match u32::try_from(value) {
            Ok(v) if (MIN_QTY..=MAX_QTY).contains(&v) => Ok(Self(v)),
            _ => Err(format!("must be between {MIN_QTY} and {MAX_QTY}")),
        }
    }

    /// Parses a JSON value: only a JSON integer in range is a quantity (`"2"`, `2.5`, `0`,
    /// `-1` are not).
    pub fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => {
                if let Some(v) = n.as_u64() {
                    Self::new(v)
                } else if n.is_i64() {
                    Err(format!("must be between {MIN_QTY} and {MAX_QTY}"))
                } else {
                    Err("must be a whole number, not a fraction or exponent".into())
                }
            }
            other => Err(format!("must be an integer, not {}", json_type(other))),
        }
    }

    /// The quantity as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for Quantity {
    type Error = String;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Quantity::new(value).map_err(|m| format!("qty {m}"))
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// What is ordered.
    pub sku: Sku,
    /// How many.
    pub qty: Quantity,
}

/// The line items of an order: 1 to [`MAX_ITEMS`] entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LineItem>", into = "Vec<LineItem>")]
pub struct Items(Vec<LineItem>);

impl Items {
    /// Checks the number of entries.
    pub fn new(items: Vec<LineItem>) -> Result<Self, String> {
        Self::check_len(items.len())?;
        Ok(Self(items))
    }

    /// The rule on the number of entries, shared by [`Items::new`] and the request parser.
    fn check_len(len: usize) -> Result<(), String> {
        match len {
            0 => Err("must contain at least 1 item".into()),
            n if n > MAX_ITEMS => Err(format!("must contain at most {MAX_ITEMS} items")),
            _ => Ok(()),
        }
    }

    /// The entries, in request order.
    pub fn as_slice(&self) -> &[LineItem] {
        &self.0
    }

    /// Number of entries (never zero).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an order has at least one item. Present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<LineItem>> for Items {
    type Error = String;
    fn try_from(value: Vec<LineItem>) -> Result<Self, Self::Error> {
        Items::new(value).map_err(|m| format!("items {m}"))
    }
}

impl From<Items> for Vec<LineItem> {
    fn from(value: Items) -> Self {
        value.0
    }
}

/// A valid order request. It can only be built by [`NewOrder::parse_json`] or
/// [`NewOrder::from_value`], which report every problem of the input at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    email: Email,
    items: Items,
}

impl NewOrder {
    /// Parses a request body: malformed JSON is [`OrderRejection::InvalidJson`], a JSON value
    /// that breaks any rule is [`OrderRejection::Validation`] listing every problem.
    pub fn parse_json(body: &[u8]) -> Result<Self, OrderRejection> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| OrderRejection::InvalidJson(e.to_string()))?;
        Self::from_value(&value).map_err(OrderRejection::Validation)
    }

    /// Validates an already decoded JSON value, collecting every field error.
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            return Err(vec![FieldError::new(
                "body",
                format!("must be a JSON object, not {}", json_type(value)),
            )]);
        };
        let mut errors = Vec::new();

        let email = match map.get("email") {
            None | Some(Value::Null) => {
                errors.push(FieldError::new("email", "is required"));
                None
            }
            Some(Value::String(s)) => Email::parse(s)
                .map_err(|m| errors.push(FieldError::new("email", m)))
                .ok(),
            Some(other) => {
                errors.push(FieldError::new(
                    "email",
                    format!("must be a string, not {}", json_type(other)),
                ));
                None
            }
        };

        let items = match map.get("items") {
            None | Some(Value::Null) => {
                errors.push(FieldError::new("items", "is required"));
                None
            }
            Some(Value::Array(entries)) => parse_items(entries, &mut errors),
            Some(other) => {
                errors.push(FieldError::new(
                    "items",
                    format!("must be an array, not {}", json_type(other)),
                ));
                None
            }
        };

        match (email, items) {
            (Some(email), Some(items)) if errors.is_empty() => Ok(Self { email, items }),
            _ => Err(errors),
        }
    }

    /// The customer's address.
    pub fn email(&self) -> &Email {
        &self.email
    }

    /// The line items.
    pub fn items(&self) -> &Items {
        &self.items
    }

    /// Gives the order its identity and arrival time, making it ready for the queue.
    pub fn accept(self, order_id: OrderId, received_at: DateTime<Utc>) -> QueuedOrder {
        QueuedOrder {
            order_id,
            email: self.email,
            items: self.items,
            received_at,
        }
    }
}

fn parse_items(entries: &[Value], errors: &mut Vec<FieldError>) -> Option<Items> {
    if let Err(reason) = Items::check_len(entries.len()) {
        errors.push(FieldError::new("items", reason));
        return None;
    }
    let before = errors.len();
    let mut parsed = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(fields) = entry else {
            errors.push(FieldError::new(
                format!("items[{i}]"),
                format!("must be an object, not {}", json_type(entry)),
            ));
            continue;
        };
        let sku = match fields.get("sku") {
            None | Some(Value::Null) => Err("is required".to_owned()),
            Some(Value::String(s)) => Sku::parse(s),
            Some(other) => Err(format!("must be a string, not {}", json_type(other))),
        };
        let qty = match fields.get("qty") {
            None | Some(Value::Null) => Err("is required".to_owned()),
            Some(v) => Quantity::from_json(v),
        };
        match (sku, qty) {
            (Ok(sku), Ok(qty)) => parsed.push(LineItem { sku, qty }),
            (sku, qty) => {
                if let Err(m) = sku {
                    errors.push(FieldError::new(format!("items[{i}].sku"), m));
                }
                if let Err(m) = qty {
                    errors.push(FieldError::new(format!("items[{i}].qty"), m));
                }
            }
        }
    }
    if errors.len() > before {
        return None;
    }
    Items::new(parsed).ok()
}

/// The JSON type name of a value, for error messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An accepted order as it travels on the queue: the SQS message body.
///
/// Deserializing it re-checks every field through the domain types, so a tampered or
/// truncated message is rejected by the worker instead of being stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedOrder {
    /// Identity given at ingest (UUIDv7).
    pub order_id: OrderId,
    /// The customer's address.
    pub email: Email,
    /// The line items.
    pub items: Items,
    /// When ingest accepted the order (RFC 3339).
    pub received_at: DateTime<Utc>,
}

impl QueuedOrder {
    /// The message body sent to the queue.
    pub fn to_message_body(&self) -> String {
        serde_json::to_string(self).expect("a QueuedOrder always serializes")
    }

    /// Parses a message body received from the queue.
    pub fn from_message_body(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// Processing state of a stored order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// The worker has processed and stored the order.
    Processed,
}

/// An order as stored in the table, the source of truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    /// Partition key.
    pub order_id: OrderId,
    /// The customer's address.
    pub email: Email,
    /// The line items.
    pub items: Items,
    /// Always [`OrderStatus::Processed`] for now.
    pub status: OrderStatus,
    /// When ingest accepted the order.
    pub received_at: DateTime<Utc>,
    /// When the worker stored it.
    pub processed_at: DateTime<Utc>,
    /// How long the worker spent on it, in milliseconds.
    pub processing_ms: u64,
    /// How many times the queue delivered it (ApproximateReceiveCount).
    pub attempts: u32,
}

impl StoredOrder {
    /// The stored form of a processed queued order.
    pub fn processed(
        order: QueuedOrder,
        processed_at: DateTime<Utc>,
        processing_ms: u64,
        attempts: u32,
    ) -> Self {
        Self {
            order_id: order.order_id,
            email: order.email,
            items: order.items,
            status: OrderStatus::Processed,
            received_at: order.received_at,
            processed_at,
            processing_ms,
            attempts,
        }
    }
}
