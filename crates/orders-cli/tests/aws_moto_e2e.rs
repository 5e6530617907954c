//! `orders local --aws` against moto: the same API, poller and handlers over real SQS and
//! DynamoDB APIs, with moto's own redrive to the DLQ; and the dlq/stats commands with --aws.
//! (Its own test binary, with one test: it points the process's AWS environment at moto.)

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
mod common;
use common::wait_for;
use orders_cli::pipeline::{start, AwsTarget, LocalOptions};
use serde_json::{json, Value};
use test_support::{create_queue, queue_attribute, MotoServer};

/// The only test of this binary, and a plain `#[test]`: the environment is set before the
/// runtime (or any other thread that could read it) exists, since setting it while another
/// thread reads it is undefined behaviour.
#[test]
fn the_pipeline_runs_against_sqs_and_dynamodb() {
    let moto = MotoServer::start();
    // The --aws path uses the default credential chain and AWS_ENDPOINT_URL, like a user would.
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(k, v);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(the_pipeline_against(&moto));
}

async fn the_pipeline_against(moto: &MotoServer) {
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (dlq_url, dlq_arn) = create_queue(&sqs, "orders-dlq", &[]).await;
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#);
    let (queue_url, _) = create_queue(
        &sqs,
        "orders",
        &[
            // 3 s: a healthy record through moto takes well under 1 s even at a load
            // average of 4; the worker fails it at 1.9 s (below), before it comes back.
            (QueueAttributeName::VisibilityTimeout, "3".into()),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await;
    orders_platform::adapters::dynamodb::DynamoOrderStore::from_sdk_config(&config, "orders")
        .create_table_if_missing()
        .await
        .unwrap();

    let state = tempfile::tempdir().unwrap();
    let mut options = LocalOptions::from_template(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        state.path().to_path_buf(),
    )
    .unwrap()
    .unlimited();
    options.aws = Some(AwsTarget {
        queue_url: queue_url.clone(),
        dlq_url: Some(dlq_url.clone()),
        table: "orders".into(),
        idempotency_table: None,
    });
    options.settings.pipeline.worker_timeout = Duration::from_secs(2);
    options.settings.pipeline.deadline_margin = Duration::from_millis(100);
    options.enforce_timing_rules = false;
    let pipeline = start(options).await.unwrap();
    let base = format!("http://{}", pipeline.addr());
    let client = reqwest::Client::new();

    // A poison message from elsewhere.
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("garbage")
        .send()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let body =
            json!({"email": format!("u{i}@example.com"), "items": [{"sku": "MOTO", "qty": 1}]});
        let response = client
            .post(format!("{base}/order"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        ids.push(
            response.json::<Value>().await.unwrap()["order_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    wait_for(
        &pipeline,
        Duration::from_secs(60),
        "orders stored and poison dead-lettered",
        |s| s["stored_orders"] == 20 && s["dlq"]["visible"] == 1,
    )
    .await;
    for id in &ids {
        let response = client
            .get(format!("{base}/orders/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
    }
    pipeline.shutdown().await;

    let orders = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
            .args(args)
            .args(["--aws", "--queue-url", &queue_url, "--dlq-url", &dlq_url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listing = orders(&["dlq", "list"]);
    assert!(
        listing.starts_with("1 dead-lettered message(s)"),
        "{listing}"
    );
    let stats: Value = serde_json::from_str(&orders(&["stats", "--table", "orders"])).unwrap();
    assert_eq!(stats["stored_orders"], 20);
    assert_eq!(stats["dlq"]["visible"], 1);
    let redrive = orders(&["dlq", "redrive"]);
    assert!(redrive.contains("moved 1 message(s)"), "{redrive}");
    let depth = queue_attribute(
        &sqs,
        &queue_url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(depth, "1", "the poison message is back on the orders queue");
}
