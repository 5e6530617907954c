//! `orders env`: the `--env-vars` file of `sam local invoke` / `sam local start-api` from a
//! stack's outputs (moto's CloudFormation), and the committed emulator file, through the real
//! binary. The variables to fill are read here from `template.yaml` independently of the
//! command: a new `!Ref`-to-a-resource variable in the template fails these tests until
//! `orders env` fills it.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use orders_template::Template;
use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;
use test_support::{workspace_root, MotoServer};

/// The emulator file committed in `events/`, and the command that writes it.
const LOCAL_FILE: &str = "events/local.env";
const LOCAL_ENDPOINT: &str = "http://127.0.0.1:5000";

fn template() -> Template {
    Template::load(workspace_root().join("template.yaml")).unwrap()
}

/// Every function of the template with its variables that `!Ref` a resource, each with the
/// key of the output whose value is that same `!Ref`: function -> variable -> output key.
fn resource_variables(template: &Template) -> BTreeMap<String, BTreeMap<String, String>> {
    let Some(Yaml::Mapping(resources)) = template.root().get("Resources") else {
        panic!("template.yaml has no Resources");
    };
    let Some(Yaml::Mapping(outputs)) = template.root().get("Outputs") else {
        panic!("template.yaml has no Outputs");
    };
    let mut found = BTreeMap::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Yaml::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = id.as_str().unwrap().to_owned();
        let vars = found.entry(function.clone()).or_insert_with(BTreeMap::new);
        let Some(Yaml::Mapping(env)) = resource
            .get("Properties")
            .and_then(|p| p.get("Environment"))
            .and_then(|e| e.get("Variables"))
        else {
            continue;
        };
        for (name, value) in env {
            let Yaml::Tagged(tagged) = value else {
                continue;
            };
            let target = tagged.value.as_str().unwrap_or_default();
            if tagged.tag != "!Ref" || !resources.contains_key(target) {
                continue;
            }
            let output = outputs
                .iter()
                .find(|(_, o)| o.get("Value") == Some(value))
                .map(|(key, _)| key.as_str().unwrap().to_owned())
                .unwrap_or_else(|| {
                    panic!("{function}'s {name:?} refs {target}, and no output gives its value")
                });
            vars.insert(name.as_str().unwrap().to_owned(), output);
        }
    }
    assert!(
        found.values().map(BTreeMap::len).sum::<usize>() >= 4,
        "the template's QUEUE_URL, IDEMPOTENCY_TABLE and the two TABLE_NAMEs at least: {found:?}"
    );
    found
}

fn orders(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orders"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        // A backtrace would follow an unexpected error: these errors must not get one.
        .env("RUST_BACKTRACE", "1");
    cmd
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A failed run's message: one line, no backtrace.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// A moto stack whose outputs are `outputs` (literal values), beside one queue (a stack
/// needs a resource).
async fn create_stack(moto: &MotoServer, name: &str, outputs: &BTreeMap<String, String>) {
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "Value": v })))
        .collect();
    let body = json!({
        "Resources": {"Anchor": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": format!("{name}-anchor")}}},
        "Outputs": outputs,
    });
    aws_sdk_cloudformation::Client::new(&moto.sdk_config().await)
        .create_stack()
        .stack_name(name)
        .template_body(body.to_string())
        .send()
        .await
        .unwrap();
}

fn output_value(key: &str) -> String {
    format!("value-of-{key}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_file_fills_every_variable_that_refs_a_resource() {
    let wanted = resource_variables(&template());
    let moto = MotoServer::start();
    let keys: BTreeMap<String, String> = wanted
        .values()
        .flat_map(|vars| vars.values())
        .map(|key| (key.clone(), output_value(key)))
        .collect();
    create_stack(&moto, "orders-env", &keys).await;

    let out = orders(&["env", "--stack", "orders-env"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .output()
        .unwrap();
    let file: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let expected: BTreeMap<&String, BTreeMap<&String, String>> = wanted
        .iter()
        .map(|(function, vars)| {
            let vars = vars.iter().map(|(v, key)| (v, output_value(key))).collect();
            (function, vars)
        })
        .collect();
    assert_eq!(file, serde_json::to_value(&expected).unwrap());

    // The committed example has the same shape (functions and variable names).
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events/env.example.json")).unwrap(),
    )
    .unwrap();
    let shape = |v: &Value| -> BTreeMap<String, Vec<String>> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(f, vars)| {
                (
                    f.clone(),
                    vars.as_object().unwrap().keys().cloned().collect(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&example), shape(&file), "events/env.example.json");

    // One KEY=VALUE file for cargo lambda: the same values, every function's together.
    let out = orders(&["env", "--stack", "orders-env", "--format", "dotenv"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .output()
        .unwrap();
    let mut lines: Vec<String> = stdout_of(&out).lines().map(str::to_owned).collect();
    lines.sort();
    let mut want: Vec<String> = expected
        .values()
        .flat_map(|vars| vars.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(lines, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_output_an_unknown_stack_and_no_credentials_are_one_line_errors() {
    let wanted = resource_variables(&template());
    let moto = MotoServer::start();
    let mut keys: BTreeMap<String, String> = wanted
        .values()
        .flat_map(|vars| vars.values())
        .map(|key| (key.clone(), output_value(key)))
        .collect();
    let dropped = keys.pop_first().unwrap().0;
    create_stack(&moto, "orders-partial", &keys).await;

    let out = orders(&["env", "--stack", "orders-partial"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!("no output {dropped}")) && err.contains("orders-partial"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no partial file on stdout");

    let out = orders(&["env", "--stack", "orders-nowhere"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("orders-nowhere") && err.contains("--region"),
        "{err}"
    );

    // No credentials anywhere: no variables, no profile files, no instance metadata.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["env", "--stack", "orders-partial"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("no AWS credentials") && err.contains("AWS_PROFILE"),
        "{err}"
    );
}

#[test]
fn the_committed_emulator_file_is_what_the_command_prints() {
    let out = orders(&["env", "--endpoint", LOCAL_ENDPOINT, "--format", "dotenv"])
        .output()
        .unwrap();
    let printed = stdout_of(&out);
    let committed = std::fs::read_to_string(workspace_root().join(LOCAL_FILE)).unwrap();
    assert_eq!(
        committed, printed,
        "{LOCAL_FILE} is stale: cargo orders env --endpoint {LOCAL_ENDPOINT} --format dotenv > {LOCAL_FILE}"
    );
    let names: Vec<&str> = printed
        .lines()
        .map(|l| l.split_once('=').unwrap().0)
        .collect();
    for (function, vars) in resource_variables(&template()) {
        for var in vars.keys() {
            assert!(
                names.contains(&var.as_str()),
                "{function}'s {var} is missing"
            );
        }
    }
    assert!(printed.contains(&format!("AWS_ENDPOINT_URL={LOCAL_ENDPOINT}\n")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_makes_the_queues_and_tables_the_emulator_file_names() {
    let moto = MotoServer::start();
    let args = ["env", "--endpoint", moto.endpoint(), "--create"];
    // Twice: a second run finds everything in place.
    let first = stdout_of(&orders(&args).output().unwrap());
    let second = stdout_of(&orders(&args).output().unwrap());
    assert_eq!(first, second);
    // What --create finds is what the command predicts without it (the committed file).
    let predicted = stdout_of(&orders(&args[..3]).output().unwrap());
    assert_eq!(first, predicted);
    let file: Value = serde_json::from_str(&first).unwrap();
    let ingest = &file["IngestFunction"];
    assert_eq!(ingest["AWS_ENDPOINT_URL"], moto.endpoint());

    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = ingest["QUEUE_URL"].as_str().unwrap();
    let redrive = test_support::queue_attribute(
        &sqs,
        queue_url,
        aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
    )
    .await;
    assert!(redrive.contains("orders-dlq"), "{redrive}");
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    for table in [
        file["WorkerFunction"]["TABLE_NAME"].as_str().unwrap(),
        file["StatusFunction"]["TABLE_NAME"].as_str().unwrap(),
        ingest["IDEMPOTENCY_TABLE"].as_str().unwrap(),
    ] {
        ddb.describe_table().table_name(table).send().await.unwrap();
    }
}
