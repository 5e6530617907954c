//! Ingest logs the outcome with the order id, and never the customer's e-mail address.

use ingest::Ingest;
use orders_platform::adapters::memory::InMemoryQueue;
use test_support::fixtures::api_event;

#[tokio::test]
async fn accepted_and_rejected_orders_are_logged_without_the_email() {
    let ingest = Ingest::new(InMemoryQueue::new(), 2);
    let (logs, _guard) = test_support::capture_logs();
    ingest.handle(&api_event("order-valid.json")).await;
    ingest.handle(&api_event("order-invalid.json")).await;
    let text = logs.text();
    assert!(
        !text.contains("jane.doe") && !text.contains("not-an-email"),
        "{text}"
    );
    let lines = logs.lines();
    let accepted = lines
        .iter()
        .find(|l| l["fields"]["message"] == "order accepted and queued")
        .expect(&text);
    assert_eq!(
        accepted["fields"]["order_id"],
        ingest.queue().sent()[0].order_id.to_string().as_str()
    );
    let rejected = lines
        .iter()
        .find(|l| l["fields"]["message"] == "order rejected")
        .expect(&text);
    assert_eq!(rejected["fields"]["error"], "validation_failed");
    assert_eq!(rejected["fields"]["status"], 400);
}
