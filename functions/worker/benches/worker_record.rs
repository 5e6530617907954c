//! The worker's per-record work without the simulated delay (issue 7): `handle_batch` of
//! 1 and of 10 records (parse, stored form, conditional put, partial batch response) over
//! the in-memory table, so only the function's own CPU time is measured. Each iteration
//! gets a fresh table, so every record takes the `Created` path. `*_json_logs` runs with
//! the log format that ships (JSON lines, level info) written to a sink: in Lambda every
//! record logs "order received" and "order stored" lines.
//!
//! Run with `bench/run`, or `cargo bench --workspace --all-features --bench worker_record`.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use divan::Bencher;
use orders_platform::adapters::memory::InMemoryStore;
use orders_platform::config::DelaySpec;
use orders_platform::telemetry::with_lambda_default_logs;
use test_support::fixtures::{order_from, sqs_batch, sqs_record};
use worker::Worker;

fn main() {
    divan::main();
}

const PLAIN: &[u8] =
    br#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-123","qty":2},{"sku":"SKU-456","qty":1}]}"#;

fn event(records: usize) -> SqsEvent {
    let body = std::str::from_utf8(PLAIN).expect("UTF-8");
    sqs_batch(
        (0..records)
            .map(|i| {
                let id = format!("00000000-0000-4000-8000-{i:012}");
                let mut m = sqs_record(id.as_str(), &order_from(body).to_message_body(), 1);
                m.receipt_handle = Some(format!("receipt-{i}"));
                m.event_source = Some("aws:sqs".into());
                m
            })
            .collect(),
    )
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
    with_lambda_default_logs(std::io::sink, || batch(bencher, 1));
}

#[divan::bench]
fn batch_of_10_json_logs(bencher: Bencher) {
    with_lambda_default_logs(std::io::sink, || batch(bencher, 10));
}
