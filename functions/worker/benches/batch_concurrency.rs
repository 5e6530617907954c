//! The worker's batch concurrency (issue 7): a batch of 10 records, each with a simulated
//! delay drawn from 2000-5000 ms (`PROCESSING_DELAY_MS=2000-5000`), on tokio's real clock
//! over the in-memory table. The records run concurrently, so the batch should take about
//! its longest delay, not the sum of them.
//!
//! `cargo bench ... --bench batch_concurrency` (what `bench/run` does) runs 3 batches
//! (`BENCH_ROUNDS` to change) and prints one `RESULT {json}` line; without `--bench`
//! (`cargo test --benches`) it runs one batch with 20-50 ms delays as a smoke test.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use orders_domain::{NewOrder, OrderId};
use orders_platform::adapters::memory::InMemoryStore;
use orders_platform::config::DelaySpec;
use worker::Worker;

const PLAIN: &[u8] =
    br#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-123","qty":2},{"sku":"SKU-456","qty":1}]}"#;

struct Round {
    total_ms: f64,
    longest_ms: u64,
    sum_ms: u64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (spec, rounds) = if full {
        let rounds = std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3usize);
        ("2000-5000", rounds)
    } else {
        ("20-50", 1)
    };
    let delay = DelaySpec::parse(spec).expect("delay spec");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let order = NewOrder::parse_json(PLAIN).expect("valid");
    let mut results = Vec::new();
    for round in 0..rounds {
        let ids: Vec<OrderId> = (0..10).map(|_| OrderId::new_v7()).collect();
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("00000000-0000-4000-8000-{i:012}"));
                m.body = Some(order.clone().accept(*id, Utc::now()).to_message_body());
                m
            })
            .collect();
        let worker = Worker::new(InMemoryStore::new(), delay, Duration::from_millis(1000));
        let started = Instant::now();
        let response = rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            worker.handle_batch(&event, deadline).await
        });
        let total = started.elapsed();
        let response = response.expect("batch");
        assert!(
            response.batch_item_failures.is_empty(),
            "every record finishes"
        );
        // Each stored order carries its own processing time (delay + write).
        let per_record: Vec<u64> = ids
            .iter()
            .map(|id| worker.store().get(id).expect("stored").processing_ms)
            .collect();
        let r = Round {
            total_ms: total.as_secs_f64() * 1000.0,
            longest_ms: per_record.iter().copied().max().unwrap_or(0),
            sum_ms: per_record.iter().sum(),
        };
        println!(
            "round {}: batch of 10 ({spec} ms each) took {:.1} ms; longest record {} ms, sum {} ms, ratio to longest {:.4}",
            round + 1,
            r.total_ms,
            r.longest_ms,
            r.sum_ms,
            r.total_ms / r.longest_ms as f64
        );
        results.push(r);
    }
    let rounds_json: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                r#"{{"total_ms":{:.3},"longest_ms":{},"sum_ms":{}}}"#,
                r.total_ms, r.longest_ms, r.sum_ms
            )
        })
        .collect();
    println!(
        r#"RESULT {{"bench":"batch_concurrency","delay":"{spec}","records":10,"rounds":[{}]}}"#,
        rounds_json.join(",")
    );
}
