//! The ingest handler against an in-memory queue: every success and error path.

use aws_lambda_events::http::HeaderValue;
use base64::Engine as _;
use ingest::{Ingest, MAX_BODY_BYTES};
use orders_domain::OrderId;
use orders_platform::adapters::memory::{Fault, InMemoryQueue};
use test_support::fixtures::{api_event, response_json};

use test_support::fixtures::order_request as with_body;

fn handler() -> Ingest<InMemoryQueue> {
    Ingest::new(InMemoryQueue::new(), 2)
}

#[tokio::test]
async fn a_valid_order_is_queued_and_answered_202() {
    let ingest = handler();
    let before = chrono::Utc::now();
    let response = ingest.handle(&api_event("order-valid.json")).await;
    assert_eq!(response.status_code, 202);
    let body = response_json(&response);
    let order_id: OrderId = body["order_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(order_id.as_uuid().get_version_num(), 7);
    assert_eq!(body["status"], "queued");
    assert_eq!(
        body["debug"],
        serde_json::json!({"received": 1, "validated": 1, "enqueued": 1})
    );
    assert_eq!(
        response.headers.get("location").unwrap(),
        &format!("/orders/{order_id}")
    );

    let sent = ingest.queue().sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].order_id, order_id);
    assert_eq!(sent[0].email.as_str(), "jane.doe@example.com");
    assert_eq!(sent[0].items.len(), 2);
    assert!(sent[0].received_at >= before && sent[0].received_at <= chrono::Utc::now());
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded() {
    let ingest = handler();
    let request = api_event("order-base64.json");
    assert!(request.is_base64_encoded);
    let response = ingest.handle(&request).await;
    assert_eq!(response.status_code, 202, "{:?}", response.body);
    assert_eq!(
        ingest.queue().sent()[0].email.as_str(),
        "jane.doe@example.com"
    );
}

#[tokio::test]
async fn an_invalid_order_lists_every_problem_and_queues_nothing() {
    let ingest = handler();
    let response = ingest.handle(&api_event("order-invalid.json")).await;
    assert_eq!(response.status_code, 400);
    let body = response_json(&response);
    assert_eq!(body["error"], "validation_failed");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "email",
            "items[0].sku",
            "items[0].qty",
            "items[1].qty",
            "items[2].qty"
        ]
    );
    assert!(ingest.queue().sent().is_empty());
    assert_eq!(ingest.counters().received, 1);
    assert_eq!(ingest.counters().validated, 0);
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let ingest = handler();
    for body in [
        "{\"email\":",
        "",
        "nope",
        "{\"email\": \"a@b.co\", \"items\": [}",
    ] {
        let response = ingest.handle(&with_body(body)).await;
        assert_eq!(response.status_code, 400, "{body:?}");
        assert_eq!(
            response_json(&response)["error"],
            "invalid_json",
            "{body:?}"
        );
    }
    let mut no_body = api_event("order-valid.json");
    no_body.body = None;
    assert_eq!(
        response_json(&ingest.handle(&no_body).await)["error"],
        "invalid_json"
    );
    assert!(ingest.queue().sent().is_empty());
}

#[tokio::test]
async fn content_types_other_than_json_are_415() {
    let ingest = handler();
    for (content_type, status) in [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/xml", 415),
        ("application/json", 202),
        ("Application/JSON; charset=utf-8", 202),
        ("application/vnd.orders+json", 202),
    ] {
        let mut request = api_event("order-valid.json");
        request
            .headers
            .insert("content-type", HeaderValue::from_static(content_type));
        let response = ingest.handle(&request).await;
        assert_eq!(response.status_code, status, "{content_type}");
        if status == 415 {
            assert_eq!(response_json(&response)["error"], "unsupported_media_type");
        }
    }
    let mut request = api_event("order-valid.json");
    request.headers.remove("content-type");
    assert_eq!(
        ingest.handle(&request).await.status_code,
        202,
        "a missing Content-Type is taken as JSON"
    );
    assert_eq!(ingest.queue().sent().len(), 4);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_and_exactly_64_kib_is_fine() {
    let ingest = handler();
    let valid = r#"{"email":"a@b.co","items":[{"sku":"S","qty":1}]}"#;
    let exact = format!("{valid}{}", " ".repeat(MAX_BODY_BYTES - valid.len()));
    assert_eq!(exact.len(), MAX_BODY_BYTES);
    assert_eq!(ingest.handle(&with_body(&exact)).await.status_code, 202);

    let over = format!("{exact} ");
    let response = ingest.handle(&with_body(&over)).await;
    assert_eq!(response.status_code, 413);
    assert_eq!(response_json(&response)["error"], "payload_too_large");

    let mut encoded = with_body(&base64::engine::general_purpose::STANDARD.encode(over.as_bytes()));
    encoded.is_base64_encoded = true;
    assert_eq!(ingest.handle(&encoded).await.status_code, 413);
    let huge = "A".repeat(10 * MAX_BODY_BYTES);
    let mut huge_encoded = with_body(&huge);
    huge_encoded.is_base64_encoded = true;
    assert_eq!(ingest.handle(&huge_encoded).await.status_code, 413);
    assert_eq!(ingest.queue().sent().len(), 1);
}

#[tokio::test]
async fn bad_base64_is_400_invalid_body() {
    let ingest = handler();
    let mut request = with_body("***not base64***");
    request.is_base64_encoded = true;
    let response = ingest.handle(&request).await;
    assert_eq!(response.status_code, 400);
    assert_eq!(response_json(&response)["error"], "invalid_body");
}

#[tokio::test]
async fn a_throttling_or_unreachable_queue_is_503_with_retry_after() {
    for fault in [Fault::Throttle, Fault::Unavailable] {
        let ingest = handler();
        ingest.queue().set_fault(Some(fault.clone()));
        let response = ingest.handle(&api_event("order-valid.json")).await;
        assert_eq!(response.status_code, 503, "{fault:?}");
        assert_eq!(response.headers.get("retry-after").unwrap(), "2");
        let body = response_json(&response);
        assert_eq!(body["error"], "service_unavailable");
        assert!(
            !body.to_string().contains("injected"),
            "internal detail leaked: {body}"
        );
        assert_eq!(ingest.counters().enqueued, 0);
        assert!(ingest.queue().sent().is_empty());

        ingest.queue().set_fault(None);
        assert_eq!(
            ingest
                .handle(&api_event("order-valid.json"))
                .await
                .status_code,
            202,
            "recovers after {fault:?}"
        );
    }
}

#[tokio::test]
async fn a_panicking_dependency_is_a_bare_500_not_a_crash() {
    let ingest = handler();
    ingest.queue().set_fault(Some(Fault::Panic));
    let response = ingest.handle(&api_event("order-valid.json")).await;
    assert_eq!(response.status_code, 500);
    let body = response_json(&response);
    assert_eq!(body["error"], "internal_error");
    assert!(!body.to_string().contains("panic"), "{body}");
    ingest.queue().set_fault(None);
    assert_eq!(
        ingest
            .handle(&api_event("order-valid.json"))
            .await
            .status_code,
        202
    );
}

#[tokio::test]
async fn counters_count_what_this_instance_has_seen() {
    let ingest = handler();
    ingest.handle(&api_event("order-valid.json")).await;
    ingest.handle(&api_event("order-invalid.json")).await;
    ingest.handle(&with_body("{")).await;
    ingest.queue().set_fault(Some(Fault::Throttle));
    ingest.handle(&api_event("order-valid.json")).await;
    ingest.queue().set_fault(None);
    let response = ingest.handle(&api_event("order-base64.json")).await;
    assert_eq!(
        response_json(&response)["debug"],
        serde_json::json!({"received": 5, "validated": 3, "enqueued": 2})
    );
}

#[tokio::test]
async fn every_order_gets_its_own_id() {
    let ingest = handler();
    for _ in 0..50 {
        assert_eq!(
            ingest
                .handle(&api_event("order-valid.json"))
                .await
                .status_code,
            202
        );
    }
    let mut ids: Vec<OrderId> = ingest.queue().sent().iter().map(|o| o.order_id).collect();
    let sent_order = ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    assert_eq!(ids, sent_order, "UUIDv7 ids sort by creation time");
}
