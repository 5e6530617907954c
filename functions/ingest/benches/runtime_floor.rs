//! The floor under every cold start figure (issue 7): a Lambda function that does nothing
//! but answer, on the same runtime (lambda_runtime + tokio), built with the same profile, no
//! AWS SDK, no logging. `bench/coldstart.py --floor <this binary>` starts it exactly like
//! the three functions, so their start-up and memory are reported as a ratio to this one
//! measured in the same run.
//!
//! `bench/run` only builds it (`cargo bench --no-run`); run outside a Runtime API (no
//! `AWS_LAMBDA_RUNTIME_API`, as under `cargo bench` or `cargo test --benches`) it exits at once.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        println!(
            "runtime_floor: started by bench/coldstart.py under a Runtime API; nothing to do here"
        );
        return Ok(());
    }
    lambda_runtime::run(service_fn(
        |_event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(serde_json::json!({"statusCode": 200, "body": "{}"}))
        },
    ))
    .await
}
