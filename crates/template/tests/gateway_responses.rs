//! The template's gateway responses, rendered as API Gateway renders them (simple variable
//! substitution, no escaping) with the values it really substitutes: every body is the
//! project's JSON error shape, a throttle is a 429 with Retry-After, a Lambda that could
//! not be invoked a 503 with Retry-After, never a bare 500.

use std::path::PathBuf;

use orders_template::{ErrorContext, GatewayResponses, Template};
use serde_json::Value;

fn template() -> Template {
    Template::load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap()
}

fn responses() -> GatewayResponses {
    GatewayResponses::from_template(&template()).unwrap()
}

/// Validation errors as API Gateway writes them: property names in double quotes.
const VALIDATION_ERRORS: [&str; 3] = [
    r#"[object has missing required properties (["items"])]"#,
    r#"[instance type (string) does not match any allowed primitive type (allowed: ["integer"])]"#,
    "",
];

fn render(
    responses: &GatewayResponses,
    kind: &str,
    validation_error: &str,
) -> (u16, Value, Vec<(String, String)>) {
    let rendered = responses.render(
        kind,
        &ErrorContext {
            message: "",
            validation_error,
            request_id: "c0ffee00-1111-2222-3333-444455556666",
        },
    );
    let body = serde_json::from_str(&rendered.body)
        .unwrap_or_else(|e| panic!("{kind} renders invalid JSON ({e}): {}", rendered.body));
    (
        rendered.status,
        body,
        rendered.headers.into_iter().collect(),
    )
}

#[test]
fn every_gateway_response_renders_the_json_error_shape_for_realistic_values() {
    let responses = responses();
    assert!(
        responses.unknown_variables().is_empty(),
        "variables this renderer does not know: {:?}",
        responses.unknown_variables()
    );
    let kinds: Vec<String> = responses.types().map(|(k, _)| k.to_owned()).collect();
    assert!(kinds.len() >= 9, "{kinds:?}");
    for kind in &kinds {
        for validation_error in VALIDATION_ERRORS {
            let (status, body, headers) = render(&responses, kind, validation_error);
            assert!(
                body["error"].as_str().is_some_and(|c| !c.is_empty())
                    && body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{kind}: {body}"
            );
            assert!((400..600).contains(&status), "{kind}: {status}");
            assert!(
                headers.contains(&("Content-Type".into(), "application/json".into())),
                "{kind}: {headers:?}"
            );
        }
    }
}

#[test]
fn throttles_and_failed_invokes_tell_the_client_to_retry() {
    let responses = responses();
    for (kind, status, code) in [
        ("THROTTLED", 429, "throttled"),
        ("INTEGRATION_FAILURE", 503, "service_unavailable"),
        ("INTEGRATION_TIMEOUT", 504, "gateway_timeout"),
    ] {
        let (got, body, headers) = render(&responses, kind, "");
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{kind}: {body}"
        );
        assert!(
            headers.contains(&("Retry-After".into(), "1".into())),
            "{kind}: {headers:?}"
        );
    }
    let (status, body, _) = render(&responses, "BAD_REQUEST_BODY", VALIDATION_ERRORS[0]);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({"error": "validation_failed", "message": "Invalid request body"})
    );
}

#[test]
fn without_the_mapping_a_throttled_lambda_is_the_naive_designs_500() {
    // What the stack answered before INTEGRATION_FAILURE was mapped: DEFAULT_5XX's body
    // with the type's own status, 500 (the seed's "throttling and 500 errors").
    let unmapped = responses().without("INTEGRATION_FAILURE");
    let (status, body, headers) = render(&unmapped, "INTEGRATION_FAILURE", "");
    assert_eq!(status, 500);
    assert_eq!(body["error"], "internal_error");
    assert_eq!(body["message"], "Internal server error");
    assert!(!headers.iter().any(|(name, _)| name == "Retry-After"));
    // And with no gateway responses at all, API Gateway's own bare answer.
    let (status, body, _) = render(&GatewayResponses::default(), "INTEGRATION_FAILURE", "");
    assert_eq!(
        (status, body),
        (500, serde_json::json!({"message": "Internal server error"}))
    );
}

#[test]
fn the_earlier_bad_request_body_template_is_caught() {
    // It wrapped validationErrorString in quotes: with the quotes API Gateway's messages
    // carry, the body was not JSON. The check above must fail on it.
    let mut old = template();
    old.root_mut()["Resources"]["OrdersApi"]["Properties"]["GatewayResponses"]
        ["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"] =
        serde_yaml_ng::Value::String(
            r#"{"error":"validation_failed","message":"$context.error.validationErrorString"}"#
                .into(),
        );
    let old = GatewayResponses::from_template(&old).unwrap();
    let rendered = old.render(
        "BAD_REQUEST_BODY",
        &ErrorContext {
            message: "",
            validation_error: VALIDATION_ERRORS[0],
            request_id: "r",
        },
    );
    assert!(
        serde_json::from_str::<Value>(&rendered.body).is_err(),
        "{}",
        rendered.body
    );
}
