//! Soak: many orders through `orders local` under injected faults (worker failures,
//! panics, throttling, slow writes, duplicate deliveries), then a
//! reconciliation of every order answered 202 against the table and the DLQ, and of the
//! worker's new-item writes against the distinct stored orders (so a broken conditional put
//! fails it).
//!
//! `soak_with_faults` (600 orders) runs with the tests; the 5,000-order run is
//! `scripts/soak` (`cargo test --release -p orders-cli --test soak -- --ignored`).

use std::net::SocketAddr;
use std::time::Duration;

mod common;
use common::wait_for;
use orders_cli::pipeline::{start, LocalOptions};
use orders_cli::queue::local::{LocalQueue, LocalQueueConfig};
use orders_cli::queue::DeadLetterOps;
use orders_cli::reconcile::Reconciliation;
use orders_cli::table::stored_ids;
use orders_platform::adapters::faults::FaultConfig;
use orders_platform::config::DelaySpec;
use serde_json::{json, Value};

async fn soak(orders: usize) -> Reconciliation {
    let dir = tempfile::tempdir().unwrap();
    let mut o = LocalOptions::from_template(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_path_buf(),
    )
    .unwrap()
    .unlimited();
    // Fast redelivery so retries happen within seconds; the production rules are relaxed.
    o.enforce_timing_rules = false;
    let p = &mut o.settings.pipeline;
    p.worker_timeout = Duration::from_secs(2);
    p.visibility_timeout = Duration::from_secs(2);
    p.deadline_margin = Duration::from_millis(200);
    p.maximum_concurrency = 8;
    o.faults = FaultConfig {
        failure_rate: 0.20,
        panic_rate: 0.03,
        throttle_rate: 0.03,
        error_rate: 0.02,
        // Writes take 0-2 s; about one in ten is still waiting at the deadline (2 s timeout
        // minus the 200 ms margin) and is reported failed before the timeout.
        extra_delay: DelaySpec::Range(0, 2000),
        // At-least-once delivery: one order in ten arrives twice.
        duplicate_rate: 0.10,
    };
    let pipeline = start(o).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();

    let mut accepted = Vec::with_capacity(orders);
    let mut in_flight = futures::stream::FuturesUnordered::new();
    use futures::StreamExt as _;
    for i in 0..orders {
        let (client, base) = (client.clone(), base.clone());
        in_flight.push(async move {
            let body = json!({"email": format!("soak{i}@example.com"), "items": [{"sku": format!("S-{}", i % 97), "qty": i % 9 + 1}]});
            let response = client.post(format!("{base}/order")).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        });
        if in_flight.len() >= 32 {
            let (status, body) = in_flight.next().await.unwrap();
            assert_eq!(status, 202, "{body}");
            accepted.push(body["order_id"].as_str().unwrap().to_owned());
        }
    }
    while let Some((status, body)) = in_flight.next().await {
        assert_eq!(status, 202, "{body}");
        accepted.push(body["order_id"].as_str().unwrap().to_owned());
    }

    let queue = LocalQueue::open(
        Some(&dir.path().join("queue.sqlite")),
        LocalQueueConfig::default(),
    )
    .unwrap();
    let sdk = pipeline.table_sdk_config().clone();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);

    let settled = wait_for(
        &pipeline,
        Duration::from_secs(240),
        "every message settled",
        |s| s["queue"]["visible"] == 0 && s["queue"]["in_flight"] == 0,
    )
    .await;
    let stored = stored_ids(&ddb, pipeline.table_name()).await.unwrap();
    let dead = queue.dlq_list(usize::MAX >> 1).await.unwrap();
    let report = Reconciliation::compute(&accepted, &stored, &dead);
    eprintln!(
        "soak: {orders} orders, poller {}, reconciliation {}",
        settled["poller"],
        serde_json::to_string(&report).unwrap()
    );
    assert_eq!(
        stored.len(),
        report.stored,
        "the table holds only accepted orders"
    );
    assert!(
        settled["poller"]["record_failures"].as_u64().unwrap() > 0,
        "faults were injected"
    );
    // What can actually go wrong: a write that succeeded as a new item when the order was
    // already stored (a broken conditional put overwrites, and the table, keyed by
    // order_id, cannot show it). A correct conditional put creates each order at most once,
    // so the worker's Created outcomes (OrdersProcessed) never exceed the distinct stored
    // orders; a write cut off by the deadline after it reached the table only lowers the
    // count. The duplicate deliveries must have happened, or the check proves nothing.
    let worker = &settled["metrics"]["worker"];
    let created = worker["OrdersProcessed"].as_u64().expect("OrdersProcessed");
    let duplicates = worker["OrdersDuplicate"].as_u64().expect("OrdersDuplicate");
    assert!(
        created <= report.stored as u64,
        "{created} writes created a new item for {} stored orders: some order was created twice",
        report.stored
    );
    assert!(duplicates > 0, "no duplicate delivery reached the table");
    pipeline.shutdown().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_faults() {
    let report = soak(600).await;
    assert_eq!(report.accepted, 600);
    assert_eq!(report.missing, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run with scripts/soak"]
async fn soak_5000_orders_with_faults() {
    let report = soak(5000).await;
    assert_eq!(report.accepted, 5000);
    assert_eq!(report.missing, 0, "{report:?}");
}
