//! `orders stats --stack NAME`: the queue, DLQ and table read from a CloudFormation stack's
//! outputs (moto's CloudFormation), through the real binary.

use serde_json::{json, Value};
use test_support::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_outputs_name_the_queues_and_table() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let template = json!({
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "stack-dlq"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "stack-orders"}},
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": "stack-orders",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "order_id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}]}}
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "Dlq"}},
            "TableName": {"Value": {"Ref": "Table"}}
        }
    });
    aws_sdk_cloudformation::Client::new(&config)
        .create_stack()
        .stack_name("orders-test")
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = sqs
        .get_queue_url()
        .queue_name("stack-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("dead")
        .send()
        .await
        .unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["stats", "--stack", "orders-test"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["stored_orders"], 0);
    assert_eq!(stats["dlq"]["visible"], 1, "{stats}");
}
