//! Logging set-up shared by every entry point (and by the tests that capture log lines, so
//! they check the format that ships).
//!
//! Lambda's settings are respected: `AWS_LAMBDA_LOG_FORMAT` (`JSON`, the template's
//! choice, or `Text`) and `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else `info`). A JSON line
//! carries the event's fields at the top level and, under `spans`, the fields of the spans
//! it happened in: lambda_runtime's invocation span (`requestId`, `xrayTraceId`) and the
//! handlers' own (`order_id`, `message_id`).
//!
//! In Lambda with `Tracing: Active` (`AWS_XRAY_DAEMON_ADDRESS` set) and the `xray` feature,
//! [`init`] adds the X-Ray trace layer (`crate::xray`) beside the log layer: spans become
//! subsegments, sent as each span ends. Logs are the same either way.

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

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
    Box::new(tracing_subscriber::registry().with(log_layer(settings, writer)))
}

/// Runs `f` logging to `writer` as a function does when Lambda sets no log variable (JSON,
/// level info): what the benches measure the handlers with.
pub fn with_lambda_default_logs<W, R>(writer: W, f: impl FnOnce() -> R) -> R
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let settings = LogSettings::from_vars(|_| None);
    tracing::subscriber::with_default(subscriber(&settings, writer), f)
}

/// The log lines of [`subscriber`] as a layer, with its own level filter, to stack with
/// other layers (the X-Ray traces, which see spans the logs do not).
pub fn log_layer<S, W>(settings: &LogSettings, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_ansi(false)
        .without_time();
    match settings.format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => layer.with_filter(filter).boxed(),
    }
}

/// Installs [`subscriber`] on stdout with the environment's settings, plus the X-Ray traces
/// when the function runs with tracing (see the module documentation). Safe to call more
/// than once; later calls do nothing.
pub fn init() {
    let settings = LogSettings::from_env();
    #[cfg(feature = "xray")]
    if init_with_traces(&settings) {
        return;
    }
    let _ = tracing::subscriber::set_global_default(subscriber(&settings, std::io::stdout));
}

/// Logs and traces, when `AWS_XRAY_DAEMON_ADDRESS` is set; `false` (nothing installed)
/// otherwise. A bad address or a socket that cannot be opened leaves logs only, and says so.
#[cfg(feature = "xray")]
fn init_with_traces(settings: &LogSettings) -> bool {
    let problem = match <Option<crate::xray::XrayConfig> as crate::config::FromEnv>::from_env() {
        Ok(None) => return false,
        Ok(Some(config)) => match crate::xray::layer(&config) {
            Ok(traces) => {
                let installed = tracing::subscriber::set_global_default(
                    tracing_subscriber::registry()
                        .with(log_layer(settings, std::io::stdout))
                        .with(traces),
                );
                if installed.is_ok() {
                    crate::xray::observe_sdk_calls();
                }
                return true;
            }
            Err(e) => format!("cannot open a socket to the X-Ray daemon: {e}"),
        },
        Err(e) => e.to_string(),
    };
    let installed = tracing::subscriber::set_global_default(subscriber(settings, std::io::stdout));
    if installed.is_ok() {
        tracing::warn!(problem = %problem, "X-Ray traces are off; logs only");
    }
    true
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
