//! `orders load` against `orders local` started in the test (port 0, temporary state
//! directory), and against a small test double that throttles: every accepted order is
//! found stored or dead-lettered, the dead-lettered count is exact, retries reuse the
//! order's `Idempotency-Key` and never make a second order. `--report FILE.html`: the page
//! holds the run's data and refers to nothing outside itself; a path that cannot be
//! written fails before anything is sent.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use orders_cli::load::{
    run, DeadLetterSource, Limit, LoadOptions, OrderGenerator, RetryPolicy, Schedule, StoredSource,
    VerifyOptions, EXIT_LOST_ORDERS, EXIT_OK, EXIT_UNREACHABLE,
};
use orders_cli::pipeline::{start, LocalOptions};
use orders_domain::ports::StoreError;
use serde_json::Value;

mod common;
use common::wait_for;

/// The tests that start a pipeline run one at a time: each is a few seconds of work for the
/// machine's two cores, and run together they would slow each other's workers past the
/// short timeouts these tests use.
static ONE_PIPELINE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn local(state: &Path) -> LocalOptions {
    LocalOptions::from_template(SocketAddr::from(([127, 0, 0, 1], 0)), state.to_path_buf())
        .unwrap()
        .unlimited()
}

fn rate(per_second: f64, count: u64) -> Schedule {
    Schedule::Rate {
        per_second,
        limit: Limit::Count(count),
    }
}

fn invalid_among(seed: u64, ratio: f64, count: usize) -> u64 {
    OrderGenerator::new(seed, ratio)
        .take(count)
        .filter(|o| o.invalid.is_some())
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_rate_run_with_verify_finds_every_accepted_order_stored() {
    let _serial = ONE_PIPELINE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(local(dir.path())).await.unwrap();
    let mut o = LoadOptions::new(format!("http://{}", pipeline.addr()), rate(200.0, 300));
    o.invalid_ratio = 0.1;
    o.seed = 7;
    // Requests beyond the cap wait at the client (their latency counts it), so a slow
    // machine cannot pile up enough requests at the server to time them out.
    o.max_in_flight = 32;
    o.request_timeout = Duration::from_secs(30);
    // Stored orders through GET /orders/{id} and dead letters from the queue file: what
    // `orders load --verify` does against `orders local`.
    o.verify = Some(VerifyOptions {
        timeout: Duration::from_secs(30),
        dead_letters: DeadLetterSource::local_state_dir(dir.path()),
        ..VerifyOptions::default()
    });
    let report = run(o).await.unwrap();

    let invalid = invalid_among(7, 0.1, 300);
    assert!(invalid > 10, "the seed mixes in invalid orders: {invalid}");
    let c = report.orders;
    assert_eq!((c.sent, c.invalid, c.valid), (300, invalid, 300 - invalid));
    assert_eq!(
        c.invalid_answered_400, invalid,
        "every invalid order answered 400"
    );
    assert_eq!(c.accepted, 300 - invalid, "every valid order accepted");
    assert_eq!((c.failed, c.invalid_accepted, c.valid_rejected), (0, 0, 0));
    assert_eq!(
        report.responses.bad_request, invalid,
        "400 is final: never retried"
    );
    assert_eq!(report.responses.total(), 300 + report.retries);
    assert_eq!(report.latency.count, 300);
    assert!(report.latency.max_ms > 0.0 && report.latency.p50_ms <= report.latency.max_ms);
    assert_eq!(report.rate.requested, 200.0);

    let v = report.reconciliation.clone().expect("verified");
    let r = &v.reconciliation;
    assert!(v.settled && v.dead_letters_known, "{v:?}");
    assert_eq!(r.accepted as u64, c.accepted);
    assert_eq!(r.stored as u64, c.accepted, "{v:?}");
    assert_eq!(
        (r.missing, r.duplicated, r.dead_lettered),
        (0, 0, 0),
        "{v:?}"
    );
    assert!(v.last_stored_after_start_ms.unwrap() > 0.0);
    assert_eq!(report.exit_code(), EXIT_OK);

    // The table holds exactly the accepted orders: no retry or redelivery made another.
    let stats = wait_for(&pipeline, Duration::from_secs(5), "stats", |_| true).await;
    assert_eq!(stats["stored_orders"], c.accepted, "{stats}");
    assert_eq!(stats["ingest"]["enqueued"], c.accepted, "{stats}");
    let text = report.render();
    assert!(text.contains("missing 0"), "{text}");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_worker_failures_are_reported_as_the_exact_dead_lettered_count() {
    // Every order with this SKU fails to store, every time: after 2 receives (2 s
    // visibility) it is dead-lettered. The rest are stored. (The 2 s worker timeout and
    // visibility break the production timing rules to keep the test short, with enough
    // room that a slow machine does not time out, and so dead-letter, healthy batches.)
    const FAILING: &str = "SKU-00002";
    let _serial = ONE_PIPELINE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = local(dir.path());
    p.settings.pipeline.worker_timeout = Duration::from_secs(2);
    p.settings.pipeline.visibility_timeout = Duration::from_secs(2);
    p.settings.pipeline.max_receive_count = 2;
    p.settings.pipeline.deadline_margin = Duration::from_millis(100);
    p.enforce_timing_rules = false;
    p.store_fault = Some(Arc::new(|order| {
        order
            .items
            .as_slice()
            .iter()
            .any(|i| i.sku.as_str() == FAILING)
            .then(|| StoreError::Unavailable("injected".into()))
    }));
    let pipeline = start(p).await.unwrap();

    let (seed, count) = (3, 80);
    let failing = OrderGenerator::new(seed, 0.0)
        .take(count)
        .filter(|o| {
            o.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["sku"] == FAILING)
        })
        .count();
    assert!(
        (3..count / 2).contains(&failing),
        "the seed puts the failing SKU in some orders: {failing}"
    );

    let mut o = LoadOptions::new(
        format!("http://{}", pipeline.addr()),
        rate(200.0, count as u64),
    );
    o.seed = seed;
    o.max_in_flight = 16;
    o.request_timeout = Duration::from_secs(30);
    // This time stored orders come from a scan of the table itself (repeats included).
    o.verify = Some(VerifyOptions {
        timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        stored: StoredSource::Table {
            client: aws_sdk_dynamodb::Client::new(pipeline.table_sdk_config()),
            table: pipeline.table_name().to_owned(),
        },
        dead_letters: DeadLetterSource::local_state_dir(dir.path()),
        ..VerifyOptions::default()
    });
    let report = run(o).await.unwrap();
    assert_eq!(report.orders.accepted, count as u64);
    let v = report.reconciliation.clone().expect("verified");
    let r = &v.reconciliation;
    assert!(v.settled, "{v:?}");
    assert_eq!(r.dead_lettered, failing, "{v:?}");
    assert_eq!(r.stored, count - failing, "{v:?}");
    assert_eq!(
        (r.missing, r.duplicated, r.other_dead_letters),
        (0, 0, 0),
        "{v:?}"
    );
    assert_eq!(
        report.exit_code(),
        EXIT_OK,
        "dead letters are not lost orders"
    );
    let stats = pipeline.stats().await;
    assert_eq!(stats["dlq"]["visible"], failing, "{stats}");
    pipeline.shutdown().await;
}

/// A stand-in API: answers each Idempotency-Key's first request 503 or 429 (with
/// `Retry-After: 0`), and its next ones 202 with an order id tied to the key. Records
/// every request's key and body.
#[derive(Default)]
struct Throttling {
    seen: Mutex<HashMap<String, Vec<Bytes>>>,
}

async fn throttling_order(
    State(double): State<Arc<Throttling>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let attempt = {
        let mut seen = double.seen.lock().unwrap();
        let bodies = seen.entry(key.clone()).or_default();
        bodies.push(body);
        bodies.len()
    };
    let json = [("content-type", "application/json")];
    if attempt == 1 {
        let status = if key.len() % 2 == 0 && key.as_bytes()[0] % 2 == 0 {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return (
            status,
            [json[0], ("retry-after", "0")],
            r#"{"error":"service_unavailable","message":"try again"}"#,
        )
            .into_response();
    }
    let id = format!("order-{key}");
    (
        StatusCode::ACCEPTED,
        json,
        format!(r#"{{"order_id":"{id}","status":"queued"}}"#),
    )
        .into_response()
}

async fn serve_throttling() -> (SocketAddr, Arc<Throttling>, tokio::task::JoinHandle<()>) {
    let double = Arc::new(Throttling::default());
    let app = axum::Router::new()
        .route("/order", axum::routing::post(throttling_order))
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, double, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_503_and_429_carry_the_same_key_and_make_one_order_each() {
    let (addr, double, server) = serve_throttling().await;
    let mut o = LoadOptions::new(format!("http://{addr}"), rate(500.0, 100));
    o.retry = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(20),
    };
    let report = run(o).await.unwrap();

    assert_eq!(report.orders.accepted, 100, "{:?}", report.orders);
    assert_eq!(report.orders.failed, 0);
    assert_eq!(report.retries, 100, "one retry per order");
    let r = report.responses;
    assert_eq!(r.accepted, 100);
    assert_eq!(r.throttled + r.server_error, 100, "{r:?}");
    assert!(r.throttled > 0 && r.server_error > 0, "both kinds: {r:?}");
    let ids: HashSet<&str> = report
        .accepted
        .iter()
        .map(|a| a.order_id.as_str())
        .collect();
    assert_eq!(ids.len(), 100, "one order per logical order");

    let seen = double.seen.lock().unwrap();
    assert_eq!(seen.len(), 100, "one key per order");
    for (key, bodies) in seen.iter() {
        assert!(uuid::Uuid::parse_str(key).is_ok(), "{key}");
        assert_eq!(bodies.len(), 2, "first attempt and its retry: {key}");
        assert_eq!(bodies[0], bodies[1], "the same body on the retry");
    }
    // Each accepted id is the one the double tied to a key it saw.
    for a in &report.accepted {
        let key = a.order_id.strip_prefix("order-").unwrap();
        assert!(seen.contains_key(key), "{a:?}");
    }
    server.abort();
}

fn orders_load(args: &[&str]) -> (i32, String, String) {
    orders_load_env(args, &[])
}

/// `orders load ARGS` with these environment variables set.
fn orders_load_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("load")
        .args(args)
        .env_remove("ORDERS_STACK")
        .env_remove("ORDERS_DLQ_URL")
        .env_remove("ORDERS_API_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_and_exits_by_what_it_found() {
    let _serial = ONE_PIPELINE_AT_A_TIME.lock().await;
    // Against orders local: everything accounted for, exit 0.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(local(dir.path())).await.unwrap();
    let url = format!("http://{}", pipeline.addr());
    let state = dir.path().to_str().unwrap().to_owned();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        orders_load(&[
            "--url",
            &url,
            "--rate",
            "100",
            "--count",
            "40",
            "--invalid-ratio",
            "0.2",
            "--max-in-flight",
            "16",
            "--verify",
            "--verify-timeout",
            "30s",
            "--state-dir",
            &state,
            "--json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let invalid = invalid_among(1, 0.2, 40);
    assert_eq!(json["orders"]["sent"], 40);
    assert_eq!(json["responses"]["400"], invalid);
    assert_eq!(json["reconciliation"]["stored"], 40 - invalid);
    assert_eq!(json["reconciliation"]["missing"], 0);
    assert_eq!(json["reconciliation"]["dead_letters_known"], true);
    assert_eq!(json["config"]["schedule"]["mode"], "rate");
    for p in ["p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms"] {
        assert!(json["latency"][p].as_f64().unwrap() > 0.0, "{p}: {json}");
    }
    pipeline.shutdown().await;

    // Against an API that accepts but never stores (the double has no GET route): the
    // accepted orders are missing when the wait ends, exit 3.
    let (addr, _double, server) = serve_throttling().await;
    let url = format!("http://{addr}");
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        orders_load(&[
            "--url",
            &url,
            "--burst",
            "5",
            "--every",
            "1s",
            "--count",
            "5",
            "--verify",
            "--verify-timeout",
            "300ms",
            "--state-dir",
            "/nonexistent-orders-state",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, EXIT_LOST_ORDERS, "{stdout}\n{stderr}");
    assert!(stdout.contains("missing 5"), "{stdout}");
    assert!(stdout.contains("dead-lettered unknown"), "{stdout}");
    assert!(stderr.contains("cannot be read"), "{stderr}");
    server.abort();

    // Nothing listening: exit 4.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        orders_load(&["--url", &url, "--count", "3", "--max-retries", "0"])
    })
    .await
    .unwrap();
    assert_eq!(code, EXIT_UNREACHABLE, "{stdout}\n{stderr}");
    assert!(stdout.contains("connection errors: 3"), "{stdout}");
}

/// The JSON embedded in a `--report` page.
fn embedded_json(html: &str) -> Value {
    let open = r#"<script type="application/json" id="report-data">"#;
    let start = html.find(open).expect("the page embeds its data") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// Every `src=`, `href=`, `url(`, `@import`, `action=` and `srcset=` in `html` that points
/// outside the file (http:, https:, protocol-relative //).
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for attr in [
        "src=", "href=", "url(", "@import", "action=", "srcset=", "<link",
    ] {
        for (at, _) in lower.match_indices(attr) {
            let rest = lower[at + attr.len()..]
                .trim_start()
                .trim_start_matches(['"', '\'', '(']);
            if rest.starts_with("http:")
                || rest.starts_with("https:")
                || rest.starts_with("//")
                || attr == "<link"
            {
                found.push(html[at..(at + 80).min(html.len())].to_owned());
            }
        }
    }
    found
}

/// The integer in `data-value` of the element marked `attr="name"`.
fn marked(html: &str, attr: &str, name: &str) -> Option<u64> {
    let mark = format!(r#"{attr}="{name}" data-value=""#);
    let start = html.find(&mark)? + mark.len();
    let end = start + html[start..].find('"')?;
    html[start..end].parse().ok()
}

fn sum(json: &Value, field: impl Fn(&Value) -> &Value) -> u64 {
    json["per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| field(s).as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_page_holds_the_run_and_refers_to_nothing_outside() {
    let _serial = ONE_PIPELINE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(local(dir.path())).await.unwrap();
    let url = format!("http://{}", pipeline.addr());
    let state = dir.path().to_str().unwrap().to_owned();
    let page = dir.path().join("run.html");
    let page_arg = page.to_str().unwrap().to_owned();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        orders_load(&[
            "--url",
            &url,
            "--rate",
            "40",
            "--count",
            "100",
            "--invalid-ratio",
            "0.1",
            "--max-in-flight",
            "16",
            "--verify",
            "--verify-timeout",
            "30s",
            "--state-dir",
            &state,
            "--json",
            "--report",
            &page_arg,
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    let data = embedded_json(&html);
    assert_eq!(data, printed, "the page's data is the --json output");

    // The per-second series add up to the run's totals.
    let seconds = data["per_second"].as_array().unwrap();
    assert!(
        seconds.len() >= 3,
        "100 orders at 40/s span 3 s: {seconds:?}"
    );
    assert_eq!(sum(&data, |s| &s["orders"]), 100);
    assert_eq!(
        sum(&data, |s| &s["retries"]),
        data["retries"].as_u64().unwrap()
    );
    let attempts: u64 = [
        "202",
        "400",
        "429",
        "5xx",
        "other_status",
        "timeout",
        "connection_error",
    ]
    .iter()
    .map(|k| {
        let per_second = sum(&data, |s| &s["responses"][k]);
        assert_eq!(per_second, data["responses"][k].as_u64().unwrap(), "{k}");
        per_second
    })
    .sum();
    assert_eq!(sum(&data, |s| &s["attempts"]), attempts);
    assert_eq!(attempts, 100 + data["retries"].as_u64().unwrap());
    for s in seconds.iter().filter(|s| s["orders"].as_u64() > Some(0)) {
        let (p50, p99) = (&s["latency_p50_ms"], &s["latency_p99_ms"]);
        assert!(p99.as_f64().unwrap() >= p50.as_f64().unwrap(), "{s}");
    }
    let curve = data["latency_curve"].as_array().unwrap();
    assert_eq!(curve.last().unwrap()["percentile"], 100.0);
    assert_eq!(
        curve.len(),
        data["service_time_curve"].as_array().unwrap().len()
    );

    // The tables show the same numbers, marked for the browser test.
    let invalid = invalid_among(1, 0.1, 100);
    assert_eq!(marked(&html, "data-outcome", "orders.sent"), Some(100));
    assert_eq!(
        marked(&html, "data-outcome", "orders.accepted"),
        Some(100 - invalid)
    );
    assert_eq!(
        marked(&html, "data-outcome", "responses.400"),
        Some(invalid)
    );
    for name in [
        "accepted",
        "stored",
        "dead_lettered",
        "missing",
        "duplicated",
    ] {
        assert_eq!(
            marked(&html, "data-reconcile", name),
            data["reconciliation"][name].as_u64(),
            "{name}"
        );
    }
    assert_eq!(
        marked(&html, "data-reconcile", "stored"),
        Some(100 - invalid)
    );
    for chart in ["latency", "status", "retries", "percentiles"] {
        assert!(
            html.contains(&format!(r#"<div class="chart" data-chart="{chart}">"#)),
            "{chart}"
        );
    }
    assert!(html.contains("document.body.dataset.rendered = \"1\""));
    assert!(html.contains("uPlot"), "uPlot is inline");
    assert_eq!(external_references(&html), Vec::<String>::new());
    pipeline.shutdown().await;

    // Without --verify, and without --json: the page says the reconciliation was not run,
    // and the text output names the file.
    let (addr, _double, server) = serve_throttling().await;
    let url = format!("http://{addr}");
    let page = dir.path().join("unverified.html");
    let page_arg = page.to_str().unwrap().to_owned();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        orders_load(&[
            "--url", &url, "--rate", "50", "--count", "20", "--report", &page_arg,
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("report: {}", page.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("not run (--verify not given)"));
    assert!(!html.contains("data-reconcile=\""));
    let data = embedded_json(&html);
    assert_eq!(data["reconciliation"], Value::Null);
    assert_eq!(
        data["retries"], 20,
        "the double answers every first attempt 429 or 503"
    );
    assert_eq!(sum(&data, |s| &s["retries"]), 20);
    assert_eq!(marked(&html, "data-outcome", "retries"), Some(20));
    assert_eq!(external_references(&html), Vec::<String>::new());
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_path_that_cannot_be_written_fails_before_anything_is_sent() {
    let (addr, double, server) = serve_throttling().await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("no-such-dir").join("run.html");
    let (url, page_arg) = (format!("http://{addr}"), page.to_str().unwrap().to_owned());
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        // 2 s of load, were it to start (and 8 requests the double would see); backtraces
        // asked for, none printed.
        orders_load_env(
            &[
                "--url", &url, "--rate", "4", "--count", "8", "--report", &page_arg,
            ],
            &[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("cannot write the report to {}", page.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(double.seen.lock().unwrap().is_empty(), "nothing was sent");
    assert!(!page.exists());
    server.abort();
}

/// Options that cannot make a run are refused before anything is sent, in one line that
/// names the flag, and with no backtrace even when `RUST_BACKTRACE` asks for them.
#[test]
fn impossible_options_name_their_flag_without_a_backtrace() {
    for (args, flag) in [
        (&["--count", "0"][..], "--count"),
        (&["--rate", "0", "--count", "5"][..], "--rate"),
        (
            &["--max-in-flight", "0", "--count", "5"][..],
            "--max-in-flight",
        ),
        (
            &["--invalid-ratio", "2", "--count", "5"][..],
            "--invalid-ratio",
        ),
    ] {
        let mut all = vec!["--url", "http://127.0.0.1:9"];
        all.extend_from_slice(args);
        let (code, _, stderr) = orders_load_env(&all, &[("RUST_BACKTRACE", "1")]);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line, no backtrace: {stderr}"
        );
        assert!(
            stderr.starts_with("error: ") && stderr.contains(flag),
            "{args:?}: {stderr}"
        );
    }
}
