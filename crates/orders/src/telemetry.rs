//! Logging set-up shared by every entry point (and by the tests that capture log lines, so
//! they check the format that ships).
//!
//! Lambda's settings are respected: `AWS_LAMBDA_LOG_FORMAT` (`JSON`, the template's
//! choice, or `Text`) and `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else `info`). A JSON line
//! carries the event's fields at the top level and, under `spans`, the fields of the spans
//! it happened in: lambda_runtime's invocation span (`requestId`, `xrayTraceId`) and the
//! handlers' own (`order_id`, `message_id`).

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (CloudWatch Logs Insights can query every field).
    Json,
    /// Plain text, for `AWS_LAMBDA_LOG_FORMAT=Text`.
    Text,
}

/// Log format and level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
    /// An `EnvFilter` directive, such as `info` or `debug`.
    pub level: String,
}

impl LogSettings {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From any variable source (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let format = match var("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            _ => LogFormat::Json,
        };
        let level = var("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|| var("RUST_LOG"))
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| "info".into())
            .to_lowercase();
        Self { format, level }
    }
}

/// The subscriber every entry point uses, writing to `writer`: no ANSI colours and no
/// timestamps (CloudWatch adds them).
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(false)
        .without_time();
    match settings.format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

/// Installs [`subscriber`] on stdout with the environment's settings. Safe to call more
/// than once; later calls do nothing.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(
        &LogSettings::from_env(),
        std::io::stdout,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LogSettings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn lambda_settings_win_over_rust_log_and_defaults() {
        assert_eq!(
            settings(&[]),
            LogSettings {
                format: LogFormat::Json,
                level: "info".into()
            }
        );
        let s = settings(&[
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "warn"),
        ]);
        assert_eq!((s.format, s.level.as_str()), (LogFormat::Text, "debug"));
        assert_eq!(settings(&[("RUST_LOG", "warn")]).level, "warn");
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).format,
            LogFormat::Json
        );
    }
}
