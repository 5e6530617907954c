//! The pipeline's settings, defaulting to `template.yaml` (compiled in, so there is one
//! source of truth), with command-line overrides.

use std::time::Duration;

use orders::config::DelaySpec;
use orders::template::{PipelineSettings, Template};

use crate::pipeline::LOCAL_QUEUE_ARN;
use crate::poller::PollerConfig;
use crate::queue::local::LocalQueueConfig;

/// The template the deployed stack is built from.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// Everything `orders local` needs to behave like the deployed pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// The delivery settings (worker timeout, batch size, visibility, redrive, delay...).
    pub pipeline: PipelineSettings,
    /// Main queue retention.
    pub retention: Duration,
    /// Dead-letter queue retention.
    pub dlq_retention: Duration,
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
            queue_arn: LOCAL_QUEUE_ARN,
        }
    }

    /// The template's defaults.
    pub fn from_template() -> anyhow::Result<Self> {
        let template = Template::parse(TEMPLATE)?;
        let pipeline = PipelineSettings::resolve(&template, None)?;
        let secs = |id: &str| -> Duration {
            let value = template
                .properties(id)
                .and_then(|p| p.get("MessageRetentionPeriod"))
                .and_then(|v| v.as_u64())
                .unwrap_or(345_600);
            Duration::from_secs(value)
        };
        Ok(Self {
            pipeline,
            retention: secs("OrdersQueue"),
            dlq_retention: secs("OrdersDeadLetterQueue"),
        })
    }

    /// Applies a processing delay override (`0`, `250`, `2000-5000`).
    pub fn with_delay(mut self, spec: &str) -> anyhow::Result<Self> {
        self.pipeline.processing_delay =
            DelaySpec::parse(spec).map_err(|e| anyhow::anyhow!("--processing-delay-ms: {e}"))?;
        Ok(self)
    }
}
