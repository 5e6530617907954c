//! The DynamoDB adapter of [`IdempotencyStore`]: one item per key, expiring by TTL.
//!
//! Item: `idempotency_key` (partition key), `fingerprint`, `order_id`, `started_at` (epoch
//! ms), `response` (once complete), `expires_at` (epoch seconds, the table's TTL attribute).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::dynamodb::{classify, create_keyed_table};
use orders_domain::ports::{Claim, IdempotencyRecord, IdempotencyStore, StoreError};
use orders_domain::{Fingerprint, IdempotencyKey, OrderId};

/// The table's partition key.
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
/// How long a key is remembered (the draft suggests at least 24 hours).
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Idempotency records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key_of(key: &IdempotencyKey) -> HashMap<String, AttributeValue> {
    HashMap::from([(IDEMPOTENCY_KEY.to_owned(), s(key.as_str()))])
}

impl DynamoIdempotencyStore {
    /// An adapter over an already configured client.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// An adapter with a client built from a shared SDK configuration.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::from_conf(super::dynamodb_config(config)), table)
    }

    /// Creates the table unless it exists (local pipeline and tests; in AWS the template
    /// owns it, with the TTL on `expires_at`).
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        create_keyed_table(&self.client, &self.table, IDEMPOTENCY_KEY).await
    }

    async fn read(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let broken = || StoreError::Unavailable("idempotency record is incomplete".into());
        Ok(Some(IdempotencyRecord {
            key: key.clone(),
            fingerprint: Fingerprint::from_stored(text("fingerprint").ok_or_else(broken)?),
            order_id: text("order_id")
                .and_then(|v| v.parse::<OrderId>().ok())
                .ok_or_else(broken)?,
            response: text("response"),
            started_at_ms: number("started_at").ok_or_else(broken)?,
        }))
    }
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(&self, record: &IdempotencyRecord) -> Result<Claim, StoreError> {
        let expires_at = record.started_at_ms / 1000 + KEY_LIFETIME.as_secs() as i64;
        let mut item = key_of(&record.key);
        item.insert("fingerprint".into(), s(record.fingerprint.as_str()));
        item.insert("order_id".into(), s(&record.order_id.to_string()));
        item.insert("started_at".into(), n(record.started_at_ms));
        item.insert("expires_at".into(), n(expires_at));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", IDEMPOTENCY_KEY)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Claimed),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                match self.read(&record.key).await? {
                    Some(existing) => Ok(Claim::Existing(existing)),
                    // Expired and deleted in between: the caller may simply retry.
                    None => Err(StoreError::Unavailable(
                        "idempotency record vanished".into(),
                    )),
                }
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn complete(&self, key: &IdempotencyKey, response: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("SET #r = :r")
            .expression_attribute_names("#r", "response")
            .expression_attribute_values(":r", s(response))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    async fn take_over(
        &self,
        key: &IdempotencyKey,
        previous_started_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("SET #s = :now")
            .condition_expression("#s = :prev AND attribute_not_exists(#r)")
            .expression_attribute_names("#s", "started_at")
            .expression_attribute_names("#r", "response")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":prev", n(previous_started_at_ms))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(classify(&e)),
        }
    }
}
