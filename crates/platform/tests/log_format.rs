//! The shipped log format: what a CloudWatch line looks like for an event inside Lambda's
//! invocation span and a handler's record span.

use orders_platform::telemetry::{subscriber, LogFormat, LogSettings};
use serde_json::Value;

fn capture(format: LogFormat, level: &str, log: impl FnOnce()) -> String {
    let out = test_support::CapturedLogs::default();
    let writer = out.clone();
    let settings = LogSettings {
        format,
        level: level.into(),
    };
    tracing::subscriber::with_default(subscriber(&settings, move || writer.clone()), log);
    out.text()
}

fn in_an_invocation() {
    // The span lambda_runtime opens around every invocation, with its field names.
    let invoke = tracing::info_span!(
        "Lambda runtime invoke",
        requestId = "8f2e-request",
        xrayTraceId = "Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6"
    );
    let _invoke = invoke.enter();
    let record = tracing::info_span!("record", message_id = "m-1", order_id = "019abf3e");
    let _record = record.enter();
    tracing::info!(email = "j***@example.com", "order stored");
    tracing::debug!("not at info");
}

#[test]
fn a_json_line_carries_the_request_trace_order_and_message_ids() {
    let text = capture(LogFormat::Json, "info", in_an_invocation);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "debug is filtered at info: {text}");
    let line = &lines[0];
    assert_eq!(line["message"], "order stored");
    assert_eq!(line["level"], "INFO");
    let spans = line["spans"].as_array().unwrap();
    let field = |name: &str| spans.iter().find_map(|s| s.get(name).cloned());
    assert_eq!(field("requestId"), Some("8f2e-request".into()));
    assert_eq!(
        field("xrayTraceId"),
        Some("Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6".into())
    );
    assert_eq!(field("order_id"), Some("019abf3e".into()));
    assert_eq!(field("message_id"), Some("m-1".into()));
}

#[test]
fn text_format_and_debug_level_are_honoured() {
    let text = capture(LogFormat::Text, "debug", in_an_invocation);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(serde_json::from_str::<Value>(text.lines().next().unwrap()).is_err());
    assert!(
        text.contains("requestId") && text.contains("order stored"),
        "{text}"
    );
}
