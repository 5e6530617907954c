//! The worker handler over the real DynamoDB adapter, against moto on loopback.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::config::DelaySpec;
use test_support::MotoServer;
use tokio::time::Instant;
use worker::Worker;

#[tokio::test]
async fn the_sample_batch_stores_one_order_and_fails_only_the_malformed_record() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    DynamoOrderStore::from_sdk_config(&config, "orders")
        .create_table_if_missing()
        .await
        .unwrap();
    let worker = Worker::new(
        DynamoOrderStore::from_sdk_config(&config, "orders"),
        DelaySpec::None,
        Duration::from_secs(1),
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/sqs-batch.json");
    let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();

    for round in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (response, summary) = worker
            .handle_batch_with_summary(&event, deadline)
            .await
            .unwrap();
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(
            failed,
            ["33333333-3333-4333-8333-333333333333"],
            "round {round}"
        );
        // The batch holds one order twice. DynamoDB's conditional put is atomic, so in AWS
        // one delivery stores it and the other finds it stored; moto checks the condition
        // and writes without a lock, so when the two records' puts arrive together (a busy
        // machine) both can pass. The table holds one item either way (checked below).
        if round == 0 {
            assert!(summary.stored >= 1, "round 0: {summary:?}");
            assert_eq!(
                summary.stored + summary.duplicates,
                2,
                "round 0: {summary:?}"
            );
        } else {
            assert_eq!(
                (summary.stored, summary.duplicates),
                (0, 2),
                "round 1: {summary:?}"
            );
        }
        assert_eq!(
            ddb.scan().table_name("orders").send().await.unwrap().count,
            1,
            "round {round}"
        );
    }

    let item = ddb
        .get_item()
        .table_name("orders")
        .key(
            "order_id",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "0193a5b0-7e1c-7b3a-9d4e-5f6a7b8c9d01".into(),
            ),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the order from events/sqs-batch.json is stored");
    assert_eq!(item["status"].as_s().unwrap(), "processed");
    assert_eq!(item["email"].as_s().unwrap(), "jane.doe@example.com");
}
