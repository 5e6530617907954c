//! openapi.yaml is the single source of the request schema: the template's API Gateway
//! model is a copy of it (kept so by `scripts/sync-schema`), the local API validates with
//! it, and every error the code can produce is documented in it, on every operation that can
//! answer it (the list of errors is `ApiErrorKind`, derived from the type).

use orders_cli::openapi::{self, RequestValidator};
use orders_cli::settings::TEMPLATE;
use orders_domain::http::{ApiError, ApiErrorKind};
use orders_domain::{NewOrder, MAX_EMAIL_LEN, MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY};
use orders_template::Template;
use serde_json::{json, Value};
use strum::IntoEnumIterator as _;

fn template_model() -> Value {
    let template = Template::parse(TEMPLATE).unwrap();
    let model = template
        .properties("OrdersApi")
        .and_then(|p| p.get("Models"))
        .and_then(|m| m.get("Order"))
        .expect("template.yaml has OrdersApi.Models.Order")
        .clone();
    serde_json::to_value(model).unwrap()
}

#[test]
fn the_template_model_is_the_openapi_order_schema() {
    assert_eq!(
        template_model(),
        openapi::order_model().unwrap(),
        "template.yaml's Order model differs from openapi.yaml: run scripts/sync-schema"
    );
}

/// Which operations of openapi.yaml can answer each error: `paths` keys with the method, or
/// none for the errors any path can answer (no route, wrong method), which are documented in
/// `Error.error` only. An exhaustive match: a variant added to `ApiError` does not compile here
/// until it is placed, and the tests below then require it documented.
fn operations_answering(kind: ApiErrorKind) -> &'static [(&'static str, &'static str)] {
    const POST_ORDER: (&str, &str) = ("/order", "post");
    const GET_ORDER: (&str, &str) = ("/orders/{order_id}", "get");
    match kind {
        ApiErrorKind::InvalidJson
        | ApiErrorKind::Validation
        | ApiErrorKind::InvalidBody
        | ApiErrorKind::UnsupportedMediaType
        | ApiErrorKind::PayloadTooLarge
        | ApiErrorKind::ServiceUnavailable
        | ApiErrorKind::InvalidIdempotencyKey
        | ApiErrorKind::IdempotencyKeyReused
        | ApiErrorKind::IdempotencyKeyInUse => &[POST_ORDER],
        ApiErrorKind::InvalidOrderId
        | ApiErrorKind::OrderNotFound
        | ApiErrorKind::StoreUnavailable => &[GET_ORDER],
        ApiErrorKind::Internal => &[POST_ORDER, GET_ORDER],
        ApiErrorKind::RouteNotFound | ApiErrorKind::MethodNotAllowed => &[],
    }
}

/// One error of each kind (an exhaustive match too).
fn example(kind: ApiErrorKind) -> ApiError {
    match kind {
        ApiErrorKind::InvalidJson => ApiError::InvalidJson(String::new()),
        ApiErrorKind::Validation => ApiError::Validation(vec![]),
        ApiErrorKind::InvalidBody => ApiError::InvalidBody(String::new()),
        ApiErrorKind::UnsupportedMediaType => ApiError::UnsupportedMediaType(String::new()),
        ApiErrorKind::PayloadTooLarge => ApiError::PayloadTooLarge { limit: 1 },
        ApiErrorKind::ServiceUnavailable => ApiError::ServiceUnavailable {
            retry_after_seconds: 1,
        },
        ApiErrorKind::InvalidOrderId => ApiError::InvalidOrderId,
        ApiErrorKind::OrderNotFound => ApiError::OrderNotFound,
        ApiErrorKind::RouteNotFound => ApiError::RouteNotFound(String::new()),
        ApiErrorKind::MethodNotAllowed => ApiError::MethodNotAllowed {
            method: String::new(),
            allow: "GET",
        },
        ApiErrorKind::StoreUnavailable => ApiError::StoreUnavailable {
            retry_after_seconds: 1,
        },
        ApiErrorKind::InvalidIdempotencyKey => ApiError::InvalidIdempotencyKey(String::new()),
        ApiErrorKind::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
        ApiErrorKind::IdempotencyKeyInUse => ApiError::IdempotencyKeyInUse {
            retry_after_seconds: 1,
        },
        ApiErrorKind::Internal => ApiError::Internal,
    }
}

#[test]
fn every_error_code_the_code_produces_is_documented() {
    let doc = openapi::document().unwrap();
    let documented: Vec<&str> = doc
        .pointer("/components/schemas/Error/properties/error/enum")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for kind in ApiErrorKind::iter() {
        let code = example(kind).code();
        assert!(
            documented.contains(&code),
            "{code} ({kind:?}) is not in openapi.yaml's Error.error enum"
        );
    }
}

#[test]
fn every_status_an_operation_can_answer_is_documented_on_it() {
    let doc = openapi::document().unwrap();
    for kind in ApiErrorKind::iter() {
        let error = example(kind);
        for (path, method) in operations_answering(kind) {
            let responses = doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("openapi.yaml has no {method} {path}"));
            assert!(
                responses.contains_key(&error.status().to_string()),
                "{method} {path} can answer {} ({}) but openapi.yaml does not say so",
                error.status(),
                error.code()
            );
        }
    }
    let post = doc.pointer("/paths/~1order/post/responses").unwrap();
    assert!(post.get("202").is_some());
}

/// The API's edge (the request model, from openapi.yaml) and the function's parser agree on
/// every boundary the schema states: the same bodies pass both, and a body past one limit is
/// refused by both. (The parser checks more than the schema can say, e.g. the e-mail's
/// parts; those bodies pass the edge and get the function's 400 with `details`.)
#[test]
fn the_schema_and_the_parser_agree_on_every_boundary() {
    let validator = RequestValidator::order().unwrap();
    let item = |sku: &str, qty: Value| json!({"sku": sku, "qty": qty});
    let order = |email: &str, items: Vec<Value>| json!({"email": email, "items": items});
    let one = |sku: &str, qty: Value| order("jane@example.com", vec![item(sku, qty)]);
    // 64 characters before the @ and domain labels of at most 63 (rules only the parser
    // checks: the schema bounds the length alone).
    let longest_email = format!(
        "{}@{}.{}.{}.com",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(57)
    );
    assert_eq!(longest_email.len(), MAX_EMAIL_LEN);
    let longest_sku = "é".repeat(MAX_SKU_LEN);
    let cases = [
        (
            "every field at its limit",
            order(
                &longest_email,
                vec![item(&longest_sku, json!(MAX_QTY)); MAX_ITEMS],
            ),
            true,
        ),
        ("the least quantity", one("SKU-1", json!(MIN_QTY)), true),
        (
            "an e-mail one too long",
            order(&format!("a{longest_email}"), vec![item("S", json!(1))]),
            false,
        ),
        (
            "one item too many",
            order("jane@example.com", vec![item("S", json!(1)); MAX_ITEMS + 1]),
            false,
        ),
        ("no items", order("jane@example.com", vec![]), false),
        (
            "a SKU one too long",
            one(&"S".repeat(MAX_SKU_LEN + 1), json!(1)),
            false,
        ),
        ("a blank SKU", one("  ", json!(1)), false),
        (
            "a quantity below the least",
            one("S", json!(MIN_QTY - 1)),
            false,
        ),
        (
            "a quantity above the most",
            one("S", json!(MAX_QTY + 1)),
            false,
        ),
        ("a fractional quantity", one("S", json!(1.5)), false),
        ("no e-mail", json!({"items": [item("S", json!(1))]}), false),
    ];
    for (name, body, valid) in cases {
        let edge = validator.check(&body).is_ok();
        let parser = NewOrder::parse_json(body.to_string().as_bytes()).is_ok();
        assert_eq!(
            (edge, parser),
            (valid, valid),
            "{name}: the request model says {edge}, the parser {parser}, expected {valid}"
        );
    }
}

#[test]
fn the_committed_sample_events_agree_with_the_schema() {
    let validator = RequestValidator::order().unwrap();
    let body = |file: &str| -> Value {
        let event: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../../events/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
    };
    assert_eq!(validator.check(&body("order-valid.json")), Ok(()));
    let message = validator.check(&body("order-invalid.json")).unwrap_err();
    for path in [
        "/items/0/sku",
        "/items/0/qty",
        "/items/1/qty",
        "/items/2/qty",
    ] {
        assert!(message.contains(path), "{path} not reported: {message}");
    }
}
