//! The event-source poller on its own: what it deletes, what it leaves for retry, how it
//! fills batches, and the records it builds.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use orders_cli::poller::{invoke_batch, to_record, BatchHandler, PollerConfig, PollerCounters};
use orders_cli::queue::local::{LocalQueue, LocalQueueConfig};
use orders_cli::queue::{DeadLetterOps, QueueSource};
use orders_platform::adapters::memory::{Fault, InMemoryStore};
use orders_platform::config::DelaySpec;
use test_support::fixtures::order;
use tokio::time::Instant;
use worker::Worker;

fn config(batch_size: usize) -> PollerConfig {
    PollerConfig {
        batch_size,
        batching_window: Duration::ZERO,
        max_concurrency: 2,
        function_timeout: Duration::from_secs(5),
        visibility_timeout: Duration::from_secs(30),
        queue_arn: "arn:aws:sqs:local:000000000000:orders",
    }
}

fn queue(visibility: Duration) -> LocalQueue {
    LocalQueue::open(
        None,
        LocalQueueConfig {
            visibility_timeout: visibility,
            max_receive_count: 3,
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn successes_are_deleted_and_failures_come_back_with_a_higher_receive_count() {
    // 2 s: the failures must still be in flight when counted below, after the batch ran
    // (milliseconds when idle, well under a second at a load average of 4).
    let queue = queue(Duration::from_secs(2));
    let (good, bad) = (order(), order());
    let store = InMemoryStore::new();
    store.set_fault(bad.order_id, Fault::Unavailable);
    let worker = Worker::new(store, DelaySpec::None, Duration::from_millis(100));
    queue
        .send_raw(&good.to_message_body(), Some(&good.order_id.to_string()))
        .unwrap();
    queue
        .send_raw(&bad.to_message_body(), Some(&bad.order_id.to_string()))
        .unwrap();
    queue.send_raw("poison", None).unwrap();

    let counters = PollerCounters::default();
    let batch = queue.receive(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(batch.len(), 3);
    let deleted = invoke_batch(&queue, &worker, batch, &config(10), &counters).await;
    assert_eq!(deleted.len(), 1, "only the good record is deleted");
    assert!(worker.store().get(&good.order_id).is_some());
    let stats = counters.snapshot();
    assert_eq!(
        (
            stats.batches,
            stats.records,
            stats.deleted,
            stats.record_failures
        ),
        (1, 3, 1, 2)
    );
    assert_eq!(queue.counts().await.unwrap().0.in_flight, 2);

    // Long-polls until the visibility timeout brings the two failures back.
    let again = queue.receive(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again
        .iter()
        .all(|m| m.attributes["ApproximateReceiveCount"] == "2"));
}

#[tokio::test]
async fn batches_respect_batch_size_and_records_look_like_lambdas() {
    let queue = queue(Duration::from_secs(30));
    for _ in 0..25 {
        let o = order();
        queue
            .send_raw(&o.to_message_body(), Some(&o.order_id.to_string()))
            .unwrap();
    }
    let first = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 10);
    let record = to_record(&first[0], "arn:aws:sqs:local:000000000000:orders");
    assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
    assert!(record.attributes.contains_key("SentTimestamp"));
    assert_eq!(
        record.message_attributes["order_id"].data_type.as_deref(),
        Some("String")
    );
    let json = serde_json::to_value(&record).unwrap();
    assert!(
        json.get("messageId").is_some() && json.get("eventSourceARN").is_some(),
        "{json}"
    );

    let (main, _) = queue.counts().await.unwrap();
    assert_eq!((main.visible, main.in_flight), (15, 10));
}

#[tokio::test]
async fn a_message_is_dead_lettered_on_the_receive_after_max_receive_count() {
    let queue = queue(Duration::ZERO);
    queue.send_raw("poison", None).unwrap();
    for n in 1..=3 {
        let got = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].attributes["ApproximateReceiveCount"], n.to_string());
    }
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let dead = queue.dlq_list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].receive_count, Some(3));
    assert_eq!(queue.dlq_redrive().await.unwrap(), 1);
    let back = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(
        back[0].attributes["ApproximateReceiveCount"], "1",
        "a redriven message starts over"
    );
}

#[tokio::test]
async fn long_polling_wakes_on_a_send() {
    let queue = Arc::new(queue(Duration::from_secs(30)));
    let waiter = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.receive(10, Duration::from_secs(20)).await.unwrap() })
    };
    tokio::task::yield_now().await;
    let started = std::time::Instant::now();
    queue.send_raw("hello", None).unwrap();
    let got = waiter.await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the send, not by the 20 s timeout"
    );
}

#[test]
fn reconciliation_sorts_every_accepted_order() {
    use orders_cli::queue::DeadLetter;
    use orders_cli::reconcile::Reconciliation;
    let ids: Vec<String> = (0..6).map(|i| format!("o{i}")).collect();
    let dead = |id: Option<&str>| DeadLetter {
        message_id: "m".into(),
        order_id: id.map(str::to_owned),
        receive_count: Some(5),
        body: String::new(),
    };
    let stored = vec![
        "o0".to_owned(),
        "o1".to_owned(),
        "o1".to_owned(),
        "o2".to_owned(),
    ];
    let report = Reconciliation::compute(
        &ids,
        &stored,
        &[
            dead(Some("o2")),
            dead(Some("o3")),
            dead(Some("o3")),
            dead(None),
            dead(Some("zz")),
        ],
    );
    assert_eq!(report.accepted, 6);
    assert_eq!(report.stored, 3);
    assert_eq!(report.duplicated, 1, "o1 came back twice from the scan");
    assert_eq!(
        report.dlq_copies_of_stored, 1,
        "o2 is stored and has a dead copy"
    );
    assert_eq!(report.dead_lettered, 1, "o3");
    assert_eq!(report.missing, 2, "o4, o5");
    assert_eq!(
        report.other_dead_letters, 2,
        "the poison message and an unknown id"
    );
    assert!(!report.is_clean());
}

/// A worker invocation that goes wrong as a whole, in one of the ways Lambda treats as a
/// failed invocation: the real worker never does (its per-record deadline answers first).
enum Broken {
    /// Runs past the function timeout (killed by Lambda).
    Hangs,
    /// Returns a function error.
    Errors,
    /// Answers with a failure for a message id that is not in the batch.
    NamesAStranger,
}

impl BatchHandler for Broken {
    type Error = &'static str;

    async fn handle(
        &self,
        _: &SqsEvent,
        deadline: Instant,
    ) -> Result<(SqsBatchResponse, Vec<(String, String)>), Self::Error> {
        match self {
            Broken::Hangs => {
                tokio::time::sleep_until(deadline + Duration::from_secs(3600)).await;
                unreachable!("the poller gives up at the deadline")
            }
            Broken::Errors => Err("the function failed"),
            Broken::NamesAStranger => {
                let mut response = SqsBatchResponse::default();
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = "not-in-this-batch".to_owned();
                response.batch_item_failures.push(failure);
                Ok((response, Vec::new()))
            }
        }
    }
}

/// "A killed invocation deletes nothing": each whole-invocation failure leaves every record
/// of the batch on the queue (in flight, to come back after the visibility timeout), and is
/// counted as what it was. On tokio's paused clock, so the hang's timeout takes no real time.
#[tokio::test(start_paused = true)]
async fn an_invocation_that_times_out_errors_or_names_a_stranger_deletes_nothing() {
    for broken in [Broken::Hangs, Broken::Errors, Broken::NamesAStranger] {
        let queue = queue(Duration::from_secs(3600));
        for _ in 0..3 {
            let o = order();
            queue
                .send_raw(&o.to_message_body(), Some(&o.order_id.to_string()))
                .unwrap();
        }
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(batch.len(), 3);
        let counters = PollerCounters::default();
        let started = Instant::now();
        let deleted = invoke_batch(&queue, &broken, batch, &config(10), &counters).await;
        let stats = counters.snapshot();
        let name = match broken {
            Broken::Hangs => "a hang",
            Broken::Errors => "an error",
            Broken::NamesAStranger => "a stranger",
        };
        assert!(deleted.is_empty(), "{name}: deleted {deleted:?}");
        assert_eq!(stats.deleted, 0, "{name}");
        assert_eq!(
            queue.counts().await.unwrap().0.in_flight,
            3,
            "{name}: all 3 stay"
        );
        match broken {
            Broken::Hangs => {
                assert_eq!((stats.timeouts, stats.invocation_errors), (1, 0));
                assert_eq!(
                    started.elapsed(),
                    config(10).function_timeout,
                    "gave up at the deadline"
                );
            }
            Broken::Errors | Broken::NamesAStranger => {
                assert_eq!((stats.timeouts, stats.invocation_errors), (0, 1), "{name}");
            }
        }
    }
}
