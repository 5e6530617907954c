//! Logging set-up shared by every entry point (and by the tests that capture log lines, so
//! they check the format that ships).
//!
//! Settings: `AWS_LAMBDA_LOG_FORMAT` (`JSON`, the template's choice, or `Text`) and the level
//! from `LOG_LEVEL` (the template's LogLevel parameter), else `AWS_LAMBDA_LOG_LEVEL`, else
//! `RUST_LOG`, else `info`. The template sets Lambda's own ApplicationLogLevel to TRACE so
//! that Lambda filters nothing: Lambda gives a JSON line without a valid `level` the level
//! INFO, so at WARN it would drop every EMF metrics line
//! (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>);
//! the level filter is ours, and it never sees the metrics.
//!
//! A JSON line is one object (json-subscriber): `timestamp` (RFC 3339: Lambda ignores a
//! line's level unless its timestamp is valid), `level`, `message`, the event's fields,
//! `function_name` and `function_version` (from Lambda's environment), and the fields of the
//! [`LOG_CONTEXT`] spans it happened in: [`crate::lambda::run`]'s invocation span
//! (`function_request_id`, `xray_trace_id`, `cold_start`, as Powertools' logger names them)
//! and a handler's own (the ingest's `api_request_id`).
//!
//! In Lambda with `Tracing: Active` (`AWS_XRAY_DAEMON_ADDRESS` set) and the `xray` feature,
//! [`init`] adds the X-Ray trace layer (`crate::xray`) beside the log layer: spans become
//! subsegments, sent as each span ends. Logs are the same either way.

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Id, Subscriber};
use tracing_subscriber::filter::{filter_fn, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

/// Target of the spans whose fields go on every JSON line logged inside them (and that are
/// not traced). Open one with `tracing::info_span!(target: LOG_CONTEXT, "name", field = ..)`.
pub const LOG_CONTEXT: &str = "log_context";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (CloudWatch Logs Insights can query every field).
    Json,
    /// Plain text, for `AWS_LAMBDA_LOG_FORMAT=Text`.
    Text,
}

/// Log format, level and the function's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
    /// A level (`info`) or `target=level` directives (`orders=debug,info`).
    pub level: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, on every JSON line when set.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_VERSION` (`$LATEST`, or the version an alias points at).
    pub function_version: Option<String>,
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
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let level = set("LOG_LEVEL")
            .or_else(|| set("AWS_LAMBDA_LOG_LEVEL"))
            .or_else(|| set("RUST_LOG"))
            .unwrap_or_else(|| "info".into())
            .to_lowercase();
        Self {
            format,
            level,
            function_name: set("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: set("AWS_LAMBDA_FUNCTION_VERSION"),
        }
    }

    /// JSON at `level`, outside Lambda (no function name or version).
    pub fn json(level: &str) -> Self {
        Self {
            format: LogFormat::Json,
            level: level.into(),
            function_name: None,
            function_version: None,
        }
    }
}

/// The subscriber every entry point uses, writing to `writer`, without ANSI colours.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    Box::new(
        tracing_subscriber::registry()
            .with(ContextLayer)
            .with(log_layer(settings, writer)),
    )
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
/// other layers (the X-Ray traces, which see spans the logs do not). Needs [`ContextLayer`]
/// in the same subscriber for the context fields.
pub fn log_layer<S, W>(settings: &LogSettings, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    match settings.format {
        LogFormat::Json => {
            let levels: Targets = settings
                .level
                .parse()
                .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
            // Events at the configured level; of the spans only the log-context ones, which
            // are what the lines need (whatever their level) and cheap to keep.
            let filter = filter_fn(move |meta| {
                if meta.is_span() {
                    meta.target() == LOG_CONTEXT
                } else {
                    levels.would_enable(meta.target(), meta.level())
                }
            });
            let mut layer = json_subscriber::JsonLayer::new(writer);
            layer
                .with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
                .with_level("level")
                .with_flattened_event();
            for (key, value) in [
                ("function_name", &settings.function_name),
                ("function_version", &settings.function_version),
            ] {
                if let Some(value) = value {
                    layer.add_static_field(key, value.clone().into());
                }
            }
            layer.add_multiple_dynamic_fields(|event, ctx, out| {
                let Some(scope) = ctx.event_scope(event) else {
                    return;
                };
                for span in scope.from_root() {
                    if let Some(fields) = span.extensions().get::<ContextFields>() {
                        for (key, value) in &fields.0 {
                            let _ = out.write_field(key, value);
                        }
                    }
                }
            });
            layer.with_filter(filter).boxed()
        }
        LogFormat::Text => {
            let filter =
                EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_target(false)
                .with_ansi(false)
                .without_time()
                .with_filter(filter)
                .boxed()
        }
    }
}

/// The log context of one invocation ([`crate::lambda::run`] opens it around the handler):
/// every line logged while it runs carries Lambda's request id, the X-Ray trace id (the
/// `Root` of the trace header, as Powertools logs it) and whether this invocation is the
/// process's first.
pub fn invocation_span(
    request_id: &str,
    trace_header: Option<&str>,
    cold_start: bool,
) -> tracing::Span {
    let trace_id = trace_header.and_then(|header| {
        header
            .split(';')
            .find_map(|part| part.trim().strip_prefix("Root="))
    });
    tracing::info_span!(
        target: LOG_CONTEXT,
        "invocation",
        function_request_id = request_id,
        xray_trace_id = trace_id,
        cold_start,
    )
}

/// The fields of a [`LOG_CONTEXT`] span, kept in its extensions for the log lines.
struct ContextFields(Vec<(&'static str, serde_json::Value)>);

impl Visit for ContextFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
}

impl ContextFields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        match self.0.iter_mut().find(|(k, _)| *k == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.0.push((field.name(), value)),
        }
    }
}

/// Keeps the fields of [`LOG_CONTEXT`] spans for the JSON lines logged inside them.
pub struct ContextLayer;

impl<S> Layer<S> for ContextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != LOG_CONTEXT {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let mut fields = ContextFields(Vec::new());
            attrs.record(&mut fields);
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<ContextFields>() {
                values.record(fields);
            }
        }
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
                        .with(ContextLayer)
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
        assert_eq!(settings(&[]), LogSettings::json("info"));
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

    /// The template sets Lambda's ApplicationLogLevel to TRACE (so Lambda keeps the EMF lines)
    /// and passes its LogLevel parameter as LOG_LEVEL: that one is the level.
    #[test]
    fn the_templates_log_level_wins_over_lambdas_trace() {
        let s = settings(&[
            ("LOG_LEVEL", "WARN"),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
            ("RUST_LOG", "debug"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-IngestFunction-x1"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
        ]);
        assert_eq!(s.level, "warn");
        assert_eq!(s.function_name.as_deref(), Some("orders-IngestFunction-x1"));
        assert_eq!(s.function_version.as_deref(), Some("7"));
        assert_eq!(settings(&[("LOG_LEVEL", " ")]).level, "info");
    }
}
