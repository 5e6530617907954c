//! The live dashboard's routes (`/_local/`) against `orders local` started in the test on
//! port 0: what the page reads equals what the pipeline holds, a dead letter is listed with
//! why it failed, the redrive needs its confirmation, unknown paths answer the API's JSON
//! 404, and nothing under `/_local/` changes an order. (The page itself is tested in
//! headless Chromium by tests/browser_ui.py.)

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use orders_cli::pipeline::{start, LocalOptions, LocalPipeline};
use orders_domain::ports::StoreError;
use serde_json::{json, Value};

mod common;
use common::wait_for;

/// Fast redelivery (as local_e2e.rs): DLQ after 2 receives 3 s apart; the store refuses
/// orders of SKU `ALWAYS-FAIL` while `failing` holds.
fn options(state: &Path, failing: Arc<AtomicBool>) -> LocalOptions {
    let mut o =
        LocalOptions::from_template(SocketAddr::from(([127, 0, 0, 1], 0)), state.to_path_buf())
            .unwrap()
            .unlimited();
    o.settings.pipeline.worker_timeout = Duration::from_secs(3);
    o.settings.pipeline.visibility_timeout = Duration::from_secs(3);
    o.settings.pipeline.max_receive_count = 2;
    o.settings.pipeline.deadline_margin = Duration::from_millis(100);
    o.enforce_timing_rules = false;
    o.store_fault = Some(Arc::new(move |order| {
        (failing.load(Ordering::SeqCst) && order.items.as_slice()[0].sku.as_str() == "ALWAYS-FAIL")
            .then(|| StoreError::Unavailable("injected: the table refused it".into()))
    }));
    o
}

async fn call(method: reqwest::Method, url: String, body: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    call(reqwest::Method::GET, format!("{base}{path}"), None).await
}

async fn post_order(base: &str, sku: &str) -> String {
    let body = json!({"email": "a@example.com", "items": [{"sku": sku, "qty": 1}]}).to_string();
    let (status, answer) = call(reqwest::Method::POST, format!("{base}/order"), Some(&body)).await;
    assert_eq!(status, 202, "{answer}");
    answer["order_id"].as_str().unwrap().to_owned()
}

/// Polls `/_local/dashboard.json` until `done` holds (the sampler runs once a second).
async fn dashboard_until(base: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, d) = get(base, "/_local/dashboard.json").await;
        assert_eq!(status, 200, "{d}");
        if done(&d) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "timed out waiting for {what}; last: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alarm<'a>(d: &'a Value, id: &str) -> &'a str {
    d["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .and_then(|a| a["state"].as_str())
        .unwrap_or_else(|| panic!("no alarm {id} in {d}"))
}

async fn dead_letter(pipeline: &LocalPipeline) {
    wait_for(pipeline, Duration::from_secs(30), "one dead letter", |s| {
        s["dlq"]["visible"] == 1 && s["queue"]["visible"] == 0 && s["queue"]["in_flight"] == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_located_alarmed_and_redriven_only_when_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let pipeline = start(options(dir.path(), failing.clone())).await.unwrap();
    let base = format!("http://{}", pipeline.addr());

    let poisoned = post_order(&base, "ALWAYS-FAIL").await;
    let fine = post_order(&base, "OK-1").await;
    dead_letter(&pipeline).await;

    // The list: the order, its receives, and why it last failed.
    let (status, list) = get(&base, "/_local/dlq").await;
    assert_eq!(status, 200);
    let messages = list["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{list}");
    assert_eq!(messages[0]["order_id"], poisoned.as_str());
    assert_eq!(messages[0]["receive_count"], 2);
    let error = messages[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("injected"), "last error: {list}");

    // The lookup: what GET /orders/{id} answers, and where the order is.
    let (_, found) = get(&base, &format!("/_local/orders/{poisoned}")).await;
    assert_eq!(
        (found["status"].clone(), found["where"].clone()),
        (json!(404), json!("dead_lettered")),
        "{found}"
    );
    let (_, found) = get(&base, &format!("/_local/orders/{fine}")).await;
    assert_eq!(
        (found["status"].clone(), found["where"].clone()),
        (json!(200), json!("stored")),
        "{found}"
    );
    assert_eq!(found["answer"]["order_id"], fine.as_str());

    // The template's DLQ alarm, evaluated on the sampled DLQ depth.
    dashboard_until(&base, "DeadLetterQueueAlarm in ALARM", |d| {
        alarm(d, "DeadLetterQueueAlarm") == "ALARM"
    })
    .await;

    // No redrive without the confirmation, and nothing moves.
    let redrive = format!("{base}/_local/dlq/redrive");
    for body in [
        None,
        Some("{}"),
        Some(r#"{"confirm": false}"#),
        Some("confirm"),
    ] {
        let (status, answer) = call(reqwest::Method::POST, redrive.clone(), body).await;
        assert_eq!(status, 400, "{body:?}: {answer}");
        assert_eq!(answer["error"], "confirmation_required");
        assert!(answer["message"]
            .as_str()
            .unwrap()
            .contains(r#"{"confirm": true}"#));
    }
    assert_eq!(pipeline.stats().await["dlq"]["visible"], 1, "nothing moved");

    // The cause fixed, a confirmed redrive stores the order.
    failing.store(false, Ordering::SeqCst);
    let (status, answer) = call(
        reqwest::Method::POST,
        redrive,
        Some(orders_cli::api::REDRIVE_CONFIRMATION),
    )
    .await;
    assert_eq!((status, answer), (200, json!({"moved": 1})));
    wait_for(
        &pipeline,
        Duration::from_secs(30),
        "the redriven order stored",
        |s| s["dlq"]["visible"] == 0 && s["stored_orders"] == 2,
    )
    .await;
    let (_, found) = get(&base, &format!("/_local/orders/{poisoned}")).await;
    assert_eq!(found["where"], "stored", "{found}");
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_the_apis_answers_and_nothing_local_changes_an_order() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(options(dir.path(), Arc::default())).await.unwrap();
    let base = format!("http://{}", pipeline.addr());

    let id = post_order(&base, "OK-1").await;
    let bad = call(reqwest::Method::POST, format!("{base}/order"), Some("{}")).await;
    assert_eq!(bad.0, 400);
    wait_for(&pipeline, Duration::from_secs(30), "stored", |s| {
        s["stored_orders"] == 1
    })
    .await;
    let (_, before) = get(&base, &format!("/orders/{id}")).await;

    // The local routes answer; none of them is the API's traffic.
    for path in ["/_local/", "/_local", "/_local/stats", "/_local/dlq"] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // Three API answers: 202, 400 (the request model's, before ingest), 200. Once sampled,
    // the points count exactly those.
    let d = dashboard_until(&base, "three API answers sampled", |d| {
        let sum = |key: &str| -> u64 {
            d["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[key].as_u64().unwrap())
                .sum()
        };
        sum("api_count") == 3
    })
    .await;
    let points = d["points"].as_array().unwrap();
    let sum = |key: &str| -> u64 { points.iter().map(|p| p[key].as_u64().unwrap()).sum() };
    assert_eq!((sum("api_2xx"), sum("api_4xx"), sum("api_5xx")), (2, 1, 0));
    assert_eq!(
        (sum("received"), sum("rejected"), sum("processed")),
        (1, 0, 1)
    );
    assert_eq!(
        d["stats"]["stored_orders"], 1,
        "the page's numbers are /_local/stats'"
    );
    assert!(
        d["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "OK"),
        "{d}"
    );

    // ?since= gives only newer points; a bad one is a 400 with the JSON error shape.
    let last = points.last().unwrap()["t"].as_u64().unwrap();
    let (_, newer) = get(&base, &format!("/_local/dashboard.json?since={last}")).await;
    assert!(newer["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["t"].as_u64().unwrap() > last));
    let (status, answer) = get(&base, "/_local/dashboard.json?since=yesterday").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_query"))
    );

    // Unknown local paths: the API's JSON 404.
    for path in [
        "/_local/nope",
        "/_local/orders/",
        "/_local/dlq/redrive/x",
        "/_local/stats/",
    ] {
        let (status, answer) = get(&base, path).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["error"], "not_found", "{path}");
        assert!(
            answer["message"].as_str().unwrap().contains(path),
            "{path}: {answer}"
        );
    }
    // Nothing under /_local/ writes an order: every other method is refused.
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        for path in [
            format!("/_local/orders/{id}"),
            "/_local/dlq".into(),
            "/_local/".into(),
        ] {
            let (status, _) = call(
                method.clone(),
                format!("{base}{path}"),
                Some("{\"status\":\"x\"}"),
            )
            .await;
            assert_eq!(status, 405, "{method} {path}");
        }
    }
    assert_eq!(
        get(&base, &format!("/orders/{id}")).await.1,
        before,
        "the order unchanged"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere() {
    let page = orders_cli::web::dashboard::page();
    assert!(page.contains("uPlot") && page.contains("data-stat=\"stored_orders\""));
    assert!(!page.contains("<!--ASSETS-->") && !page.contains("/*DASHBOARD_JS*/"));
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "url(http",
        "@import",
        "fetch(\"http",
    ] {
        assert!(!page.contains(external), "the page references {external}");
    }
}
