//! Idempotent ingest (`Idempotency-Key`): a retry gets the first answer and never a second
//! order; a reused key with another body is 422; failures free the key for a retry.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use ingest::{Ingest, IDEMPOTENCY_LEASE};
use orders_domain::ports::{IdempotencyRecord, IdempotencyStore};
use orders_domain::{Fingerprint, IdempotencyKey, OrderId};
use orders_platform::adapters::memory::{Fault, InMemoryIdempotency, InMemoryQueue};
use serde_json::Value;

const ORDER: &str = r#"{"email":"jane@example.com","items":[{"sku":"SKU-1","qty":2}]}"#;
const OTHER: &str = r#"{"email":"jane@example.com","items":[{"sku":"SKU-1","qty":3}]}"#;

fn request(key: Option<&str>, body: &str) -> ApiGatewayProxyRequest {
    let mut event = test_support::fixtures::order_request(body);
    if let Some(key) = key {
        event
            .headers
            .insert("idempotency-key", HeaderValue::from_str(key).unwrap());
    }
    event
}

fn text(response: &ApiGatewayProxyResponse) -> String {
    match &response.body {
        Some(Body::Text(t)) => t.clone(),
        other => panic!("{other:?}"),
    }
}

fn json(response: &ApiGatewayProxyResponse) -> Value {
    serde_json::from_str(&text(response)).unwrap()
}

fn handler() -> Ingest<InMemoryQueue, InMemoryIdempotency> {
    Ingest::new(InMemoryQueue::new(), 2).with_idempotency(InMemoryIdempotency::new())
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_and_no_second_order() {
    let ingest = handler();
    let first = ingest.handle(&request(Some("key-1"), ORDER)).await;
    assert_eq!(first.status_code, 202);
    assert!(first.headers.get("idempotent-replayed").is_none());
    // The client never saw that answer and retries.
    let retry = ingest.handle(&request(Some("key-1"), ORDER)).await;
    assert_eq!(retry.status_code, 202);
    assert_eq!(text(&retry), text(&first), "the very same answer");
    assert_eq!(retry.headers.get("location"), first.headers.get("location"));
    assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(ingest.queue().sent().len(), 1, "one order, not two");

    let other_key = ingest.handle(&request(Some("key-2"), ORDER)).await;
    assert_ne!(
        json(&other_key)["order_id"],
        json(&first)["order_id"],
        "a new key is a new order"
    );
    let no_key = ingest.handle(&request(None, ORDER)).await;
    assert_ne!(json(&no_key)["order_id"], json(&first)["order_id"]);
    assert_eq!(ingest.queue().sent().len(), 3);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    let ingest = handler();
    assert_eq!(
        ingest.handle(&request(Some("k"), ORDER)).await.status_code,
        202
    );
    let reused = ingest.handle(&request(Some("k"), OTHER)).await;
    assert_eq!(reused.status_code, 422);
    assert_eq!(json(&reused)["error"], "idempotency_key_reused");
    assert_eq!(ingest.queue().sent().len(), 1);
}

#[tokio::test]
async fn a_failed_enqueue_frees_the_key_for_the_retry() {
    let ingest = handler();
    ingest.queue().set_fault(Some(Fault::Unavailable));
    let failed = ingest.handle(&request(Some("k"), ORDER)).await;
    assert_eq!(failed.status_code, 503);
    assert!(
        ingest
            .idempotency()
            .expect("a store")
            .get(&IdempotencyKey::parse("k").unwrap())
            .is_none(),
        "the key was released"
    );
    ingest.queue().set_fault(None);
    let retry = ingest.handle(&request(Some("k"), ORDER)).await;
    assert_eq!(retry.status_code, 202);
    assert_eq!(ingest.queue().sent().len(), 1);
}

#[tokio::test]
async fn an_invalid_request_does_not_consume_the_key() {
    let ingest = handler();
    let invalid = ingest.handle(&request(Some("k"), r#"{"email":"x"}"#)).await;
    assert_eq!(invalid.status_code, 400);
    assert_eq!(
        ingest.handle(&request(Some("k"), ORDER)).await.status_code,
        202
    );
}

#[tokio::test]
async fn malformed_keys_are_400() {
    let ingest = handler();
    for key in ["", "   ", "has space", &"x".repeat(256)] {
        let response = ingest.handle(&request(Some(key), ORDER)).await;
        assert_eq!(response.status_code, 400, "{key:?}");
        assert_eq!(json(&response)["error"], "invalid_idempotency_key");
    }
    assert!(ingest.queue().sent().is_empty());
    // The draft's quoted form is accepted and means the same key.
    let quoted = ingest.handle(&request(Some("\"abc\""), ORDER)).await;
    let bare = ingest.handle(&request(Some("abc"), ORDER)).await;
    assert_eq!(json(&quoted)["order_id"], json(&bare)["order_id"]);
}

#[tokio::test]
async fn a_key_in_progress_is_409_and_an_abandoned_one_is_taken_over() {
    let ingest = handler();
    let key = IdempotencyKey::parse("k").unwrap();
    let abandoned_id = OrderId::new_v7();
    let now = chrono::Utc::now().timestamp_millis();
    // Another instance claimed the key a moment ago and is still working.
    let record = IdempotencyRecord {
        key: key.clone(),
        fingerprint: Fingerprint::of(ORDER.as_bytes()),
        order_id: abandoned_id,
        response: None,
        started_at_ms: now,
    };
    ingest
        .idempotency()
        .expect("a store")
        .claim(&record)
        .await
        .unwrap();
    let busy = ingest.handle(&request(Some("k"), ORDER)).await;
    assert_eq!(busy.status_code, 409);
    assert_eq!(json(&busy)["error"], "idempotency_key_in_use");
    assert_eq!(busy.headers.get("retry-after").unwrap(), "1");
    assert!(ingest.queue().sent().is_empty());

    // That instance died: after the lease the retry finishes its work with its order id.
    let stale = IdempotencyRecord {
        started_at_ms: now - IDEMPOTENCY_LEASE.as_millis() as i64 - 1,
        ..record
    };
    ingest
        .idempotency()
        .expect("a store")
        .release(&key)
        .await
        .unwrap();
    ingest
        .idempotency()
        .expect("a store")
        .claim(&stale)
        .await
        .unwrap();
    let taken = ingest.handle(&request(Some("k"), ORDER)).await;
    assert_eq!(taken.status_code, 202);
    assert_eq!(json(&taken)["order_id"], abandoned_id.to_string());
    assert_eq!(ingest.queue().sent()[0].order_id, abandoned_id);
    let replay = ingest.handle(&request(Some("k"), ORDER)).await;
    assert_eq!(text(&replay), text(&taken));
}

#[tokio::test]
async fn an_unavailable_key_store_is_503_and_queues_nothing() {
    let ingest = handler();
    ingest
        .idempotency()
        .expect("a store")
        .set_fault(Some(Fault::Throttle));
    let response = ingest.handle(&request(Some("k"), ORDER)).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers.get("retry-after").unwrap(), "2");
    assert!(ingest.queue().sent().is_empty());
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_order() {
    let ingest = handler();
    let requests: Vec<ApiGatewayProxyRequest> =
        (0..20).map(|_| request(Some("same"), ORDER)).collect();
    // The in-memory store yields once per call, like a network round trip, so the 20
    // requests race: all of them try to claim the key before the first one completes it.
    let answers = futures::future::join_all(requests.iter().map(|r| ingest.handle(r))).await;
    let accepted: Vec<_> = answers.iter().filter(|r| r.status_code == 202).collect();
    let in_use: Vec<_> = answers.iter().filter(|r| r.status_code == 409).collect();
    assert_eq!(
        accepted.len() + in_use.len(),
        answers.len(),
        "only 202 or 409: {:?}",
        answers.iter().map(|r| r.status_code).collect::<Vec<_>>()
    );
    assert!(!in_use.is_empty(), "the requests did not race (no 409)");
    for answer in &in_use {
        assert_eq!(json(answer)["error"], "idempotency_key_in_use");
        assert!(answer.headers.contains_key("retry-after"));
    }
    let ids: std::collections::HashSet<String> = accepted
        .iter()
        .map(|r| json(r)["order_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ingest.queue().sent().len(), 1, "exactly one order created");

    // A retry after the race replays the one order.
    let replay = ingest.handle(&request(Some("same"), ORDER)).await;
    assert_eq!(replay.status_code, 202);
    assert!(ids.contains(json(&replay)["order_id"].as_str().unwrap()));
    assert_eq!(ingest.queue().sent().len(), 1);
}
