//! The ingest handler over the real SQS adapter, against moto on loopback.

use ingest::Ingest;
use orders_domain::QueuedOrder;
use orders_platform::adapters::sqs::SqsOrderQueue;
use test_support::fixtures::{api_event, response_json};
use test_support::{receive, MotoServer};

#[tokio::test]
async fn an_accepted_order_is_on_the_queue_and_a_missing_queue_is_503() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name("orders")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let ingest = Ingest::new(SqsOrderQueue::from_sdk_config(&config, &url), 2);

    let response = ingest.handle(&api_event("order-valid.json")).await;
    assert_eq!(response.status_code, 202);
    let order_id = response_json(&response)["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let messages = receive(sqs.receive_message().queue_url(&url).wait_time_seconds(1)).await;
    assert_eq!(messages.len(), 1);
    let queued = QueuedOrder::from_message_body(messages[0].body().unwrap()).unwrap();
    assert_eq!(queued.order_id.to_string(), order_id);

    let invalid = ingest.handle(&api_event("order-invalid.json")).await;
    assert_eq!(invalid.status_code, 400);

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let response = ingest.handle(&api_event("order-valid.json")).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers.get("retry-after").unwrap(), "2");
    assert_eq!(response_json(&response)["error"], "service_unavailable");
}
