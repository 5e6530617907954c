//! The ingest handler's whole per-request work without I/O (issue 7): the API Gateway
//! proxy event of `events/order-valid.json` through `Ingest::handle` (content type, body,
//! parse and validate, order id, message body, 202 answer) over the in-memory queue, so
//! only the function's own CPU time is measured. `*_json_logs` adds the log format that
//! ships (JSON lines, level info) written to a sink.
//!
//! Run with `bench/run`, or `cargo bench --workspace --all-features --bench ingest_request`.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use divan::Bencher;
use ingest::Ingest;
use orders_platform::adapters::memory::InMemoryQueue;
use orders_platform::telemetry::with_lambda_default_logs;

fn main() {
    divan::main();
}

const EVENT: &str = include_str!("../../../events/order-valid.json");
const INVALID: &str = include_str!("../../../events/order-invalid.json");

fn run(bencher: Bencher, event: &str, status: i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let request: ApiGatewayProxyRequest = serde_json::from_str(event).expect("event");
    // A fresh queue per iteration keeps the in-memory queue from growing without bound.
    bencher
        .with_inputs(|| Ingest::new(InMemoryQueue::new(), 2))
        .bench_local_refs(|ingest| {
            let response = rt.block_on(ingest.handle(&request));
            assert_eq!(response.status_code, status);
            response
        });
}

#[divan::bench]
fn valid_order_202(bencher: Bencher) {
    run(bencher, EVENT, 202);
}

#[divan::bench]
fn invalid_order_400(bencher: Bencher) {
    run(bencher, INVALID, 400);
}

#[divan::bench]
fn valid_order_202_json_logs(bencher: Bencher) {
    with_lambda_default_logs(std::io::sink, || run(bencher, EVENT, 202));
}
