//! `orders local`: the whole pipeline in one process, from the same handlers as Lambda.
//!
//! API (axum, proxy events) → ingest handler → queue (embedded SQLite queue, or SQS with
//! `--aws`) → event-source poller → worker handler → DynamoDB adapter → Dynoxide (or
//! DynamoDB with `--aws`). `GET /orders/{id}` → status handler → the same table.
//!
//! The handlers' metrics go to the pipeline's own [`InMemoryMetrics`] (every request and
//! every worker invocation runs with it as its recorder), served under `metrics` in
//! `GET /_local/stats` and summarised by [`summary_line`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt as _;
use ingest::Ingest;
use orders_domain::ports::OrderQueue;
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::adapters::faults::{FaultConfig, FaultyStore, StoreFaultRule};
use orders_platform::adapters::idempotency::DynamoIdempotencyStore;
use orders_platform::adapters::sqs::SqsOrderQueue;
use orders_platform::metrics::{names, InMemoryMetrics};
use serde_json::{json, Value};
use status::Status;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use worker::Worker;

use crate::api::{metered_router, Gateway};
use crate::limits::Limits;
use crate::poller::{self, PollerCounters};
use crate::queue::local::{LocalQueue, LocalQueueConfig};
use crate::queue::sqs::{AwsQueues, SqsQueues};
use crate::queue::{DeadLetterOps, QueueSource};
use crate::settings::LocalSettings;
use crate::state::{StateDir, StateError, QUEUE_FILE, TABLE_FILE};
use crate::table::{LocalTable, StoredCount};
use crate::web::dashboard::{Dashboard, LocalConsole, Sources};

/// The local table's name.
pub const LOCAL_TABLE: &str = "orders";
/// The local Idempotency-Key table's name.
pub const LOCAL_IDEMPOTENCY_TABLE: &str = "idempotency";
/// The `eventSourceARN` of local records.
pub const LOCAL_QUEUE_ARN: &str = "arn:aws:sqs:local:000000000000:orders";

/// Real AWS resources for `--aws`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    /// The orders queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dlq_url: Option<String>,
    /// The orders table.
    pub table: String,
    /// The Idempotency-Key table; without it the header is ignored.
    pub idempotency_table: Option<String>,
}

/// How to start the pipeline.
#[derive(Clone)]
pub struct LocalOptions {
    /// API address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Where the queue and the table keep their data.
    pub state_dir: PathBuf,
    /// Keep nothing on disk.
    pub in_memory: bool,
    /// Delivery settings.
    pub settings: LocalSettings,
    /// Use real SQS and DynamoDB instead of the embedded ones.
    pub aws: Option<AwsTarget>,
    /// Refuse settings that break the timing rules (on by default; tests that need
    /// seconds-long timeouts turn it off).
    pub enforce_timing_rules: bool,
    /// Make chosen table writes fail (fault injection at the adapter boundary).
    pub store_fault: Option<StoreFaultRule>,
    /// Random faults at the adapter boundary (off by default).
    pub faults: FaultConfig,
    /// Leave messages that a previous run held in flight to their visibility timeout (as
    /// SQS would) instead of making them visible at start-up.
    pub keep_in_flight: bool,
}

impl std::fmt::Debug for LocalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOptions")
            .field("addr", &self.addr)
            .field("state_dir", &self.state_dir)
            .field("in_memory", &self.in_memory)
            .field("aws", &self.aws)
            .finish_non_exhaustive()
    }
}

impl LocalOptions {
    /// Without the emulated stage throttle and account concurrency (tests of other
    /// behaviour, benchmarks of the pipeline itself).
    pub fn unlimited(mut self) -> Self {
        self.settings = self.settings.unlimited();
        self
    }

    /// The template's settings, the default state directory, port 3000, rules enforced.
    pub fn from_template(addr: SocketAddr, state_dir: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            state_dir,
            in_memory: false,
            settings: LocalSettings::from_template()?,
            aws: None,
            enforce_timing_rules: true,
            store_fault: None,
            faults: FaultConfig::default(),
            keep_in_flight: false,
        })
    }
}

/// A running pipeline.
pub struct LocalPipeline {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    poller: JoinHandle<()>,
    sampler: JoinHandle<()>,
    table: Option<LocalTable>,
    stats: StatsFn,
    metrics: InMemoryMetrics,
    described: String,
    sdk: aws_config::SdkConfig,
    table_name: String,
    /// Holds the state directory's lock for as long as the pipeline lives.
    _state: Option<StateDir>,
}

type StatsFn =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, serde_json::Value> + Send + Sync>;

impl LocalPipeline {
    /// The API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What was started and where, for the console.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// The SDK configuration of the table (Dynoxide locally).
    pub fn table_sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// The orders table's name.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// Every counter: ingest, queue, DLQ, stored orders, poller, and the handlers'
    /// metrics (`metrics`).
    pub async fn stats(&self) -> serde_json::Value {
        (self.stats)().await
    }

    /// The handlers' metrics, as recorded so far.
    pub fn metrics(&self) -> &InMemoryMetrics {
        &self.metrics
    }

    /// Ctrl-C: stops accepting requests, lets in-flight batches finish (each bounded by the
    /// worker timeout; anything unfinished returns to the queue), then stops the table.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        let _ = self.poller.await;
        let _ = self.sampler.await;
        if let Some(table) = self.table {
            table.stop().await;
        }
    }

    /// Stops everything at once, as a crash would: nothing is drained. Accepted orders are
    /// on the persisted queue and are delivered after a restart.
    pub fn abort(self) {
        self.server.abort();
        self.poller.abort();
        self.sampler.abort();
        drop(self.table);
    }
}

/// Why `orders local` could not start. Each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The API's port is taken.
    #[error(
        "{addr} is already in use (another `orders local`, or another program). Stop it, or \
         pass --port 0 to take any free port (or --port <another>)"
    )]
    PortInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The API cannot listen for another reason.
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The state directory is owned by another process, or cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// Settings that break the timing rules, without `--allow-unsafe-settings`.
    #[error(
        "these settings would lose or double orders:\n  {0}\n(--allow-unsafe-settings runs \
         them anyway)"
    )]
    UnsafeSettings(String),
    /// Anything else (AWS, the table's start-up calls).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Starts the pipeline and returns once the API listens. The state directory is owned
/// (locked) and checked before anything in it is opened, and the port is taken before any
/// state file is created.
pub async fn start(options: LocalOptions) -> Result<LocalPipeline, StartError> {
    let s = &options.settings.pipeline;
    let violations = options.settings.violations();
    if !violations.is_empty() {
        let text = violations.join("\n  ");
        if options.enforce_timing_rules {
            return Err(StartError::UnsafeSettings(text));
        }
        tracing::warn!("running with unsafe settings:\n  {text}");
    }
    let mut state = match (&options.aws, options.in_memory) {
        (None, false) => Some(StateDir::claim(&options.state_dir)?),
        _ => None,
    };
    let listener =
        tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|cause| match cause.kind() {
                std::io::ErrorKind::AddrInUse => StartError::PortInUse { addr: options.addr },
                _ => StartError::Listen {
                    addr: options.addr,
                    cause,
                },
            })?;
    let addr = listener.local_addr().map_err(anyhow::Error::from)?;
    if let Some(state) = &mut state {
        state.record_api(addr)?;
    }
    match options.aws.clone() {
        None => {
            let table_file = state.as_ref().map(|st| st.file(TABLE_FILE));
            let queue_file = state.as_ref().map(|st| st.file(QUEUE_FILE));
            let dir = options.state_dir.as_path();
            let table = LocalTable::start(table_file.as_deref())
                .await
                .map_err(|e| {
                    StateError::from_table(dir, table_file.as_deref().unwrap_or(dir), e)
                })?;
            let sdk = table.sdk_config().await;
            DynamoOrderStore::from_sdk_config(&sdk, LOCAL_TABLE)
                .create_table_if_missing()
                .await
                .map_err(anyhow::Error::from)?;
            let idempotency =
                DynamoIdempotencyStore::from_sdk_config(&sdk, LOCAL_IDEMPOTENCY_TABLE);
            idempotency
                .create_table_if_missing()
                .await
                .map_err(anyhow::Error::from)?;
            let queue = LocalQueue::open(
                queue_file.as_deref(),
                LocalQueueConfig {
                    duplicate_rate: options.faults.duplicate_rate,
                    ..options.settings.queue_config()
                },
            )
            .map_err(|e| StateError::from_queue(dir, queue_file.as_deref().unwrap_or(dir), e))?;
            let recovered = match &state {
                Some(st) => recover_in_flight(&queue, st, options.keep_in_flight)?,
                None => None,
            };
            let where_ = match &state {
                Some(st) => format!("{}, owned by this process", st.path().display()),
                None => "in memory".to_owned(),
            };
            let mut described = format!(
                "queue: embedded (SQLite, {where_}), visibility {}s, DLQ after {} receives\ntable: Dynoxide at {}",
                s.visibility_timeout.as_secs(),
                s.max_receive_count,
                table.endpoint()
            );
            if let Some(line) = recovered {
                described.push('\n');
                described.push_str(&line);
            }
            let parts = Parts {
                table_name: LOCAL_TABLE.to_owned(),
                idempotency: Some(idempotency),
                local_table: Some(table),
                described,
                state,
            };
            Ok(run(options, listener, Arc::new(queue), sdk, parts).await?)
        }
        Some(aws) => {
            let sdk = orders_platform::config::sdk_config().await;
            let queues = AwsQueues {
                send: SqsOrderQueue::from_sdk_config(&sdk, &aws.queue_url),
                ops: SqsQueues::new(
                    aws_sdk_sqs::Client::new(&sdk),
                    &aws.queue_url,
                    aws.dlq_url.clone(),
                ),
            };
            let described = format!(
                "queue: SQS {} (DLQ {})\ntable: DynamoDB {}",
                aws.queue_url,
                aws.dlq_url.as_deref().unwrap_or("unknown"),
                aws.table
            );
            let parts = Parts {
                idempotency: aws
                    .idempotency_table
                    .as_ref()
                    .map(|t| DynamoIdempotencyStore::from_sdk_config(&sdk, t)),
                table_name: aws.table,
                local_table: None,
                described,
                state: None,
            };
            Ok(run(options, listener, Arc::new(queues), sdk, parts).await?)
        }
    }
}

/// Messages that the previous owner of the state directory had received and not deleted
/// when it stopped. The lock proves that process is gone, so nobody can still be working on
/// them: they are made visible at once (unless `keep`, which leaves them to their
/// visibility timeout as SQS would). Returns the line the banner prints, if any.
fn recover_in_flight(
    queue: &LocalQueue,
    state: &StateDir,
    keep: bool,
) -> Result<Option<String>, StartError> {
    let found = queue.in_flight().map_err(|e| anyhow::anyhow!(e))?;
    if found.count == 0 {
        return Ok(None);
    }
    let who = match state.previous_owner() {
        Some(owner) => format!("the previous run (pid {})", owner.pid),
        None => "an earlier run".to_owned(),
    };
    let n = found.count;
    let messages = if n == 1 {
        "message was"
    } else {
        "messages were"
    };
    if keep {
        let when = found.visible_by.map_or_else(
            || "when their visibility timeout ends".to_owned(),
            |t| {
                let left = (t - chrono::Utc::now()).num_seconds().max(0);
                format!(
                    "by {} (in {left} s, their visibility timeout, as SQS does)",
                    t.with_timezone(&chrono::Local).format("%H:%M:%S")
                )
            },
        );
        return Ok(Some(format!(
            "recovered: {n} {messages} in flight when {who} stopped; --keep-in-flight: they return {when}"
        )));
    }
    let released = queue.release_in_flight().map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(format!(
        "recovered: {released} {messages} in flight when {who} stopped; that process is gone (this one holds the lock), so they are visible again now instead of after their visibility timeout (--keep-in-flight waits, as SQS would)"
    )))
}

/// What differs between the embedded and the `--aws` pipeline besides the queue.
struct Parts {
    table_name: String,
    idempotency: Option<DynamoIdempotencyStore>,
    local_table: Option<LocalTable>,
    described: String,
    state: Option<StateDir>,
}

async fn run<Q>(
    options: LocalOptions,
    listener: tokio::net::TcpListener,
    queue: Arc<Q>,
    sdk: aws_config::SdkConfig,
    parts: Parts,
) -> anyhow::Result<LocalPipeline>
where
    Q: OrderQueue + QueueSource + DeadLetterOps + 'static,
{
    let Parts {
        table_name,
        idempotency,
        local_table: table,
        described,
        state,
    } = parts;
    let s = options.settings.pipeline.clone();
    let store = DynamoOrderStore::from_sdk_config(&sdk, &table_name);
    let ingest = Arc::new(Ingest::new(queue.clone(), 2).with_optional_idempotency(idempotency));
    let status = Arc::new(Status::new(store.clone(), 2));
    let faulty = FaultyStore::new(store, options.faults, options.store_fault.clone());
    let worker = Arc::new(Worker::new(faulty, s.processing_delay, s.deadline_margin));
    let counters = Arc::new(PollerCounters::default());
    // Keeping each distribution's values: the dashboard's per-second percentiles.
    let metrics = InMemoryMetrics::with_values();
    let limits = Arc::new(Limits::new(options.settings.limits));
    let mut responses = options.settings.gateway_responses.clone();
    if options.settings.limits.unmapped_throttles {
        responses = responses.without("INTEGRATION_FAILURE");
    }

    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table_name_for_view = table_name.clone();
    let stored_count = Arc::new(StoredCount::default());
    let stats: StatsFn = {
        let (ingest, queue, counters, metrics, limits) = (
            ingest.clone(),
            queue.clone(),
            counters.clone(),
            metrics.clone(),
            limits.clone(),
        );
        Arc::new(move || {
            let (ingest, queue, counters, metrics, limits, ddb, table_name) = (
                ingest.clone(),
                queue.clone(),
                counters.clone(),
                metrics.clone(),
                limits.clone(),
                ddb.clone(),
                table_name.clone(),
            );
            let stored_count = stored_count.clone();
            async move {
                let (main, dlq) = queue.counts().await.unwrap_or_default();
                let processed =
                    || metrics.counter(names::ORDERS_PROCESSED, &[("Function", "worker")]);
                let stored = stored_count.get(&ddb, &table_name, processed).await.ok();
                json!({
                    "ingest": ingest.counters(),
                    "queue": main,
                    "dlq": dlq,
                    "stored_orders": stored,
                    "poller": counters.snapshot(),
                    "limits": limits.stats(),
                    "executions_in_use": limits.executions_in_use(),
                    "metrics": metrics.snapshot(),
                })
            }
            .boxed()
        })
    };

    let addr = listener.local_addr()?;
    let described = format!(
        "API: http://{addr}  (POST /order, GET /orders/{{order_id}})\ndashboard: http://{addr}/_local/  (live; JSON: GET /_local/stats, GET /_local/dlq)\n{described}\nworker: timeout {}s, batch {} (window {}s), max concurrency {}, delay {}, margin {}ms\n{}",
        s.worker_timeout.as_secs(),
        s.batch_size,
        s.batching_window.as_secs(),
        s.maximum_concurrency,
        s.processing_delay,
        s.deadline_margin.as_millis(),
        options.settings.limits.describe()
    );
    let dashboard = Arc::new(Dashboard::new(options.settings.alarms.clone()));
    let console = Arc::new(LocalConsole {
        queue: queue.clone(),
        poller: counters.clone(),
        dashboard: dashboard.clone(),
        stats: stats.clone(),
        settings: described.clone(),
    });
    let gateway = Arc::new(Gateway {
        ingest: ingest.clone(),
        status,
        validator: Arc::new(crate::openapi::RequestValidator::order()?),
        console: console.clone(),
        traffic: dashboard.traffic().clone(),
        limits: limits.clone(),
        responses: Arc::new(responses),
    });
    let (stop, stopped) = watch::channel(false);

    let mut server_stop = stopped.clone();
    let request_metrics = metrics.clone();
    let server = tokio::spawn(async move {
        let app = metered_router(gateway, request_metrics);
        let shutdown = async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "local API stopped");
        }
    });

    let sampler = tokio::spawn(crate::web::dashboard::sample(
        dashboard,
        Sources {
            queue: queue.clone(),
            metrics: metrics.clone(),
            limits: limits.clone(),
            poller: counters.clone(),
        },
        stopped.clone(),
    ));
    let poller = tokio::spawn(poller::run(
        queue,
        worker,
        options.settings.poller_config(),
        counters,
        metrics.clone(),
        limits.clone(),
        stopped,
    ));

    Ok(LocalPipeline {
        addr,
        stop,
        server,
        poller,
        sampler,
        table,
        stats,
        metrics,
        described,
        sdk,
        table_name: table_name_for_view,
        _state: state,
    })
}

/// The compact one-line summary `orders local` prints while it runs (and `orders stats
/// --summary` prints), from the `/_local/stats` JSON: the handlers' metrics, then the
/// queue, DLQ and table. A value the stats lack is printed `-`.
pub fn summary_line(stats: &Value) -> String {
    let m = &stats["metrics"];
    let number = |v: &Value| v.as_u64().map_or_else(|| "-".to_owned(), |n| n.to_string());
    let fields = [
        ("received", number(&m["ingest"][names::ORDERS_RECEIVED])),
        ("rejected", number(&m["ingest"][names::ORDERS_REJECTED])),
        ("enqueued", number(&m["ingest"][names::ORDERS_ENQUEUED])),
        (
            "enqueue_failed",
            number(&m["ingest"][names::ENQUEUE_FAILED]),
        ),
        ("processed", number(&m["worker"][names::ORDERS_PROCESSED])),
        ("duplicate", number(&m["worker"][names::ORDERS_DUPLICATE])),
        ("failed", number(&m["worker"][names::ORDERS_FAILED])),
        ("retried", number(&m["worker"][names::RECORDS_RETRIED])),
        ("throttled", number(&stats["limits"]["api_throttled"])),
        (
            "no_execution",
            number(&stats["limits"]["api_concurrency_throttled"]),
        ),
        ("queue", number(&stats["queue"]["visible"])),
        ("in_flight", number(&stats["queue"]["in_flight"])),
        ("dlq", number(&stats["dlq"]["visible"])),
        ("stored", number(&stats["stored_orders"])),
    ];
    fields
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}
