//! The SQS and DynamoDB adapters against a real AWS API (moto server on loopback, started
//! by this test process): send, receive, visibility timeout, redrive to the DLQ after
//! maxReceiveCount, conditional put of a duplicate, and the error paths.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::Utc;
use orders_domain::ports::{OrderQueue, OrderStore, PutOutcome, QueueError, StoreError};
use orders_domain::{OrderId, QueuedOrder, StoredOrder};
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::adapters::sqs::{SqsOrderQueue, ORDER_ID_ATTRIBUTE};
use test_support::fixtures::order_from;
use test_support::{create_queue, receive, MotoServer};

/// Two line items, so the stored item's list has more than one element.
fn order() -> QueuedOrder {
    order_from(
        r#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-1","qty":2},{"sku":"SKU-2","qty":1}]}"#,
    )
}

async fn create_table(config: &aws_config::SdkConfig, name: &str) {
    DynamoOrderStore::from_sdk_config(config, name)
        .create_table_if_missing()
        .await
        .unwrap();
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let n = |k: &QueueAttributeName| attrs[k].parse::<u64>().unwrap();
    (
        n(&QueueAttributeName::ApproximateNumberOfMessages),
        n(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn sqs_adapter_sends_the_order_with_its_id_attribute() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = create_queue(&sqs, "orders", &[]).await;
    let queue = SqsOrderQueue::from_sdk_config(&config, &url);

    queue.warm_up().await;
    assert_eq!(
        queue_depth(&sqs, &url).await,
        (0, 0),
        "warm-up must not enqueue anything"
    );

    let sent = order();
    queue.enqueue(&sent).await.unwrap();
    let received = receive(
        sqs.receive_message()
            .queue_url(&url)
            .message_attribute_names("All")
            .wait_time_seconds(1),
    )
    .await;
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(
        QueuedOrder::from_message_body(message.body().unwrap()).unwrap(),
        sent
    );
    let attribute = &message.message_attributes.as_ref().unwrap()[ORDER_ID_ATTRIBUTE];
    assert_eq!(attribute.data_type(), "String");
    assert_eq!(
        attribute.string_value(),
        Some(sent.order_id.to_string().as_str())
    );
}

const TRACE: &str = "Root=1-6745a6c1-1b2c3d4e5f60718293a4b5c6;Parent=53995c3f42cd8ad8;Sampled=1";

#[tokio::test]
async fn the_trace_header_travels_with_the_message_so_the_worker_joins_the_trace() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = create_queue(&sqs, "traced", &[]).await;
    let receive = || async {
        receive(
            sqs.receive_message()
                .queue_url(&url)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader,
                )
                .wait_time_seconds(1),
        )
        .await
        .remove(0)
    };

    let traced =
        SqsOrderQueue::from_sdk_config(&config, &url).with_trace_source(|| Some(TRACE.into()));
    traced.enqueue(&order()).await.unwrap();
    let message = receive().await;
    let attributes = message.attributes.unwrap_or_default();
    assert_eq!(
        attributes
            .get(&MessageSystemAttributeName::AwsTraceHeader)
            .map(String::as_str),
        Some(TRACE)
    );
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(message.receipt_handle.unwrap())
        .send()
        .await
        .unwrap();

    let untraced = SqsOrderQueue::from_sdk_config(&config, &url).with_trace_source(|| None);
    untraced.enqueue(&order()).await.unwrap();
    let message = receive().await;
    assert!(!message
        .attributes
        .unwrap_or_default()
        .contains_key(&MessageSystemAttributeName::AwsTraceHeader));
}

#[tokio::test]
async fn visibility_timeout_hides_a_received_message_then_redelivers_it() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = create_queue(
        &sqs,
        "orders",
        // 3 s: the second receive below must come while the message is still hidden (a
        // round trip to moto: milliseconds idle, under a second at a load average of 4).
        &[(QueueAttributeName::VisibilityTimeout, "3".into())],
    )
    .await;
    SqsOrderQueue::from_sdk_config(&config, &url)
        .enqueue(&order())
        .await
        .unwrap();

    let receive = || {
        sqs.receive_message()
            .queue_url(&url)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
    };
    let first = receive().send().await.unwrap().messages.unwrap_or_default();
    assert_eq!(first.len(), 1);
    let hidden = receive()
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(hidden.is_empty(), "an in-flight message must be invisible");
    assert_eq!(queue_depth(&sqs, &url).await, (0, 1));

    // Long-poll until the visibility timeout lets it reappear.
    let again = receive()
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, first[0].message_id);
    let count = &again[0].attributes.as_ref().unwrap()
        [&MessageSystemAttributeName::ApproximateReceiveCount];
    assert_eq!(count, "2");
}

#[tokio::test]
async fn a_message_goes_to_the_dlq_after_max_receive_count() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (dlq_url, dlq_arn) = create_queue(&sqs, "orders-dlq", &[]).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}"#);
    let (url, _) = create_queue(
        &sqs,
        "orders",
        &[(QueueAttributeName::RedrivePolicy, policy)],
    )
    .await;
    let sent = order();
    SqsOrderQueue::from_sdk_config(&config, &url)
        .enqueue(&sent)
        .await
        .unwrap();

    // Three receives without a delete (visibility 0 makes it visible again at once).
    for attempt in 1..=3 {
        let got = receive(sqs.receive_message().queue_url(&url).visibility_timeout(0)).await;
        assert_eq!(got.len(), 1, "receive {attempt}");
    }
    let fourth = receive(sqs.receive_message().queue_url(&url).visibility_timeout(0)).await;
    assert!(
        fourth.is_empty(),
        "after maxReceiveCount receives the message leaves the queue"
    );

    let dead = receive(
        sqs.receive_message()
            .queue_url(&dlq_url)
            .message_attribute_names("All"),
    )
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        QueuedOrder::from_message_body(dead[0].body().unwrap())
            .unwrap()
            .order_id,
        sent.order_id
    );
    assert_eq!(
        dead[0].message_attributes.as_ref().unwrap()[ORDER_ID_ATTRIBUTE].string_value(),
        Some(sent.order_id.to_string().as_str())
    );
}

#[tokio::test]
async fn sending_to_a_missing_queue_is_unavailable() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let queue = SqsOrderQueue::from_sdk_config(
        &config,
        format!("{}/123456789012/no-such-queue", moto.endpoint()),
    );
    let err = queue.enqueue(&order()).await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string().contains("NonExistentQueue")
            || err.to_string().contains("QueueDoesNotExist"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_queue_is_unavailable() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let queue = SqsOrderQueue::from_sdk_config(&config, format!("http://127.0.0.1:{port}/1/q"));
    assert!(matches!(
        queue.enqueue(&order()).await,
        Err(QueueError::Unavailable(_))
    ));
}

#[tokio::test]
async fn dynamodb_adapter_writes_once_and_reports_duplicates() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    create_table(&config, "orders").await;
    let store = DynamoOrderStore::from_sdk_config(&config, "orders");

    store.warm_up().await;
    assert_eq!(
        ddb.scan().table_name("orders").send().await.unwrap().count,
        0,
        "warm-up must not write"
    );

    let stored = StoredOrder::processed(order(), Utc::now(), 42, 1);
    assert_eq!(store.put_new(&stored).await.unwrap(), PutOutcome::Created);

    let mut redelivered = stored.clone();
    redelivered.attempts = 2;
    redelivered.processing_ms = 7;
    assert_eq!(
        store.put_new(&redelivered).await.unwrap(),
        PutOutcome::AlreadyExists
    );

    let item = ddb
        .get_item()
        .table_name("orders")
        .key(
            "order_id",
            aws_sdk_dynamodb::types::AttributeValue::S(stored.order_id.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let back: StoredOrder = serde_dynamo::from_item(item.clone()).unwrap();
    assert_eq!(
        back, stored,
        "the first write wins; the duplicate changed nothing"
    );
    let keys: HashMap<&str, &str> = item.keys().map(|k| (k.as_str(), k.as_str())).collect();
    for field in [
        "order_id",
        "email",
        "items",
        "status",
        "received_at",
        "processed_at",
        "processing_ms",
        "attempts",
    ] {
        assert!(keys.contains_key(field), "stored item lacks {field}");
    }
    assert_eq!(
        ddb.scan().table_name("orders").send().await.unwrap().count,
        1
    );
}

#[tokio::test]
async fn writing_to_a_missing_table_is_unavailable() {
    let moto = MotoServer::start();
    let store = DynamoOrderStore::from_sdk_config(&moto.sdk_config().await, "no-such-table");
    let err = store
        .put_new(&StoredOrder::processed(order(), Utc::now(), 1, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
}

#[tokio::test]
async fn idempotency_records_are_claimed_once_completed_and_released() {
    use orders_domain::ports::{Claim, IdempotencyRecord, IdempotencyStore};
    use orders_domain::{Fingerprint, IdempotencyKey};
    use orders_platform::adapters::idempotency::DynamoIdempotencyStore;

    let moto = MotoServer::start();
    let store = DynamoIdempotencyStore::from_sdk_config(&moto.sdk_config().await, "idempotency");
    store.create_table_if_missing().await.unwrap();
    let key = IdempotencyKey::parse("key-1").unwrap();
    let record = IdempotencyRecord {
        key: key.clone(),
        fingerprint: Fingerprint::of(b"body"),
        order_id: OrderId::new_v7(),
        response: None,
        started_at_ms: 1_000,
    };
    assert_eq!(store.claim(&record).await.unwrap(), Claim::Claimed);
    let other = IdempotencyRecord {
        order_id: OrderId::new_v7(),
        started_at_ms: 2_000,
        ..record.clone()
    };
    assert_eq!(
        store.claim(&other).await.unwrap(),
        Claim::Existing(record.clone()),
        "the first claim wins"
    );

    assert!(
        !store.take_over(&key, 999, 3_000).await.unwrap(),
        "only from the start time it saw"
    );
    assert!(store.take_over(&key, 1_000, 3_000).await.unwrap());
    store.complete(&key, r#"{"order_id":"x"}"#).await.unwrap();
    let Claim::Existing(done) = store.claim(&other).await.unwrap() else {
        panic!("key is known")
    };
    assert_eq!(done.response.as_deref(), Some(r#"{"order_id":"x"}"#));
    assert_eq!(done.started_at_ms, 3_000);
    assert!(
        !store.take_over(&key, 3_000, 4_000).await.unwrap(),
        "a completed key is never taken over"
    );

    store.release(&key).await.unwrap();
    assert_eq!(
        store.claim(&other).await.unwrap(),
        Claim::Claimed,
        "a released key starts over"
    );
}
