//! The metrics emitter against the CloudWatch Embedded Metric Format specification: the
//! Lambda emitter's real output (through an injected writer) is parsed line by line and
//! checked rule by rule; the checker itself is checked on hand-made invalid lines.
//! Also: configuration from the environment, and the in-memory recorder scoped per task.

use orders_platform::config::FromEnv as _;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orders_platform::metrics::{
    dimensions, names, EmfMetrics, InMemoryMetrics, MetricsConfig, DEFAULT_NAMESPACE,
    DEFAULT_SERVICE, DISTRIBUTIONS, EMITTED,
};
use test_support::emf_spec::{check_line, check_text, Datum, UNITS};

/// A writer whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn take_lines(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text}");
        text.lines().map(str::to_owned).collect()
    }
}

/// The emitter as `main.rs` builds it, from an environment-like map, writing to a buffer.
fn emitter(env: &[(&str, &str)]) -> (EmfMetrics, Buffer) {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = MetricsConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let buffer = Buffer::default();
    (EmfMetrics::new(config, Box::new(buffer.clone())), buffer)
}

/// Every line checked against the specification; all their metrics.
fn check_all(lines: &[String]) -> Vec<Datum> {
    check_text(&lines.join("\n"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What one invocation of each function records, through the facade, as the handlers do.
fn record_one_invocation_of_each() {
    let ingest = |name: &'static str, n: u64| {
        metrics::counter!(name, dimensions::FUNCTION => "ingest").increment(n)
    };
    ingest(names::COLD_START, 1);
    ingest(names::ORDERS_RECEIVED, 5);
    ingest(names::ORDERS_ENQUEUED, 2);
    ingest(names::ENQUEUE_FAILED, 1);
    for code in [
        "validation_failed",
        "validation_failed",
        "payload_too_large",
    ] {
        metrics::counter!(names::ORDERS_REJECTED, dimensions::FUNCTION => "ingest", dimensions::ERROR_CODE => code)
            .increment(1);
    }
    let worker = |name: &'static str, n: u64| {
        metrics::counter!(name, dimensions::FUNCTION => "worker").increment(n)
    };
    worker(names::COLD_START, 1);
    worker(names::ORDERS_PROCESSED, 3);
    worker(names::ORDERS_DUPLICATE, 1);
    worker(names::ORDERS_FAILED, 0);
    worker(names::RECORDS_RETRIED, 1);
    metrics::histogram!(names::BATCH_SIZE, dimensions::FUNCTION => "worker").record(4.0);
    for ms in [12.5, 250.0, 3.0, 40.0] {
        metrics::histogram!(names::PROCESSING_TIME, dimensions::FUNCTION => "worker").record(ms);
    }
}

fn find<'a>(data: &'a [Datum], name: &str, dims: &[(&str, &str)]) -> Vec<&'a Datum> {
    let want: BTreeMap<String, String> = dims
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    data.iter()
        .filter(|d| d.name == name && d.dimensions == want)
        .collect()
}

fn total(data: &[Datum], name: &str, dims: &[(&str, &str)]) -> f64 {
    find(data, name, dims)
        .iter()
        .flat_map(|d| d.values.iter())
        .sum()
}

#[test]
fn every_metric_of_the_contract_is_valid_emf_with_its_unit_and_dimensions() {
    let (emf, out) = emitter(&[
        ("METRICS_NAMESPACE", "Shop/Orders"),
        ("SERVICE_NAME", "shop"),
    ]);
    metrics::with_local_recorder(&emf, record_one_invocation_of_each);
    let before = now_ms();
    let written = emf.flush().unwrap();
    let lines = out.take_lines();
    assert_eq!(written, lines.len());
    let data = check_all(&lines);

    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let timestamp = value["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(timestamp >= before && timestamp <= now_ms() + 1, "{line}");
    }
    assert!(data.iter().all(|d| d.namespace == "Shop/Orders"));
    for (function, name) in EMITTED {
        let dims = [("Service", "shop"), ("Function", *function)];
        // (OrdersRejected: its roll-up over every ErrorCode has exactly these dimensions.)
        let found = find(&data, name, &dims);
        assert!(!found.is_empty(), "{function} {name} missing:\n{lines:#?}");
        let unit = if *name == names::PROCESSING_TIME {
            "Milliseconds"
        } else {
            "Count"
        };
        assert!(
            found.iter().all(|d| d.unit.as_deref() == Some(unit)),
            "{name}: {found:?}"
        );
    }

    let ingest = [("Service", "shop"), ("Function", "ingest")];
    let worker = [("Service", "shop"), ("Function", "worker")];
    assert_eq!(total(&data, names::ORDERS_RECEIVED, &ingest), 5.0);
    assert_eq!(total(&data, names::ORDERS_ENQUEUED, &ingest), 2.0);
    assert_eq!(total(&data, names::ENQUEUE_FAILED, &ingest), 1.0);
    assert_eq!(total(&data, names::COLD_START, &ingest), 1.0);
    assert_eq!(total(&data, names::ORDERS_REJECTED, &ingest), 3.0);
    let by_code = |code| {
        total(
            &data,
            names::ORDERS_REJECTED,
            &[
                ("Service", "shop"),
                ("Function", "ingest"),
                ("ErrorCode", code),
            ],
        )
    };
    assert_eq!(by_code("validation_failed"), 2.0);
    assert_eq!(by_code("payload_too_large"), 1.0);
    assert_eq!(total(&data, names::ORDERS_PROCESSED, &worker), 3.0);
    assert_eq!(total(&data, names::ORDERS_DUPLICATE, &worker), 1.0);
    assert_eq!(
        find(&data, names::ORDERS_FAILED, &worker)[0].values,
        vec![0.0],
        "a counter incremented by 0 is published as an explicit 0"
    );
    assert_eq!(total(&data, names::RECORDS_RETRIED, &worker), 1.0);
    assert_eq!(find(&data, names::BATCH_SIZE, &worker)[0].values, vec![4.0]);
    assert_eq!(
        find(&data, names::PROCESSING_TIME, &worker)[0].values,
        vec![12.5, 250.0, 3.0, 40.0]
    );
    // Nothing but the contract's names and dimensions.
    for d in &data {
        assert!(EMITTED.iter().any(|(_, n)| *n == d.name), "{}", d.name);
        assert!(d.dimensions.keys().all(|k| [
            dimensions::SERVICE,
            dimensions::FUNCTION,
            dimensions::ERROR_CODE
        ]
        .contains(&k.as_str())));
    }
    assert!(DISTRIBUTIONS
        .iter()
        .all(|n| EMITTED.iter().any(|(_, m)| m == n)));

    // The next invocation starts from zero: nothing recorded, nothing written.
    assert_eq!(emf.flush().unwrap(), 0);
    assert!(out.take_lines().is_empty());
    metrics::with_local_recorder(&emf, || {
        metrics::counter!(names::ORDERS_RECEIVED, dimensions::FUNCTION => "ingest").increment(1)
    });
    emf.flush().unwrap();
    let data = check_all(&out.take_lines());
    assert_eq!(data.len(), 1);
    assert_eq!(
        (data[0].name.as_str(), data[0].values.as_slice()),
        (names::ORDERS_RECEIVED, &[1.0][..])
    );
}

#[test]
fn more_than_100_metrics_are_split_across_lines() {
    let (emf, out) = emitter(&[]);
    metrics::with_local_recorder(&emf, || {
        for i in 0..250 {
            metrics::counter!(format!("Metric{i:03}"), dimensions::FUNCTION => "worker")
                .increment(i + 1);
        }
    });
    emf.flush().unwrap();
    let lines = out.take_lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let defined = value["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len();
        assert!(defined <= 100, "{defined} metrics in one directive");
    }
    let data = check_all(&lines);
    assert_eq!(data.len(), 250);
    for i in 0..250u64 {
        let name = format!("Metric{i:03}");
        let found = find(
            &data,
            &name,
            &[("Service", DEFAULT_SERVICE), ("Function", "worker")],
        );
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(found[0].values, vec![(i + 1) as f64]);
        assert_eq!(found[0].unit.as_deref(), Some("Count"));
    }
}

#[test]
fn more_than_100_values_of_one_metric_are_split_across_lines() {
    let (emf, out) = emitter(&[]);
    metrics::with_local_recorder(&emf, || {
        metrics::counter!(names::ORDERS_PROCESSED, dimensions::FUNCTION => "worker").increment(250);
        for i in 0..250 {
            metrics::histogram!(names::PROCESSING_TIME, dimensions::FUNCTION => "worker")
                .record(f64::from(i));
        }
    });
    emf.flush().unwrap();
    let lines = out.take_lines();
    let data = check_all(&lines);
    let chunks: Vec<usize> = find(
        &data,
        names::PROCESSING_TIME,
        &[("Service", DEFAULT_SERVICE), ("Function", "worker")],
    )
    .iter()
    .map(|d| d.values.len())
    .collect();
    assert_eq!(chunks, vec![100, 100, 50], "{lines:#?}");
    let mut all: Vec<f64> = find(
        &data,
        names::PROCESSING_TIME,
        &[("Service", DEFAULT_SERVICE), ("Function", "worker")],
    )
    .iter()
    .flat_map(|d| d.values.clone())
    .collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
    assert_eq!(
        total(
            &data,
            names::ORDERS_PROCESSED,
            &[("Service", DEFAULT_SERVICE), ("Function", "worker")]
        ),
        250.0,
        "the counter is written once"
    );
}

#[test]
fn namespace_and_service_come_from_the_environment_with_defaults() {
    let config = |env: &[(&str, &str)]| {
        let env: HashMap<&str, &str> = env.iter().copied().collect();
        MetricsConfig::from_lookup(|k| env.get(k).map(|v| (*v).to_owned()))
    };
    assert_eq!(
        config(&[]).unwrap(),
        MetricsConfig {
            namespace: DEFAULT_NAMESPACE.into(),
            service: DEFAULT_SERVICE.into()
        }
    );
    assert_eq!(
        config(&[("METRICS_NAMESPACE", "  ")]).unwrap().namespace,
        DEFAULT_NAMESPACE
    );
    let set = config(&[
        ("METRICS_NAMESPACE", "Acme/Orders-prod"),
        ("SERVICE_NAME", "orders-prod"),
    ])
    .unwrap();
    assert_eq!(
        (set.namespace.as_str(), set.service.as_str()),
        ("Acme/Orders-prod", "orders-prod")
    );
    for bad in ["AWS/Lambda", "has\"quote", &"x".repeat(256)] {
        let error = config(&[("METRICS_NAMESPACE", bad)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("METRICS_NAMESPACE"), "{bad}: {error}");
    }
    assert!(config(&[("SERVICE_NAME", "a\u{7}b")]).is_err());

    let (emf, out) = emitter(&[
        ("METRICS_NAMESPACE", "Acme/Orders"),
        ("SERVICE_NAME", "orders-prod"),
    ]);
    metrics::with_local_recorder(&emf, || {
        metrics::counter!(names::COLD_START, dimensions::FUNCTION => "worker").increment(1)
    });
    emf.flush().unwrap();
    let data = check_all(&out.take_lines());
    assert_eq!(data[0].namespace, "Acme/Orders");
    assert_eq!(data[0].dimensions["Service"], "orders-prod");
}

#[test]
fn the_installed_recorder_is_the_process_recorder_and_installs_once() {
    let (emf, out) = emitter(&[]);
    emf.install().unwrap();
    assert!(emf.install().is_err());
    // Recorded without any scoped recorder: goes to the global one.
    std::thread::spawn(|| {
        metrics::counter!(names::ORDERS_RECEIVED, dimensions::FUNCTION => "ingest").increment(2)
    })
    .join()
    .unwrap();
    emf.flush().unwrap();
    let data = check_all(&out.take_lines());
    assert_eq!(
        total(
            &data,
            names::ORDERS_RECEIVED,
            &[("Service", DEFAULT_SERVICE), ("Function", "ingest")]
        ),
        2.0
    );
}

// ---------------------------------------------------------------------------------------
// The checker is checked too.

const VALID: &str = r#"{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics","Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds","StorageResolution":60}]}]},"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}"#;

#[test]
fn the_checker_accepts_the_specifications_example() {
    let data = check_line(VALID).unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].name, "time");
    assert_eq!(data[0].values, vec![100.0]);
    assert_eq!(data[0].dimensions["functionVersion"], "$LATEST");
    assert!(UNITS.contains(&"Count") && UNITS.contains(&"None"));
}

#[test]
fn the_checker_rejects_every_broken_rule() {
    let v: serde_json::Value = serde_json::from_str(VALID).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        edit(&mut v);
        v.to_string()
    };
    let many = |n: usize| (0..n).map(|i| serde_json::json!(i)).collect::<Vec<_>>();
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "{\"_aws\":".to_owned()),
        ("not a JSON object", "[1]".to_owned()),
        (
            "no _aws",
            with(&|v| {
                v.as_object_mut().unwrap().remove("_aws");
            }),
        ),
        (
            "Timestamp",
            with(&|v| v["_aws"]["Timestamp"] = serde_json::json!("2019-11-18")),
        ),
        (
            "Timestamp",
            with(&|v| v["_aws"]["Timestamp"] = serde_json::json!(1574109732004.5)),
        ),
        (
            "Timestamp",
            with(&|v| {
                v["_aws"].as_object_mut().unwrap().remove("Timestamp");
            }),
        ),
        (
            "CloudWatchMetrics is empty",
            with(&|v| v["_aws"]["CloudWatchMetrics"] = serde_json::json!([])),
        ),
        (
            "Namespace",
            with(&|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] = serde_json::json!(7)),
        ),
        (
            "Namespace",
            with(&|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] = serde_json::json!("")),
        ),
        (
            "Dimensions",
            with(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] =
                    serde_json::json!(["functionVersion"])
            }),
        ),
        (
            "no top-level member",
            with(&|v| {
                v.as_object_mut().unwrap().remove("functionVersion");
            }),
        ),
        (
            "not a string",
            with(&|v| v["functionVersion"] = serde_json::json!(1)),
        ),
        (
            "at most 30",
            with(&|v| {
                let names: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
                for n in &names {
                    v[n.as_str()] = serde_json::json!("x");
                }
                v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = serde_json::json!([names]);
            }),
        ),
        (
            "at most 100",
            with(&|v| {
                let defs: Vec<_> = (0..101)
                    .map(|i| serde_json::json!({"Name": format!("m{i}")}))
                    .collect();
                for i in 0..101 {
                    v[format!("m{i}")] = serde_json::json!(1);
                }
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"] = serde_json::json!(defs);
            }),
        ),
        (
            "invalid Unit",
            with(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] =
                    serde_json::json!("Millis")
            }),
        ),
        (
            "StorageResolution",
            with(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] =
                    serde_json::json!(5)
            }),
        ),
        (
            "Name is missing",
            with(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0] =
                    serde_json::json!({"Unit": "Count"})
            }),
        ),
        (
            "defined twice",
            with(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"] =
                    serde_json::json!([{"Name": "time"}, {"Name": "time"}])
            }),
        ),
        (
            "no top-level value",
            with(&|v| {
                v.as_object_mut().unwrap().remove("time");
            }),
        ),
        (
            "not a number",
            with(&|v| v["time"] = serde_json::json!("100")),
        ),
        (
            "non-number",
            with(&|v| v["time"] = serde_json::json!([1, "2"])),
        ),
        (
            "at most 100",
            with(&|v| v["time"] = serde_json::json!(many(101))),
        ),
    ];
    for (expected, line) in cases {
        let error = check_line(&line).expect_err(&line);
        assert!(
            error.contains(expected),
            "expected {expected:?}, got {error:?} for {line}"
        );
    }
    assert!(check_line(&with(&|v| v["time"] = serde_json::json!(many(100)))).is_ok());
}

// ---------------------------------------------------------------------------------------
// The in-memory recorder (orders local, handler tests).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_recorders_count_separately_across_threads() {
    let (a, b) = (InMemoryMetrics::new(), InMemoryMetrics::new());
    let work = |n: u64| async move {
        for _ in 0..n {
            metrics::counter!(names::ORDERS_RECEIVED, dimensions::FUNCTION => "ingest")
                .increment(1);
            // Yield and sleep so the task may resume on another worker thread.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let ta = tokio::spawn(a.scope(work(30)));
    let tb = tokio::spawn(b.scope(work(50)));
    ta.await.unwrap();
    tb.await.unwrap();
    let ingest = [("Function", "ingest")];
    assert_eq!(a.counter(names::ORDERS_RECEIVED, &ingest), 30);
    assert_eq!(b.counter(names::ORDERS_RECEIVED, &ingest), 50);
}

#[test]
fn the_snapshot_has_every_metric_by_function() {
    let m = InMemoryMetrics::new();
    let empty = m.snapshot();
    for (function, name) in EMITTED {
        assert!(!empty[function][name].is_null(), "{function} {name}");
    }
    assert_eq!(
        empty["ingest"]["OrdersRejectedByErrorCode"],
        serde_json::json!({})
    );
    metrics::with_local_recorder(&m, record_one_invocation_of_each);
    let s = m.snapshot();
    assert_eq!(s["ingest"]["OrdersReceived"], 5);
    assert_eq!(s["ingest"]["OrdersRejected"], 3);
    assert_eq!(
        s["ingest"]["OrdersRejectedByErrorCode"],
        serde_json::json!({"validation_failed": 2, "payload_too_large": 1})
    );
    assert_eq!(s["worker"]["OrdersFailed"], 0);
    assert_eq!(s["worker"]["ProcessingTime"]["count"], 4);
    assert_eq!(s["worker"]["ProcessingTime"]["max"], 250.0);
    assert_eq!(s["worker"]["BatchSize"]["sum"], 4.0);
    assert_eq!(
        m.counter(
            names::ORDERS_REJECTED,
            &[("ErrorCode", "payload_too_large")]
        ),
        1
    );
    assert_eq!(m.histogram(names::PROCESSING_TIME, &[]).min, Some(3.0));
}

#[test]
fn one_series_per_name_and_labels_whatever_the_label_order_and_kind_conflicts_stay_ignored() {
    let m = InMemoryMetrics::new();
    metrics::with_local_recorder(&m, || {
        for _ in 0..3 {
            metrics::counter!(names::ORDERS_REJECTED, "Function" => "ingest", "ErrorCode" => "x")
                .increment(1);
            metrics::counter!(names::ORDERS_REJECTED, "ErrorCode" => "x", "Function" => "ingest")
                .increment(10);
            // Already a counter: recording it as a distribution must change nothing, on the
            // first call and on every later (cached) one.
            metrics::histogram!(names::ORDERS_REJECTED, "Function" => "ingest", "ErrorCode" => "x")
                .record(1000.0);
        }
    });
    let labels = [("Function", "ingest"), ("ErrorCode", "x")];
    assert_eq!(m.counter(names::ORDERS_REJECTED, &labels), 33);
    assert_eq!(m.histogram(names::ORDERS_REJECTED, &labels).count, 0);
    assert_eq!(m.snapshot()["ingest"]["OrdersRejectedByErrorCode"]["x"], 33);
}
