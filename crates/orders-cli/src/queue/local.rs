//! An embedded queue pair with SQS semantics, persisted in SQLite.
//!
//! - Visibility timeout: a received message is hidden until deleted or until the timeout
//!   passes, then it is delivered again with `ApproximateReceiveCount` one higher.
//! - Redrive: a message received `max_receive_count` times without being deleted moves to
//!   the dead-letter queue on its next receive attempt (what SQS and moto do).
//! - Long polling: `receive` waits for a send or for an in-flight message to become visible.
//! - Retention: messages older than the retention period are dropped, as SQS does.
//!
//! With a file, every send is committed (WAL, `synchronous=FULL`) before `enqueue`
//! returns, so an order answered 202 survives a crash or restart of the process.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orders::domain::QueuedOrder;
use orders::ports::{OrderQueue, QueueError};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::watch;

use super::{DeadLetter, DeadLetterOps, QueueCounts, QueueOpError, QueueSource, Received};

const MAIN: &str = "main";
const DLQ: &str = "dlq";

/// Behaviour of the embedded queue pair (defaults come from `template.yaml`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalQueueConfig {
    /// How long a received message stays hidden.
    pub visibility_timeout: Duration,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// How long the main queue keeps a message.
    pub retention: Duration,
    /// How long the dead-letter queue keeps a message.
    pub dlq_retention: Duration,
    /// Share of sends stored twice, to exercise at-least-once delivery (fault injection).
    pub duplicate_rate: f64,
}

impl Default for LocalQueueConfig {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(180),
            max_receive_count: 5,
            retention: Duration::from_secs(4 * 24 * 3600),
            dlq_retention: Duration::from_secs(14 * 24 * 3600),
            duplicate_rate: 0.0,
        }
    }
}

/// One ready message as read from the table.
struct Row {
    seq: i64,
    message_id: String,
    body: String,
    order_id: Option<String>,
    sent_at: i64,
    count: i64,
    first: Option<i64>,
}

/// The embedded queue and its dead-letter queue.
pub struct LocalQueue {
    conn: Mutex<Connection>,
    config: LocalQueueConfig,
    /// Bumped on every send or redrive, to wake long-polling receivers.
    sends: watch::Sender<u64>,
}

impl std::fmt::Debug for LocalQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalQueue")
            .field("config", &self.config)
            .finish()
    }
}

fn err(e: impl std::fmt::Display) -> QueueOpError {
    QueueOpError(format!("local queue: {e}"))
}

/// Runs a blocking SQLite call (a durable write waits for fsync) without stalling the other
/// tasks of a multi-threaded runtime: `block_in_place` hands them to another worker thread.
/// On a current-thread runtime (unit tests) it simply runs the call.
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(call),
        _ => call(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl LocalQueue {
    /// Opens (or creates) the queue in `path`, or in memory when `path` is `None`.
    pub fn open(path: Option<&Path>, config: LocalQueueConfig) -> Result<Self, QueueOpError> {
        let conn = match path {
            Some(path) => {
                let conn = Connection::open(path).map_err(err)?;
                conn.execute_batch(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;",
                )
                .map_err(err)?;
                conn
            }
            None => Connection::open_in_memory().map_err(err)?,
        };
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                queue TEXT NOT NULL,
                message_id TEXT NOT NULL UNIQUE,
                body TEXT NOT NULL,
                order_id TEXT,
                sent_at_ms INTEGER NOT NULL,
                visible_at_ms INTEGER NOT NULL,
                receive_count INTEGER NOT NULL DEFAULT 0,
                first_receive_ms INTEGER,
                receipt TEXT
            );
            CREATE INDEX IF NOT EXISTS messages_ready ON messages(queue, visible_at_ms);
            CREATE INDEX IF NOT EXISTS messages_receipt ON messages(receipt);",
        )
        .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            config,
            sends: watch::Sender::new(0),
        })
    }

    /// The queue's settings.
    pub fn config(&self) -> LocalQueueConfig {
        self.config
    }

    /// Sends a raw body (what `SendMessage` does); returns the message id.
    pub fn send_raw(&self, body: &str, order_id: Option<&str>) -> Result<String, QueueOpError> {
        let message_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let copies = if fastrand::f64() < self.config.duplicate_rate {
            2
        } else {
            1
        };
        let conn = self.conn.lock().unwrap();
        for copy in 0..copies {
            // A duplicate delivery is a second message with the same body and attributes.
            let id = if copy == 0 {
                message_id.clone()
            } else {
                uuid::Uuid::new_v4().to_string()
            };
            conn.execute(
                "INSERT INTO messages (queue, message_id, body, order_id, sent_at_ms, visible_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![MAIN, id, body, order_id, now],
            )
            .map_err(err)?;
        }
        drop(conn);
        self.sends.send_modify(|n| *n += 1);
        Ok(message_id)
    }

    /// One non-waiting receive; also returns when the next hidden message becomes visible.
    fn receive_now(&self, max: usize) -> Result<(Vec<Received>, Option<i64>), QueueOpError> {
        let now = now_ms();
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(err)?;
        tx.execute(
            "DELETE FROM messages WHERE queue = ?1 AND sent_at_ms < ?2",
            params![MAIN, now - self.config.retention.as_millis() as i64],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM messages WHERE queue = ?1 AND sent_at_ms < ?2",
            params![DLQ, now - self.config.dlq_retention.as_millis() as i64],
        )
        .map_err(err)?;
        let mut out = Vec::new();
        // Each message at most once per receive, even with a zero visibility timeout.
        let mut after = 0i64;
        loop {
            let candidates: Vec<Row> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT seq, message_id, body, order_id, sent_at_ms, receive_count, first_receive_ms
                         FROM messages WHERE queue = ?1 AND visible_at_ms <= ?2 AND seq > ?4
                         ORDER BY seq LIMIT ?3",
                    )
                    .map_err(err)?;
                let rows = stmt
                    .query_map(params![MAIN, now, (max - out.len()) as i64, after], |r| {
                        Ok(Row {
                            seq: r.get(0)?,
                            message_id: r.get(1)?,
                            body: r.get(2)?,
                            order_id: r.get(3)?,
                            sent_at: r.get(4)?,
                            count: r.get(5)?,
                            first: r.get(6)?,
                        })
                    })
                    .map_err(err)?;
                rows.collect::<Result<_, _>>().map_err(err)?
            };
            if candidates.is_empty() {
                break;
            }
            for Row {
                seq,
                message_id,
                body,
                order_id,
                sent_at,
                count,
                first,
            } in candidates
            {
                after = seq;
                if count >= i64::from(self.config.max_receive_count) {
                    // Redrive: the receive that would exceed maxReceiveCount moves it instead.
                    tx.execute(
                        "UPDATE messages SET queue = ?1, visible_at_ms = ?2, receipt = NULL WHERE seq = ?3",
                        params![DLQ, now, seq],
                    )
                    .map_err(err)?;
                    tracing::warn!(
                        message_id,
                        order_id = order_id.as_deref().unwrap_or("-"),
                        receives = count,
                        "message moved to the dead-letter queue"
                    );
                    continue;
                }
                let receipt = uuid::Uuid::new_v4().to_string();
                let first = first.unwrap_or(now);
                tx.execute(
                    "UPDATE messages SET receive_count = ?1, visible_at_ms = ?2, receipt = ?3, first_receive_ms = ?4 WHERE seq = ?5",
                    params![count + 1, now + self.config.visibility_timeout.as_millis() as i64, receipt, first, seq],
                )
                .map_err(err)?;
                let attributes = HashMap::from([
                    (
                        "ApproximateReceiveCount".to_owned(),
                        (count + 1).to_string(),
                    ),
                    ("SentTimestamp".to_owned(), sent_at.to_string()),
                    (
                        "ApproximateFirstReceiveTimestamp".to_owned(),
                        first.to_string(),
                    ),
                    ("SenderId".to_owned(), "orders-local".to_owned()),
                ]);
                let message_attributes = order_id
                    .map(|id| HashMap::from([("order_id".to_owned(), id)]))
                    .unwrap_or_default();
                out.push(Received {
                    message_id,
                    receipt_handle: receipt,
                    body,
                    attributes,
                    message_attributes,
                });
            }
            if out.len() >= max {
                break;
            }
        }
        let next: Option<i64> = tx
            .query_row(
                "SELECT MIN(visible_at_ms) FROM messages WHERE queue = ?1",
                params![MAIN],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?
            .flatten();
        tx.commit().map_err(err)?;
        Ok((out, next))
    }

    fn count(&self, queue: &str) -> Result<QueueCounts, QueueOpError> {
        let now = now_ms();
        let conn = self.conn.lock().unwrap();
        let (visible, in_flight): (i64, i64) = conn
            .query_row(
                "SELECT COALESCE(SUM(visible_at_ms <= ?2), 0), COALESCE(SUM(visible_at_ms > ?2), 0)
                 FROM messages WHERE queue = ?1",
                params![queue, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        Ok(QueueCounts {
            visible: visible as u64,
            in_flight: in_flight as u64,
        })
    }
}

impl OrderQueue for LocalQueue {
    async fn enqueue(&self, order: &QueuedOrder) -> Result<(), QueueError> {
        let order_id = order.order_id.to_string();
        blocking(|| self.send_raw(&order.to_message_body(), Some(&order_id)))
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(e.0))
    }
}

impl QueueSource for LocalQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueOpError> {
        let max = max.max(1);
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            let mut sends = self.sends.subscribe();
            let (messages, next_visible) = blocking(|| self.receive_now(max))?;
            let now = tokio::time::Instant::now();
            if !messages.is_empty() || now >= give_up {
                return Ok(messages);
            }
            let mut wake = give_up;
            if let Some(next) = next_visible {
                let in_ms = (next - now_ms()).max(1) as u64;
                wake = wake.min(now + Duration::from_millis(in_ms));
            }
            tokio::select! {
                _ = sends.changed() => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<(), QueueOpError> {
        // One transaction (one fsync) for the whole batch, as SQS's DeleteMessageBatch.
        blocking(|| {
            let mut conn = self.conn.lock().unwrap();
            let tx = conn.transaction().map_err(err)?;
            for receipt in receipt_handles {
                tx.execute(
                    "DELETE FROM messages WHERE queue = ?1 AND receipt = ?2",
                    params![MAIN, receipt],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)
        })
    }
}

impl DeadLetterOps for LocalQueue {
    async fn dlq_list(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueOpError> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT message_id, order_id, receive_count, body FROM messages
                 WHERE queue = ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![DLQ, limit as i64], |r| {
                Ok(DeadLetter {
                    message_id: r.get(0)?,
                    order_id: r.get(1)?,
                    receive_count: Some(r.get::<_, i64>(2)? as u64),
                    body: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    async fn dlq_redrive(&self) -> Result<u64, QueueOpError> {
        let now = now_ms();
        let moved = self
            .conn
            .lock()
            .unwrap()
            .execute(
                "UPDATE messages SET queue = ?1, visible_at_ms = ?2, sent_at_ms = ?2,
                 receive_count = 0, first_receive_ms = NULL, receipt = NULL WHERE queue = ?3",
                params![MAIN, now, DLQ],
            )
            .map_err(err)?;
        self.sends.send_modify(|n| *n += 1);
        Ok(moved as u64)
    }

    async fn counts(&self) -> Result<(QueueCounts, QueueCounts), QueueOpError> {
        Ok((self.count(MAIN)?, self.count(DLQ)?))
    }
}
