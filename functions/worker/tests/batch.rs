//! The worker's batch driver against an in-memory store, on tokio's paused clock: delays
//! and deadlines are measured in virtual time, so these tests are exact and instant.

use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use orders_domain::ports::{OrderStore, PutOutcome, StoreError};
use orders_domain::StoredOrder;
use orders_platform::adapters::memory::{Fault, InMemoryStore};
use orders_platform::config::DelaySpec;
use test_support::fixtures::{event, order, sqs_batch, sqs_record};
use tokio::time::Instant;
use worker::{BatchError, RecordError, Worker};

const MARGIN: Duration = Duration::from_millis(1000);

fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(900)
}

#[tokio::test(start_paused = true)]
async fn the_sample_batch_fails_only_the_malformed_record() {
    let event: SqsEvent = event("sqs-batch.json");
    assert_eq!(event.records.len(), 3);
    let worker = Worker::new(InMemoryStore::new(), DelaySpec::None, MARGIN);
    let (response, summary) = worker
        .handle_batch_with_summary(&event, far_deadline())
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        vec!["33333333-3333-4333-8333-333333333333"]
    );
    assert_eq!(
        (
            summary.records,
            summary.stored,
            summary.duplicates,
            summary.failed
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(worker.store().len(), 1);

    // The whole batch delivered again: everything valid is a no-op duplicate.
    let (response, summary) = worker
        .handle_batch_with_summary(&event, far_deadline())
        .await
        .unwrap();
    assert_eq!(failures(&response).len(), 1);
    assert_eq!((summary.stored, summary.duplicates), (0, 2));
    assert_eq!(worker.store().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_stored_item_carries_processing_facts() {
    let worker = Worker::new(InMemoryStore::new(), DelaySpec::Fixed(250), MARGIN);
    let queued = order();
    let event = sqs_batch(vec![sqs_record("m-1", &queued.to_message_body(), 3)]);
    let response = worker.handle_batch(&event, far_deadline()).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let stored = worker.store().get(&queued.order_id).unwrap();
    assert_eq!(stored.attempts, 3);
    assert_eq!(stored.processing_ms, 250);
    assert_eq!(stored.received_at, queued.received_at);
    assert!(stored.processed_at >= queued.received_at);
    assert_eq!(stored.email, queued.email);
    assert_eq!(
        serde_json::to_value(&stored).unwrap()["status"],
        "processed"
    );
}

#[tokio::test(start_paused = true)]
async fn records_run_concurrently() {
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::Range(2000, 5000),
        Duration::from_millis(500),
    );
    let records: Vec<SqsMessage> = (0..10)
        .map(|i| sqs_record(format!("m-{i}").as_str(), &order().to_message_body(), 1))
        .collect();
    let started = Instant::now();
    let response = worker
        .handle_batch(
            &sqs_batch(records),
            Instant::now() + Duration::from_secs(30),
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(worker.store().len(), 10);
    assert!(elapsed >= Duration::from_millis(2000), "{elapsed:?}");
    assert!(
        elapsed <= Duration::from_millis(5000),
        "ten 2-5 s records took {elapsed:?}, not about 5 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_malformed_or_missing_body_fails_that_record_only() {
    let worker = Worker::new(InMemoryStore::new(), DelaySpec::None, MARGIN);
    let good = order();
    let mut no_body = sqs_record("m-none", "", 1);
    no_body.body = None;
    let event = sqs_batch(vec![
        sqs_record("m-good", &good.to_message_body(), 1),
        sqs_record("m-bad", "{not json", 1),
        sqs_record(
            "m-wrong",
            r#"{"order_id":"x","email":"a@b.co","items":[]}"#,
            1,
        ),
        no_body,
    ]);
    let response = worker.handle_batch(&event, far_deadline()).await.unwrap();
    assert_eq!(failures(&response), vec!["m-bad", "m-none", "m-wrong"]);
    assert!(worker.store().get(&good.order_id).is_some());
}

#[tokio::test(start_paused = true)]
async fn a_store_error_or_a_panic_fails_that_record_only() {
    let store = InMemoryStore::new();
    let (throttled, down, panics, fine) = (order(), order(), order(), order());
    store.set_fault(throttled.order_id, Fault::Throttle);
    store.set_fault(down.order_id, Fault::Unavailable);
    store.set_fault(panics.order_id, Fault::Panic);
    let worker = Worker::new(store, DelaySpec::None, MARGIN);
    let event = sqs_batch(vec![
        sqs_record("m-throttled", &throttled.to_message_body(), 1),
        sqs_record("m-down", &down.to_message_body(), 1),
        sqs_record("m-panics", &panics.to_message_body(), 1),
        sqs_record("m-fine", &fine.to_message_body(), 1),
    ]);
    let (response, summary) = worker
        .handle_batch_with_summary(&event, far_deadline())
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        vec!["m-down", "m-panics", "m-throttled"]
    );
    assert_eq!((summary.stored, summary.failed), (1, 3));
    assert!(worker.store().get(&fine.order_id).is_some());
    let err = worker
        .process_record(
            &sqs_record("m-down", &down.to_message_body(), 1),
            far_deadline(),
        )
        .await;
    assert!(
        matches!(err, Err(RecordError::Store(StoreError::Unavailable(_)))),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_record_that_cannot_finish_before_the_deadline_fails_early() {
    let worker = Worker::new(InMemoryStore::new(), DelaySpec::Fixed(5000), MARGIN);
    let queued = order();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3);
    let result = worker
        .process_record(&sqs_record("m-1", &queued.to_message_body(), 1), deadline)
        .await;
    assert!(
        matches!(result, Err(RecordError::NoTimeLeft { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(10),
        "gave up at once, not at the deadline"
    );
    assert!(worker.store().is_empty());
}

/// A store whose writes hang, as a stalled network call would.
struct HangingStore;

impl OrderStore for HangingStore {
    async fn put_new(&self, _order: &StoredOrder) -> Result<PutOutcome, StoreError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(PutOutcome::Created)
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_write_is_reported_failed_before_the_deadline() {
    let worker = Worker::new(HangingStore, DelaySpec::Fixed(100), MARGIN);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    let event = sqs_batch(vec![sqs_record("m-1", &order().to_message_body(), 1)]);
    let (response, summary) = worker
        .handle_batch_with_summary(&event, deadline)
        .await
        .unwrap();
    assert_eq!(failures(&response), vec!["m-1"]);
    assert_eq!(summary.failed, 1);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(9),
        "answered at deadline minus the margin"
    );
}

/// A store that counts concurrent writes of the same order, to prove the duplicate check
/// holds when one message is delivered twice at the same time.
#[derive(Default)]
struct SlowStore {
    inner: InMemoryStore,
    calls: Mutex<u32>,
}

impl OrderStore for SlowStore {
    async fn put_new(&self, order: &StoredOrder) -> Result<PutOutcome, StoreError> {
        *self.calls.lock().unwrap() += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.inner.put_new(order).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_message_twice_in_one_batch_is_stored_once() {
    let store = SlowStore::default();
    let worker = Worker::new(&store, DelaySpec::None, MARGIN);
    let queued = order();
    let body = queued.to_message_body();
    let event = sqs_batch(vec![
        sqs_record("m-a", &body, 1),
        sqs_record("m-b", &body, 2),
    ]);
    let (response, summary) = worker
        .handle_batch_with_summary(&event, far_deadline())
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((summary.stored, summary.duplicates), (1, 1));
    assert_eq!(*store.calls.lock().unwrap(), 2);
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_record_without_message_id_fails_the_whole_batch() {
    let worker = Worker::new(InMemoryStore::new(), DelaySpec::None, MARGIN);
    let mut anonymous = sqs_record("", "{broken", 1);
    for id in [None, Some(String::new())] {
        anonymous.message_id = id;
        let event = sqs_batch(vec![
            anonymous.clone(),
            sqs_record("m-ok", &order().to_message_body(), 1),
        ]);
        let result = worker.handle_batch(&event, far_deadline()).await;
        assert_eq!(result.unwrap_err(), BatchError::UnidentifiedFailures(1));
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_batch_is_a_success() {
    let worker = Worker::new(InMemoryStore::new(), DelaySpec::None, MARGIN);
    let response = worker
        .handle_batch(&SqsEvent::default(), far_deadline())
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test(start_paused = true)]
async fn deadlines_are_read_as_epoch_ms_or_as_the_emulators_relative_ms() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let absolute = worker::deadline_from_ms(now_ms + 30_000) - Instant::now();
    assert!(
        absolute > Duration::from_secs(29) && absolute <= Duration::from_secs(30),
        "{absolute:?}"
    );
    let relative = worker::deadline_from_ms(600_000) - Instant::now();
    assert_eq!(relative, Duration::from_secs(600));
    let past = worker::deadline_from_ms(now_ms - 5_000) - Instant::now();
    assert_eq!(past, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_same_message_in_two_concurrent_invocations_is_stored_once() {
    // SQS at-least-once: two pollers may hand the same message to two invocations at once.
    let store = SlowStore::default();
    let worker = Worker::new(&store, DelaySpec::None, MARGIN);
    let body = order().to_message_body();
    let (first, second) = (
        sqs_batch(vec![sqs_record("m-1", &body, 1)]),
        sqs_batch(vec![sqs_record("m-1-copy", &body, 1)]),
    );
    let (a, b) = tokio::join!(
        worker.handle_batch_with_summary(&first, far_deadline()),
        worker.handle_batch_with_summary(&second, far_deadline())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.0.batch_item_failures.is_empty() && b.0.batch_item_failures.is_empty());
    assert_eq!(a.1.stored + b.1.stored, 1);
    assert_eq!(a.1.duplicates + b.1.duplicates, 1);
    assert_eq!(store.inner.len(), 1);
}
