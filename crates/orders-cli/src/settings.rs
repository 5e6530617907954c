//! The pipeline's settings, defaulting to `template.yaml` and `samconfig.toml` (compiled in,
//! so there is one source of truth), with command-line overrides.

use std::time::Duration;

use orders_platform::config::DelaySpec;
use orders_template::{AlarmRule, GatewayResponses, PipelineSettings, SamConfig, Template};

use crate::limits::LimitSettings;
use crate::pipeline::LOCAL_QUEUE_ARN;
use crate::poller::PollerConfig;
use crate::queue::local::LocalQueueConfig;

/// The template the deployed stack is built from.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");
/// The SAM CLI configuration: the parameters of each environment (`default`, `prod`).
pub const SAMCONFIG: &str = include_str!("../../../samconfig.toml");

/// Everything `orders local` needs to behave like the deployed pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSettings {
    /// The delivery settings (worker timeout, batch size, visibility, redrive, delay...).
    pub pipeline: PipelineSettings,
    /// Main queue retention.
    pub retention: Duration,
    /// Dead-letter queue retention.
    pub dlq_retention: Duration,
    /// The stage throttle and the account's concurrency, as `orders local` emulates them.
    pub limits: LimitSettings,
    /// How API Gateway answers what it refuses itself (the template's gateway responses).
    pub gateway_responses: GatewayResponses,
    /// The template's alarms, thresholds resolved (the dashboard evaluates them).
    pub alarms: Vec<AlarmRule>,
}

impl LocalSettings {
    /// The embedded queue pair as these settings describe it (no duplicate deliveries).
    pub fn queue_config(&self) -> LocalQueueConfig {
        LocalQueueConfig {
            visibility_timeout: self.pipeline.visibility_timeout,
            max_receive_count: self.pipeline.max_receive_count,
            retention: self.retention,
            dlq_retention: self.dlq_retention,
            duplicate_rate: 0.0,
        }
    }

    /// The event source mapping as these settings describe it, for the local queue.
    pub fn poller_config(&self) -> PollerConfig {
        let s = &self.pipeline;
        PollerConfig {
            batch_size: s.batch_size as usize,
            batching_window: s.batching_window,
            max_concurrency: s.maximum_concurrency as usize,
            function_timeout: s.worker_timeout,
            visibility_timeout: s.visibility_timeout,
            queue_arn: LOCAL_QUEUE_ARN,
        }
    }

    /// The template's defaults.
    pub fn from_template() -> anyhow::Result<Self> {
        Self::for_environment(None)
    }

    /// The template's defaults with a `samconfig.toml` environment's parameters on top
    /// (`None`: the template's own defaults).
    pub fn for_environment(env: Option<&str>) -> anyhow::Result<Self> {
        let template = Template::parse(TEMPLATE)?;
        let config = SamConfig::parse(SAMCONFIG)?;
        let overrides = match env {
            None => None,
            Some(name) => Some(config.overrides(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "samconfig.toml has no environment {name:?}; it has: {}",
                    config.environments().collect::<Vec<_>>().join(", ")
                )
            })?),
        };
        let pipeline = PipelineSettings::resolve(&template, overrides)?;
        let mut params = template.parameter_defaults();
        params.extend(
            overrides
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let alarms = template.alarms(&params)?;
        let secs = |id: &str| -> Duration {
            let value = template
                .properties(id)
                .and_then(|p| p.get("MessageRetentionPeriod"))
                .and_then(|v| v.as_u64())
                .unwrap_or(345_600);
            Duration::from_secs(value)
        };
        let limits = LimitSettings {
            api: Some((pipeline.api_rate_limit, pipeline.api_burst_limit)),
            account_concurrency: Some(pipeline.account_concurrency),
            ..LimitSettings::OFF
        };
        Ok(Self {
            pipeline,
            retention: secs("OrdersQueue"),
            dlq_retention: secs("OrdersDeadLetterQueue"),
            limits,
            gateway_responses: GatewayResponses::from_template(&template)?,
            alarms,
        })
    }

    /// The timing and concurrency rules these settings break (see
    /// [`PipelineSettings::violations`]), with the limits as `orders local` emulates them:
    /// a limit that is off (not emulated) breaks no rule.
    pub fn violations(&self) -> Vec<String> {
        let mut p = self.pipeline.clone();
        match self.limits.account_concurrency {
            Some(n) => p.account_concurrency = n,
            None => {
                p.account_concurrency = u32::MAX;
                p.ingest_reserved_concurrency = None;
            }
        }
        (p.api_rate_limit, p.api_burst_limit) = self.limits.api.unwrap_or((0, 0));
        p.violations()
    }

    /// The settings as `orders local` enforces them, for `orders plan --local`: a limit it
    /// does not emulate (off) is unlimited.
    pub fn emulated(&self) -> PipelineSettings {
        let mut p = self.pipeline.clone();
        p.account_concurrency = self.limits.account_concurrency.unwrap_or(u32::MAX);
        if self.limits.account_concurrency.is_none() {
            p.ingest_reserved_concurrency = None;
        }
        (p.api_rate_limit, p.api_burst_limit) = self.limits.api.unwrap_or((u32::MAX, u32::MAX));
        p
    }

    /// No stage throttle and no concurrency limit: the pipeline's own behaviour (tests of
    /// other things, benchmarks).
    pub fn unlimited(mut self) -> Self {
        self.limits = LimitSettings::OFF;
        self
    }

    /// Applies a processing delay override (`0`, `250`, `2000-5000`).
    pub fn with_delay(mut self, spec: &str) -> anyhow::Result<Self> {
        self.pipeline.processing_delay =
            DelaySpec::parse(spec).map_err(|e| anyhow::anyhow!("--processing-delay-ms: {e}"))?;
        Ok(self)
    }
}
