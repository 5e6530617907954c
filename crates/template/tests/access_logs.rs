//! The API stage's access log: one JSON line per request, rendered here as API Gateway
//! renders it (each `$context` variable replaced by its value, without escaping; `-` for a
//! value that is missing), with every field an operator needs to follow a request, written
//! to this stack's log group with the retention the parameter sets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use orders_template::Template;
use serde_json::Value as Json;
use serde_yaml_ng::Value;

fn template() -> Template {
    Template::load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap()
}

/// The variables the log must carry, as named in "Variables for access logging for API
/// Gateway" (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html),
/// with a realistic value each.
const REQUIRED: [(&str, &str); 13] = [
    ("$context.requestId", "c0ffee00-1111-2222-3333-444455556666"),
    ("$context.extendedRequestId", "Xk1pQF0ZoAMEb-w="),
    ("$context.identity.sourceIp", "203.0.113.7"),
    ("$context.httpMethod", "POST"),
    ("$context.resourcePath", "/orders/{order_id}"),
    ("$context.path", "/v1/orders/01a233ed"),
    ("$context.status", "503"),
    ("$context.integration.status", "200"),
    ("$context.integration.latency", "12"),
    ("$context.responseLatency", "15"),
    ("$context.error.message", "Internal server error"),
    ("$context.error.responseType", "INTEGRATION_FAILURE"),
    ("$context.requestTime", "01/Dec/2026:23:25:00 +0000"),
];

fn api() -> Value {
    template().properties("OrdersApi").unwrap().clone()
}

fn format() -> String {
    api()["AccessLogSetting"]["Format"]
        .as_str()
        .expect("OrdersApi has no AccessLogSetting.Format")
        .to_owned()
}

/// Every `$context.x.y` variable in the format.
fn variables(format: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = format;
    while let Some(at) = rest.find("$context.") {
        let tail = &rest[at..];
        let end = tail
            .char_indices()
            .skip(1)
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '.'))
            .map_or(tail.len(), |(i, _)| i);
        out.push(tail[..end].trim_end_matches('.').to_owned());
        rest = &tail[end..];
    }
    out
}

/// The format as API Gateway writes it: `values`, or `-` for a variable without one.
fn render(format: &str, values: &BTreeMap<&str, &str>) -> String {
    let mut vars = variables(format);
    // Longest first: $context.error.message must not eat $context.error.messageString.
    vars.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut text = format.to_owned();
    for var in vars {
        text = text.replace(&var, values.get(var.as_str()).copied().unwrap_or("-"));
    }
    text
}

#[test]
fn the_access_log_is_one_json_object_with_every_field_an_operator_follows() {
    let format = format();
    let vars = variables(&format);
    for (var, _) in REQUIRED {
        assert!(
            vars.iter().any(|v| v == var),
            "{var} is not logged: {format}"
        );
    }
    let full: BTreeMap<&str, &str> = REQUIRED.into_iter().collect();
    // A failed request with every value, and a plain one where the error variables (and
    // anything else this list does not give) are missing.
    let ok: BTreeMap<&str, &str> = REQUIRED
        .into_iter()
        .filter(|(v, _)| !v.starts_with("$context.error."))
        .collect();
    for values in [&full, &ok] {
        let line = render(&format, values);
        assert!(!line.contains('\n'), "one line: {line}");
        let parsed: Json = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not JSON once rendered ({e}): {line}"));
        let object = parsed.as_object().unwrap();
        for (var, value) in values.iter() {
            assert!(
                object.values().any(|v| v.as_str() == Some(value)),
                "{var}={value} is not a field of {line}"
            );
        }
    }
    // requestId is what the ingest logs as api_request_id: the field has that value.
    let line: Json = serde_json::from_str(&render(&format, &full)).unwrap();
    assert_eq!(line["requestId"], "c0ffee00-1111-2222-3333-444455556666");
}

#[test]
fn an_unquoted_value_is_caught() {
    // API Gateway writes "-" for a missing value: an unquoted variable breaks the JSON.
    let broken = format().replace(
        r#""$context.error.responseType""#,
        "$context.error.responseType",
    );
    let line = render(&broken, &BTreeMap::new());
    assert!(serde_json::from_str::<Json>(&line).is_err(), "{line}");
}

#[test]
fn the_access_log_goes_to_this_stacks_group_with_the_retention_parameter() {
    let template = template();
    let api = api();
    let destination = &api["AccessLogSetting"]["DestinationArn"];
    assert!(
        matches!(destination, Value::Tagged(t) if t.tag == "!GetAtt" && t.value == "ApiAccessLogGroup.Arn"),
        "{destination:?}"
    );
    let group = template.properties("ApiAccessLogGroup").unwrap();
    assert!(
        matches!(&group["RetentionInDays"], Value::Tagged(t) if t.tag == "!Ref" && t.value == "ApiAccessLogRetentionDays")
    );
    let parameter = &template.root()["Parameters"]["ApiAccessLogRetentionDays"];
    assert_eq!(parameter["Default"].as_u64(), Some(14));
    // CloudWatch Logs' retention values (PutRetentionPolicy).
    let allowed: Vec<u64> = parameter["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(
        allowed,
        [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653
        ]
    );
}
