//! The `orders` command: `orders local` runs the whole pipeline on this machine;
//! `orders dlq list|redrive` and `orders stats` inspect it, locally or in AWS; `orders load`
//! load-tests any deployment of the API.

use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use orders::adapters::faults::FaultConfig;
use orders_cli::pipeline::{self, AwsTarget, LocalOptions, StartError};
use orders_cli::queue::local::LocalQueue;
use orders_cli::queue::sqs::SqsQueues;
use orders_cli::queue::DeadLetterOps;
use orders_cli::settings::LocalSettings;
use orders_cli::state::{Claim, Owner, StateDir, StateError};

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
        let sdk = orders::config::sdk_config().await;
        let outputs =
            orders_cli::stack::outputs(&aws_sdk_cloudformation::Client::new(&sdk), &stack).await?;
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
    #[arg(long, default_value_t = 0.0)]
    fault_failure_rate: f64,
    /// Fault injection: share (0-1) of writes that panic.
    #[arg(long, default_value_t = 0.0)]
    fault_panic_rate: f64,
    /// Fault injection: share (0-1) of writes answered as DynamoDB throttling.
    #[arg(long, default_value_t = 0.0)]
    fault_throttle_rate: f64,
    /// Fault injection: share (0-1) of writes answered as a DynamoDB error.
    #[arg(long, default_value_t = 0.0)]
    fault_error_rate: f64,
    /// Fault injection: share (0-1) of orders the embedded queue delivers twice.
    #[arg(long, default_value_t = 0.0)]
    fault_duplicate_rate: f64,
    /// Fault injection: extra delay before each write (250 or 100-900 ms).
    #[arg(long, default_value = "0")]
    fault_extra_delay_ms: String,
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
    #[arg(long, requires = "burst", value_parser = orders_cli::load::parse_duration)]
    every: Option<Duration>,
    /// Stop after this many orders.
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Send for this long (2s, 1m) [default: 10s unless --count].
    #[arg(long, value_parser = orders_cli::load::parse_duration)]
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
    #[arg(long, default_value = "10s", value_parser = orders_cli::load::parse_duration)]
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
    #[arg(long, default_value = "120s", value_parser = orders_cli::load::parse_duration)]
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

/// Runs the command; an error is printed as one message with its causes. A backtrace
/// follows only an unexpected error, and only when `RUST_BACKTRACE` (or
/// `RUST_LIB_BACKTRACE`) asks for one.
fn main() -> ExitCode {
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
            let expected = e.is::<StartError>() || e.is::<StateError>();
            if !expected && e.backtrace().status() == std::backtrace::BacktraceStatus::Captured {
                eprintln!("\n{}", e.backtrace());
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Local(args) => local(args).await,
        Command::Dlq { action } => {
            init_logs(false);
            dlq(action).await
        }
        Command::Stats(args) => stats(args).await,
        Command::Load(args) => load(args).await,
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    use orders_cli::load::{self as l, DeadLetterSource, Limit, Schedule};
    if std::env::var_os("RUST_LOG").is_some() {
        init_logs(false);
    }
    let (mut url, mut dlq_url) = (args.url, args.dlq_url);
    if let Some(stack) = &args.stack {
        let sdk = orders::config::sdk_config().await;
        let outputs =
            orders_cli::stack::outputs(&aws_sdk_cloudformation::Client::new(&sdk), stack).await?;
        url = url.or_else(|| outputs.get("ApiUrl").cloned());
        dlq_url = dlq_url.or_else(|| outputs.get("DeadLetterQueueUrl").cloned());
    }
    let url = url.unwrap_or_else(|| l::DEFAULT_URL.to_owned());
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) => Limit::Duration(Duration::from_secs(10)),
    };
    let schedule = match (args.burst, args.every) {
        (Some(size), Some(every)) => Schedule::Bursts { size, every, limit },
        _ => Schedule::Rate {
            per_second: args.rate.unwrap_or(50.0),
            limit,
        },
    };
    let mut options = l::LoadOptions::new(url.clone(), schedule);
    options.api_key = args.api_key;
    options.max_in_flight = args.max_in_flight;
    options.invalid_ratio = args.invalid_ratio;
    options.seed = args.seed;
    options.request_timeout = args.timeout;
    options.retry.max_retries = args.max_retries;
    options.progress = !args.json && !args.quiet && std::io::stderr().is_terminal();
    if args.verify {
        let dead_letters = match dlq_url {
            Some(dlq) => {
                let sdk = orders::config::sdk_config().await;
                DeadLetterSource::sqs(aws_sdk_sqs::Client::new(&sdk), dlq)
            }
            None if l::client::is_loopback_url(&url) => {
                DeadLetterSource::local_state_dir(&args.state_dir)
            }
            None => DeadLetterSource::Unknown,
        };
        if matches!(dead_letters, DeadLetterSource::Unknown) {
            eprintln!(
                "note: the dead-letter queue cannot be read (no {}/queue.sqlite; give --dlq-url or --stack for AWS): accepted orders not stored when --verify ends count as missing",
                args.state_dir.display()
            );
        }
        options.verify = Some(l::VerifyOptions {
            timeout: args.verify_timeout,
            concurrency: args.max_in_flight.clamp(1, 64),
            dead_letters,
            ..l::VerifyOptions::default()
        });
    }
    let report = l::run(options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    match report.exit_code() {
        l::EXIT_OK => Ok(()),
        code => {
            if code == l::EXIT_UNREACHABLE {
                eprintln!("no request got an answer from {url} (is `orders local` running?)");
            }
            std::process::exit(code)
        }
    }
}

async fn local(mut args: LocalArgs) -> anyhow::Result<()> {
    init_logs(args.log_format == "json");
    args.target = args.target.resolve().await?;
    let mut settings = LocalSettings::for_environment(args.env.as_deref())?;
    let limits = &mut settings.limits;
    match args.account_concurrency {
        Some(Limit::Off) => limits.account_concurrency = None,
        Some(Limit::At(n)) => limits.account_concurrency = Some(n),
        None => {}
    }
    match (args.api_rate, args.api_burst) {
        (Some(Limit::Off), _) => limits.api = None,
        (rate, burst) => {
            if let Some(rate) = match rate {
                Some(Limit::At(r)) => Some(r),
                _ => limits.api.map(|(r, _)| r),
            } {
                let burst = burst.or(limits.api.map(|(_, b)| b)).unwrap_or(1);
                limits.api = Some((rate, burst.max(1)));
            }
        }
    }
    limits.unmapped_throttles = args.unmapped_throttles;
    if let Some(ms) = args.invocation_ms {
        limits.invocation_hold = Duration::from_millis(ms);
    }
    if let Some(spec) = &args.processing_delay_ms {
        settings = settings.with_delay(spec)?;
    }
    let p = &mut settings.pipeline;
    if let Some(v) = args.worker_timeout {
        p.worker_timeout = Duration::from_secs(v);
    }
    if let Some(v) = args.batch_size {
        p.batch_size = v;
    }
    if let Some(v) = args.batching_window {
        p.batching_window = Duration::from_secs(v);
    }
    if let Some(v) = args.max_concurrency {
        p.maximum_concurrency = v;
    }
    if let Some(v) = args.visibility_timeout {
        p.visibility_timeout = Duration::from_secs(v);
    }
    if let Some(v) = args.max_receive_count {
        p.max_receive_count = v;
    }
    if let Some(v) = args.deadline_margin_ms {
        p.deadline_margin = Duration::from_millis(v);
    }
    let running = pipeline::start(LocalOptions {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port),
        state_dir: args.target.state_dir.clone(),
        in_memory: args.in_memory,
        settings,
        aws: args.target.aws_target()?,
        enforce_timing_rules: !args.allow_unsafe_settings,
        store_fault: None,
        faults: fault_config(&args)?,
        keep_in_flight: args.keep_in_flight,
    })
    .await?;
    // One Ctrl-C listener for the whole run, installed (by its first poll) before the banner
    // says Ctrl-C stops it: a Ctrl-C that arrives while a summary is being computed is kept
    // for the next select, not lost with a listener made per iteration.
    // (Fused: had the install failed, it stays pending and Ctrl-C ends the process as usual.)
    let mut ctrl_c = Box::pin(futures::FutureExt::fuse(tokio::signal::ctrl_c()));
    let _ = futures::poll!(&mut ctrl_c);
    eprintln!("orders local is running\n{}", running.describe());
    eprintln!(
        "try:  curl -s -X POST http://{}/order -H 'Content-Type: application/json' -d @events/order-plain.json",
        running.addr()
    );
    eprintln!("Ctrl-C stops it; accepted orders are kept and delivered after a restart.");

    // Every 5 s, the metrics and queue depths, when something changed.
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    let mut last = String::new();
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = ticker.tick() => {
                let line = pipeline::summary_line(&running.stats().await);
                if line != last {
                    eprintln!("{line}");
                    last = line;
                }
            }
        }
    }
    eprintln!("stopping: no new requests; letting in-flight batches finish...");
    running.shutdown().await;
    eprintln!("stopped");
    Ok(())
}

fn fault_config(args: &LocalArgs) -> anyhow::Result<FaultConfig> {
    let values = [
        ("FAULT_FAILURE_RATE", args.fault_failure_rate.to_string()),
        ("FAULT_PANIC_RATE", args.fault_panic_rate.to_string()),
        ("FAULT_THROTTLE_RATE", args.fault_throttle_rate.to_string()),
        ("FAULT_ERROR_RATE", args.fault_error_rate.to_string()),
        (
            "FAULT_DUPLICATE_RATE",
            args.fault_duplicate_rate.to_string(),
        ),
        ("FAULT_EXTRA_DELAY_MS", args.fault_extra_delay_ms.clone()),
    ];
    Ok(FaultConfig::from_lookup(|k| {
        values.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })?)
}

async fn dlq(action: DlqAction) -> anyhow::Result<()> {
    let target = match &action {
        DlqAction::List { target, .. } | DlqAction::Redrive { target } => target.clone(),
    };
    let target = target.resolve().await?;
    if target.aws {
        let ops = target.sqs_ops(&orders::config::sdk_config().await)?;
        return run_dlq(&ops, action).await;
    }
    let dir = &target.state_dir;
    let path = dir.join(orders_cli::state::QUEUE_FILE);
    anyhow::ensure!(
        path.exists(),
        "no local queue at {} (start `orders local` first, or use --aws)",
        path.display()
    );
    if let DlqAction::List { .. } = action {
        // Reading only: beside a running `orders local` as well as after it.
        let ops =
            LocalQueue::open_read_only(&path).map_err(|e| StateError::from_queue(dir, &path, e))?;
        return run_dlq(&ops, action).await;
    }
    // A redrive writes: through the owner's API when an `orders local` runs on this
    // directory (its poller sees the messages at once), else under this process's lock.
    match StateDir::try_claim(dir)? {
        Claim::Running(owner) => redrive_through(dir, owner).await,
        Claim::Owned(state) => {
            let settings = LocalSettings::from_template()?;
            let ops = LocalQueue::open(Some(&path), settings.queue_config())
                .map_err(|e| StateError::from_queue(dir, &path, e))?;
            run_dlq(&ops, action).await?;
            drop(state);
            Ok(())
        }
    }
}

/// Asks the `orders local` that owns `dir` to redrive its dead-letter queue.
async fn redrive_through(dir: &std::path::Path, owner: Option<Owner>) -> anyhow::Result<()> {
    let Some(api) = owner.as_ref().and_then(|o| o.api.clone()) else {
        anyhow::bail!(
            "the `orders local` that owns {} is still starting; run this again in a moment",
            dir.display()
        );
    };
    let owner = owner.map(|o| o.to_string()).unwrap_or_default();
    let url = format!("{api}{}", orders_cli::api::REDRIVE_PATH);
    let answer = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is owned by a running `orders local` ({owner}), which did not answer {url}: {e}",
                dir.display()
            )
        })?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    match body["moved"].as_u64() {
        Some(moved) if status.is_success() => {
            println!(
                "moved {moved} message(s) back to the orders queue (through the running orders local: {owner})"
            );
            Ok(())
        }
        _ => anyhow::bail!("the running `orders local` ({owner}) answered {status}: {body}"),
    }
}

async fn run_dlq(ops: &impl DeadLetterOps, action: DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List { limit, bodies, .. } => {
            let messages = ops.dlq_list(limit).await?;
            println!("{} dead-lettered message(s)", messages.len());
            for m in messages {
                println!(
                    "{}  order_id={}  receives={}",
                    m.message_id,
                    m.order_id.as_deref().unwrap_or("-"),
                    m.receive_count
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into())
                );
                if bodies {
                    println!("    {}", m.body);
                }
            }
        }
        DlqAction::Redrive { .. } => {
            let moved = ops.dlq_redrive().await?;
            println!("moved {moved} message(s) back to the orders queue");
        }
    }
    Ok(())
}

async fn stats(mut args: StatsArgs) -> anyhow::Result<()> {
    args.target = args.target.resolve().await?;
    let value = if args.target.aws {
        let sdk = orders::config::sdk_config().await;
        let ops = args.target.sqs_ops(&sdk)?;
        let (queue, dlq) = ops.counts().await?;
        let stored = match &args.target.table {
            Some(t) => {
                Some(orders_cli::table::count_items(&aws_sdk_dynamodb::Client::new(&sdk), t).await?)
            }
            None => None,
        };
        serde_json::json!({
            "ingest": "per function instance: see the 202 responses' debug counters and the function logs",
            "metrics": format!(
                "in CloudWatch, namespace {} (METRICS_NAMESPACE), dimensions Service and Function: see the README's Observability section",
                orders::metrics::MetricsConfig::from_env().unwrap_or_default().namespace
            ),
            "queue": queue, "dlq": dlq, "stored_orders": stored,
        })
    } else {
        let url = format!("{}/_local/stats", args.url.trim_end_matches('/'));
        reqwest::get(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e} (is `orders local` running?)"))?
            .json()
            .await?
    };
    if args.summary {
        println!("{}", pipeline::summary_line(&value));
    } else {
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(())
}
