//! The local table: Dynoxide (a DynamoDB-compatible engine on SQLite) served in-process on
//! a loopback port, reached through the same aws-sdk-dynamodb adapter as in AWS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the table file cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum TableOpenError {
    /// Dynoxide refused it (a newer Dynoxide's file, or SQLite's error).
    #[error(transparent)]
    Dynoxide(#[from] dynoxide::DynoxideError),
    /// Reading its table list failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Another program's database: Dynoxide would add its tables to it.
    #[error("a SQLite database of another program (its tables: {tables})")]
    Foreign {
        /// The tables it has.
        tables: String,
    },
    /// No loopback port.
    #[error("cannot listen on a loopback port: {0}")]
    Listen(#[from] std::io::Error),
}

/// Refuses, by reading only, a SQLite file that holds tables and not Dynoxide's (Dynoxide
/// would add its own to it).
pub fn check_file(path: &Path) -> Result<(), TableOpenError> {
    let conn = crate::queue::local::open_for_check(path)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if tables.is_empty() || tables.iter().any(|t| t == "_tables") {
        return Ok(());
    }
    Err(TableOpenError::Foreign {
        tables: tables.join(", "),
    })
}

/// A running Dynoxide server.
pub struct LocalTable {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LocalTable {
    /// Starts Dynoxide on `127.0.0.1:0` over the SQLite file `path`, or in memory. A file of
    /// a newer Dynoxide, or another program's database, is refused before anything is written.
    pub async fn start(path: Option<&Path>) -> Result<Self, TableOpenError> {
        let db = match path {
            Some(p) => {
                if p.exists() {
                    check_file(p)?;
                }
                dynoxide::Database::new(&p.to_string_lossy())?
            }
            None => dynoxide::Database::memory()?,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = dynoxide::server::serve_with_shutdown(listener, db, async {
                let _ = stopped.await;
            })
            .await;
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SDK configuration for this server: dummy credentials, fixed region.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "orders-local",
            ))
            .load()
            .await
    }

    /// Stops serving and waits for open requests to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for LocalTable {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Number of items in the table (`Scan` with `Select=COUNT`, through the SDK's paginator).
pub async fn count_items(client: &aws_sdk_dynamodb::Client, name: &str) -> anyhow::Result<u64> {
    let mut pages = client
        .scan()
        .table_name(name)
        .select(Select::Count)
        .into_paginator()
        .send();
    let mut total = 0u64;
    while let Some(page) = pages.next().await {
        total += page?.count as u64;
    }
    Ok(total)
}

/// Every stored order's id and `processed_at` (a projected `Scan`, through the SDK's
/// paginator): what reconciliation and `orders load --verify` compare with what was sent.
pub async fn scan_stored(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let items = client
        .scan()
        .table_name(table)
        .projection_expression("order_id, processed_at")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await?;
    let text = |item: &HashMap<String, AttributeValue>, name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    };
    Ok(items
        .iter()
        .filter_map(|item| Some((text(item, "order_id")?, text(item, "processed_at"))))
        .collect())
}

/// Every stored order's id.
pub async fn stored_ids(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<Vec<String>> {
    let rows = scan_stored(client, table).await?;
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}

/// How many times as long as a count took must pass before the next one: a count of a
/// large table then costs at most 1% of a core, however often the counters are read.
pub const RECOUNT_AFTER: u32 = 100;

/// The orders in the table, for counters read every second (`/_local/stats`, which the
/// live dashboard polls): a `Scan` count ([`count_items`], whose cost grows with the table:
/// 0.6 s of CPU at 20,000 orders, bench/RESULTS.md "Dashboard cost"), taken again at most
/// every [`RECOUNT_AFTER`] times its own duration (and at least a second apart), and in
/// between that count plus the orders the worker has stored since (`OrdersProcessed` counts
/// new items only). Exact while this process is the table's only writer; another writer's
/// items show at the next count.
#[derive(Debug, Default)]
pub struct StoredCount {
    last: tokio::sync::Mutex<Option<Counted>>,
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    items: u64,
    processed: u64,
    at: tokio::time::Instant,
    took: std::time::Duration,
}

impl StoredCount {
    /// The count; `processed` reads the worker's `OrdersProcessed` total.
    pub async fn get(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        processed: impl Fn() -> u64,
    ) -> anyhow::Result<u64> {
        let mut last = self.last.lock().await;
        let fresh = last.is_some_and(|c| {
            c.at.elapsed() < (c.took * RECOUNT_AFTER).max(std::time::Duration::from_secs(1))
        });
        if !fresh {
            let started = tokio::time::Instant::now();
            let items = count_items(client, table).await?;
            // Read after the count: an order stored meanwhile is in the count or shows at
            // the next one, never twice.
            *last = Some(Counted {
                items,
                processed: processed(),
                at: tokio::time::Instant::now(),
                took: started.elapsed(),
            });
        }
        let c = last.expect("counted above");
        Ok(c.items + processed().saturating_sub(c.processed))
    }
}
