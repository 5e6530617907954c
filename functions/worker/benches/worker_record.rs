//! The worker's per-record work without the simulated delay (issue 7): `handle_batch` of
//! 1 and of 10 records (parse, stored form, conditional put, partial batch response) over
//! the in-memory table, so only the function's own CPU time is measured. Each iteration
//! gets a fresh table, so every record takes the `Created` path. `*_json_logs` runs with
//! the log format that ships (JSON lines, level info) written to a sink: in Lambda every
//! record logs "order received" and "order stored" lines.
//!
//! Run with `bench/run`, or `cargo bench --workspace --all-features --bench worker_record`.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use divan::Bencher;
use orders::adapters::memory::InMemoryStore;
use orders::config::DelaySpec;
use orders::domain::{NewOrder, OrderId};
use orders::telemetry::LogSettings;
use worker::Worker;

fn main() {
    divan::main();
}

const PLAIN: &[u8] =
    br#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-123","qty":2},{"sku":"SKU-456","qty":1}]}"#;

fn event(records: usize) -> SqsEvent {
    let order = NewOrder::parse_json(PLAIN).expect("valid");
    let mut event = SqsEvent::default();
    event.records = (0..records)
        .map(|i| {
            let queued = order.clone().accept(OrderId::new_v7(), Utc::now());
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("00000000-0000-4000-8000-{i:012}"));
            m.receipt_handle = Some(format!("receipt-{i}"));
            m.body = Some(queued.to_message_body());
            m.attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            m.event_source = Some("aws:sqs".into());
            m
        })
        .collect();
    event
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn batch(bencher: Bencher, records: usize) {
    let rt = runtime();
    let event = event(records);
    bencher
        .with_inputs(|| {
            Worker::new(
                InMemoryStore::new(),
                DelaySpec::None,
                Duration::from_millis(1000),
            )
        })
        .bench_local_refs(|worker| {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let response = rt
                .block_on(worker.handle_batch(&event, deadline))
                .expect("no unidentified failures");
            assert!(response.batch_item_failures.is_empty());
            response
        });
}

/// Runs `f` logging as a function does when Lambda sets nothing (JSON, level info).
fn with_json_logs(f: impl FnOnce()) {
    let settings = LogSettings::from_vars(|_| None);
    let subscriber = orders::telemetry::subscriber(&settings, std::io::sink);
    tracing::subscriber::with_default(subscriber, f);
}

#[divan::bench]
fn batch_of_1(bencher: Bencher) {
    batch(bencher, 1);
}

#[divan::bench]
fn batch_of_10(bencher: Bencher) {
    batch(bencher, 10);
}

#[divan::bench]
fn batch_of_1_json_logs(bencher: Bencher) {
    with_json_logs(|| batch(bencher, 1));
}

#[divan::bench]
fn batch_of_10_json_logs(bencher: Bencher) {
    with_json_logs(|| batch(bencher, 10));
}
