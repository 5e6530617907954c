//! What the worker logs per record: order_id and message_id on every line, outcomes and
//! processing time, and never the customer's e-mail address.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use orders_platform::adapters::memory::InMemoryStore;
use orders_platform::config::DelaySpec;
use test_support::fixtures::{order_from, sqs_record};
use tokio::time::Instant;
use worker::Worker;

/// Captures what the functions log in their shipped format (`LogFormat::Json`, INFO).
fn shipped_json_logs() -> (
    test_support::CapturedLogs,
    tracing::subscriber::DefaultGuard,
) {
    let settings = orders_platform::telemetry::LogSettings {
        format: orders_platform::telemetry::LogFormat::Json,
        level: "info".into(),
    };
    test_support::capture_logs_with(|writer| {
        orders_platform::telemetry::subscriber(&settings, move || writer.clone())
    })
}

#[tokio::test]
async fn per_record_logs_carry_ids_and_never_the_email() {
    let order = order_from(r#"{"email":"jane.doe@example.com","items":[{"sku":"S","qty":1}]}"#);
    let order_id = order.order_id.to_string();
    let mut event = SqsEvent::default();
    event.records = vec![
        sqs_record("m-1", &order.to_message_body(), 1),
        sqs_record("m-1-again", &order.to_message_body(), 1),
        sqs_record("m-bad", r#"{"email":"jane.doe@example.com"}"#, 1),
    ];
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::None,
        Duration::from_secs(1),
    );

    let (logs, _guard) = test_support::capture_logs();
    worker
        .handle_batch(&event, Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();

    let text = logs.text();
    assert!(
        !text.contains("jane.doe"),
        "an e-mail address reached the logs:\n{text}"
    );
    let lines = logs.lines();
    let with = |message: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .collect()
    };
    let received = with("order received");
    assert_eq!(received.len(), 2, "{text}");
    for line in received {
        assert_eq!(line["fields"]["order_id"], order_id.as_str());
        assert!(line["fields"]["message_id"]
            .as_str()
            .unwrap()
            .starts_with("m-1"));
    }
    let stored = with("order stored");
    assert_eq!(stored.len(), 1, "{text}");
    assert!(stored[0]["fields"]["processing_ms"].is_u64());
    assert_eq!(
        with("duplicate delivery: order already stored, nothing written").len(),
        1,
        "{text}"
    );
    let failed = with("record failed; left on the queue for retry");
    assert_eq!(failed.len(), 1, "{text}");
    assert_eq!(failed[0]["fields"]["message_id"], "m-bad");
    assert!(failed[0]["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    let summary = with("batch done");
    assert_eq!(summary[0]["fields"]["failed"], 1);
}

#[tokio::test]
async fn in_the_shipped_format_every_line_of_a_record_carries_its_span() {
    let order = order_from(r#"{"email":"jane.doe@example.com","items":[{"sku":"S","qty":1}]}"#);
    let trace = "Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6;Parent=53995c3f42cd8ad8;Sampled=1";
    let mut traced = sqs_record("m-1", &order.to_message_body(), 1);
    traced
        .attributes
        .insert(worker::AWS_TRACE_HEADER.into(), trace.into());
    let mut event = SqsEvent::default();
    event.records = vec![traced];
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::None,
        Duration::from_secs(1),
    );
    let (logs, _guard) = shipped_json_logs();
    let invocation = tracing::info_span!("Lambda runtime invoke", requestId = "req-1");
    {
        let _entered = invocation.enter();
        worker
            .handle_batch(&event, Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
    }

    let lines = logs.lines();
    let received: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "order received")
        .collect();
    assert_eq!(received.len(), 1, "{}", logs.text());
    let spans = received[0]["spans"].as_array().unwrap();
    let field = |name: &str| spans.iter().find_map(|s| s.get(name).cloned());
    assert_eq!(field("requestId"), Some("req-1".into()));
    assert_eq!(field("message_id"), Some("m-1".into()));
    assert_eq!(field("order_id"), Some(order.order_id.to_string().into()));
    assert_eq!(field("sender_trace"), Some(trace.into()));
    assert!(!logs.text().contains("jane.doe"));
}

/// "Every log line carries `order_id`, `message_id`, the request and trace ids" (README),
/// checked on every line of a batch in the shipped JSON format: the invocation's request id
/// and X-Ray trace id on all of them (from the runtime's invocation span, built here exactly
/// as `lambda_runtime::layers::trace::request_span` builds it), the message id on every
/// line about a record, and the order id on every line about a record whose body names one.
#[tokio::test]
async fn every_line_of_a_batch_carries_the_invocation_and_record_ids() {
    let order = |email: &str| {
        order_from(&format!(
            r#"{{"email":"{email}","items":[{{"sku":"S","qty":1}}]}}"#
        ))
    };
    let (stored, failing) = (order("jane.doe@example.com"), order("john.roe@example.com"));
    let store = InMemoryStore::new();
    store.set_fault(
        failing.order_id,
        orders_platform::adapters::memory::Fault::Unavailable,
    );
    let mut event = SqsEvent::default();
    event.records = vec![
        sqs_record("m-stored", &stored.to_message_body(), 1),
        sqs_record("m-again", &stored.to_message_body(), 2),
        sqs_record("m-failing", &failing.to_message_body(), 1),
        sqs_record("m-malformed", "not json", 1),
    ];
    let worker = Worker::new(store, DelaySpec::None, Duration::from_secs(1));
    let (logs, _guard) = shipped_json_logs();
    let trace_id = "Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6;Parent=53995c3f42cd8ad8;Sampled=1";
    let invocation = tracing::info_span!(
        "Lambda runtime invoke",
        requestId = "req-7",
        xrayTraceId = trace_id
    );
    {
        let _entered = invocation.enter();
        worker
            .handle_batch(&event, Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
    }

    let lines = logs.lines();
    assert!(lines.len() >= 8, "{}", logs.text());
    // A field of a line: its own, or one of the spans it was written in.
    let field = |line: &serde_json::Value, name: &str| -> Option<String> {
        let own = line.get(name).or_else(|| line.get("fields")?.get(name));
        let from_spans = || {
            line["spans"]
                .as_array()?
                .iter()
                .rev()
                .find_map(|s| s.get(name).cloned())
        };
        own.cloned()
            .or_else(from_spans)
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    let order_of = |message_id: &str| match message_id {
        "m-stored" | "m-again" => Some(stored.order_id.to_string()),
        "m-failing" => Some(failing.order_id.to_string()),
        _ => None,
    };
    let mut per_record = 0;
    for line in &lines {
        assert_eq!(field(line, "requestId").as_deref(), Some("req-7"), "{line}");
        assert_eq!(
            field(line, "xrayTraceId").as_deref(),
            Some(trace_id),
            "{line}"
        );
        let message = line["message"].as_str().unwrap_or_default();
        if message.starts_with("batch ") {
            continue; // the invocation's own lines: received, done
        }
        per_record += 1;
        let message_id = field(line, "message_id")
            .unwrap_or_else(|| panic!("a record's line without message_id: {line}"));
        match order_of(&message_id) {
            Some(order_id) => {
                assert_eq!(field(line, "order_id"), Some(order_id), "{line}")
            }
            None => assert!(field(line, "order_id").is_none_or(|id| id == "-"), "{line}"),
        }
    }
    // received x3 (the malformed body is never received as an order), stored, duplicate,
    // and a failure for each of the two failing records.
    assert!(
        per_record >= 7,
        "{per_record} record lines: {}",
        logs.text()
    );
    let text = logs.text();
    assert!(
        !text.contains("jane.doe") && !text.contains("john.roe"),
        "{text}"
    );
}
