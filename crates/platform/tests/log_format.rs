//! The shipped log format: what a CloudWatch line looks like (issue 16, items 1 and 5).
//!
//! Every JSON line is one flat object with a valid RFC 3339 `timestamp` and a `level`
//! (without both, Lambda's log-level filtering files the line as INFO:
//! <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>),
//! the function's name and version, and, inside an invocation, the fields Powertools' logger
//! writes: `function_request_id`, `xray_trace_id`, `cold_start`.

use orders_platform::telemetry::{
    invocation_span, subscriber, LogFormat, LogSettings, LOG_CONTEXT,
};
use serde_json::{Map, Value};

fn capture(settings: LogSettings, log: impl FnOnce()) -> String {
    let out = test_support::CapturedLogs::default();
    let writer = out.clone();
    tracing::subscriber::with_default(subscriber(&settings, move || writer.clone()), log);
    out.text()
}

fn in_lambda(level: &str) -> LogSettings {
    LogSettings::from_vars(|name| {
        match name {
            "LOG_LEVEL" => Some(level),
            "AWS_LAMBDA_LOG_LEVEL" => Some("TRACE"),
            "AWS_LAMBDA_FUNCTION_NAME" => Some("orders-pipeline-IngestFunction-Ab12Cd34"),
            "AWS_LAMBDA_FUNCTION_VERSION" => Some("7"),
            _ => None,
        }
        .map(str::to_owned)
    })
}

const TRACE_HEADER: &str =
    "Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6;Parent=53995c3f42cd8ad8;Sampled=1";

/// Two invocations (the first is the cold start) with a handler's own context span, a
/// traced record span and lines at three levels.
fn two_invocations() {
    for (request_id, cold) in [("8f2e-request-1", true), ("8f2e-request-2", false)] {
        let _invocation = invocation_span(request_id, Some(TRACE_HEADER), cold).entered();
        let _request =
            tracing::info_span!(target: LOG_CONTEXT, "request", api_request_id = "c6af9ac6")
                .entered();
        let _record = tracing::info_span!("record", message_id = "m-1").entered();
        tracing::info!(order_id = "019abf3e", "order accepted and queued");
        tracing::warn!(order_id = "019abf3e", "queue did not take the order");
        tracing::debug!("not at info");
    }
}

/// A line's keys in order, duplicates kept (serde_json's map would hide a duplicate).
fn keys(line: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            mut self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                self.0.push(key);
            }
            Ok(self.0)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    serde::Deserializer::deserialize_map(&mut de, Keys(Vec::new())).unwrap()
}

#[test]
fn every_json_line_carries_the_function_the_invocation_and_a_valid_timestamp_and_level() {
    let text = capture(in_lambda("INFO"), two_invocations);
    let lines: Vec<Map<String, Value>> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "debug is filtered at info: {text}");
    for (i, (line, raw)) in lines.iter().zip(text.lines()).enumerate() {
        let mut seen = keys(raw);
        let all = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), all, "a key is written twice: {raw}");
        let field = |name: &str| line.get(name).cloned().unwrap_or(Value::Null);
        let timestamp = field("timestamp");
        chrono::DateTime::parse_from_rfc3339(timestamp.as_str().unwrap())
            .unwrap_or_else(|e| panic!("timestamp is not RFC 3339 ({e}): {raw}"));
        assert!(
            ["INFO", "WARN"].contains(&field("level").as_str().unwrap()),
            "{raw}"
        );
        assert_eq!(
            field("function_name"),
            "orders-pipeline-IngestFunction-Ab12Cd34"
        );
        assert_eq!(field("function_version"), "7");
        let request = if i < 2 {
            "8f2e-request-1"
        } else {
            "8f2e-request-2"
        };
        assert_eq!(field("function_request_id"), request, "{raw}");
        assert_eq!(
            field("xray_trace_id"),
            "1-6745a6c1-1b2c3d4e5f60718293a4b5c6"
        );
        assert_eq!(field("api_request_id"), "c6af9ac6");
        assert_eq!(field("order_id"), "019abf3e");
        assert!(field("message").is_string(), "{raw}");
        // No nested span lists: every field is a top-level member.
        assert!(
            line.values().all(|v| !v.is_object() && !v.is_array()),
            "{raw}"
        );
    }
    assert_eq!(lines[0]["cold_start"], true, "{text}");
    assert_eq!(lines[3]["cold_start"], false, "{text}");
}

/// LogLevel=WARN reaches the functions as LOG_LEVEL while Lambda's own level is TRACE: our
/// filter drops the INFO lines, and the WARN lines keep their context.
#[test]
fn at_warn_info_lines_are_ours_to_drop_and_warn_lines_keep_their_context() {
    let text = capture(in_lambda("WARN"), two_invocations);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in &lines {
        assert_eq!(line["level"], "WARN");
        assert!(line["function_request_id"].is_string(), "{line}");
        assert_eq!(line["api_request_id"], "c6af9ac6");
    }
}

#[test]
fn outside_an_invocation_a_line_has_no_invocation_fields() {
    let text = capture(LogSettings::json("info"), || {
        tracing::warn!("DynamoDB warm-up failed; first write will connect")
    });
    let line: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["level"], "WARN");
    assert!(line.get("function_request_id").is_none() && line.get("function_name").is_none());
}

#[test]
fn text_format_and_debug_level_are_honoured() {
    let settings = LogSettings {
        format: LogFormat::Text,
        ..LogSettings::json("debug")
    };
    let text = capture(settings, two_invocations);
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(serde_json::from_str::<Value>(text.lines().next().unwrap()).is_err());
    assert!(
        text.contains("function_request_id") && text.contains("order accepted and queued"),
        "{text}"
    );
}
