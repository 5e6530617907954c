//! `--verify`: after sending, wait until every accepted order is stored or dead-lettered
//! (or a timeout passes), then reconcile with [`Reconciliation`].
//!
//! Where the answers come from:
//! - **stored**: `GET /orders/{id}` on the API for each accepted order not yet seen (200 =
//!   stored; its `processed_at` dates the store). This works against `orders local` and a
//!   deployed stack alike. The table is keyed by `order_id`, so through this route an order
//!   can only be stored once; [`StoredSource::Table`] reads the table itself instead (a
//!   `Scan`, repeats included, as the soak test does), for callers that can reach it.
//! - **dead-lettered**: the local queue file (`<state-dir>/queue.sqlite`, as `orders dlq
//!   list` reads it) for a local target, or the SQS dead-letter queue (`--dlq-url`, or
//!   `--stack`'s `DeadLetterQueueUrl`). Without either, dead letters are unknown: an order
//!   that is not stored when the wait ends counts as missing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::client::{CheckError, HttpApi};
use super::Progress;
use crate::queue::local::LocalQueue;
use crate::queue::sqs::SqsQueues;
use crate::queue::{DeadLetter, DeadLetterOps};
use crate::reconcile::Reconciliation;
use crate::table::scan_stored;

/// Where to look for dead-lettered orders.
#[derive(Debug, Clone)]
pub enum DeadLetterSource {
    /// Nowhere: dead letters are unknown.
    Unknown,
    /// The embedded queue's file of `orders local` (`<state-dir>/queue.sqlite`).
    Local(PathBuf),
    /// The SQS dead-letter queue.
    Sqs(SqsQueues),
}

impl DeadLetterSource {
    /// The queue file of a local state directory, if there is one (`orders local
    /// --in-memory` leaves none).
    pub fn local_state_dir(dir: &Path) -> Self {
        let file = dir.join("queue.sqlite");
        if file.is_file() {
            DeadLetterSource::Local(file)
        } else {
            DeadLetterSource::Unknown
        }
    }

    /// The SQS dead-letter queue at `dlq_url`.
    pub fn sqs(client: aws_sdk_sqs::Client, dlq_url: String) -> Self {
        // Only the DLQ is read; the main queue's URL is never used.
        DeadLetterSource::Sqs(SqsQueues::new(client, dlq_url.clone(), Some(dlq_url)))
    }

    /// For the report.
    pub fn describe(&self) -> String {
        match self {
            DeadLetterSource::Unknown => "unknown".to_owned(),
            DeadLetterSource::Local(path) => format!("local queue {}", path.display()),
            DeadLetterSource::Sqs(_) => "SQS dead-letter queue".to_owned(),
        }
    }

    /// Every dead letter, or `None` when they cannot be read.
    async fn list(&self) -> anyhow::Result<Option<Vec<DeadLetter>>> {
        const ALL: usize = usize::MAX >> 1;
        Ok(match self {
            DeadLetterSource::Unknown => None,
            DeadLetterSource::Local(path) => {
                let queue = LocalQueue::open_read_only(path)?;
                Some(queue.dlq_list(ALL).await?)
            }
            DeadLetterSource::Sqs(queues) => Some(queues.dlq_list(100_000).await?),
        })
    }
}

/// Where to look for stored orders.
#[derive(Debug, Clone)]
pub enum StoredSource {
    /// `GET /orders/{id}` on the API under test.
    Api,
    /// A `Scan` of the orders table (`order_id`, `processed_at`), repeats included.
    Table {
        /// A client for the table's endpoint.
        client: aws_sdk_dynamodb::Client,
        /// The table's name.
        table: String,
    },
}

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Longest wait for every accepted order to be stored or dead-lettered.
    pub timeout: Duration,
    /// Time between two checks of what is still unaccounted for.
    pub poll_interval: Duration,
    /// Concurrent `GET /orders/{id}` requests.
    pub concurrency: usize,
    /// Where stored orders are read.
    pub stored: StoredSource,
    /// Where dead letters are read.
    pub dead_letters: DeadLetterSource,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            poll_interval: Duration::from_millis(250),
            concurrency: 32,
            stored: StoredSource::Api,
            dead_letters: DeadLetterSource::Unknown,
        }
    }
}

/// The reconciliation after a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Accepted, stored, dead-lettered, missing, duplicated... (see [`Reconciliation`]).
    #[serde(flatten)]
    pub reconciliation: Reconciliation,
    /// Whether every accepted order was accounted for before the timeout.
    pub settled: bool,
    /// How long the wait took.
    pub waited_ms: f64,
    /// From the start of the run to the last accepted order's store (its `processed_at`).
    pub last_stored_after_start_ms: Option<f64>,
    /// Whether the dead-letter queue could be read (if not, `dead_lettered` is 0 and every
    /// order not stored counts as missing).
    pub dead_letters_known: bool,
    /// Where stored orders were read.
    pub stored_from: String,
    /// Where dead letters were read.
    pub dead_letters_from: String,
    /// Checks that failed (a GET throttled, the queue unreadable...) and were repeated.
    pub check_errors: u64,
}

/// Waits until every id in `accepted` is stored or dead-lettered, or the timeout passes,
/// then reconciles. `run_started` dates the run's start, for the time to the last store.
pub async fn verify(
    api: &HttpApi,
    accepted: &[String],
    options: &VerifyOptions,
    run_started: DateTime<Utc>,
    progress: &Progress,
) -> VerifyReport {
    let started = tokio::time::Instant::now();
    let give_up = started + options.timeout;
    let wanted: HashSet<&str> = accepted.iter().map(String::as_str).collect();
    // When each accepted order was stored (its processed_at, or when it was first seen).
    let mut stored_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    // What the table returned (repeats included), for the table source.
    let mut scanned: Vec<String> = Vec::new();
    let mut dead: Vec<DeadLetter> = Vec::new();
    // Whether the dead-letter queue was read at least once.
    let mut dead_known = false;
    let mut errors = 0u64;
    let mut width = options.concurrency.max(1);
    let settled = loop {
        match &options.stored {
            StoredSource::Api => {
                let pending: Vec<&str> = wanted
                    .iter()
                    .copied()
                    .filter(|id| !stored_at.contains_key(*id))
                    .collect();
                // Checks go in rounds of `width` at once. A throttled check (the stage's
                // 429, in AWS and in `orders local` alike) halves the width and waits its
                // Retry-After; a round without one widens it by one, up to `concurrency`:
                // the checks settle near the rate the API allows instead of hammering it.
                let mut rest = pending.as_slice();
                while !rest.is_empty() {
                    let (round, tail) = rest.split_at(width.min(rest.len()));
                    rest = tail;
                    let answers = futures::future::join_all(
                        round
                            .iter()
                            .map(|id| async move { (*id, api.get_order(id).await) }),
                    )
                    .await;
                    let mut throttled: Option<Duration> = None;
                    for (id, result) in answers {
                        match result {
                            Ok(Some(order)) => {
                                let at = order["processed_at"]
                                    .as_str()
                                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                                    .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
                                stored_at.insert(id.to_owned(), at);
                            }
                            Ok(None) => {}
                            Err(CheckError::Throttled { retry_after }) => {
                                errors += 1;
                                throttled = Some(throttled.unwrap_or_default().max(retry_after));
                            }
                            Err(CheckError::Failed(_)) => errors += 1,
                        }
                    }
                    match throttled {
                        Some(wait) => {
                            width = (width / 2).max(1);
                            if tokio::time::Instant::now() + wait >= give_up {
                                break;
                            }
                            tokio::time::sleep(wait).await;
                        }
                        None => width = (width + 1).min(options.concurrency.max(1)),
                    }
                }
            }
            StoredSource::Table { client, table } => match scan_stored(client, table).await {
                Ok(rows) => {
                    scanned.clear();
                    for (id, processed_at) in rows {
                        if wanted.contains(id.as_str()) && !stored_at.contains_key(&id) {
                            let at = processed_at
                                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                                .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
                            stored_at.insert(id.clone(), at);
                        }
                        scanned.push(id);
                    }
                }
                Err(_) => errors += 1,
            },
        }
        match options.dead_letters.list().await {
            Ok(Some(list)) => {
                dead = list;
                dead_known = true;
            }
            Ok(None) => {}
            Err(e) => {
                errors += 1;
                tracing::debug!(error = %e, "cannot read the dead-letter queue");
            }
        }
        let in_dlq: HashSet<&str> = dead.iter().filter_map(|d| d.order_id.as_deref()).collect();
        let open = wanted
            .iter()
            .filter(|id| !stored_at.contains_key(**id) && !in_dlq.contains(**id))
            .count();
        progress.verifying(stored_at.len(), wanted.len() - stored_at.len() - open, open);
        if open == 0 {
            break true;
        }
        let now = tokio::time::Instant::now();
        if now >= give_up {
            break false;
        }
        // Polling an eventual state, bounded by the timeout.
        tokio::time::sleep(options.poll_interval.min(give_up - now)).await;
    };
    let stored: Vec<String> = match options.stored {
        StoredSource::Api => stored_at.keys().cloned().collect(),
        StoredSource::Table { .. } => scanned,
    };
    let reconciliation = Reconciliation::compute(accepted, &stored, &dead);
    let last_stored_after_start_ms = stored_at
        .values()
        .max()
        .map(|last| (*last - run_started).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    VerifyReport {
        reconciliation,
        settled,
        waited_ms: started.elapsed().as_secs_f64() * 1000.0,
        last_stored_after_start_ms,
        dead_letters_known: dead_known,
        stored_from: match options.stored {
            StoredSource::Api => format!("GET {}/orders/{{id}}", api.base()),
            StoredSource::Table { ref table, .. } => format!("table {table} (scan)"),
        },
        dead_letters_from: options.dead_letters.describe(),
        check_errors: errors,
    }
}
