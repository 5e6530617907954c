//! The one copy of the inputs the tests and benches build: orders, the committed events in
//! AWS's shapes, and SQS records as Lambda's event source mapping delivers them.

use std::collections::HashMap;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use orders_domain::{NewOrder, OrderId, QueuedOrder};

/// A valid order body with one line item.
pub const ORDER_BODY: &str =
    r#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-1","qty":2}]}"#;

/// An order as ingest accepts it: [`ORDER_BODY`] with a new id, accepted now.
pub fn order() -> QueuedOrder {
    order_from(ORDER_BODY)
}

/// The order `body` describes, accepted now with a new id. Panics on an invalid body.
pub fn order_from(body: &str) -> QueuedOrder {
    NewOrder::parse_json(body.as_bytes())
        .unwrap_or_else(|e| panic!("fixture order {body}: {e:?}"))
        .accept(OrderId::new_v7(), Utc::now())
}

/// A committed event, `events/<name>`, in the shape `T` (what Lambda would deliver).
pub fn event<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = crate::workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not a {}: {e}",
            path.display(),
            std::any::type_name::<T>()
        )
    })
}

/// A committed event, `events/<name>`, as an API Gateway proxy request.
pub fn api_event(name: &str) -> ApiGatewayProxyRequest {
    event(name)
}

/// `events/order-valid.json` (API Gateway's proxy request for `POST /order`) with `body`
/// as its body: a request as ingest receives it.
pub fn order_request(body: &str) -> ApiGatewayProxyRequest {
    let mut request = api_event("order-valid.json");
    request.body = Some(body.to_owned());
    request
}

/// A response's body as JSON. Panics unless it is a text body, declared and valid JSON.
pub fn response_json(response: &ApiGatewayProxyResponse) -> serde_json::Value {
    assert_eq!(
        response.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "content-type"
    );
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {text}")),
        other => panic!("no text body: {other:?}"),
    }
}

/// An SQS record as the event source mapping delivers it: a message id (or `None`, to test
/// a record without one), its body, and its `ApproximateReceiveCount`.
pub fn sqs_record<'a>(
    message_id: impl Into<Option<&'a str>>,
    body: &str,
    receive_count: u32,
) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = message_id.into().map(str::to_owned);
    message.body = Some(body.to_owned());
    message.attributes = HashMap::from([(
        "ApproximateReceiveCount".to_owned(),
        receive_count.to_string(),
    )]);
    message
}

/// A batch of records, as one worker invocation gets it.
pub fn sqs_batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}
