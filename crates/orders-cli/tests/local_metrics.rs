//! The handlers' metrics through `orders local`, end to end over HTTP: `/_local/stats`
//! serves the same counters the Lambdas publish to CloudWatch (received, rejected by error
//! code, enqueued, processed...), `orders stats` prints them, and two pipelines in one
//! process count separately.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

mod common;
use common::wait_for;
use orders_cli::pipeline::{start, summary_line, LocalOptions};
use serde_json::{json, Value};

fn options(state: &Path) -> LocalOptions {
    let mut o =
        LocalOptions::from_template(SocketAddr::from(([127, 0, 0, 1], 0)), state.to_path_buf())
            .unwrap()
            .unlimited();
    o.in_memory = true;
    o
}

fn order(i: usize) -> Value {
    json!({"email": format!("user{i}@example.com"), "items": [{"sku": format!("SKU-{i}"), "qty": 1}]})
}

async fn post(client: &reqwest::Client, base: &str, body: &Value, headers: &[(&str, &str)]) -> u16 {
    let mut request = client.post(format!("{base}/order")).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_stats_serve_the_handlers_metrics_per_pipeline() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(options(dir_a.path())).await.unwrap();
    let b = start(options(dir_b.path())).await.unwrap();
    let (base_a, base_b) = (
        format!("http://{}", a.addr()),
        format!("http://{}", b.addr()),
    );
    let client = reqwest::Client::new();

    for i in 0..5 {
        assert_eq!(post(&client, &base_a, &order(i), &[]).await, 202);
    }
    // Rejected by the handler: counted under their codes.
    let bad_email = json!({"email": "nope", "items": [{"sku": "S", "qty": 1}]});
    assert_eq!(post(&client, &base_a, &bad_email, &[]).await, 400);
    let response = client
        .post(format!("{base_a}/order"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let key = [("idempotency-key", "metrics-key")];
    assert_eq!(post(&client, &base_a, &order(100), &key).await, 202);
    assert_eq!(
        post(&client, &base_a, &order(100), &key).await,
        202,
        "a replay"
    );
    assert_eq!(post(&client, &base_a, &order(101), &key).await, 422);
    // Answered by the gateway's model check before the function runs (as API Gateway
    // does): the function never sees it, so its metrics do not count it.
    assert_eq!(
        post(&client, &base_a, &json!({"email": "a@b.co"}), &[]).await,
        400
    );

    // The other pipeline in this process counts only its own.
    assert_eq!(post(&client, &base_b, &order(7), &[]).await, 202);

    let stats = wait_for(&a, Duration::from_secs(30), "6 orders processed", |s| {
        s["metrics"]["worker"]["OrdersProcessed"] == 6 && s["stored_orders"] == 6
    })
    .await;
    let ingest = &stats["metrics"]["ingest"];
    let worker = &stats["metrics"]["worker"];
    assert_eq!(ingest["OrdersReceived"], 10, "{stats}");
    assert_eq!(
        ingest["OrdersEnqueued"], 6,
        "the replay enqueued nothing: {stats}"
    );
    assert_eq!(ingest["OrdersRejected"], 3, "{stats}");
    assert_eq!(
        ingest["OrdersRejectedByErrorCode"],
        json!({"validation_failed": 1, "unsupported_media_type": 1, "idempotency_key_reused": 1}),
        "{stats}"
    );
    assert_eq!(ingest["EnqueueFailed"], 0);
    assert_eq!(ingest["ColdStart"], 1);
    assert_eq!(worker["OrdersDuplicate"], 0);
    assert_eq!(worker["OrdersFailed"], 0);
    assert_eq!(worker["RecordsRetried"], 0);
    assert_eq!(worker["ColdStart"], 1);
    assert_eq!(worker["BatchSize"]["sum"], 6.0, "{stats}");
    assert_eq!(worker["ProcessingTime"]["count"], 6, "{stats}");
    assert!(worker["ProcessingTime"]["max"].as_f64().unwrap() >= 0.0);
    // The fields that were there before metrics are still there.
    assert_eq!(stats["ingest"]["enqueued"], 6);
    assert_eq!(stats["poller"]["deleted"], 6);

    let line = summary_line(&stats);
    assert!(
        line.starts_with(
            "received=10 rejected=3 enqueued=6 enqueue_failed=0 processed=6 duplicate=0 failed=0 retried=0"
        ),
        "{line}"
    );
    assert!(line.ends_with("dlq=0 stored=6"), "{line}");

    let stats_b = wait_for(&b, Duration::from_secs(30), "1 order processed", |s| {
        s["metrics"]["worker"]["OrdersProcessed"] == 1
    })
    .await;
    assert_eq!(
        stats_b["metrics"]["ingest"]["OrdersReceived"], 1,
        "{stats_b}"
    );
    assert_eq!(stats_b["metrics"]["ingest"]["OrdersRejected"], 0);
    assert_eq!(a.stats().await["metrics"]["ingest"]["OrdersReceived"], 10);

    // `orders stats` reports them on demand: the JSON, or the one-line summary.
    let orders = env!("CARGO_BIN_EXE_orders");
    // (The test's own thread may block: the pipelines run on the runtime's workers.)
    let output = std::process::Command::new(orders)
        .args(["stats", "--url", &base_a])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["metrics"]["ingest"]["OrdersReceived"], 10);
    assert_eq!(printed["metrics"]["worker"]["OrdersProcessed"], 6);
    let output = std::process::Command::new(orders)
        .args(["stats", "--summary", "--url", &base_a])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.starts_with("received=10 rejected=3 enqueued=6"),
        "{printed}"
    );

    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn the_summary_line_shows_dashes_for_what_the_stats_lack() {
    let line = summary_line(&json!({"queue": {"visible": 3, "in_flight": 1}}));
    assert_eq!(
        line,
        "received=- rejected=- enqueued=- enqueue_failed=- processed=- duplicate=- failed=- retried=- throttled=- no_execution=- queue=3 in_flight=1 dlq=- stored=-"
    );
}
