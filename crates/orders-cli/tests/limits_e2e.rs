//! The seed's first lesson over HTTP: a burst against a new account's 10 concurrent
//! executions. With the template's stage throttle (sized by rule 7) the client gets only
//! 202 and 429 + Retry-After; without it Lambda throttles the rest, answered 503 +
//! Retry-After by the template's INTEGRATION_FAILURE gateway response, or 500 without that
//! mapping (the naive design). Every 202 is stored exactly once, and the worker, which
//! shares the executions, still drains the queue.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

mod common;
use common::wait_for;
use orders_cli::limits::LimitSettings;
use orders_cli::pipeline::{start, LocalOptions};
use orders_cli::table::stored_ids;
use serde_json::{json, Value};

const BURST: usize = 300;

fn options(state: &Path) -> LocalOptions {
    LocalOptions::from_template(SocketAddr::from(([127, 0, 0, 1], 0)), state.to_path_buf()).unwrap()
}

/// One answer: status, Retry-After, body.
type Answer = (u16, Option<String>, Value);

/// `BURST` orders at once, each on its own connection.
async fn burst(base: &str) -> Vec<Answer> {
    let posts = (0..BURST).map(|i| async move {
        // A client per order: each request its own connection, all in flight at once.
        let response = reqwest::Client::new()
            .post(format!("{base}/order"))
            .json(&json!({"email": format!("burst{i}@example.com"), "items": [{"sku": "BURST", "qty": 1}]}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, retry_after, response.json::<Value>().await.unwrap())
    });
    futures::future::join_all(posts).await
}

fn by_status(answers: &[Answer]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for (status, _, _) in answers {
        *counts.entry(*status).or_default() += 1;
    }
    counts
}

/// Every 202's order is in the table exactly once, and the queue is empty.
async fn every_accepted_order_is_stored_once(
    pipeline: &orders_cli::pipeline::LocalPipeline,
    answers: &[Answer],
) {
    let accepted: Vec<String> = answers
        .iter()
        .filter(|(status, _, _)| *status == 202)
        .map(|(_, _, body)| body["order_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!accepted.is_empty());
    let stats = wait_for(
        pipeline,
        Duration::from_secs(60),
        "every accepted order stored",
        |s| {
            s["stored_orders"] == accepted.len()
                && s["queue"]["visible"] == 0
                && s["queue"]["in_flight"] == 0
        },
    )
    .await;
    assert_eq!(stats["dlq"]["visible"], 0, "{stats}");
    let client = aws_sdk_dynamodb::Client::new(pipeline.table_sdk_config());
    let mut stored = stored_ids(&client, pipeline.table_name()).await.unwrap();
    stored.sort();
    let mut expected = accepted;
    expected.sort();
    assert_eq!(stored, expected, "exactly the accepted orders, each once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_templates_stage_throttle_a_burst_gets_only_202_and_429() {
    let dir = tempfile::tempdir().unwrap();
    let o = options(dir.path());
    assert_eq!(
        o.settings.limits.account_concurrency,
        Some(10),
        "a new account"
    );
    assert_eq!(
        o.settings.limits.api,
        Some((40, 2)),
        "rule 7's stage throttle"
    );
    let pipeline = start(o).await.unwrap();
    let answers = burst(&format!("http://{}", pipeline.addr())).await;
    let counts = by_status(&answers);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![202, 429],
        "only accepted and throttled by the stage: {counts:?}"
    );
    for (status, retry_after, body) in &answers {
        if *status == 429 {
            assert_eq!(retry_after.as_deref(), Some("1"));
            assert_eq!(body["error"], "throttled", "{body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    let stats = pipeline.stats().await;
    assert_eq!(stats["limits"]["api_throttled"], counts[&429]);
    assert_eq!(
        stats["limits"]["api_concurrency_throttled"], 0,
        "Lambda never throttled: {stats}"
    );
    every_accepted_order_is_stored_once(&pipeline, &answers).await;
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stage_throttle_lambda_throttles_and_the_client_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.settings.limits.api = None;
    let pipeline = start(o).await.unwrap();
    let answers = burst(&format!("http://{}", pipeline.addr())).await;
    let counts = by_status(&answers);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![202, 503],
        "a burst past the free executions: {counts:?}"
    );
    for (status, retry_after, body) in &answers {
        if *status == 503 {
            assert_eq!(retry_after.as_deref(), Some("1"));
            assert_eq!(body["error"], "service_unavailable", "{body}");
        }
    }
    let stats = pipeline.stats().await;
    assert_eq!(stats["limits"]["api_concurrency_throttled"], counts[&503]);
    every_accepted_order_is_stored_once(&pipeline, &answers).await;
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_integration_failure_mapping_the_client_gets_the_seeds_500() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.settings.limits = LimitSettings {
        api: None,
        unmapped_throttles: true,
        ..o.settings.limits
    };
    let pipeline = start(o).await.unwrap();
    let answers = burst(&format!("http://{}", pipeline.addr())).await;
    let counts = by_status(&answers);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![202, 500],
        "{counts:?}"
    );
    for (status, retry_after, body) in &answers {
        if *status == 500 {
            assert_eq!(retry_after, &None, "nothing tells the client when to retry");
            assert_eq!(body["error"], "internal_error", "{body}");
        }
    }
    every_accepted_order_is_stored_once(&pipeline, &answers).await;
    pipeline.shutdown().await;
}
