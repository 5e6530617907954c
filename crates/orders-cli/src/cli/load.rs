//! `orders load`: the flags made into a load test's options, the run, the report.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::Duration;

use super::*;

pub(super) async fn run(args: LoadArgs) -> anyhow::Result<()> {
    use crate::load::{self as l, DeadLetterSource, Limit, Schedule};
    if std::env::var_os("RUST_LOG").is_some() {
        init_logs(false);
    }
    let (mut url, mut dlq_url) = (args.url, args.dlq_url);
    if let Some(stack) = &args.stack {
        let sdk = orders_platform::config::sdk_config().await;
        let outputs =
            crate::stack::outputs(&aws_sdk_cloudformation::Client::new(&sdk), stack).await?;
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
                let sdk = orders_platform::config::sdk_config().await;
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
    // The report's file is created before the run: a path that cannot be written fails
    // now, not after minutes of load.
    options
        .validate()
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let report_file = match &args.report {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some((path, file)),
            Err(e) => cannot_write(path, &e),
        },
        None => None,
    };
    let report = match l::run(options).await {
        Ok(report) => report,
        Err(e) => {
            if let Some((path, _)) = report_file {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    if let Some((path, file)) = report_file {
        let page = crate::web::report::render(&report);
        let mut out = std::io::BufWriter::new(file);
        if let Err(e) = out.write_all(page.as_bytes()).and_then(|()| out.flush()) {
            cannot_write(path, &e);
        }
        if !args.json {
            println!("report: {}", path.display());
        }
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

/// The report's file cannot be written: the path and why, as a usage error (no backtrace),
/// and exit 1.
fn cannot_write(path: &Path, e: &std::io::Error) -> ! {
    eprintln!("error: cannot write the report to {}: {e}", path.display());
    std::process::exit(1)
}
