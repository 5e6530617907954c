//! The parser's oracle (feature `test-util`): what every answer of [`NewOrder::parse_json`]
//! must satisfy, checked on any input. The fuzz target (`fuzz/`) and the property tests
//! (`tests/hostile_input.rs`) both call [`check_parse`], so the rules are written once.
//!
//! - accepted: the order keeps every rule (1 to `MAX_ITEMS` items, quantities in range,
//!   SKUs and e-mail re-parse to themselves); its canonical JSON parses back to an equal
//!   order; and the queue message ingest would send for it is accepted by the worker's
//!   parser as the same order (what ingest accepts, the worker must never dead-letter);
//! - refused: non-JSON is `InvalidJson` (and only non-JSON is); a JSON value that breaks a
//!   rule is `Validation` with a non-empty, bounded list of distinct errors, each naming a
//!   well-formed field path (`body`, `email`, `items`, `items[i]`, `items[i].sku|qty`, with
//!   `i` an index of the request's array) and a message; the API answer for it is a 400 whose
//!   JSON body carries the stable `error` code and those `details`;
//! - parsing is deterministic.
//!
//! Every check panics with what broke (the fuzzer and proptest report a panic as a failure).

use std::collections::HashSet;

use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::http::ApiError;
use crate::{
    Email, FieldError, NewOrder, OrderId, OrderRejection, QueuedOrder, Sku, MAX_EMAIL_LEN,
    MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY,
};

/// Parses `data` as a `POST /order` body, checks the answer against every rule above, and
/// returns it (so callers can count what was accepted and refused).
pub fn check_parse(data: &[u8]) -> Result<NewOrder, OrderRejection> {
    let result = NewOrder::parse_json(data);
    assert_eq!(
        result,
        NewOrder::parse_json(data),
        "parsing is not deterministic"
    );
    match &result {
        Ok(order) => check_accepted(data, order),
        Err(rejection) => check_refused(data, rejection.clone()),
    }
    result
}

/// Checks an accepted body: the order keeps every rule and survives both round trips.
pub fn check_accepted(data: &[u8], order: &NewOrder) {
    let value: Value = serde_json::from_slice(data).expect("an accepted body is JSON");
    assert!(value.is_object(), "an accepted body is a JSON object");

    let email = order.email().as_str();
    assert!(
        !email.is_empty() && email.len() <= MAX_EMAIL_LEN,
        "email length"
    );
    assert_eq!(email.matches('@').count(), 1, "email has exactly one @");
    assert_eq!(Email::parse(email).as_ref(), Ok(order.email()));
    assert_eq!(
        value["email"],
        json!(email),
        "email is the request's, unchanged"
    );

    let items = order.items().as_slice();
    assert!((1..=MAX_ITEMS).contains(&items.len()), "item count");
    assert_eq!(order.items().len(), items.len());
    assert!(!order.items().is_empty());
    let requested = value["items"].as_array().expect("items is an array");
    assert_eq!(requested.len(), items.len(), "every requested item is kept");
    for (item, raw) in items.iter().zip(requested) {
        let sku = item.sku.as_str();
        assert!(!sku.trim().is_empty(), "sku is not blank");
        assert!(sku.chars().count() <= MAX_SKU_LEN, "sku length");
        assert!(
            !sku.chars().any(char::is_control),
            "sku has no control character"
        );
        assert_eq!(Sku::parse(sku).as_ref(), Ok(&item.sku));
        assert!((MIN_QTY..=MAX_QTY).contains(&item.qty.get()), "qty range");
        assert_eq!(raw["sku"], json!(sku), "sku is the request's, unchanged");
        assert_eq!(
            raw["qty"].as_u64(),
            Some(u64::from(item.qty.get())),
            "qty unchanged"
        );
    }

    // Canonical JSON of the order parses back to an equal order.
    let canonical = json!({
        "email": email,
        "items": items
            .iter()
            .map(|i| json!({"sku": i.sku.as_str(), "qty": i.qty.get()}))
            .collect::<Vec<_>>(),
    });
    let reparsed = NewOrder::parse_json(canonical.to_string().as_bytes());
    assert_eq!(reparsed.as_ref(), Ok(order), "canonical JSON round trip");

    // The queue message ingest sends is read back by the worker as the same order.
    let order_id: OrderId = "0193a5b0-7e1c-7b3a-9d4e-5f6a7b8c9d01".parse().unwrap();
    let received_at: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
    let queued = order.clone().accept(order_id, received_at);
    let body = queued.to_message_body();
    match QueuedOrder::from_message_body(&body) {
        Ok(back) => assert_eq!(back, queued, "queue message round trip"),
        Err(e) => panic!("the worker refuses a message ingest would send: {e}"),
    }
}

/// Checks a refused body: the right kind of refusal, well-formed errors, the 400 answer.
pub fn check_refused(data: &[u8], rejection: OrderRejection) {
    let value = serde_json::from_slice::<Value>(data);
    match &rejection {
        OrderRejection::InvalidJson(message) => {
            assert!(value.is_err(), "valid JSON refused as invalid_json");
            assert!(!message.is_empty(), "invalid_json without a message");
        }
        OrderRejection::Validation(errors) => {
            let value = value.expect("a validation failure is for a JSON body");
            check_field_errors(&value, errors);
        }
    }

    // The API answer: 400, JSON, a stable code, every detail carried over.
    let errors = match &rejection {
        OrderRejection::Validation(errors) => Some(errors.clone()),
        OrderRejection::InvalidJson(_) => None,
    };
    let api = ApiError::from(rejection);
    assert_eq!(api.status(), 400);
    let code = api.code();
    assert_eq!(
        code,
        if errors.is_some() {
            "validation_failed"
        } else {
            "invalid_json"
        }
    );
    let response = api.into_response();
    assert_eq!(response.status_code, 400);
    assert_eq!(
        response.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let Some(Body::Text(text)) = response.body else {
        panic!("an error response without a text body: {:?}", response.body);
    };
    let body: Value = serde_json::from_str(&text).expect("the error body is JSON");
    assert_eq!(body["error"], json!(code));
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message"
    );
    if let Some(errors) = errors {
        let details = body["details"].as_array().expect("validation details");
        assert_eq!(details.len(), errors.len());
        for (detail, error) in details.iter().zip(&errors) {
            assert_eq!(detail["field"], json!(error.field));
            assert_eq!(detail["message"], json!(error.message));
        }
    }
}

fn check_field_errors(value: &Value, errors: &[FieldError]) {
    assert!(
        !errors.is_empty(),
        "a validation failure lists its problems"
    );
    // email, items, and at most sku + qty for each of at most MAX_ITEMS entries.
    assert!(errors.len() <= 2 + 2 * MAX_ITEMS, "{} errors", errors.len());
    let mut seen = HashSet::new();
    for error in errors {
        assert!(!error.message.is_empty(), "{error:?} has no message");
        assert!(seen.insert(&error.field), "{} reported twice", error.field);
        match error.field.as_str() {
            "body" => {
                assert!(!value.is_object(), "body error for an object");
                assert_eq!(errors.len(), 1, "body error with others");
            }
            "email" | "items" => assert!(value.is_object()),
            path => {
                let index = item_index(path).unwrap_or_else(|| panic!("bad field path {path:?}"));
                let entries = value["items"].as_array().expect("items[i] of an array");
                assert!(
                    index < entries.len() && index < MAX_ITEMS,
                    "{path} out of range"
                );
            }
        }
    }
}

/// `i` of `items[i]`, `items[i].sku` or `items[i].qty`.
fn item_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("items[")?;
    let (digits, tail) = rest.split_once(']')?;
    if !matches!(tail, "" | ".sku" | ".qty") || digits.is_empty() {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}
