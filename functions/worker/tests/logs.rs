//! What the worker logs (issue 16 item 8): one line per batch naming the orders it stored,
//! one more per failed record with its ids and error, the invocation's ids on all of them,
//! and never the customer's e-mail address.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use orders_platform::adapters::memory::InMemoryStore;
use orders_platform::config::DelaySpec;
use test_support::fixtures::{order_from, sqs_record};
use tokio::time::Instant;
use worker::Worker;

/// Captures what the functions log in their shipped format (JSON, INFO).
fn shipped_json_logs() -> (
    test_support::CapturedLogs,
    tracing::subscriber::DefaultGuard,
) {
    test_support::capture_logs_with(|writer| {
        orders_platform::telemetry::subscriber(
            &orders_platform::telemetry::LogSettings::json("info"),
            move || writer.clone(),
        )
    })
}

const TRACE: &str = "Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6;Parent=53995c3f42cd8ad8;Sampled=1";

/// At INFO a batch writes one line naming every order it stored or found stored, plus one
/// WARN line per failed record with its ids and the error; all carry the invocation's ids,
/// and none the customer's e-mail address.
#[tokio::test]
async fn a_batch_logs_one_line_and_one_more_per_failed_record() {
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
        sqs_record("m-failing", &failing.to_message_body(), 3),
        sqs_record("m-malformed", r#"{"email":"jane.doe@example.com"}"#, 1),
    ];
    let worker = Worker::new(store, DelaySpec::None, Duration::from_secs(1));
    let (logs, _guard) = shipped_json_logs();
    {
        let _invocation =
            orders_platform::telemetry::invocation_span("req-7", Some(TRACE), false).entered();
        worker
            .handle_batch(&event, Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
    }

    let text = logs.text();
    assert!(
        !text.contains("jane.doe") && !text.contains("john.roe"),
        "an e-mail address reached the logs:\n{text}"
    );
    let lines = logs.lines();
    for line in &lines {
        assert_eq!(line["function_request_id"], "req-7", "{line}");
        assert_eq!(line["xray_trace_id"], "1-6745a6c1-1b2c3d4e5f60718293a4b5c6");
    }
    let with = |message: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };
    let batch = with("batch done");
    assert_eq!(batch.len(), 1, "{text}");
    assert_eq!(batch[0]["level"], "INFO");
    assert_eq!(
        (
            &batch[0]["records"],
            &batch[0]["stored"],
            &batch[0]["duplicates"],
            &batch[0]["failed"]
        ),
        (&4.into(), &1.into(), &1.into(), &2.into())
    );
    let id = stored.order_id.to_string();
    assert_eq!(batch[0]["stored_order_ids"], id.as_str());
    assert_eq!(batch[0]["duplicate_order_ids"], id.as_str());

    let failed = with("record failed; left on the queue for retry");
    assert_eq!(failed.len(), 2, "{text}");
    let by_message = |m: &str| *failed.iter().find(|l| l["message_id"] == m).unwrap();
    let unavailable = by_message("m-failing");
    assert_eq!(unavailable["level"], "WARN");
    assert_eq!(
        unavailable["order_id"],
        failing.order_id.to_string().as_str()
    );
    assert_eq!(unavailable["attempts"], 3);
    assert!(unavailable["processing_ms"].is_u64());
    let malformed = by_message("m-malformed");
    assert_eq!(malformed["order_id"], "-");
    assert!(
        malformed["error"].as_str().unwrap().contains("malformed"),
        "{malformed}"
    );
    assert_eq!(lines.len(), 3, "nothing else at INFO: {text}");
}

/// At DEBUG each record also says when it was received and how it ended.
#[tokio::test]
async fn at_debug_each_record_says_it_was_received_and_stored() {
    let order = order_from(r#"{"email":"jane.doe@example.com","items":[{"sku":"S","qty":1}]}"#);
    let mut event = SqsEvent::default();
    event.records = vec![sqs_record("m-1", &order.to_message_body(), 1)];
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::None,
        Duration::from_secs(1),
    );
    let (logs, _guard) = test_support::capture_logs_with(|writer| {
        orders_platform::telemetry::subscriber(
            &orders_platform::telemetry::LogSettings::json("debug"),
            move || writer.clone(),
        )
    });
    worker
        .handle_batch(&event, Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    let messages: Vec<String> = logs
        .lines()
        .iter()
        .filter(|l| l["order_id"] == order.order_id.to_string().as_str())
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        messages,
        ["order received", "order stored"],
        "{}",
        logs.text()
    );
}
