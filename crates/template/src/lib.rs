//! Reads `template.yaml` and `samconfig.toml`, the single source of truth for the pipeline's
//! settings, and checks the timing rules that keep orders from being lost or doubled.
//!
//! Used by the template tests and by the local runner (which takes its defaults from here).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::Value;

use orders_platform::config::{DelaySpec, SDK_OPERATION_TIMEOUT};

mod alarms;
mod gateway;

pub use alarms::{AlarmRule, Watched};
pub use gateway::{
    response_type_defaults, ErrorContext, GatewayResponse, GatewayResponses, RenderedResponse,
    TEMPLATE_VARIABLES,
};

/// A problem reading the template or the SAM configuration.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what was expected.
    #[error("{0}")]
    Invalid(String),
}

/// The parsed SAM template, with CloudFormation short-form tags (`!Ref`, `!GetAtt`, ...)
/// kept as tagged values.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let text = read(path.as_ref())?;
        Self::parse(&text)
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| TemplateError::Invalid(format!("template is not YAML: {e}")))?;
        Ok(Self { root })
    }

    /// The whole document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The document, mutable (tests use it to break rules on purpose).
    pub fn root_mut(&mut self) -> &mut Value {
        &mut self.root
    }

    /// A resource by logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.root.get("Resources")?.get(logical_id)
    }

    /// A resource's `Properties`.
    pub fn properties(&self, logical_id: &str) -> Option<&Value> {
        self.resource(logical_id)?.get("Properties")
    }

    /// The names of all parameters, in template order.
    pub fn parameter_names(&self) -> Vec<String> {
        match self.root.get("Parameters") {
            Some(Value::Mapping(params)) => params
                .keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every parameter's default, as text.
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Mapping(params)) = self.root.get("Parameters") {
            for (name, spec) in params {
                if let (Some(name), Some(default)) = (name.as_str(), spec.get("Default")) {
                    if let Some(text) = scalar_text(default) {
                        out.insert(name.to_owned(), text);
                    }
                }
            }
        }
        out
    }
}

/// The parameter overrides of each `samconfig.toml` environment.
#[derive(Debug, Clone, Default)]
pub struct SamConfig {
    environments: BTreeMap<String, BTreeMap<String, String>>,
}

impl SamConfig {
    /// Reads and parses `samconfig.toml`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let text = read(path.as_ref())?;
        Self::parse(&text)
    }

    /// Parses `samconfig.toml` text: `[<env>.deploy.parameters] parameter_overrides`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e| TemplateError::Invalid(format!("samconfig is not TOML: {e}")))?;
        let mut environments = BTreeMap::new();
        for (env, body) in &doc {
            let overrides = body
                .get("deploy")
                .and_then(|d| d.get("parameters"))
                .and_then(|p| p.get("parameter_overrides"));
            let Some(overrides) = overrides else { continue };
            let text = match overrides {
                toml::Value::String(s) => s.clone(),
                toml::Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => {
                    return Err(TemplateError::Invalid(format!(
                        "{env}: parameter_overrides must be a string or a list"
                    )))
                }
            };
            environments.insert(env.clone(), parse_overrides(&text)?);
        }
        Ok(Self { environments })
    }

    /// Names of the environments that override parameters (`default`, `prod`, ...).
    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.environments.keys().map(String::as_str)
    }

    /// The overrides of one environment.
    pub fn overrides(&self, env: &str) -> Option<&BTreeMap<String, String>> {
        self.environments.get(env)
    }
}

/// Parses SAM's `Key=Value Key2="Value 2"` override syntax.
pub fn parse_overrides(text: &str) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            value.extend(chars.by_ref().take_while(|&c| c != '"'));
        } else if chars.peek().is_none_or(|c| c.is_whitespace()) {
            // SAM's own parser (samcli.cli.types.CfnParameterOverridesType) drops such a
            // pair without a word, so the template default would apply instead of "".
            return Err(TemplateError::Invalid(format!(
                "parameter override {key}= has no value: SAM ignores it; write {key}=\"\""
            )));
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(TemplateError::Invalid(format!(
                "malformed parameter override near {key:?}"
            )));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// The settings that govern delivery and timing, resolved for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSettings {
    /// Worker function timeout.
    pub worker_timeout: Duration,
    /// Orders queue visibility timeout.
    pub visibility_timeout: Duration,
    /// Receives before a message is dead-lettered.
    pub max_receive_count: u32,
    /// Most records per worker invocation.
    pub batch_size: u32,
    /// Longest wait to fill a batch.
    pub batching_window: Duration,
    /// Most concurrent worker invocations from the event source.
    pub maximum_concurrency: u32,
    /// Worker reserved concurrency, if any.
    pub worker_reserved_concurrency: Option<u32>,
    /// Simulated processing delay.
    pub processing_delay: DelaySpec,
    /// Worker safety margin before the deadline.
    pub deadline_margin: Duration,
    /// Whether the event source reports partial batch failures.
    pub report_batch_item_failures: bool,
    /// Concurrent executions the stack's functions share (`AccountConcurrency`: the
    /// account's quota, 10 on a new account, or what is left of it to this stack).
    pub account_concurrency: u32,
    /// Ingest reserved concurrency, if any.
    pub ingest_reserved_concurrency: Option<u32>,
    /// The API stage's steady rate, in requests per second (`ApiThrottlingRateLimit`).
    pub api_rate_limit: u32,
    /// The API stage's burst, in requests (`ApiThrottlingBurstLimit`).
    pub api_burst_limit: u32,
}

/// How long one API request holds a function execution, for the arithmetic of the stage
/// throttle: the ingest's warm invocation measured 11.4 ms median, 18.6 ms p90 against a
/// local SQS (bench/RESULTS.md, "cold start"), rounded up to 50 ms for AWS's network.
/// Cold starts take longer (about 100 ms of init); the stage's burst covers those.
pub const API_REQUEST_PLANNING_DURATION: Duration = Duration::from_millis(50);

impl PipelineSettings {
    /// Resolves the settings from the template, with `overrides` (a samconfig environment)
    /// on top of the parameter defaults.
    pub fn resolve(
        template: &Template,
        overrides: Option<&BTreeMap<String, String>>,
    ) -> Result<Self, TemplateError> {
        let mut params = template.parameter_defaults();
        if let Some(overrides) = overrides {
            params.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let worker = template
            .properties("WorkerFunction")
            .ok_or_else(|| invalid("WorkerFunction is missing"))?;
        let queue = template
            .properties("OrdersQueue")
            .ok_or_else(|| invalid("OrdersQueue is missing"))?;
        let event = sqs_event(worker).ok_or_else(|| invalid("WorkerFunction has no SQS event"))?;
        let env = worker
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .ok_or_else(|| invalid("WorkerFunction has no environment"))?;
        let num = |v: Option<&Value>, what: &str| -> Result<u64, TemplateError> {
            let text = v
                .and_then(|v| resolve_scalar(v, &params))
                .ok_or_else(|| invalid(format!("{what} is not set")))?;
            text.parse::<u64>()
                .map_err(|_| invalid(format!("{what}={text:?} is not a whole number")))
        };
        let reserved_of = |function: &Value| -> Result<Option<u32>, TemplateError> {
            match function
                .get("ReservedConcurrentExecutions")
                .and_then(|v| resolve_scalar(v, &params))
            {
                None => Ok(None),
                Some(t) if t == "-1" => Ok(None),
                Some(t) => t
                    .parse()
                    .map(Some)
                    .map_err(|_| invalid(format!("reserved concurrency {t:?}"))),
            }
        };
        let reserved = reserved_of(worker)?;
        let ingest = template
            .properties("IngestFunction")
            .ok_or_else(|| invalid("IngestFunction is missing"))?;
        let stage = template
            .properties("OrdersApi")
            .and_then(|api| api.get("MethodSettings"))
            .and_then(Value::as_sequence)
            .and_then(|settings| settings.first())
            .ok_or_else(|| invalid("OrdersApi has no MethodSettings (the stage throttle)"))?;
        let account = params
            .get("AccountConcurrency")
            .ok_or_else(|| invalid("the AccountConcurrency parameter is missing"))?;
        let account_concurrency = account.parse().map_err(|_| {
            invalid(format!(
                "AccountConcurrency={account:?} is not a whole number"
            ))
        })?;
        let delay_text = env
            .get("PROCESSING_DELAY_MS")
            .and_then(|v| resolve_scalar(v, &params))
            .unwrap_or_else(|| "0".into());
        let processing_delay = DelaySpec::parse(&delay_text)
            .map_err(|e| invalid(format!("PROCESSING_DELAY_MS: {e}")))?;
        let report = event
            .get("FunctionResponseTypes")
            .and_then(Value::as_sequence)
            .is_some_and(|types| {
                types
                    .iter()
                    .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
            });
        Ok(Self {
            worker_timeout: secs(num(worker.get("Timeout"), "WorkerFunction Timeout")?),
            visibility_timeout: secs(num(queue.get("VisibilityTimeout"), "VisibilityTimeout")?),
            max_receive_count: num(
                queue
                    .get("RedrivePolicy")
                    .and_then(|r| r.get("maxReceiveCount")),
                "maxReceiveCount",
            )? as u32,
            batch_size: num(event.get("BatchSize"), "BatchSize")? as u32,
            batching_window: secs(num(
                event.get("MaximumBatchingWindowInSeconds"),
                "MaximumBatchingWindowInSeconds",
            )?),
            maximum_concurrency: num(
                event
                    .get("ScalingConfig")
                    .and_then(|s| s.get("MaximumConcurrency")),
                "MaximumConcurrency",
            )? as u32,
            worker_reserved_concurrency: reserved,
            processing_delay,
            deadline_margin: Duration::from_millis(num(
                env.get("DEADLINE_MARGIN_MS"),
                "DEADLINE_MARGIN_MS",
            )?),
            report_batch_item_failures: report,
            account_concurrency,
            ingest_reserved_concurrency: reserved_of(ingest)?,
            api_rate_limit: num(stage.get("ThrottlingRateLimit"), "ThrottlingRateLimit")? as u32,
            api_burst_limit: num(stage.get("ThrottlingBurstLimit"), "ThrottlingBurstLimit")? as u32,
        })
    }

    /// Executions the worker may hold at once: its event source's `MaximumConcurrency`, or
    /// its reservation when that is larger (a reservation is set aside whether used or not).
    pub fn worker_concurrency(&self) -> u32 {
        self.maximum_concurrency
            .max(self.worker_reserved_concurrency.unwrap_or(0))
    }

    /// Executions left to the API's functions (ingest and status): the ingest's
    /// reservation if it has one, else the account's concurrency less the worker's share.
    pub fn api_concurrency(&self) -> u32 {
        self.ingest_reserved_concurrency.unwrap_or_else(|| {
            self.account_concurrency
                .saturating_sub(self.worker_concurrency())
        })
    }

    /// Executions the stage throttle lets the API hold at once, at most: a full burst,
    /// plus the tokens that refill while those requests run
    /// ([`API_REQUEST_PLANNING_DURATION`]).
    pub fn api_peak_concurrency(&self) -> u32 {
        // In whole milliseconds: 40/s x 0.05 s is 2 exactly, not float 2.0000000000000004.
        let ms = API_REQUEST_PLANNING_DURATION.as_millis() as u64;
        let refill = (u64::from(self.api_rate_limit) * ms).div_ceil(1000);
        self.api_burst_limit
            .saturating_add(u32::try_from(refill).unwrap_or(u32::MAX))
    }

    /// The rules that keep orders from being lost, doubled or dead-lettered unrun; each
    /// broken rule is one line saying which and why.
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        let min_visibility = self.worker_timeout * 6 + self.batching_window;
        if self.visibility_timeout < min_visibility {
            out.push(format!(
                "VisibilityTimeout {}s < 6 x worker Timeout + batching window = {}s: messages would reappear while still being processed",
                self.visibility_timeout.as_secs(),
                min_visibility.as_secs()
            ));
        }
        if self.max_receive_count < 5 {
            out.push(format!(
                "maxReceiveCount {} < 5: throttled receives would dead-letter orders that never ran",
                self.max_receive_count
            ));
        }
        let needed = self.processing_delay.max() + SDK_OPERATION_TIMEOUT + self.deadline_margin;
        if self.worker_timeout <= needed {
            out.push(format!(
                "worker Timeout {}s <= largest delay {} ms + write {} ms + margin {} ms: slow records could never finish",
                self.worker_timeout.as_secs(),
                self.processing_delay.max().as_millis(),
                SDK_OPERATION_TIMEOUT.as_millis(),
                self.deadline_margin.as_millis()
            ));
        }
        if let Some(reserved) = self.worker_reserved_concurrency {
            if self.maximum_concurrency > reserved {
                out.push(format!(
                    "MaximumConcurrency {} > worker reserved concurrency {reserved}: the pollers would over-pull and throttled messages would burn receive counts",
                    self.maximum_concurrency
                ));
            }
        }
        if self.batch_size > 10 && self.batching_window.is_zero() {
            out.push(format!(
                "BatchSize {} > 10 needs MaximumBatchingWindowInSeconds >= 1",
                self.batch_size
            ));
        }
        if self.ingest_reserved_concurrency.is_none()
            && self.worker_concurrency() >= self.account_concurrency
        {
            out.push(format!(
                "the worker's {} concurrent executions (MaximumConcurrency, or its reservation) leave none of AccountConcurrency {} to the API: every order would be throttled",
                self.worker_concurrency(),
                self.account_concurrency
            ));
        } else if self.api_peak_concurrency() > self.api_concurrency() {
            out.push(format!(
                "API stage burst {} + rate {}/s x {} ms = {} concurrent requests > the {} executions left to the API ({}): Lambda would throttle what the stage lets through, and clients would get 503s instead of 429s",
                self.api_burst_limit,
                self.api_rate_limit,
                API_REQUEST_PLANNING_DURATION.as_millis(),
                self.api_peak_concurrency(),
                self.api_concurrency(),
                match self.ingest_reserved_concurrency {
                    Some(_) => "IngestReservedConcurrency".to_owned(),
                    None => format!(
                        "AccountConcurrency {} - the worker's {}",
                        self.account_concurrency,
                        self.worker_concurrency()
                    ),
                }
            ));
        }
        if !self.report_batch_item_failures {
            out.push(
                "FunctionResponseTypes lacks ReportBatchItemFailures: one failed record would retry the whole batch".into(),
            );
        }
        out
    }
}

/// The worker's SQS event's `Properties`.
fn sqs_event(function: &Value) -> Option<&Value> {
    let Value::Mapping(events) = function.get("Events")? else {
        return None;
    };
    events
        .values()
        .find(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))?
        .get("Properties")
}

/// A literal scalar, or a `!Ref Parameter` resolved through `params`.
pub fn resolve_scalar(value: &Value, params: &BTreeMap<String, String>) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            params.get(tagged.value.as_str()?).cloned()
        }
        Value::Tagged(tagged) if tagged.tag == "!If" => {
            // `!If [Cond, !Ref X, !Ref AWS::NoValue]`: the value when the condition holds.
            resolve_scalar(tagged.value.as_sequence()?.get(1)?, params)
        }
        Value::Mapping(map) if map.len() == 1 => {
            let name = map.get("Ref")?.as_str()?;
            params.get(name).cloned()
        }
        other => scalar_text(other),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

fn read(path: &Path) -> Result<String, TemplateError> {
    std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
        path: path.display().to_string(),
        source,
    })
}
