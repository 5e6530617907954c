//! The `orders` command: `orders local` runs the whole pipeline on this machine;
//! `orders dlq list|redrive` and `orders stats` inspect it, locally or in AWS; `orders load`
//! load-tests any deployment of the API; `orders env` writes the environment file of
//! `sam local invoke --env-vars` and `cargo lambda watch --env-file`.
//!
//! This module holds the command line (clap's types) and the dispatch; each subcommand's
//! body is a child module (`local`, `dlq`, `stats`, `load`, `env`), which reads the arguments'
//! fields directly. `src/main.rs` only calls [`main`].

mod dlq;
mod env;
mod load;
mod local;
mod plan;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use orders_platform::adapters::faults::{parse_rate, FaultConfig};
use orders_platform::config::DelaySpec;

use crate::pipeline::{AwsTarget, StartError};
use crate::queue::sqs::SqsQueues;
use crate::state::StateError;

#[derive(Parser)]
#[command(name = "orders", version, about = "Run and operate the order pipeline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline locally: API, queue + DLQ, poller, worker, table.
    Local(LocalArgs),
    /// Inspect or redrive the dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Counters: the handlers' metrics (received, rejected, enqueued, processed...), queue,
    /// in flight, DLQ, stored.
    Stats(StatsArgs),
    /// Load-test the API: open-model traffic (a rate, or bursts), latency from each order's
    /// intended send time (HdrHistogram), counts by outcome, and with --verify a
    /// reconciliation of every accepted order against the table and the DLQ.
    Load(LoadArgs),
    /// Print the environment-variables file that `sam local invoke --env-vars FILE` and
    /// `sam local start-api --env-vars FILE` take (or, --format dotenv, `cargo lambda watch
    /// --env-file FILE`): the queue URL and table names of a deployed stack (--stack), or of an
    /// AWS emulator such as moto (--endpoint).
    Env(EnvArgs),
    /// Capacity arithmetic for a target rate: per component (API Gateway, ingest, the
    /// account's executions, the worker's event source, SQS, DynamoDB) what the target needs,
    /// the limit, the headroom; the first limit it exceeds, and the settings that lift it.
    Plan(PlanArgs),
}

#[derive(Args)]
struct PlanArgs {
    /// Orders per second, or a range to sweep (10..1000: where each component saturates).
    #[arg(long, allow_hyphen_values = true)]
    rate: String,
    /// The worker's processing delay per order, as PROCESSING_DELAY_MS takes it: 0, 250,
    /// 2000-5000 [default: the environment's ProcessingDelayMs].
    #[arg(long, allow_hyphen_values = true)]
    delay: Option<String>,
    /// Read the settings of this samconfig.toml environment (default, prod) [default: the
    /// template's defaults].
    #[arg(long)]
    env: Option<String>,
    /// Plan for `orders local`'s emulation (the stage throttle, the account's executions, the
    /// event source) instead of AWS.
    #[arg(long)]
    local: bool,
    /// BatchSize.
    #[arg(long)]
    batch_size: Option<u32>,
    /// MaximumBatchingWindowInSeconds.
    #[arg(long)]
    batching_window: Option<u64>,
    /// MaximumConcurrency of the worker's event source.
    #[arg(long)]
    max_concurrency: Option<u32>,
    /// AccountConcurrency: the concurrent executions the stack may use.
    #[arg(long)]
    account_concurrency: Option<u32>,
    /// ApiThrottlingRateLimit, requests per second.
    #[arg(long)]
    api_rate: Option<u32>,
    /// The worker's Timeout, seconds.
    #[arg(long)]
    worker_timeout: Option<u64>,
    /// The queue's VisibilityTimeout, seconds.
    #[arg(long)]
    visibility_timeout: Option<u64>,
    /// How long an API request holds an ingest execution, ms [default: 50, the template's
    /// planning figure; orders local holds one 50 ms].
    #[arg(long)]
    ingest_ms: Option<f64>,
    /// One DynamoDB write in the worker, ms [default: 10].
    #[arg(long)]
    write_ms: Option<f64>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["stack", "endpoint"]))]
struct EnvArgs {
    /// Read the values from this deployed stack's outputs (default credential chain).
    #[arg(long)]
    stack: Option<String>,
    /// The stack's region [default: the default chain's: AWS_REGION, the profile's].
    #[arg(long, requires = "stack")]
    region: Option<String>,
    /// Point the functions at the AWS emulator (moto) at this URL: AWS_ENDPOINT_URL, and the
    /// queue URL and table names `--create` makes there.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Create the queue pair and the tables on the --endpoint emulator first (unless they exist).
    #[arg(long, requires = "endpoint")]
    create: bool,
    /// json: SAM CLI's --env-vars (one object per function); dotenv: KEY=VALUE lines, every
    /// function's variables together (cargo lambda watch --env-file).
    #[arg(long, value_enum, default_value = "json")]
    format: env::EnvFormat,
}

#[derive(Args, Clone)]
struct Target {
    /// Where `orders local` keeps its data.
    #[arg(long, default_value = ".orders-local")]
    state_dir: PathBuf,
    /// Use real SQS/DynamoDB (default credential chain; AWS_ENDPOINT_URL honoured).
    #[arg(long)]
    aws: bool,
    /// The orders queue URL (stack output QueueUrl), with --aws.
    #[arg(long, env = "ORDERS_QUEUE_URL")]
    queue_url: Option<String>,
    /// The dead-letter queue URL (stack output DeadLetterQueueUrl), with --aws.
    #[arg(long, env = "ORDERS_DLQ_URL")]
    dlq_url: Option<String>,
    /// The table name (stack output TableName), with --aws.
    #[arg(long, env = "ORDERS_TABLE")]
    table: Option<String>,
    /// The Idempotency-Key table (stack output IdempotencyTableName), with --aws.
    #[arg(long, env = "ORDERS_IDEMPOTENCY_TABLE")]
    idempotency_table: Option<String>,
    /// Read the queue URLs and the table names from this stack's outputs (implies --aws).
    #[arg(long, env = "ORDERS_STACK")]
    stack: Option<String>,
}

impl Target {
    /// Fills the queue URLs and table from `--stack`'s outputs where not given as flags.
    async fn resolve(mut self) -> anyhow::Result<Self> {
        let Some(stack) = self.stack.clone() else {
            return Ok(self);
        };
        self.aws = true;
        let sdk = orders_platform::config::sdk_config().await;
        let outputs =
            crate::stack::outputs(&aws_sdk_cloudformation::Client::new(&sdk), &stack).await?;
        let pick = |key: &str| outputs.get(key).cloned();
        self.queue_url = self.queue_url.or_else(|| pick("QueueUrl"));
        self.dlq_url = self.dlq_url.or_else(|| pick("DeadLetterQueueUrl"));
        self.table = self.table.or_else(|| pick("TableName"));
        self.idempotency_table = self
            .idempotency_table
            .or_else(|| pick("IdempotencyTableName"));
        Ok(self)
    }

    fn queue_url(&self) -> anyhow::Result<String> {
        self.queue_url.clone().ok_or_else(|| {
            anyhow::anyhow!("--aws needs --queue-url (the stack's QueueUrl output) or --stack")
        })
    }

    /// The SQS queue pair named by the flags.
    fn sqs_ops(&self, sdk: &aws_config::SdkConfig) -> anyhow::Result<SqsQueues> {
        Ok(SqsQueues::new(
            aws_sdk_sqs::Client::new(sdk),
            self.queue_url()?,
            self.dlq_url.clone(),
        ))
    }

    fn aws_target(&self) -> anyhow::Result<Option<AwsTarget>> {
        if !self.aws {
            return Ok(None);
        }
        let queue_url = self.queue_url()?;
        let table = self
            .table
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--aws needs --table (the stack's TableName output)"))?;
        Ok(Some(AwsTarget {
            queue_url,
            dlq_url: self.dlq_url.clone(),
            table,
            idempotency_table: self.idempotency_table.clone(),
        }))
    }
}

#[derive(Args)]
struct LocalArgs {
    #[command(flatten)]
    target: Target,
    /// API port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Keep nothing on disk.
    #[arg(long)]
    in_memory: bool,
    /// Worker timeout in seconds (template: WorkerTimeout).
    #[arg(long)]
    worker_timeout: Option<u64>,
    /// Records per worker invocation (template: BatchSize).
    #[arg(long)]
    batch_size: Option<u32>,
    /// Seconds to wait to fill a batch (template: MaximumBatchingWindowInSeconds).
    #[arg(long)]
    batching_window: Option<u64>,
    /// Concurrent worker invocations (template: MaximumConcurrency).
    #[arg(long)]
    max_concurrency: Option<u32>,
    /// Queue visibility timeout in seconds (template: QueueVisibilityTimeout).
    #[arg(long)]
    visibility_timeout: Option<u64>,
    /// Receives before the DLQ (template: MaxReceiveCount).
    #[arg(long)]
    max_receive_count: Option<u32>,
    /// Simulated processing per order: 0, 250 or 2000-5000 (template: ProcessingDelayMs).
    #[arg(long, env = "PROCESSING_DELAY_MS")]
    processing_delay_ms: Option<String>,
    /// Worker safety margin before its deadline (template: DeadlineMarginMs).
    #[arg(long)]
    deadline_margin_ms: Option<u64>,
    /// Fault injection: share (0-1) of writes failed as a worker error.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fault_failure_rate: f64,
    /// Fault injection: share (0-1) of writes that panic.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fault_panic_rate: f64,
    /// Fault injection: share (0-1) of writes answered as DynamoDB throttling.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fault_throttle_rate: f64,
    /// Fault injection: share (0-1) of writes answered as a DynamoDB error.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fault_error_rate: f64,
    /// Fault injection: share (0-1) of orders the embedded queue delivers twice.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fault_duplicate_rate: f64,
    /// Fault injection: extra delay before each write (250 or 100-900 ms).
    #[arg(long, default_value = "0", value_parser = DelaySpec::parse)]
    fault_extra_delay_ms: DelaySpec,
    /// Run even with settings that break the timing rules (warns instead of refusing).
    #[arg(long)]
    allow_unsafe_settings: bool,
    /// Messages a previous run held in flight when it stopped wait for their visibility
    /// timeout, as SQS would (by default they are visible again at start-up).
    #[arg(long)]
    keep_in_flight: bool,
    /// Take the settings of this samconfig.toml environment (default, prod) instead of
    /// the template's defaults; the flags above and below still override them.
    #[arg(long)]
    env: Option<String>,
    /// Concurrent executions shared by ingest, status and worker, as in one AWS account,
    /// or `off` (template: AccountConcurrency).
    #[arg(long, value_name = "N|off")]
    account_concurrency: Option<Limit>,
    /// API Gateway's stage throttle: requests per second, or `off` (template:
    /// ApiThrottlingRateLimit).
    #[arg(long, value_name = "R|off")]
    api_rate: Option<Limit>,
    /// The stage throttle's burst, in requests (template: ApiThrottlingBurstLimit).
    #[arg(long, value_name = "B")]
    api_burst: Option<u32>,
    /// Milliseconds an API invocation holds its execution, with --account-concurrency (the
    /// handler itself answers here in microseconds, or later when this machine is busy; 50
    /// is what the template's concurrency rule plans with). The answer waits as long.
    #[arg(long, value_name = "MS")]
    invocation_ms: Option<u64>,
    /// Answer an API request that finds no free execution as API Gateway does without the
    /// template's INTEGRATION_FAILURE gateway response: 500, the naive design's answer.
    #[arg(long)]
    unmapped_throttles: bool,
    /// Log format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// A limit, or `off`.
impl LocalArgs {
    /// The fault injection the flags ask for.
    fn faults(&self) -> FaultConfig {
        FaultConfig {
            failure_rate: self.fault_failure_rate,
            panic_rate: self.fault_panic_rate,
            throttle_rate: self.fault_throttle_rate,
            error_rate: self.fault_error_rate,
            duplicate_rate: self.fault_duplicate_rate,
            extra_delay: self.fault_extra_delay_ms,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Limit {
    Off,
    At(u32),
}

impl std::str::FromStr for Limit {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Limit::Off),
            n => match n.parse::<u32>() {
                Ok(0) | Err(_) => Err(format!("{n:?} is neither a whole number above 0 nor `off`")),
                Ok(n) => Ok(Limit::At(n)),
            },
        }
    }
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead-lettered messages (order ids; bodies with --bodies).
    List {
        #[command(flatten)]
        target: Target,
        /// Most messages to list.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print message bodies too (they contain e-mail addresses).
        #[arg(long)]
        bodies: bool,
    },
    /// Move every dead-lettered message back to the orders queue (through a running
    /// `orders local`'s API when one owns the state directory).
    Redrive {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Args)]
struct StatsArgs {
    /// A running `orders local` (its /_local/stats route).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Print the one-line summary `orders local` prints instead of the JSON.
    #[arg(long)]
    summary: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(Args)]
struct LoadArgs {
    /// The API: a base URL (the stack's ApiUrl output) or its order endpoint
    /// [default: http://127.0.0.1:3000, `orders local`]
    #[arg(long)]
    url: Option<String>,
    /// Sent as the x-api-key header (a stack deployed with ApiKeyRequired=true).
    #[arg(long, env = "ORDERS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Orders per second, arriving on schedule whatever the answers (open model)
    /// [default: 50].
    #[arg(long, conflicts_with_all = ["burst", "every"])]
    rate: Option<f64>,
    /// Bursts instead of a rate: this many orders at once, every --every.
    #[arg(long, requires = "every")]
    burst: Option<u64>,
    /// Time between bursts (2s, 500ms).
    #[arg(long, requires = "burst", value_parser = humantime::parse_duration)]
    every: Option<Duration>,
    /// Stop after this many orders.
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Send for this long (2s, 1m) [default: 10s unless --count].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Most requests waiting for an answer at once; orders due meanwhile wait, and their
    /// latency counts the wait.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Share (0-1) of invalid orders, which the API must answer 400.
    #[arg(long, default_value_t = 0.0)]
    invalid_ratio: f64,
    /// Seed of the order generator (same seed, same orders).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Retries of an order on 429, 503, 409, 502, 504, timeouts and connection errors
    /// (jittered exponential backoff, at least Retry-After; same Idempotency-Key).
    #[arg(long, default_value_t = 3)]
    max_retries: u32,
    /// After sending, wait until every accepted order is stored or dead-lettered, then
    /// reconcile; exit 3 if any is missing or duplicated.
    #[arg(long)]
    verify: bool,
    /// Longest wait of --verify.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    verify_timeout: Duration,
    /// Where `orders local` keeps its data: its DLQ, for --verify against a local API.
    #[arg(long, default_value = ".orders-local")]
    state_dir: PathBuf,
    /// The SQS dead-letter queue (stack output DeadLetterQueueUrl), for --verify against
    /// AWS (default credential chain).
    #[arg(long, env = "ORDERS_DLQ_URL")]
    dlq_url: Option<String>,
    /// Read --url (ApiUrl) and --dlq-url (DeadLetterQueueUrl) from this stack's outputs.
    #[arg(long, env = "ORDERS_STACK")]
    stack: Option<String>,
    /// Print one JSON object instead of the table (no progress bar).
    #[arg(long)]
    json: bool,
    /// Also write the run as one self-contained HTML page (settings, counts, the
    /// reconciliation, charts of latency, answers and retries over time, the percentile
    /// curve). The file is created before the run starts.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// What the logs show unless `RUST_LOG` says otherwise: our INFO lines, and Dynoxide's
/// errors only. Dynoxide logs every DynamoDB error answer as a WARN, including those the
/// pipeline expects (a duplicate delivery's failed condition).
const DEFAULT_LOG_FILTER: &str = "info,dynoxide::server=error";

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

/// A value on the command line that cannot work; the message names the flag and what it
/// takes (no backtrace: there is no bug to find).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the command; an error is printed as one message with its causes. A backtrace
/// follows only an unexpected error, and only when `RUST_BACKTRACE` (or
/// `RUST_LIB_BACKTRACE`) asks for one.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A start-up problem (a port, a directory) is the user's to fix and its message
            // says how: a backtrace would only bury it. Anything else may be a bug.
            let expected = e.is::<StartError>()
                || e.is::<StateError>()
                || e.is::<env::EnvError>()
                || e.is::<UsageError>();
            if !expected && e.backtrace().status() == std::backtrace::BacktraceStatus::Captured {
                eprintln!("\n{}", e.backtrace());
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Local(args) => local::run(args).await,
        Command::Dlq { action } => {
            init_logs(false);
            dlq::run(action).await
        }
        Command::Stats(args) => stats::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Env(args) => env::run(args).await,
        Command::Plan(args) => plan::run(args),
    }
}
