//! Ingest logs one line per request: the outcome, the order id, API Gateway's request id (to
//! follow an order from the access log) and never the customer's e-mail address.

use ingest::Ingest;
use orders_platform::adapters::memory::InMemoryQueue;
use orders_platform::telemetry::{subscriber, LogSettings};
use test_support::fixtures::api_event;

#[tokio::test]
async fn each_request_logs_one_line_with_its_outcome_and_api_request_id() {
    let ingest = Ingest::new(InMemoryQueue::new(), 2);
    let (logs, _guard) = test_support::capture_logs_with(|writer| {
        subscriber(&LogSettings::json("info"), move || writer.clone())
    });
    let mut valid = api_event("order-valid.json");
    valid.request_context.request_id = Some("c6af9ac6-api-1".into());
    let mut invalid = api_event("order-invalid.json");
    invalid.request_context.request_id = Some("c6af9ac6-api-2".into());
    ingest.handle(&valid).await;
    ingest.handle(&invalid).await;

    let text = logs.text();
    assert!(
        !text.contains("jane.doe") && !text.contains("not-an-email"),
        "{text}"
    );
    let lines = logs.lines();
    assert_eq!(lines.len(), 2, "one line per request: {text}");
    let accepted = &lines[0];
    assert_eq!(accepted["message"], "order accepted and queued");
    assert_eq!(accepted["api_request_id"], "c6af9ac6-api-1");
    assert_eq!(
        accepted["order_id"],
        ingest.queue().sent()[0].order_id.to_string().as_str()
    );
    let rejected = &lines[1];
    assert_eq!(rejected["message"], "order rejected");
    assert_eq!(rejected["api_request_id"], "c6af9ac6-api-2");
    assert_eq!(rejected["error"], "validation_failed");
    assert_eq!(rejected["status"], 400);
}
