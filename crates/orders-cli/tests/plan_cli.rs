//! `orders plan` as a user runs it: the table, the sweep, the JSON, and bad input refused
//! in one line that names the flag (no backtrace, even with RUST_BACKTRACE=1).

use serde_json::Value;

fn orders_plan(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("plan")
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_seeds_scenario_names_the_worker_and_what_lifts_it() {
    let (code, out, err) = orders_plan(&["--rate", "20", "--delay", "2000-5000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("FIRST LIMIT EXCEEDED: worker: concurrent batches"),
        "{out}"
    );
    assert!(out.contains("MaximumConcurrency="), "{out}");
    assert!(out.contains("https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"));
    assert!(out.contains("the queue grows by"), "{out}");
}

#[test]
fn json_carries_every_row_with_its_source() {
    let (code, out, err) = orders_plan(&["--rate", "1000", "--env", "prod", "--json"]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let rows = plan["rows"].as_array().unwrap();
    for id in [
        "api_account",
        "api_stage",
        "ingest_executions",
        "account_executions",
        "worker_batches",
        "sqs_in_flight",
        "dynamodb_writes",
    ] {
        let row = rows
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"));
        assert!(
            row["source"].as_str().unwrap().contains("https://")
                || id == "api_stage"
                || id == "ingest_executions",
            "{row}"
        );
    }
    assert_eq!(
        plan["first_limit"][0], "api_stage",
        "prod's 500/s stage throttle"
    );
    assert_eq!(plan["exceeded"], true);
}

#[test]
fn a_range_prints_where_each_component_saturates() {
    let (code, out, err) = orders_plan(&["--rate", "1..10000", "--env", "prod", "--delay", "250"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("where each component saturates"), "{out}");
    assert!(out.contains("EXCEEDED"), "{out}");
    let (code, out, _) = orders_plan(&["--rate", "1..100", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        9
    );
}

#[test]
fn bad_input_names_the_flag() {
    for (args, flag) in [
        (&["--rate", "0"][..], "--rate"),
        (&["--rate", "-5"][..], "--rate"),
        (&["--rate", "fast"][..], "--rate"),
        (&["--rate", "100..10"][..], "--rate"),
        (&["--rate", "10", "--delay", "-5"][..], "--delay"),
        (&["--rate", "10", "--delay", "5000-2000"][..], "--delay"),
        (
            &["--rate", "10", "--max-concurrency", "1"][..],
            "--max-concurrency",
        ),
        (&["--rate", "10", "--batch-size", "0"][..], "--batch-size"),
        (&["--rate", "10", "--ingest-ms", "0"][..], "--ingest-ms"),
        (
            &["--rate", "10", "--delay", "40000"][..],
            "--worker-timeout or --delay",
        ),
        (
            &["--rate", "10", "--max-concurrency", "10"][..],
            "--max-concurrency or --account-concurrency",
        ),
        (
            &["--rate", "10", "--visibility-timeout", "30"][..],
            "--visibility-timeout",
        ),
    ] {
        let (code, out, err) = orders_plan(args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: one line, no backtrace: {err}"
        );
        assert!(
            err.starts_with("error: ") && err.contains(flag),
            "{args:?}: {err}"
        );
    }
}
