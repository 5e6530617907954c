//! The poller and the operator commands over real SQS (or moto): `--aws`.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName,
};
use aws_sdk_sqs::Client;

use super::{DeadLetter, DeadLetterOps, QueueCounts, QueueOpError, QueueSource, Received};

/// A queue and its dead-letter queue in SQS.
#[derive(Debug, Clone)]
pub struct SqsQueues {
    client: Client,
    queue_url: String,
    dlq_url: Option<String>,
}

fn err(e: impl std::fmt::Display) -> QueueOpError {
    QueueOpError(format!("sqs: {e}"))
}

fn sdk_err<E>(e: aws_sdk_sqs::error::SdkError<E>) -> QueueOpError
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata,
{
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    QueueOpError(format!(
        "sqs: {}: {}",
        e.code().unwrap_or("error"),
        e.message().unwrap_or(&e.to_string())
    ))
}

impl SqsQueues {
    /// Queues by URL; the DLQ is needed only by the `dlq` commands and `counts`.
    pub fn new(client: Client, queue_url: impl Into<String>, dlq_url: Option<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dlq_url,
        }
    }

    fn dlq(&self) -> Result<&str, QueueOpError> {
        self.dlq_url
            .as_deref()
            .ok_or_else(|| err("the dead-letter queue URL is required (--dlq-url)"))
    }

    async fn arn(&self, url: &str) -> Result<String, QueueOpError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sdk_err)?;
        out.attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| err("queue has no ARN"))
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        visibility: Option<i32>,
    ) -> Result<Vec<Received>, QueueOpError> {
        let mut request = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All");
        if let Some(v) = visibility {
            request = request.visibility_timeout(v);
        }
        let out = request.send().await.map_err(sdk_err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                attributes: m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect(),
                message_attributes: m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                    .collect(),
            })
            .collect())
    }

    async fn delete_from(&self, url: &str, receipts: &[String]) -> Result<(), QueueOpError> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(err)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk_err)?;
            if let Some(failed) = out.failed.first() {
                return Err(err(format!(
                    "delete failed: {}",
                    failed.message.as_deref().unwrap_or(&failed.code)
                )));
            }
        }
        Ok(())
    }

    async fn counts_of(&self, url: &str) -> Result<QueueCounts, QueueOpError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sdk_err)?;
        let attrs = out.attributes.unwrap_or_default();
        let n = |k: &QueueAttributeName| attrs.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(QueueCounts {
            visible: n(&QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: n(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }

    /// Moves messages one by one (receive, send, delete): the fallback where the native
    /// message move task is not available (moto, older endpoints).
    async fn move_by_hand(&self, dlq: &str) -> Result<u64, QueueOpError> {
        let mut moved = 0;
        loop {
            let batch = self
                .receive_from(dlq, 10, Duration::from_secs(1), Some(30))
                .await?;
            if batch.is_empty() {
                return Ok(moved);
            }
            for message in batch {
                let mut send = self
                    .client
                    .send_message()
                    .queue_url(&self.queue_url)
                    .message_body(&message.body);
                for (name, value) in &message.message_attributes {
                    let value = MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(value)
                        .build()
                        .map_err(err)?;
                    send = send.message_attributes(name, value);
                }
                send.send().await.map_err(sdk_err)?;
                self.delete_from(dlq, std::slice::from_ref(&message.receipt_handle))
                    .await?;
                moved += 1;
            }
        }
    }
}

impl QueueSource for SqsQueues {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueOpError> {
        self.receive_from(&self.queue_url, max, wait, None).await
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<(), QueueOpError> {
        self.delete_from(&self.queue_url, receipt_handles).await
    }
}

impl DeadLetterOps for SqsQueues {
    async fn dlq_list(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueOpError> {
        // SQS has no "peek": receive with a visibility timeout of 0, so the messages stay
        // available, until a receive brings nothing new.
        let dlq = self.dlq()?.to_owned();
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for _ in 0..(limit / 10 + 5) {
            let batch = self
                .receive_from(&dlq, 10, Duration::from_secs(1), Some(0))
                .await?;
            let before = out.len();
            for m in batch {
                if out.len() < limit && seen.insert(m.message_id.clone()) {
                    out.push(DeadLetter {
                        order_id: m.message_attributes.get("order_id").cloned(),
                        receive_count: m
                            .attributes
                            .get("ApproximateReceiveCount")
                            .and_then(|v| v.parse().ok()),
                        message_id: m.message_id,
                        body: m.body,
                    });
                }
            }
            if out.len() == before || out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn dlq_redrive(&self) -> Result<u64, QueueOpError> {
        let dlq = self.dlq()?.to_owned();
        let waiting = self.counts_of(&dlq).await?.visible;
        let (source, destination) = (self.arn(&dlq).await?, self.arn(&self.queue_url).await?);
        let native = self
            .client
            .start_message_move_task()
            .source_arn(source)
            .destination_arn(destination)
            .send()
            .await;
        match native {
            Ok(task) => {
                tracing::info!(
                    task = task.task_handle.as_deref().unwrap_or("-"),
                    "started a native SQS message move task"
                );
                Ok(waiting)
            }
            Err(e) => {
                tracing::info!(error = %sdk_err(e), "native message move task unavailable; moving messages one by one");
                self.move_by_hand(&dlq).await
            }
        }
    }

    async fn counts(&self) -> Result<(QueueCounts, QueueCounts), QueueOpError> {
        let main = self.counts_of(&self.queue_url).await?;
        let dlq = match &self.dlq_url {
            Some(url) => self.counts_of(url).await?,
            None => QueueCounts::default(),
        };
        Ok((main, dlq))
    }
}

/// The queue side of `orders local --aws`: ingest sends through the same adapter as the
/// Lambda, the poller and the operator commands use SQS directly.
pub struct AwsQueues {
    /// Ingest's sender.
    pub send: orders_platform::adapters::sqs::SqsOrderQueue,
    /// Receive, delete and the dead-letter operations.
    pub ops: SqsQueues,
}

impl orders_domain::ports::OrderQueue for AwsQueues {
    async fn enqueue(
        &self,
        order: &orders_domain::QueuedOrder,
    ) -> Result<(), orders_domain::ports::QueueError> {
        self.send.enqueue(order).await
    }
}

impl QueueSource for AwsQueues {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueOpError> {
        self.ops.receive(max, wait).await
    }
    async fn delete(&self, receipt_handles: &[String]) -> Result<(), QueueOpError> {
        self.ops.delete(receipt_handles).await
    }
}

impl DeadLetterOps for AwsQueues {
    async fn dlq_list(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueOpError> {
        self.ops.dlq_list(limit).await
    }
    async fn dlq_redrive(&self) -> Result<u64, QueueOpError> {
        self.ops.dlq_redrive().await
    }
    async fn counts(&self) -> Result<(QueueCounts, QueueCounts), QueueOpError> {
        self.ops.counts().await
    }
}
