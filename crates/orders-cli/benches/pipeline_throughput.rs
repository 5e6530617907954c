//! End-to-end throughput of `orders local` with no simulated delay (issue 7), each figure
//! measured in the same run as the ceiling it sits under.
//!
//! 1. Accepted orders per second at the API: the local API's router and middleware
//!    (`orders_cli::api::router`: request model check, ingest handler, metrics scope) over
//!    the embedded SQLite queue as `orders local --in-memory` opens it, under closed-loop
//!    load from `BENCH_CONNECTIONS` keep-alive HTTP/1.1 connections for `BENCH_SECONDS`,
//!    with no worker draining the queue meanwhile: in AWS the ingest function never shares a
//!    CPU with the worker, so this is the API's own capacity. Ceiling: an axum server
//!    started the same way (`axum::serve` on a loopback listener, same runtime, same client)
//!    whose only route reads the body and answers 202 with a small JSON body (a separate tiny
//!    server: the local API's router has no no-op route).
//!    Measured alongside, to split the figure and to show what `orders local` does on one
//!    machine: the same API over an in-memory `Vec` queue (HTTP + model check + handler
//!    only); over the queue in a file (`synchronous=FULL`, one fsync per group commit: what
//!    `orders local` runs by default); and the whole pipeline (`orders_cli::pipeline::start`,
//!    poller, worker and Dynoxide storing every accepted order on the same 2 cores), with the
//!    orders it stored during the window.
//! 2. Stored orders per second: `BENCH_ORDERS` orders are put on the embedded queue first,
//!    then the poller (the template's batch size and maximum concurrency) drains them
//!    through the worker into Dynoxide; the clock runs from the poller's start to the last
//!    delete. Ceiling: the same number of plain `PutItem`s of the same items into a fresh
//!    Dynoxide through the same SDK configuration, with as many in flight as the pipeline
//!    allows (maximum concurrency x batch size). A conditional `PutItem`
//!    (`attribute_not_exists`, the worker's duplicate check) is measured as well, for
//!    reference.
//!
//! Logs: the JSON log format that ships, level info, written to a sink (in Lambda each
//! request and record logs a few lines). Each measurement is repeated `BENCH_REPEATS` times,
//! alternating figure and ceiling; the ratio is taken per repetition.
//!
//! `bench/run` runs it with `--bench` and reads the `RESULT {json}` line; without `--bench`
//! (`cargo test --benches`) it runs a short smoke version.

use futures::future::BoxFuture;
use orders_cli::queue::{Located, QueueOpError};
use orders_cli::web::dashboard::Console;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::StreamExt as _;
use ingest::Ingest;
use orders_cli::api::{metered_router, Gateway};
use orders_cli::limits::{LimitSettings, Limits};
use orders_cli::openapi::RequestValidator;
use orders_cli::pipeline::{self, LocalOptions, LOCAL_TABLE};
use orders_cli::poller::{self, PollerCounters};
use orders_cli::queue::local::LocalQueue;
use orders_cli::settings::LocalSettings;
use orders_cli::table::{count_items, LocalTable};
use orders_domain::ports::OrderQueue;
use orders_domain::{NewOrder, OrderId, StoredOrder};
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::adapters::faults::{FaultConfig, FaultyStore};
use orders_platform::adapters::memory::{InMemoryQueue, InMemoryStore};
use orders_platform::config::DelaySpec;
use orders_platform::metrics::InMemoryMetrics;
use orders_platform::telemetry::LogSettings;
use status::Status;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use worker::Worker;

/// The stage throttle and the account's concurrency on, and far beyond what one machine
/// reaches: every request passes both checks. No emulated invocation time (it is latency
/// the emulation adds on purpose, not the cost of checking).
const FAR_LIMITS: LimitSettings = LimitSettings {
    api: Some((1_000_000, 1_000_000)),
    account_concurrency: Some(100_000),
    invocation_hold: std::time::Duration::ZERO,
    unmapped_throttles: false,
};

const BODY: &str = r#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-123","qty":2},{"sku":"SKU-456","qty":1}]}"#;

#[derive(Clone, Copy)]
struct Params {
    seconds: f64,
    warmup: f64,
    connections: usize,
    orders: usize,
    repeats: usize,
}

impl Params {
    fn from_env(full: bool) -> Self {
        let get = |name: &str, default: f64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(default)
        };
        if full {
            Self {
                seconds: get("BENCH_SECONDS", 5.0),
                warmup: get("BENCH_WARMUP_SECONDS", 1.0),
                connections: get("BENCH_CONNECTIONS", 16.0) as usize,
                orders: get("BENCH_ORDERS", 10_000.0) as usize,
                repeats: get("BENCH_REPEATS", 3.0) as usize,
            }
        } else {
            Self {
                seconds: 0.3,
                warmup: 0.1,
                connections: 4,
                orders: 200,
                repeats: 1,
            }
        }
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let p = Params::from_env(full);
    // What a function logs with when Lambda sets nothing: JSON, level info.
    let settings = LogSettings::from_vars(|_| None);
    let _ = tracing::subscriber::set_global_default(orders_platform::telemetry::subscriber(
        &settings,
        std::io::sink,
    ));
    // The servers run here; the load generator on its own thread and runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The pipeline's own capacity: no emulated stage throttle or account concurrency.
    let local = LocalSettings::from_template()
        .and_then(|s| s.with_delay("0"))
        .expect("template settings")
        .unlimited();

    let mut accepted = Vec::new();
    for rep in 0..p.repeats {
        let noop = rt.block_on(noop_server());
        let ceiling = load(noop.0, &p);
        noop.1.abort();
        // The API over a Vec queue, and the same with the emulated stage throttle and
        // account concurrency on, far from their limits: what checking them costs a request
        // (issue 13: under 5%). Their order alternates between repetitions, so a drift of
        // the machine during a run does not count as the limits' cost.
        let api_with = |limits: LimitSettings| {
            let api = rt.block_on(api_server(InMemoryQueue::new(), limits));
            let result = load(api.0, &p);
            api.1.abort();
            result
        };
        let (api_memory, api_memory_limited) = if rep % 2 == 0 {
            let off = api_with(LimitSettings::OFF);
            (off, api_with(FAR_LIMITS))
        } else {
            let on = api_with(FAR_LIMITS);
            (api_with(LimitSettings::OFF), on)
        };
        let api = rt.block_on(api_server(local_queue(&local, None), LimitSettings::OFF));
        let api_sqlite = load(api.0, &p);
        api.1.abort();
        let dir = tempfile::tempdir().expect("temp dir");
        let api = rt.block_on(api_server(
            local_queue(&local, Some(&dir.path().join("queue.sqlite"))),
            LimitSettings::OFF,
        ));
        let api_durable = load(api.0, &p);
        api.1.abort();
        let (figure, stored_during) = rt.block_on(async {
            let options = LocalOptions {
                addr: "127.0.0.1:0".parse().expect("addr"),
                state_dir: std::env::temp_dir(),
                in_memory: true,
                settings: local.clone(),
                aws: None,
                enforce_timing_rules: true,
                store_fault: None,
                faults: FaultConfig::default(),
                keep_in_flight: false,
            };
            let pipeline = pipeline::start(options).await.expect("pipeline starts");
            let addr = pipeline.addr();
            let before = processed(&pipeline);
            let figure = tokio::task::spawn_blocking(move || load(addr, &p))
                .await
                .expect("load");
            // Over the whole load, warm-up included.
            let stored = (processed(&pipeline) - before) as f64 / (p.warmup + p.seconds);
            pipeline.shutdown().await;
            (figure, stored)
        });
        println!(
            "accepted rep {}: API over the embedded queue {:.0} orders/s, no-op route {:.0} req/s, ratio {:.3}; over a Vec queue {:.0}/s, over the queue in a file {:.0}/s; whole pipeline {:.0}/s ({} non-202), stored meanwhile {:.0}/s",
            rep + 1,
            api_sqlite.rate,
            ceiling.rate,
            api_sqlite.rate / ceiling.rate,
            api_memory.rate,
            api_durable.rate,
            figure.rate,
            figure.other,
            stored_during,
        );
        println!(
            "    limits on, far from them: API over a Vec queue {:.0}/s, {:.3} of the same with them off",
            api_memory_limited.rate,
            api_memory_limited.rate / api_memory.rate
        );
        println!(
            "    process CPU per request: no-op {:.0} µs, API over the embedded queue {:.0} µs, over a Vec queue {:.0} µs, over the queue in a file {:.0} µs, whole pipeline {:.0} µs",
            ceiling.cpu_us_per_request(),
            api_sqlite.cpu_us_per_request(),
            api_memory.cpu_us_per_request(),
            api_durable.cpu_us_per_request(),
            figure.cpu_us_per_request(),
        );
        accepted.push(Accepted {
            pipeline: figure,
            noop: ceiling,
            stored_during,
            api_memory,
            api_memory_limited,
            api_sqlite,
            api_durable,
        });
    }

    let mut stored = Vec::new();
    for rep in 0..p.repeats {
        let raw = rt.block_on(raw_puts(&local, p.orders, false));
        let figure = rt.block_on(drain(&local, p.orders));
        let conditional = rt.block_on(raw_puts(&local, p.orders, true));
        println!(
            "stored rep {}: pipeline {:.0} orders/s ({:.0} µs CPU each), raw PutItem {:.0}/s ({:.0} µs CPU each; conditional {:.0}/s), ratio {:.3}",
            rep + 1,
            figure.0,
            figure.1,
            raw.0,
            raw.1,
            conditional.0,
            figure.0 / raw.0
        );
        stored.push((figure, raw, conditional));
    }

    let accepted_json: Vec<String> = accepted
        .iter()
        .map(|a| {
            let runs = [
                ("api_sqlite_queue", &a.api_sqlite),
                ("noop", &a.noop),
                ("api_memory_queue", &a.api_memory),
                ("api_memory_queue_limited", &a.api_memory_limited),
                ("api_durable_queue", &a.api_durable),
                ("pipeline", &a.pipeline),
            ];
            let field = |f: &dyn Fn(&LoadResult) -> String| {
                runs.iter()
                    .map(|(name, r)| format!(r#""{name}":{}"#, f(r)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!(
                r#"{{"accepted_per_s":{:.1},"noop_per_s":{:.1},"api_memory_queue_per_s":{:.1},"api_memory_queue_limited_per_s":{:.1},"api_durable_queue_per_s":{:.1},"pipeline_per_s":{:.1},"stored_during_per_s":{:.1},"non_202":{},"cpu_us":{{{}}},"cpu_cores":{{{}}}}}"#,
                a.api_sqlite.rate,
                a.noop.rate,
                a.api_memory.rate,
                a.api_memory_limited.rate,
                a.api_durable.rate,
                a.pipeline.rate,
                a.stored_during,
                runs.iter().map(|(_, r)| r.other).sum::<u64>(),
                field(&|r| format!("{:.1}", r.cpu_us_per_request())),
                field(&|r| format!("{:.2}", r.cpu / r.window)),
            )
        })
        .collect();
    let stored_json: Vec<String> = stored
        .iter()
        .map(|(f, r, c)| {
            format!(
                r#"{{"stored_per_s":{:.1},"raw_putitem_per_s":{:.1},"conditional_putitem_per_s":{:.1},"stored_cpu_us":{:.1},"raw_putitem_cpu_us":{:.1}}}"#,
                f.0,
                r.0,
                c.0,
                f.1,
                r.1
            )
        })
        .collect();
    println!(
        r#"RESULT {{"bench":"pipeline_throughput","connections":{},"seconds":{},"orders":{},"in_flight_puts":{},"batch_size":{},"max_concurrency":{},"accepted":[{}],"stored":[{}]}}"#,
        p.connections,
        p.seconds,
        p.orders,
        in_flight(&local),
        local.pipeline.batch_size,
        local.pipeline.maximum_concurrency,
        accepted_json.join(","),
        stored_json.join(",")
    );
}

/// Orders the worker stored so far, from the pipeline's metrics.
fn processed(pipeline: &pipeline::LocalPipeline) -> u64 {
    pipeline.metrics().counter(
        orders_platform::metrics::names::ORDERS_PROCESSED,
        &[(
            orders_platform::metrics::dimensions::FUNCTION,
            worker::FUNCTION,
        )],
    )
}

/// Writes the pipeline allows at once: batches in flight x records per batch.
fn in_flight(local: &LocalSettings) -> usize {
    (local.pipeline.maximum_concurrency * local.pipeline.batch_size) as usize
}

/// The ceiling of the API figure: an axum server, served as the pipeline's is, whose one
/// route reads the body and answers 202.
async fn noop_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        let _ = body.len();
        (
            axum::http::StatusCode::ACCEPTED,
            [("content-type", "application/json")],
            r#"{"status":"queued"}"#,
        )
    });
    serve(app).await
}

/// Serves `app` on a loopback port, as `pipeline::start` serves the local API.
async fn serve(app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// The local API's router and middleware (as `pipeline::start` serves them) over `queue`,
/// without a poller: what the API side costs on its own.
async fn api_server<Q: OrderQueue + 'static>(
    queue: Q,
    limits: LimitSettings,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let local = LocalSettings::from_template().expect("template settings");
    let gateway = Arc::new(Gateway {
        ingest: Arc::new(Ingest::new(queue, 2)),
        status: Arc::new(Status::new(InMemoryStore::new(), 2)),
        validator: Arc::new(RequestValidator::order().expect("schema")),
        console: Arc::new(NoConsole),
        traffic: Arc::default(),
        limits: Arc::new(Limits::new(limits)),
        responses: Arc::new(local.gateway_responses),
    });
    let app = metered_router(gateway, InMemoryMetrics::new());
    serve(app).await
}

/// The API side alone has no queue to inspect: its local routes answer empty.
struct NoConsole;

impl Console for NoConsole {
    fn stats(&self) -> BoxFuture<'static, serde_json::Value> {
        Box::pin(async { serde_json::Value::Null })
    }
    fn redrive(&self) -> BoxFuture<'static, Result<u64, QueueOpError>> {
        Box::pin(async { Ok(0) })
    }
    fn dead_letters(&self) -> BoxFuture<'static, Result<serde_json::Value, QueueOpError>> {
        Box::pin(async { Ok(serde_json::Value::Null) })
    }
    fn locate(&self, _: String) -> BoxFuture<'static, Option<Located>> {
        Box::pin(async { None })
    }
    fn dashboard(&self, _: Option<u64>) -> BoxFuture<'static, serde_json::Value> {
        Box::pin(async { serde_json::Value::Null })
    }
}

/// One repetition of the accepted-rate measurements.
struct Accepted {
    pipeline: LoadResult,
    noop: LoadResult,
    stored_during: f64,
    api_memory: LoadResult,
    api_memory_limited: LoadResult,
    api_sqlite: LoadResult,
    api_durable: LoadResult,
}

/// The embedded queue as `orders local` opens it: in memory (`--in-memory`) or in a file.
fn local_queue(local: &LocalSettings, file: Option<&std::path::Path>) -> LocalQueue {
    LocalQueue::open(file, local.queue_config()).expect("queue")
}

struct LoadResult {
    /// 202 answers per second in the measured window.
    rate: f64,
    /// Answers other than 202 in the window.
    other: u64,
    /// Seconds measured.
    window: f64,
    /// CPU seconds the whole process (servers and load generator) used in the window.
    cpu: f64,
}

impl LoadResult {
    /// Process CPU microseconds per answered request.
    fn cpu_us_per_request(&self) -> f64 {
        self.cpu * 1e6 / (self.rate * self.window + self.other as f64).max(1.0)
    }
}

/// Closed-loop load: `connections` keep-alive connections each sending `POST /order` as
/// soon as the previous answer arrived. Answers completed during the warm-up are not counted.
fn load(addr: SocketAddr, p: &Params) -> LoadResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let request = Arc::new(
        format!(
            "POST /order HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
            BODY.len()
        )
        .into_bytes(),
    );
    let begin = Instant::now() + Duration::from_secs_f64(p.warmup);
    let end = begin + Duration::from_secs_f64(p.seconds);
    let sampler = std::thread::spawn(move || {
        std::thread::sleep(begin.saturating_duration_since(Instant::now()));
        let before = cpu_seconds();
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        cpu_seconds() - before
    });
    let totals = rt.block_on(async {
        let tasks: Vec<_> = (0..p.connections)
            .map(|_| tokio::spawn(connection(addr, request.clone(), begin, end)))
            .collect();
        let mut totals = (0u64, 0u64);
        for t in tasks {
            let (ok, other) = t.await.expect("connection task");
            totals.0 += ok;
            totals.1 += other;
        }
        totals
    });
    LoadResult {
        rate: totals.0 as f64 / p.seconds,
        other: totals.1,
        window: p.seconds,
        cpu: sampler.join().expect("cpu sampler"),
    }
}

async fn connection(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    begin: Instant,
    end: Instant,
) -> (u64, u64) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::with_capacity(4096);
    let (mut ok, mut other) = (0u64, 0u64);
    while Instant::now() < end {
        stream.write_all(&request).await.expect("write");
        let status = read_response(&mut stream, &mut buf).await;
        let now = Instant::now();
        if now >= begin && now < end {
            if status == 202 {
                ok += 1;
            } else {
                other += 1;
            }
        }
    }
    (ok, other)
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; returns its status code.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..header_end]).expect("ASCII headers");
    let status: u16 = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("a Content-Length header");
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
    status
}

/// CPU seconds this process has used so far (user + system, all threads), from
/// /proc/self/stat in clock ticks (100 per second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn stored_orders(n: usize) -> Vec<StoredOrder> {
    let order = NewOrder::parse_json(BODY.as_bytes()).expect("valid");
    (0..n)
        .map(|_| {
            let queued = order.clone().accept(OrderId::new_v7(), Utc::now());
            StoredOrder::processed(queued, Utc::now(), 0, 1)
        })
        .collect()
}

/// The ceiling of the stored figure: `n` `PutItem`s of pre-encoded orders into an empty
/// table of a fresh Dynoxide, with as many in flight as the pipeline allows.
async fn raw_puts(local: &LocalSettings, n: usize, conditional: bool) -> (f64, f64) {
    let table = LocalTable::start(None).await.expect("dynoxide");
    let sdk = table.sdk_config().await;
    DynamoOrderStore::from_sdk_config(&sdk, LOCAL_TABLE)
        .create_table_if_missing()
        .await
        .expect("table");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let items: Vec<std::collections::HashMap<String, AttributeValue>> = stored_orders(n)
        .iter()
        .map(|o| serde_dynamo::to_item(o).expect("item"))
        .collect();
    let started = Instant::now();
    let cpu = cpu_seconds();
    futures::stream::iter(items)
        .map(|item| {
            let mut put = client
                .put_item()
                .table_name(LOCAL_TABLE)
                .set_item(Some(item));
            if conditional {
                put = put
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", "order_id");
            }
            put.send()
        })
        .buffer_unordered(in_flight(local))
        .for_each(|r| {
            r.expect("PutItem");
            futures::future::ready(())
        })
        .await;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let cpu_us = (cpu_seconds() - cpu) * 1e6 / n as f64;
    assert_eq!(
        count_items(&client, LOCAL_TABLE).await.expect("count"),
        n as u64
    );
    table.stop().await;
    (rate, cpu_us)
}

/// The stored figure: `n` orders on the embedded queue, drained by the poller and the
/// worker into an empty table of a fresh Dynoxide, as `orders local` wires them.
async fn drain(local: &LocalSettings, n: usize) -> (f64, f64) {
    let s = &local.pipeline;
    let table = LocalTable::start(None).await.expect("dynoxide");
    let sdk = table.sdk_config().await;
    let store = DynamoOrderStore::from_sdk_config(&sdk, LOCAL_TABLE);
    store.create_table_if_missing().await.expect("table");
    let queue = local_queue(local, None);
    let order = NewOrder::parse_json(BODY.as_bytes()).expect("valid");
    for _ in 0..n {
        let queued = order.clone().accept(OrderId::new_v7(), Utc::now());
        queue.enqueue(&queued).await.expect("enqueue");
    }
    let worker = Worker::new(
        FaultyStore::new(store, FaultConfig::default(), None),
        DelaySpec::None,
        s.deadline_margin,
    );
    let counters = Arc::new(PollerCounters::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let cpu = cpu_seconds();
    let poller = tokio::spawn(poller::run(
        Arc::new(queue),
        Arc::new(worker),
        local.poller_config(),
        counters.clone(),
        InMemoryMetrics::new(),
        Arc::new(Limits::new(LimitSettings::OFF)),
        stopped,
    ));
    while counters.snapshot().deleted < n as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the queue did not drain: {:?}",
            counters.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let cpu_us = (cpu_seconds() - cpu) * 1e6 / n as f64;
    let _ = stop.send(true);
    let _ = poller.await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    assert_eq!(
        count_items(&client, LOCAL_TABLE).await.expect("count"),
        n as u64
    );
    table.stop().await;
    (rate, cpu_us)
}
