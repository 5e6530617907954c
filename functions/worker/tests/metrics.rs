//! What the worker handler measures, read from a recorder scoped to each test (on tokio's
//! paused clock, so processing times are exact): BatchSize, RecordsRetried,
//! OrdersProcessed, OrdersDuplicate, OrdersFailed, ProcessingTime, ColdStart. And the
//! same as valid CloudWatch EMF through the Lambda emitter.

use std::time::Duration;

use orders_platform::adapters::memory::{Fault, InMemoryStore};
use orders_platform::config::DelaySpec;
use orders_platform::metrics::{names, EmfMetrics, InMemoryMetrics, MetricsConfig};
use test_support::emf_spec::check_text;
use test_support::fixtures::{order, sqs_batch, sqs_record};
use tokio::time::Instant;
use worker::Worker;

const WORKER: (&str, &str) = ("Function", "worker");

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(900)
}

fn count(m: &InMemoryMetrics, name: &str) -> u64 {
    m.counter(name, &[WORKER])
}

#[tokio::test(start_paused = true)]
async fn a_mixed_batch_counts_each_outcome_and_measures_each_record() {
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::Fixed(250),
        Duration::from_millis(1000),
    );
    let first = order();
    let failing = order();
    worker
        .store()
        .set_fault(failing.order_id, Fault::Unavailable);
    let event = sqs_batch(vec![
        sqs_record(Some("m-1"), &first.to_message_body(), 1),
        // Its redelivery, received a third time: stored once, the other is a duplicate.
        sqs_record(Some("m-1-again"), &first.to_message_body(), 3),
        sqs_record(Some("m-bad"), "{not an order", 1),
        sqs_record(Some("m-fail"), &failing.to_message_body(), 2),
        sqs_record(Some("m-2"), &order().to_message_body(), 1),
    ]);
    let metrics = InMemoryMetrics::new();
    let response = metrics
        .scope(worker.handle_batch(&event, far_deadline()))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 2);

    assert_eq!(count(&metrics, names::ORDERS_PROCESSED), 2);
    assert_eq!(count(&metrics, names::ORDERS_DUPLICATE), 1);
    assert_eq!(
        count(&metrics, names::ORDERS_FAILED),
        2,
        "= the batch item failures"
    );
    assert_eq!(
        count(&metrics, names::RECORDS_RETRIED),
        2,
        "receive counts 3 and 2"
    );
    assert_eq!(count(&metrics, names::COLD_START), 1);
    let size = metrics.histogram(names::BATCH_SIZE, &[WORKER]);
    assert_eq!((size.count, size.sum), (1, 5.0));
    let time = metrics.histogram(names::PROCESSING_TIME, &[WORKER]);
    assert_eq!(time.count, 5, "every record, whatever its outcome");
    // The malformed record fails before the delay; the others take exactly 250 ms.
    assert_eq!((time.min, time.max), (Some(0.0), Some(250.0)));
    assert_eq!(time.sum, 4.0 * 250.0);

    // A second invocation of the same handler: no cold start, a second batch size.
    let again = sqs_batch(vec![sqs_record(Some("m-3"), &order().to_message_body(), 1)]);
    metrics
        .scope(worker.handle_batch(&again, far_deadline()))
        .await
        .unwrap();
    assert_eq!(count(&metrics, names::COLD_START), 1);
    assert_eq!(count(&metrics, names::ORDERS_PROCESSED), 3);
    let size = metrics.histogram(names::BATCH_SIZE, &[WORKER]);
    assert_eq!((size.count, size.sum, size.max), (2, 6.0, Some(5.0)));
}

#[tokio::test(start_paused = true)]
async fn records_out_of_time_and_unidentified_failures_count_as_failed() {
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::Fixed(5_000),
        Duration::from_millis(1000),
    );
    // 3 s left, 5 s of work: each record fails at once, before the deadline.
    let event = sqs_batch(vec![
        sqs_record(Some("m-1"), &order().to_message_body(), 1),
        sqs_record(None, &order().to_message_body(), 1),
    ]);
    let metrics = InMemoryMetrics::new();
    let result = metrics
        .scope(worker.handle_batch(&event, Instant::now() + Duration::from_secs(3)))
        .await;
    assert!(
        result.is_err(),
        "a failed record without messageId fails the invocation"
    );
    assert_eq!(count(&metrics, names::ORDERS_FAILED), 2);
    assert_eq!(count(&metrics, names::ORDERS_PROCESSED), 0);
    assert_eq!(metrics.histogram(names::BATCH_SIZE, &[WORKER]).sum, 2.0);
}

/// A writer whose bytes the test can read afterwards.

#[tokio::test(start_paused = true)]
async fn one_invocation_flushes_valid_emf_with_explicit_zeros_and_milliseconds() {
    let out = test_support::CapturedLogs::default();
    let emf = EmfMetrics::new(MetricsConfig::default(), Box::new(out.clone()));
    let worker = Worker::new(
        InMemoryStore::new(),
        DelaySpec::Fixed(40),
        Duration::from_millis(1000),
    );
    let event = sqs_batch(vec![
        sqs_record(Some("m-1"), &order().to_message_body(), 1),
        sqs_record(Some("m-2"), &order().to_message_body(), 1),
    ]);
    orders_platform::metrics::scoped(emf.clone(), worker.handle_batch(&event, far_deadline()))
        .await
        .unwrap();
    emf.flush().unwrap();
    let text = out.text();
    let data = check_text(&text);
    let get = |name: &str| {
        let found: Vec<_> = data.iter().filter(|d| d.name == name).collect();
        assert_eq!(found.len(), 1, "{name}: {text}");
        assert_eq!(found[0].dimensions["Service"], "orders");
        assert_eq!(found[0].dimensions["Function"], "worker");
        (found[0].unit.clone().unwrap(), found[0].values.clone())
    };
    assert_eq!(get(names::ORDERS_PROCESSED), ("Count".into(), vec![2.0]));
    assert_eq!(get(names::ORDERS_FAILED), ("Count".into(), vec![0.0]));
    assert_eq!(get(names::ORDERS_DUPLICATE), ("Count".into(), vec![0.0]));
    assert_eq!(get(names::RECORDS_RETRIED), ("Count".into(), vec![0.0]));
    assert_eq!(get(names::COLD_START), ("Count".into(), vec![1.0]));
    assert_eq!(get(names::BATCH_SIZE), ("Count".into(), vec![2.0]));
    assert_eq!(
        get(names::PROCESSING_TIME),
        ("Milliseconds".into(), vec![40.0, 40.0])
    );
}
