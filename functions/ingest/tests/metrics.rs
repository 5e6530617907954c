//! What the ingest handler counts, path by path, read from a recorder scoped to each test:
//! OrdersReceived, OrdersRejected by ErrorCode (every 4xx), OrdersEnqueued, EnqueueFailed,
//! ColdStart. And the same counts as valid CloudWatch EMF through the Lambda emitter.

use std::future::Future;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::http::HeaderValue;
use ingest::{Ingest, MAX_BODY_BYTES};
use orders_domain::ports::{IdempotencyRecord, IdempotencyStore};
use orders_domain::{Fingerprint, IdempotencyKey, OrderId};
use orders_platform::adapters::memory::{Fault, InMemoryIdempotency, InMemoryQueue};
use orders_platform::metrics::{names, EmfMetrics, InMemoryMetrics, MetricsConfig};
use test_support::emf_spec::check_text;

const ORDER: &str = r#"{"email":"jane@example.com","items":[{"sku":"SKU-1","qty":2}]}"#;
const INGEST: (&str, &str) = ("Function", "ingest");

use test_support::fixtures::order_request as request;

fn with_header(
    mut event: ApiGatewayProxyRequest,
    name: &'static str,
    value: &str,
) -> ApiGatewayProxyRequest {
    event
        .headers
        .insert(name, HeaderValue::from_str(value).unwrap());
    event
}

fn handler() -> Ingest<InMemoryQueue, InMemoryIdempotency> {
    Ingest::new(InMemoryQueue::new(), 2).with_idempotency(InMemoryIdempotency::new())
}

/// Runs `f` with a fresh recorder and returns it.
async fn counted<F: Future>(f: F) -> InMemoryMetrics {
    let metrics = InMemoryMetrics::new();
    metrics.scope(f).await;
    metrics
}

fn count(m: &InMemoryMetrics, name: &str) -> u64 {
    m.counter(name, &[INGEST])
}

fn rejected(m: &InMemoryMetrics, code: &str) -> u64 {
    m.counter(names::ORDERS_REJECTED, &[INGEST, ("ErrorCode", code)])
}

#[tokio::test]
async fn an_accepted_order_is_received_and_enqueued_and_the_first_request_is_a_cold_start() {
    let ingest = handler();
    let m = counted(async {
        for _ in 0..3 {
            assert_eq!(ingest.handle(&request(ORDER)).await.status_code, 202);
        }
    })
    .await;
    assert_eq!(count(&m, names::ORDERS_RECEIVED), 3);
    assert_eq!(count(&m, names::ORDERS_ENQUEUED), 3);
    assert_eq!(count(&m, names::ORDERS_REJECTED), 0);
    assert_eq!(count(&m, names::ENQUEUE_FAILED), 0);
    assert_eq!(count(&m, names::COLD_START), 1, "once per handler instance");

    // The same instance later: no second cold start.
    let m = counted(ingest.handle(&request(ORDER))).await;
    assert_eq!(count(&m, names::COLD_START), 0);
    assert_eq!(count(&m, names::ORDERS_RECEIVED), 1);
}

#[tokio::test]
async fn every_4xx_is_counted_once_under_its_error_code() {
    let big = format!(
        r#"{{"email":"a@b.co","items":[],"pad":"{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let mut bad_base64 = request("%%%not base64%%%");
    bad_base64.is_base64_encoded = true;
    let cases: Vec<(&str, u16, ApiGatewayProxyRequest)> = vec![
        ("invalid_json", 400, request("{not json")),
        (
            "validation_failed",
            400,
            request(r#"{"email":"nope","items":[]}"#),
        ),
        ("invalid_body", 400, bad_base64),
        ("payload_too_large", 413, request(&big)),
        (
            "unsupported_media_type",
            415,
            with_header(request(ORDER), "content-type", "text/plain"),
        ),
        (
            "invalid_idempotency_key",
            400,
            with_header(request(ORDER), "idempotency-key", &"k".repeat(300)),
        ),
    ];
    for (code, status, event) in cases {
        let ingest = handler();
        let m = counted(async {
            let response = ingest.handle(&event).await;
            assert_eq!(
                response.status_code,
                i64::from(status),
                "{code}: {:?}",
                response.body
            );
        })
        .await;
        assert_eq!(rejected(&m, code), 1, "{code}");
        assert_eq!(
            count(&m, names::ORDERS_REJECTED),
            1,
            "{code}: only that code"
        );
        assert_eq!(count(&m, names::ORDERS_RECEIVED), 1, "{code}");
        assert_eq!(count(&m, names::ORDERS_ENQUEUED), 0, "{code}");
        assert_eq!(count(&m, names::ENQUEUE_FAILED), 0, "{code}");
    }
}

#[tokio::test]
async fn idempotency_conflicts_are_rejections_and_a_replay_is_not_a_second_enqueue() {
    let ingest = handler();
    let keyed = |body: &str| with_header(request(body), "idempotency-key", "key-1");
    let m = counted(async {
        assert_eq!(ingest.handle(&keyed(ORDER)).await.status_code, 202);
        // The same key and body: the first answer replayed, nothing new queued.
        assert_eq!(ingest.handle(&keyed(ORDER)).await.status_code, 202);
        // The same key, another body: 422.
        let other = ORDER.replace("\"qty\":2", "\"qty\":3");
        assert_eq!(ingest.handle(&keyed(&other)).await.status_code, 422);
    })
    .await;
    assert_eq!(count(&m, names::ORDERS_RECEIVED), 3);
    assert_eq!(count(&m, names::ORDERS_ENQUEUED), 1);
    assert_eq!(rejected(&m, "idempotency_key_reused"), 1);
    assert_eq!(count(&m, names::ORDERS_REJECTED), 1);

    // A key still held by a request in progress: 409.
    let key = IdempotencyKey::parse("key-2").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    ingest
        .idempotency()
        .expect("a store")
        .claim(&IdempotencyRecord {
            key,
            fingerprint: Fingerprint::of(ORDER.as_bytes()),
            order_id: OrderId::new_v7(),
            response: None,
            started_at_ms: now,
        })
        .await
        .unwrap();
    let m = counted(async {
        let response = ingest
            .handle(&with_header(request(ORDER), "idempotency-key", "key-2"))
            .await;
        assert_eq!(response.status_code, 409);
    })
    .await;
    assert_eq!(rejected(&m, "idempotency_key_in_use"), 1);
}

#[tokio::test]
async fn a_refused_enqueue_is_an_enqueue_failure_not_a_rejection() {
    for fault in [Fault::Unavailable, Fault::Throttle] {
        let ingest = handler();
        ingest.queue().set_fault(Some(fault.clone()));
        let m = counted(async {
            assert_eq!(ingest.handle(&request(ORDER)).await.status_code, 503);
        })
        .await;
        assert_eq!(count(&m, names::ENQUEUE_FAILED), 1, "{fault:?}");
        assert_eq!(count(&m, names::ORDERS_ENQUEUED), 0);
        assert_eq!(count(&m, names::ORDERS_REJECTED), 0);
        assert_eq!(count(&m, names::ORDERS_RECEIVED), 1);
    }
}

#[tokio::test]
async fn an_unavailable_idempotency_store_or_a_bug_is_neither_rejected_nor_an_enqueue_failure() {
    let ingest = handler();
    ingest
        .idempotency()
        .expect("a store")
        .set_fault(Some(Fault::Unavailable));
    let m = counted(async {
        let response = ingest
            .handle(&with_header(request(ORDER), "idempotency-key", "key-1"))
            .await;
        assert_eq!(response.status_code, 503);
    })
    .await;
    let ingest = handler();
    ingest.queue().set_fault(Some(Fault::Panic));
    let m2 = counted(async {
        assert_eq!(ingest.handle(&request(ORDER)).await.status_code, 500);
    })
    .await;
    for m in [m, m2] {
        assert_eq!(count(&m, names::ORDERS_RECEIVED), 1);
        assert_eq!(count(&m, names::ENQUEUE_FAILED), 0);
        assert_eq!(count(&m, names::ORDERS_REJECTED), 0);
        assert_eq!(count(&m, names::ORDERS_ENQUEUED), 0);
    }
}

/// A writer whose bytes the test can read afterwards.

#[tokio::test]
async fn one_invocation_flushes_valid_emf_with_service_function_and_error_code() {
    let out = test_support::CapturedLogs::default();
    let config = MetricsConfig {
        namespace: "Shop".into(),
        service: "shop".into(),
    };
    let emf = EmfMetrics::new(config, Box::new(out.clone()));
    let ingest = handler();
    orders_platform::metrics::scoped(emf.clone(), async {
        ingest
            .handle(&with_header(request(ORDER), "content-type", "text/csv"))
            .await;
    })
    .await;
    emf.flush().unwrap();
    let text = out.text();
    let data = check_text(&text);
    let value = |name: &str, dims: &[(&str, &str)]| -> Vec<f64> {
        data.iter()
            .filter(|d| {
                d.name == name
                    && d.dimensions.len() == dims.len()
                    && dims
                        .iter()
                        .all(|(k, v)| d.dimensions.get(*k).map(String::as_str) == Some(*v))
            })
            .flat_map(|d| d.values.clone())
            .collect()
    };
    let base = [("Service", "shop"), INGEST];
    assert_eq!(value(names::ORDERS_RECEIVED, &base), vec![1.0]);
    assert_eq!(value(names::COLD_START, &base), vec![1.0]);
    assert_eq!(
        value(
            names::ORDERS_REJECTED,
            &[
                ("Service", "shop"),
                INGEST,
                ("ErrorCode", "unsupported_media_type")
            ]
        ),
        vec![1.0]
    );
    assert_eq!(
        value(names::ORDERS_REJECTED, &base),
        vec![1.0],
        "the roll-up over codes"
    );
    assert!(value(names::ORDERS_ENQUEUED, &base).is_empty());
}
