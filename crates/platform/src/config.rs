//! Configuration from the environment, with the defaults documented in the README.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Environment variable naming the queue ingest sends to.
pub const ENV_QUEUE_URL: &str = "QUEUE_URL";
/// Environment variable naming the table the worker writes to.
pub const ENV_TABLE_NAME: &str = "TABLE_NAME";
/// Environment variable with the worker's simulated processing delay (`0`, `250`, `2000-5000`).
pub const ENV_PROCESSING_DELAY_MS: &str = "PROCESSING_DELAY_MS";
/// Environment variable with the worker's safety margin before the invocation deadline.
pub const ENV_DEADLINE_MARGIN_MS: &str = "DEADLINE_MARGIN_MS";
/// Environment variable naming ingest's idempotency-key table (optional: without it the
/// `Idempotency-Key` header is ignored).
pub const ENV_IDEMPOTENCY_TABLE: &str = "IDEMPOTENCY_TABLE";
/// Environment variable with the `Retry-After` seconds ingest sends with a 503.
pub const ENV_RETRY_AFTER_SECONDS: &str = "RETRY_AFTER_SECONDS";

/// Environment variable lambda_runtime sets to the current invocation's X-Ray trace header.
pub const ENV_TRACE_HEADER: &str = "_X_AMZN_TRACE_ID";

/// The X-Ray trace header lambda_runtime sets before each (sequential) invocation.
pub fn lambda_trace_header() -> Option<String> {
    std::env::var(ENV_TRACE_HEADER)
        .ok()
        .filter(|v| !v.is_empty())
}

/// Default safety margin: a record that cannot finish this long before the deadline fails.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(1000);
/// Longest one AWS call may take, retries included. The worker's timeout must leave room
/// for it after the largest simulated delay (checked against `template.yaml` by the tests).
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Default `Retry-After` for a 503.
pub const DEFAULT_RETRY_AFTER_SECONDS: u32 = 2;

/// A configuration problem, reported at init so the function fails fast and visibly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// The one reader of settings from environment variables: every configuration that a
/// function reads at init goes through it, from the process environment or, in tests, from
/// any lookup. An unset variable takes its default; a set one must parse, or init fails
/// with a message naming it.
#[derive(Debug, Clone, Copy)]
pub struct Vars<G>(G);

impl<G: Fn(&str) -> Option<String>> Vars<G> {
    /// Reads through `get`.
    pub fn new(get: G) -> Self {
        Self(get)
    }

    /// The variable's value as set, or `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// The variable's value; unset or blank is an error.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// The variable parsed by `parse`, or `default` when unset; a value `parse` refuses is
    /// an error naming the variable, its value and the reason.
    pub fn parse_or<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match (self.0)(name) {
            None => Ok(default),
            Some(value) => parse(&value).map_err(|reason| ConfigError::Invalid {
                name,
                value,
                reason,
            }),
        }
    }

    /// A whole number, or `default` when unset.
    pub fn number_or<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        self.parse_or(name, default, |v| {
            v.trim()
                .parse()
                .map_err(|_| "not a whole number".to_owned())
        })
    }
}

/// Settings read from environment variables through [`Vars`].
pub trait FromEnv: Sized {
    /// Reads the settings through `vars`.
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError>;

    /// Reads the settings through `get` (tests pass a map).
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Vars::new(get))
    }

    /// Reads the settings from the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// The simulated processing time of one order: a fixed number of milliseconds or a range
/// from which each record draws uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DelaySpec {
    /// No delay.
    #[default]
    None,
    /// Always this many milliseconds.
    Fixed(u64),
    /// Uniformly between the two bounds, inclusive.
    Range(u64, u64),
}

/// As a user writes it: `0 ms`, `250 ms`, `2000-5000 ms`.
impl std::fmt::Display for DelaySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::None => f.write_str("0 ms"),
            Self::Fixed(ms) => write!(f, "{ms} ms"),
            Self::Range(lo, hi) => write!(f, "{lo}-{hi} ms"),
        }
    }
}

impl DelaySpec {
    /// Parses `0`, `250` or `2000-5000`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?} is not a whole number of milliseconds"))
        };
        match raw.split_once('-') {
            None => match number(raw)? {
                0 => Ok(Self::None),
                ms => Ok(Self::Fixed(ms)),
            },
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                match lo.cmp(&hi) {
                    std::cmp::Ordering::Greater => {
                        Err(format!("range {lo}-{hi} has its lower bound first"))
                    }
                    std::cmp::Ordering::Equal if lo == 0 => Ok(Self::None),
                    std::cmp::Ordering::Equal => Ok(Self::Fixed(lo)),
                    std::cmp::Ordering::Less => Ok(Self::Range(lo, hi)),
                }
            }
        }
    }

    /// The longest delay this spec can produce.
    pub fn max(&self) -> Duration {
        Duration::from_millis(match *self {
            Self::None => 0,
            Self::Fixed(ms) | Self::Range(_, ms) => ms,
        })
    }

    /// Draws one delay.
    pub fn sample(&self) -> Duration {
        Duration::from_millis(match *self {
            Self::None => 0,
            Self::Fixed(ms) => ms,
            Self::Range(lo, hi) => fastrand::u64(lo..=hi),
        })
    }
}

/// Settings of the ingest function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Queue URL ([`ENV_QUEUE_URL`]).
    pub queue_url: String,
    /// `Retry-After` seconds on a 503 ([`ENV_RETRY_AFTER_SECONDS`]).
    pub retry_after_seconds: u32,
    /// Idempotency-key table ([`ENV_IDEMPOTENCY_TABLE`]), if idempotent retries are offered.
    pub idempotency_table: Option<String>,
}

impl FromEnv for IngestConfig {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            idempotency_table: vars.get(ENV_IDEMPOTENCY_TABLE),
            queue_url: vars.required(ENV_QUEUE_URL)?,
            retry_after_seconds: vars
                .number_or(ENV_RETRY_AFTER_SECONDS, DEFAULT_RETRY_AFTER_SECONDS)?,
        })
    }
}

/// Settings of the worker function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Table name ([`ENV_TABLE_NAME`]).
    pub table_name: String,
    /// Simulated processing delay ([`ENV_PROCESSING_DELAY_MS`]).
    pub delay: DelaySpec,
    /// Safety margin before the deadline ([`ENV_DEADLINE_MARGIN_MS`]).
    pub deadline_margin: Duration,
}

impl FromEnv for WorkerConfig {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let default_margin = DEFAULT_DEADLINE_MARGIN.as_millis() as u64;
        Ok(Self {
            table_name: vars.required(ENV_TABLE_NAME)?,
            delay: vars.parse_or(ENV_PROCESSING_DELAY_MS, DelaySpec::None, DelaySpec::parse)?,
            deadline_margin: Duration::from_millis(
                vars.number_or(ENV_DEADLINE_MARGIN_MS, default_margin)?,
            ),
        })
    }
}

/// Settings of the status function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusConfig {
    /// Table name ([`ENV_TABLE_NAME`]).
    pub table_name: String,
    /// `Retry-After` seconds on a 503 ([`ENV_RETRY_AFTER_SECONDS`]).
    pub retry_after_seconds: u32,
}

impl FromEnv for StatusConfig {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required(ENV_TABLE_NAME)?,
            retry_after_seconds: vars
                .number_or(ENV_RETRY_AFTER_SECONDS, DEFAULT_RETRY_AFTER_SECONDS)?,
        })
    }
}

/// The CA bundle [`pin_ca_bundle`] points `SSL_CERT_FILE` at: none when the environment
/// already chooses the certificates (`SSL_CERT_FILE` or `SSL_CERT_DIR` set), else
/// `probed`, the bundle file the SDK's HTTPS client would read first.
pub fn ca_bundle_to_pin(
    var: impl Fn(&str) -> Option<OsString>,
    probed: Option<PathBuf>,
) -> Option<PathBuf> {
    if var("SSL_CERT_FILE").is_some() || var("SSL_CERT_DIR").is_some() {
        return None;
    }
    probed
}

/// Makes the SDK's HTTPS client read the system's CA bundle once at init. Without a
/// choice in the environment, rustls-native-certs loads the bundle file that
/// `openssl-probe` finds and then every file of each certificate directory: on Lambda's
/// Amazon Linux 2023 the same bundle again through `/etc/pki/tls/certs` and its
/// `/etc/ssl/certs` link, on Debian-like systems some 300 single-certificate files (about
/// 3 ms of cold start on the benchmark machine, `bench/RESULTS.md`). The bundle is the file
/// the client would have read first anyway, found by the same search, and nothing is set
/// when there is none or when `SSL_CERT_FILE`/`SSL_CERT_DIR` are already set.
///
/// Call it first in `main`, before any other thread exists: it sets an environment
/// variable.
pub fn pin_ca_bundle() {
    let probed = openssl_probe::probe().cert_file;
    if let Some(bundle) = ca_bundle_to_pin(|name| std::env::var_os(name), probed) {
        std::env::set_var("SSL_CERT_FILE", bundle);
    }
}

/// The shared AWS SDK configuration: default credential chain and region,
/// `AWS_ENDPOINT_URL` honoured (moto, Dynoxide), standard retries with backoff and jitter
/// (which the SDK applies to throttling errors), and timeouts that keep a request well
/// inside a function's own timeout.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(SDK_OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}
