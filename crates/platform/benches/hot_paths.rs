//! Hot paths of the domain and of the table adapter's encoding, per order (issue 7). Run with `bench/run`, or alone:
//! `cargo bench --workspace --all-features --bench hot_paths`.
//!
//! - ingest: parse and validate a request body into a `NewOrder` (2 items, and the
//!   largest order the rules allow: 100 items), and reject an invalid one (every problem
//!   listed);
//! - ingest: build the SQS message body (`accept` + serialize) of an accepted order;
//! - worker: parse the message body back (every field re-checked), build the stored form
//!   and encode it as a DynamoDB item (`serde_dynamo`, what the adapter's `PutItem` sends).
//!
//! Under `cargo test --benches` (no `--bench` flag) divan runs each benchmark once.

use chrono::Utc;
use divan::{black_box, Bencher};
use orders_domain::{NewOrder, OrderId, QueuedOrder, StoredOrder};

fn main() {
    divan::main();
}

/// The quick start's order: 2 line items.
const PLAIN: &[u8] =
    br#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-123","qty":2},{"sku":"SKU-456","qty":1}]}"#;

/// An order that breaks five rules at once.
const INVALID: &[u8] =
    br#"{"email":"not an email","items":[{"sku":"","qty":0},{"sku":"SKU-2","qty":2.5},{"sku":"SKU-3","qty":"3"}]}"#;

/// The largest valid order: 100 line items.
fn largest() -> Vec<u8> {
    let items: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"sku":"SKU-{i:05}","qty":{}}}"#, i % 50 + 1))
        .collect();
    format!(
        r#"{{"email":"jane.doe@example.com","items":[{}]}}"#,
        items.join(",")
    )
    .into_bytes()
}

fn queued(body: &[u8]) -> QueuedOrder {
    NewOrder::parse_json(body)
        .expect("a valid order")
        .accept(OrderId::new_v7(), Utc::now())
}

#[divan::bench]
fn ingest_parse_validate_2_items() -> NewOrder {
    NewOrder::parse_json(black_box(PLAIN)).expect("valid")
}

#[divan::bench]
fn ingest_parse_validate_100_items(bencher: Bencher) {
    let body = largest();
    bencher.bench_local(|| NewOrder::parse_json(black_box(&body)).expect("valid"));
}

#[divan::bench]
fn ingest_reject_invalid_5_errors() -> bool {
    NewOrder::parse_json(black_box(INVALID)).is_err()
}

/// What ingest does between a valid order and `SendMessage`: give it an id and an arrival
/// time, serialize the message body.
#[divan::bench]
fn ingest_build_sqs_message(bencher: Bencher) {
    let order = NewOrder::parse_json(PLAIN).expect("valid");
    bencher
        .with_inputs(|| order.clone())
        .bench_local_values(|order| {
            order
                .accept(OrderId::new_v7(), Utc::now())
                .to_message_body()
        });
}

#[divan::bench]
fn worker_parse_message_body(bencher: Bencher) {
    let body = queued(PLAIN).to_message_body();
    bencher.bench_local(|| QueuedOrder::from_message_body(black_box(&body)).expect("valid"));
}

/// The worker's per-record CPU work before the write: parse the body, build the stored
/// order, encode it as the DynamoDB item.
#[divan::bench]
fn worker_body_to_dynamodb_item(bencher: Bencher) {
    let body = queued(PLAIN).to_message_body();
    bencher.bench_local(|| {
        let order = QueuedOrder::from_message_body(black_box(&body)).expect("valid");
        let stored = StoredOrder::processed(order, Utc::now(), 0, 1);
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&stored).expect("encodes");
        item
    });
}
