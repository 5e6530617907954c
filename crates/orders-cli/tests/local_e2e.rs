//! End to end through HTTP against `orders local`, started inside each test on port 0 with
//! a temporary state directory: every accepted order is stored exactly once or ends in the
//! dead-letter queue, across failures, timeouts and restarts.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use orders_domain::ports::StoreError;
mod common;
use common::wait_for;
use orders_cli::pipeline::{start, LocalOptions};
use orders_cli::queue::local::{LocalQueue, LocalQueueConfig};
use orders_cli::queue::DeadLetterOps;
use serde_json::{json, Value};

fn options(state: &Path) -> LocalOptions {
    LocalOptions::from_template(SocketAddr::from(([127, 0, 0, 1], 0)), state.to_path_buf())
        .unwrap()
        .unlimited()
}

/// Fast redelivery for tests: 1 s worker timeout, 1 s visibility, DLQ after 2 receives.
/// These break the production timing rules on purpose, so the rules are not enforced here.
/// Short timeouts so that retries and dead-lettering happen within seconds. Why 3 s is safe
/// on a busy shared machine: a healthy record takes well under 100 ms here when idle and
/// under 1 s at a load average of 4 on 2 cores, against 2.9 s (the timeout less the margin)
/// before it is failed; and a healthy order is dead-lettered only after failing on both of
/// its receives.
fn fast(state: &Path) -> LocalOptions {
    let mut o = options(state);
    o.settings.pipeline.worker_timeout = Duration::from_secs(3);
    o.settings.pipeline.visibility_timeout = Duration::from_secs(3);
    o.settings.pipeline.max_receive_count = 2;
    o.settings.pipeline.deadline_margin = Duration::from_millis(100);
    o.enforce_timing_rules = false;
    o
}

fn order(i: usize, sku: &str) -> Value {
    json!({"email": format!("user{i}@example.com"), "items": [{"sku": sku, "qty": i % 7 + 1}]})
}

async fn post(client: &reqwest::Client, base: &str, body: &Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}/order"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn queue_file(state: &Path) -> LocalQueue {
    LocalQueue::open(
        Some(&state.join("queue.sqlite")),
        LocalQueueConfig::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_are_all_stored_exactly_once_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(options(dir.path())).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();

    let n = 60;
    let posts = (0..n).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move { post(&client, &base, &order(i, &format!("SKU-{i}"))).await }
    });
    let answers = futures::future::join_all(posts).await;
    let mut ids = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, 202, "{body}");
        ids.push(body["order_id"].as_str().unwrap().to_owned());
    }
    let stats = wait_for(
        &pipeline,
        Duration::from_secs(30),
        "all orders stored",
        |s| s["stored_orders"] == n,
    )
    .await;
    assert_eq!(stats["ingest"]["enqueued"], n);
    assert_eq!(stats["dlq"]["visible"], 0);
    assert_eq!(stats["poller"]["record_failures"], 0);

    for (i, id) in ids.iter().enumerate() {
        let response = client
            .get(format!("{base}/orders/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["order_id"], id.as_str());
        assert_eq!(body["items"][0]["sku"], format!("SKU-{i}"));
        assert_eq!(body["attempts"], 1);
        assert_eq!(body["email"], format!("u***@example.com"));
    }
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_api_answers_like_the_deployed_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.in_memory = true;
    let pipeline = start(o).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();

    let (status, body) = post(&client, &base, &json!({"email": "a@b.co"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("validation_failed")),
        "model check: items required"
    );
    let (status, body) = post(
        &client,
        &base,
        &json!({"email": "a@b.co", "items": [{"sku": "S", "qty": 0}]}),
    )
    .await;
    assert_eq!(
        body,
        json!({"error": "validation_failed", "message": "Invalid request body"}),
        "the schema's minimum, checked at the edge, answered with the template's BAD_REQUEST_BODY gateway response"
    );
    assert_eq!(status, 400);
    let (status, body) = post(
        &client,
        &base,
        &json!({"email": "nope", "items": [{"sku": "S", "qty": 1}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["details"][0]["field"], "email",
        "what the schema cannot say, the handler checks: {body}"
    );

    let response = client
        .post(format!("{base}/order"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = client.get(format!("{base}/order")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let response = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "not_found"
    );
    let response = client
        .get(format!("{base}/orders/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let unknown = "0193a5b0-7e1c-7b3a-9d4e-5f6a7b8c9d01";
    let response = client
        .get(format!("{base}/orders/{unknown}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // Valid for the schema (unknown fields are allowed), too large for the function.
    let big =
        json!({"email": "a@b.co", "items": [{"sku": "x", "qty": 1}], "note": "x".repeat(70_000)});
    let (status, body) = post(&client, &base, &big).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_and_always_failing_records_end_in_the_dlq_and_redrive_brings_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let mut o = fast(dir.path());
    let flag = failing.clone();
    o.store_fault = Some(Arc::new(move |order| {
        (flag.load(Ordering::SeqCst) && order.items.as_slice()[0].sku.as_str() == "ALWAYS-FAIL")
            .then(|| StoreError::Unavailable("injected".into()))
    }));
    let pipeline = start(o).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();

    // A poison message straight onto the queue, as a buggy producer would send it.
    queue_file(dir.path())
        .send_raw("{\"this is\": \"not an order\"}", None)
        .unwrap();
    let (status, body) = post(&client, &base, &order(0, "ALWAYS-FAIL")).await;
    assert_eq!(status, 202);
    let failing_id = body["order_id"].as_str().unwrap().to_owned();
    for i in 1..=8 {
        assert_eq!(post(&client, &base, &order(i, "OK")).await.0, 202);
    }

    let stats = wait_for(
        &pipeline,
        Duration::from_secs(30),
        "two messages dead-lettered",
        |s| {
            s["dlq"]["visible"] == 2
                && s["stored_orders"] == 8
                && s["queue"]["visible"] == 0
                && s["queue"]["in_flight"] == 0
        },
    )
    .await;
    assert!(
        stats["poller"]["record_failures"].as_u64().unwrap() >= 4,
        "each failed twice: {stats}"
    );

    let dead = queue_file(dir.path()).dlq_list(10).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .any(|d| d.order_id.as_deref() == Some(failing_id.as_str())));
    assert!(dead.iter().all(|d| d.receive_count == Some(2)));

    // The cause is fixed; the operator redrives with the real command.
    failing.store(false, Ordering::SeqCst);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["dlq", "redrive", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("moved 2 message(s)"));

    // The order is stored now; the poison message is dead-lettered again.
    wait_for(
        &pipeline,
        Duration::from_secs(30),
        "redriven order stored",
        |s| s["stored_orders"] == 9 && s["dlq"]["visible"] == 1,
    )
    .await;
    let response = client
        .get(format!("{base}/orders/{failing_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    pipeline.shutdown().await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["dlq", "list", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.starts_with("1 dead-lettered message(s)"),
        "{listing}"
    );
    assert!(
        !listing.contains("not an order"),
        "bodies only with --bodies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_longer_than_the_worker_timeout_is_retried_then_dead_lettered_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = fast(dir.path());
    // Longer than fast()'s 3 s timeout: it can never finish.
    opts.settings = opts.settings.with_delay("4000").unwrap();
    let pipeline = start(opts).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();
    let (status, body) = post(&client, &base, &order(1, "SLOW")).await;
    assert_eq!(status, 202);
    let id = body["order_id"].as_str().unwrap().to_owned();

    let stats = wait_for(
        &pipeline,
        Duration::from_secs(30),
        "slow order dead-lettered",
        |s| s["dlq"]["visible"] == 1,
    )
    .await;
    assert_eq!(stats["stored_orders"], 0);
    assert_eq!(
        stats["poller"]["record_failures"], 2,
        "failed before the deadline on each of its 2 receives: {stats}"
    );
    let dead = queue_file(dir.path()).dlq_list(10).await.unwrap();
    assert_eq!(dead[0].order_id.as_deref(), Some(id.as_str()));
    pipeline.shutdown().await;
}

async fn accepted_orders_survive(crash: bool) {
    let dir = tempfile::tempdir().unwrap();
    // 2 s timeout, 3 s visibility (short, so the test is quick), 1 s of work per order.
    let mut first = fast(dir.path());
    first.settings.pipeline.worker_timeout = Duration::from_secs(2);
    first.settings.pipeline.visibility_timeout = Duration::from_secs(3);
    first.settings.pipeline.max_receive_count = 5;
    first.settings.pipeline.maximum_concurrency = 1;
    first.settings.pipeline.batch_size = 5;
    let mut second = first.clone();
    // At most 5 orders a second get stored, so the stop surely lands mid-run.
    first.settings = first.settings.with_delay("1000").unwrap();
    let pipeline = start(first).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..40 {
        let (status, body) = post(&client, &base, &order(i, "RESTART")).await;
        assert_eq!(status, 202);
        ids.push(body["order_id"].as_str().unwrap().to_owned());
    }
    let before = pipeline.stats().await;
    assert!(
        before["stored_orders"].as_u64().unwrap() < 40,
        "stopped mid-run: {before}"
    );
    if crash {
        pipeline.abort();
    } else {
        pipeline.shutdown().await;
    }

    second.settings = second.settings.with_delay("0").unwrap();
    let pipeline = start(second).await.unwrap();
    wait_for(
        &pipeline,
        Duration::from_secs(40),
        "every accepted order stored after restart",
        |s| s["stored_orders"] == 40,
    )
    .await;
    let base = format!("http://{}", pipeline.addr());
    for id in &ids {
        assert_eq!(
            client
                .get(format!("{base}/orders/{id}"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{id}"
        );
    }
    let stats = pipeline.stats().await;
    assert_eq!(stats["dlq"]["visible"], 0);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_run_loses_no_accepted_order() {
    accepted_orders_survive(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_mid_run_loses_no_accepted_order() {
    accepted_orders_survive(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_over_http_store_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(options(dir.path())).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();
    let send = |body: Value| {
        client
            .post(format!("{base}/order"))
            .header("Idempotency-Key", "7d8c1f0e-retry-me")
            .json(&body)
            .send()
    };
    let first = send(order(1, "IDEM")).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let retry = send(order(1, "IDEM")).await.unwrap();
    assert_eq!(retry.status(), 202);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first, "the same answer, counters included");
    let reused = send(order(2, "IDEM")).await.unwrap();
    assert_eq!(reused.status(), 422);

    wait_for(
        &pipeline,
        Duration::from_secs(30),
        "the order stored",
        |s| s["stored_orders"] == 1,
    )
    .await;
    let stats = pipeline.stats().await;
    assert_eq!(stats["ingest"]["enqueued"], 1, "{stats}");
    pipeline.shutdown().await;
}
