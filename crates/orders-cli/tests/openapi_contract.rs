//! openapi.yaml is the single source of the request schema: the template's API Gateway
//! model is a copy of it (kept so by `scripts/sync-schema`), the local API validates with
//! it, and every error code the code can produce is documented in it.

use orders_cli::openapi::{self, RequestValidator};
use orders_cli::settings::TEMPLATE;
use orders_domain::http::ApiError;
use orders_template::Template;
use serde_json::{json, Value};

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

#[test]
fn a_drifted_model_would_be_noticed() {
    let mut drifted = openapi::order_model().unwrap();
    drifted["properties"]["items"]["maxItems"] = json!(101);
    assert_ne!(template_model(), drifted);
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
    let every_variant = [
        ApiError::InvalidJson(String::new()),
        ApiError::Validation(vec![]),
        ApiError::InvalidBody(String::new()),
        ApiError::UnsupportedMediaType(String::new()),
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::ServiceUnavailable {
            retry_after_seconds: 1,
        },
        ApiError::InvalidOrderId,
        ApiError::OrderNotFound,
        ApiError::RouteNotFound(String::new()),
        ApiError::MethodNotAllowed {
            method: String::new(),
            allow: "GET",
        },
        ApiError::StoreUnavailable {
            retry_after_seconds: 1,
        },
        ApiError::InvalidIdempotencyKey(String::new()),
        ApiError::IdempotencyKeyReused,
        ApiError::IdempotencyKeyInUse {
            retry_after_seconds: 1,
        },
        ApiError::Internal,
    ];
    for error in every_variant {
        assert!(
            documented.contains(&error.code()),
            "{} is not in openapi.yaml's Error.error enum",
            error.code()
        );
    }
}

#[test]
fn every_status_of_post_order_is_documented() {
    let doc = openapi::document().unwrap();
    let responses = doc
        .pointer("/paths/~1order/post/responses")
        .and_then(Value::as_object)
        .unwrap();
    let ingest_errors = [
        ApiError::Validation(vec![]),
        ApiError::UnsupportedMediaType(String::new()),
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::ServiceUnavailable {
            retry_after_seconds: 1,
        },
        ApiError::IdempotencyKeyReused,
        ApiError::IdempotencyKeyInUse {
            retry_after_seconds: 1,
        },
    ];
    for error in ingest_errors {
        assert!(
            responses.contains_key(&error.status().to_string()),
            "POST /order can answer {} ({}) but openapi.yaml does not say so",
            error.status(),
            error.code()
        );
    }
    assert!(responses.contains_key("202"));
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
