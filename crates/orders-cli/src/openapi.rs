//! `openapi.yaml`, the API's contract and the single source of its request schema.
//!
//! The local API validates `POST /order` bodies against `components.schemas.Order` at its
//! edge, as API Gateway does with the same schema (the template's `Order` model, which
//! `scripts/sync-schema` copies from this document).

use anyhow::Context as _;
use serde_json::Value;

/// The OpenAPI document (compiled in, so `orders` needs no files at run time).
pub const OPENAPI: &str = include_str!("../../../openapi.yaml");

/// Name of the request schema in `components.schemas`.
pub const ORDER_SCHEMA: &str = "Order";

/// JSON Schema draft 4, API Gateway's model dialect.
pub const DRAFT4: &str = "http://json-schema.org/draft-04/schema#";

/// The parsed document.
pub fn document() -> anyhow::Result<Value> {
    serde_yaml_ng::from_str(OPENAPI).context("openapi.yaml is not valid YAML")
}

/// `components.schemas.<name>` of the document.
pub fn schema(name: &str) -> anyhow::Result<Value> {
    document()?
        .pointer(&format!("/components/schemas/{name}"))
        .cloned()
        .with_context(|| format!("openapi.yaml has no components.schemas.{name}"))
}

/// The request schema as an API Gateway model: the document's schema plus `$schema`.
pub fn order_model() -> anyhow::Result<Value> {
    let mut model = schema(ORDER_SCHEMA)?;
    let object = model
        .as_object_mut()
        .context("components.schemas.Order is not an object")?;
    object.insert("$schema".into(), Value::String(DRAFT4.into()));
    Ok(model)
}

/// Request-body validation as API Gateway applies a model: JSON Schema draft 4, `format`
/// not asserted.
pub struct RequestValidator {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for RequestValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestValidator")
    }
}

impl RequestValidator {
    /// The validator for `POST /order` bodies.
    pub fn order() -> anyhow::Result<Self> {
        Self::new(&order_model()?)
    }

    /// A validator for any draft-4 schema.
    pub fn new(schema: &Value) -> anyhow::Result<Self> {
        let validator = jsonschema::draft4::options()
            .should_validate_formats(false)
            .build(schema)
            .map_err(|e| anyhow::anyhow!("the request schema does not compile: {e}"))?;
        Ok(Self { validator })
    }

    /// `Ok` for a valid body, otherwise every problem in one message shaped like API
    /// Gateway's `validationErrorString` (`[problem, problem]`). Values are masked, so an
    /// e-mail address never appears in the message.
    pub fn check(&self, body: &Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(body)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() { "/".into() } else { path };
                format!("{path}: {}", e.masked())
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("[{}]", problems.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_order_schema_accepts_the_committed_valid_event_and_rejects_bad_shapes() {
        let v = RequestValidator::order().unwrap();
        assert!(v
            .check(&json!({"email": "jane@example.com", "items": [{"sku": "A-1", "qty": 2}]}))
            .is_ok());
        let cases = [
            json!({}),
            json!([]),
            json!({"email": "jane@example.com"}),
            json!({"email": "jane@example.com", "items": []}),
            json!({"email": 5, "items": [{"sku": "A", "qty": 1}]}),
            json!({"email": "jane@example.com", "items": [{"sku": "A", "qty": 0}]}),
            json!({"email": "jane@example.com", "items": [{"sku": "A", "qty": 10001}]}),
            json!({"email": "jane@example.com", "items": [{"sku": "A", "qty": 1.5}]}),
            json!({"email": "jane@example.com", "items": [{"sku": "", "qty": 1}]}),
            json!({"email": "jane@example.com", "items": [{"sku": "   ", "qty": 1}]}),
            json!({"email": "jane@example.com", "items": [{"sku": "a\u{7}b", "qty": 1}]}),
            json!({"email": "jane@example.com", "items": [{"qty": 1}]}),
        ];
        for case in cases {
            assert!(v.check(&case).is_err(), "accepted {case}");
        }
    }

    #[test]
    fn messages_never_carry_the_submitted_values() {
        let v = RequestValidator::order().unwrap();
        let long = format!("{}@example.com", "secret".repeat(50));
        let message = v
            .check(&json!({"email": long, "items": [{"sku": "A", "qty": 1}]}))
            .unwrap_err();
        assert!(message.contains("/email"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
