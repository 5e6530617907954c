//! The ingest handler over the real SQS adapter, against moto on loopback.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::encodings::Body;
use ingest::Ingest;
use orders::adapters::sqs::SqsOrderQueue;
use orders::domain::QueuedOrder;
use test_support::MotoServer;

fn event(name: &str) -> ApiGatewayProxyRequest {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn body(response: &aws_lambda_events::apigw::ApiGatewayProxyResponse) -> serde_json::Value {
    let Some(Body::Text(text)) = &response.body else {
        panic!("no body")
    };
    serde_json::from_str(text).unwrap()
}

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

    let response = ingest.handle(&event("order-valid.json")).await;
    assert_eq!(response.status_code, 202);
    let order_id = body(&response)["order_id"].as_str().unwrap().to_owned();
    let messages = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(messages.len(), 1);
    let queued = QueuedOrder::from_message_body(messages[0].body().unwrap()).unwrap();
    assert_eq!(queued.order_id.to_string(), order_id);

    let invalid = ingest.handle(&event("order-invalid.json")).await;
    assert_eq!(invalid.status_code, 400);

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let response = ingest.handle(&event("order-valid.json")).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers.get("retry-after").unwrap(), "2");
    assert_eq!(body(&response)["error"], "service_unavailable");
}
