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
//! Concurrent sends share commits (group commit): each `enqueue` adds its message to a
//! pending list, and whichever caller holds the connection next writes every pending message
//! in one transaction and answers each of them. One fsync then acknowledges all the orders
//! that arrived while the previous one ran, and no send returns before its own commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orders_domain::ports::{OrderQueue, QueueError};
use orders_domain::QueuedOrder;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{oneshot, watch};

use super::{DeadLetter, DeadLetterOps, QueueCounts, QueueOpError, QueueSource, Received};

mod dead_letters;
mod layout;

pub use layout::{check_file, open_for_check, OpenError, LAYOUT};
use layout::{check_layout, migrate};

const MAIN: &str = "main";
const DLQ: &str = "dlq";
/// How often a receive purges messages past their retention period (a table scan).
const PURGE_EVERY_MS: i64 = 60_000;

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

/// A send waiting for the next group commit.
struct PendingSend {
    body: String,
    order_id: Option<String>,
    done: oneshot::Sender<Result<String, QueueOpError>>,
}

/// The embedded queue and its dead-letter queue.
pub struct LocalQueue {
    conn: Mutex<Connection>,
    /// Sends not yet written; taken, all at once, by whoever holds `conn` next.
    pending: Mutex<Vec<PendingSend>>,
    /// Kept in a file: a commit waits for fsync, so calls leave the async worker thread.
    durable: bool,
    /// When a receive last purged expired messages (ms since the epoch).
    last_purge_ms: AtomicI64,
    /// Group commits so far (each wrote one or more sends).
    group_commits: AtomicU64,
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
/// On a current-thread runtime (unit tests) it simply runs the call. An in-memory database
/// answers in microseconds: handing the thread over would cost more than the call.
fn blocking<T>(durable: bool, call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) if durable => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

/// Messages in flight, as [`LocalQueue::in_flight`] finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// How many.
    pub count: u64,
    /// When the last of them becomes visible again on its own (its visibility timeout).
    pub visible_by: Option<chrono::DateTime<chrono::Utc>>,
}

/// The row a receipt handle (`seq:token`) names, if it is one of ours.
fn receipt_row(handle: &str) -> Option<i64> {
    handle.split_once(':')?.0.parse().ok()
}

/// Runs `write` in one transaction, committed if it succeeds and rolled back otherwise.
/// `BEGIN` and `COMMIT` are cached statements: rusqlite's `Transaction` parses them anew on
/// every call, which cost a send on the in-memory queue as much as its `INSERT`.
fn in_transaction<T>(
    conn: &Connection,
    write: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result =
        write(conn).and_then(|value| conn.prepare_cached("COMMIT")?.execute([]).map(|_| value));
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut rollback| rollback.execute([]));
    }
    result
}

/// Inserts messages in the caller's transaction; returns each one's message id.
fn insert_messages<'a>(
    tx: &Connection,
    messages: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    duplicate_rate: f64,
) -> rusqlite::Result<Vec<String>> {
    let now = now_ms();
    let mut stmt = tx.prepare_cached(
        "INSERT INTO messages (queue, message_id, body, order_id, sent_at_ms, visible_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?;
    let mut ids = Vec::new();
    for (body, order_id) in messages {
        let message_id = uuid::Uuid::new_v4().to_string();
        stmt.execute(params![MAIN, message_id, body, order_id, now])?;
        if fastrand::f64() < duplicate_rate {
            // A duplicate delivery is a second message with the same body and attributes.
            let copy = uuid::Uuid::new_v4().to_string();
            stmt.execute(params![MAIN, copy, body, order_id, now])?;
        }
        ids.push(message_id);
    }
    Ok(ids)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl LocalQueue {
    /// The connection. A panic while it was held cannot leave SQLite inconsistent (every
    /// change is a transaction), so a poisoned lock is taken over.
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (or creates) the queue in `path`, or in memory when `path` is `None`. A file of
    /// a newer layout, or another program's database, is refused before anything is written.
    pub fn open(path: Option<&Path>, config: LocalQueueConfig) -> Result<Self, OpenError> {
        let mut conn = match path {
            Some(path) => {
                let conn = Connection::open(path)?;
                check_layout(&conn)?;
                conn.execute_batch(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;",
                )?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        migrate(&mut conn)?;
        Ok(Self::over(conn, path.is_some(), config))
    }

    /// Opens an existing queue file to read it (`orders dlq list`, `orders load --verify`),
    /// beside the `orders local` that owns it: nothing is written, nothing migrated.
    pub fn open_read_only(path: &Path) -> Result<Self, OpenError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        check_layout(&conn)?;
        Ok(Self::over(conn, false, LocalQueueConfig::default()))
    }

    fn over(conn: Connection, durable: bool, config: LocalQueueConfig) -> Self {
        Self {
            conn: Mutex::new(conn),
            pending: Mutex::new(Vec::new()),
            durable,
            last_purge_ms: AtomicI64::new(0),
            group_commits: AtomicU64::new(0),
            config,
            sends: watch::Sender::new(0),
        }
    }

    /// Messages a receive has hidden that are neither deleted nor visible again: after a
    /// start, those the previous process held when it stopped.
    pub fn in_flight(&self) -> Result<InFlight, QueueOpError> {
        let conn = self.conn();
        let (count, until): (i64, Option<i64>) = conn
            .query_row(
                "SELECT COUNT(*), MAX(visible_at_ms) FROM messages
                 WHERE queue = ?1 AND visible_at_ms > ?2",
                params![MAIN, now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        Ok(InFlight {
            count: count as u64,
            visible_by: until.and_then(chrono::DateTime::from_timestamp_millis),
        })
    }

    /// Makes every in-flight message visible now, keeping its receive count (the receive
    /// happened: a message that keeps crashing its consumer still reaches the DLQ). Only for
    /// messages whose receiver is known to be gone; returns how many.
    pub fn release_in_flight(&self) -> Result<u64, QueueOpError> {
        let now = now_ms();
        let released = self
            .conn()
            .execute(
                "UPDATE messages SET visible_at_ms = ?2, receipt = NULL
                 WHERE queue = ?1 AND visible_at_ms > ?2",
                params![MAIN, now],
            )
            .map_err(err)?;
        self.sends.send_modify(|n| *n += 1);
        Ok(released as u64)
    }

    /// The queue's settings.
    pub fn config(&self) -> LocalQueueConfig {
        self.config
    }

    /// Sends a raw body (what `SendMessage` does) in its own transaction; returns the message
    /// id.
    pub fn send_raw(&self, body: &str, order_id: Option<&str>) -> Result<String, QueueOpError> {
        let conn = self.conn();
        let ids = in_transaction(&conn, |conn| {
            insert_messages(
                conn,
                std::iter::once((body, order_id)),
                self.config.duplicate_rate,
            )
        })
        .map_err(err)?;
        drop(conn);
        self.sends.send_modify(|n| *n += 1);
        Ok(ids.into_iter().next().unwrap_or_default())
    }

    /// Sends a body as part of the next group commit; returns once it is committed. In
    /// memory a commit waits for no fsync, so there is nothing to share: the send is written
    /// at once, without the pending list and its channel.
    async fn send_grouped(
        &self,
        body: String,
        order_id: Option<String>,
    ) -> Result<String, QueueOpError> {
        if !self.durable {
            return self.send_raw(&body, order_id.as_deref());
        }
        let (done, committed) = oneshot::channel();
        self.pending.lock().unwrap().push(PendingSend {
            body,
            order_id,
            done,
        });
        blocking(self.durable, || self.commit_pending());
        // Committed by this call or by one that held the connection before it took the
        // list; a committer that panicked dropped the sender.
        committed
            .await
            .unwrap_or_else(|_| Err(err("the send was not committed")))
    }

    /// Writes every pending send in one transaction and answers each; a failed transaction
    /// fails all of them (nothing of it was written).
    fn commit_pending(&self) {
        let conn = self.conn();
        let batch = std::mem::take(&mut *self.pending.lock().unwrap());
        if batch.is_empty() {
            return; // an earlier holder of the connection committed ours
        }
        let written = in_transaction(&conn, |conn| {
            insert_messages(
                conn,
                batch
                    .iter()
                    .map(|p| (p.body.as_str(), p.order_id.as_deref())),
                self.config.duplicate_rate,
            )
        });
        drop(conn);
        self.group_commits.fetch_add(1, Ordering::Relaxed);
        match written {
            Ok(ids) => {
                self.sends.send_modify(|n| *n += 1);
                for (pending, id) in batch.into_iter().zip(ids) {
                    let _ = pending.done.send(Ok(id));
                }
            }
            Err(e) => {
                let e = err(e);
                for pending in batch {
                    let _ = pending.done.send(Err(e.clone()));
                }
            }
        }
    }

    /// One non-waiting receive; also returns when the next hidden message becomes visible.
    fn receive_now(&self, max: usize) -> Result<(Vec<Received>, Option<i64>), QueueOpError> {
        let now = now_ms();
        let conn = self.conn();
        in_transaction(&conn, |tx| self.receive_in(tx, now, max)).map_err(err)
    }

    /// [`LocalQueue::receive_now`]'s work, in the caller's transaction.
    fn receive_in(
        &self,
        tx: &Connection,
        now: i64,
        max: usize,
    ) -> rusqlite::Result<(Vec<Received>, Option<i64>)> {
        if now - self.last_purge_ms.load(Ordering::Relaxed) >= PURGE_EVERY_MS {
            // Retention is days long: a purge a minute is exact enough, and spares each
            // receive a scan of the whole table.
            tx.execute(
                "DELETE FROM messages WHERE queue = ?1 AND sent_at_ms < ?2",
                params![MAIN, now - self.config.retention.as_millis() as i64],
            )?;
            tx.execute(
                "DELETE FROM messages WHERE queue = ?1 AND sent_at_ms < ?2",
                params![DLQ, now - self.config.dlq_retention.as_millis() as i64],
            )?;
            self.last_purge_ms.store(now, Ordering::Relaxed);
        }
        let mut out = Vec::new();
        // Each message at most once per receive, even with a zero visibility timeout.
        let mut after = 0i64;
        loop {
            let candidates: Vec<Row> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT seq, message_id, body, order_id, sent_at_ms, receive_count, first_receive_ms
                         FROM messages WHERE queue = ?1 AND visible_at_ms <= ?2 AND seq > ?4
                         ORDER BY seq LIMIT ?3",
                    )
                    ?;
                let rows =
                    stmt.query_map(params![MAIN, now, (max - out.len()) as i64, after], |r| {
                        Ok(Row {
                            seq: r.get(0)?,
                            message_id: r.get(1)?,
                            body: r.get(2)?,
                            order_id: r.get(3)?,
                            sent_at: r.get(4)?,
                            count: r.get(5)?,
                            first: r.get(6)?,
                        })
                    })?;
                rows.collect::<Result<_, _>>()?
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
                    ?;
                    tracing::warn!(
                        message_id,
                        order_id = order_id.as_deref().unwrap_or("-"),
                        receives = count,
                        "message moved to the dead-letter queue"
                    );
                    continue;
                }
                let receipt = format!("{seq}:{}", uuid::Uuid::new_v4().simple());
                let first = first.unwrap_or(now);
                tx.prepare_cached(
                    "UPDATE messages SET receive_count = ?1, visible_at_ms = ?2, receipt = ?3, first_receive_ms = ?4 WHERE seq = ?5",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        count + 1,
                        now + self.config.visibility_timeout.as_millis() as i64,
                        receipt,
                        first,
                        seq
                    ])
                })
                ?;
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
            .optional()?
            .flatten();
        Ok((out, next))
    }

    fn count(&self, queue: &str) -> Result<QueueCounts, QueueOpError> {
        let now = now_ms();
        let conn = self.conn();
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
        self.send_grouped(order.to_message_body(), Some(order.order_id.to_string()))
            .await
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
            let (messages, next_visible) = blocking(self.durable, || self.receive_now(max))?;
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
        blocking(self.durable, || {
            let conn = self.conn();
            in_transaction(&conn, |tx| {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                )?;
                // A handle that names no row of ours deletes nothing, like a stale one.
                for receipt in receipt_handles {
                    if let Some(seq) = receipt_row(receipt) {
                        stmt.execute(params![seq, MAIN, receipt])?;
                    }
                }
                Ok(())
            })
            .map_err(err)
        })
    }
}

#[cfg(test)]
mod tests;
