//! Logging set-up shared by every entry point.

use tracing_subscriber::EnvFilter;

/// Installs a JSON log subscriber for Lambda: level from `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG` (default `info`), no ANSI colours, no timestamps (CloudWatch adds them).
/// Safe to call more than once; later calls do nothing.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}
