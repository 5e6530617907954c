//! The DynamoDB adapter of [`OrderStore`].

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::describe;
use orders_domain::ports::{OrderReader, OrderStore, PutOutcome, StoreError};
use orders_domain::{OrderId, StoredOrder};

/// The table's partition key.
pub const PARTITION_KEY: &str = "order_id";

/// Error codes DynamoDB uses when it throttles a caller.
const THROTTLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Stores orders in one DynamoDB table keyed by `order_id`.
#[derive(Debug, Clone)]
pub struct DynamoOrderStore {
    client: Client,
    table: String,
}

impl DynamoOrderStore {
    /// A store adapter over an already configured client.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table written to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the connection (DNS, TCP, TLS, trust store, credentials) during init instead of
    /// on the first request, with a call DynamoDB answers with success and that touches no
    /// table: see [`warm_up_connection`]. The same for a writer (the worker) and a reader
    /// (the status function): it reads nothing and writes nothing. Never fails; problems are
    /// logged.
    pub async fn warm_up(&self) {
        warm_up_connection(&self.client).await;
    }
}

impl DynamoOrderStore {
    /// Creates the orders table (key `order_id`, on-demand) unless it exists: for the local
    /// pipeline and the tests; in AWS the template owns the table.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        create_keyed_table(&self.client, &self.table, PARTITION_KEY).await
    }
}

/// Opens `client`'s connection to its endpoint during init: a `DescribeEndpoints` call.
///
/// Why that call (issue 16): on the public DynamoDB endpoints it needs no permission at all
/// ("DynamoDB intentionally skips authorization for the DescribeEndpoints API",
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/inter-network-traffic-privacy.html>),
/// it succeeds (HTTP 200), so it adds nothing to the account's `UserErrors` metric (HTTP 400
/// answers, <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html>),
/// it names no table, so it consumes no capacity and changes no table metric, and it resolves
/// to the same endpoint as the table operations (the endpoint rules depend on the region and
/// the account, not on the operation, for a table given by name). The calls it replaces: an
/// empty `PutItem`, refused with a `ValidationException` (a user error at every cold start),
/// and a `GetItem` of a reserved key (half a read unit at every cold start).
///
/// Only from inside a VPC, through a DynamoDB VPC endpoint, would the call need
/// `dynamodb:DescribeEndpoints` in the role and in the endpoint policy (the functions run
/// outside any VPC); a refusal there is logged, and the connection is open all the same.
pub(crate) async fn warm_up_connection(client: &Client) {
    match client.describe_endpoints().send().await {
        Ok(_) => tracing::debug!("DynamoDB connection warmed up"),
        Err(SdkError::ServiceError(e)) => tracing::warn!(
            code = e.err().code(),
            "DynamoDB refused the warm-up call (connection opened all the same)"
        ),
        Err(e) => {
            tracing::warn!(error = %describe(&e), "DynamoDB warm-up failed; first request will connect")
        }
    }
}

impl OrderStore for DynamoOrderStore {
    async fn put_new(&self, order: &StoredOrder) -> Result<PutOutcome, StoreError> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(order)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode order: {e}")))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(e) => Err(classify(&e)),
        }
    }
}

impl OrderReader for DynamoOrderStore {
    async fn get(&self, order_id: &OrderId) -> Result<Option<StoredOrder>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(order_id.to_string()))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        match output.item {
            None => Ok(None),
            Some(item) => serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| StoreError::Unavailable(format!("stored item is not an order: {e}"))),
        }
    }
}

/// A DynamoDB error as a [`StoreError`]: throttling codes are `Throttled`, the rest
/// `Unavailable`. Shared by every DynamoDB adapter.
pub(crate) fn classify<E, R>(err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = describe(err);
    match err.code() {
        Some(code) if THROTTLE_CODES.contains(&code) => StoreError::Throttled(text),
        _ => StoreError::Unavailable(text),
    }
}

impl DynamoOrderStore {
    /// A store adapter with a client built from a shared SDK configuration.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::from_conf(super::dynamodb_config(config)), table)
    }
}

/// Creates an on-demand table with the string partition key `key` unless it exists (local
/// pipeline and tests; in AWS the template owns the tables). Shared by every DynamoDB adapter.
pub(crate) async fn create_keyed_table(
    client: &Client,
    table: &str,
    key: &str,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    // ListTables rather than DescribeTable: a missing table is the expected case on a first
    // start, and DescribeTable would answer it with an error (that a local DynamoDB logs as
    // one) where ListTables simply does not name it.
    let mut names = client.list_tables().into_paginator().items().send();
    while let Some(name) = names.next().await {
        if name.map_err(|e| classify(&e))? == table {
            return Ok(());
        }
    }
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(|e| classify(&e))?;
    Ok(())
}
