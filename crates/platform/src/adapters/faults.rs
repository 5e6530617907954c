//! Fault injection at the adapter boundary, off unless configured.
//!
//! [`FaultyStore`] wraps the table adapter the worker writes through. Per write it may add
//! a delay, fail as the worker would on a bug (`failure_rate`), panic (`panic_rate`), or
//! answer as a throttling or failing DynamoDB would (`throttle_rate`, `error_rate`); a
//! `rule` can fail chosen orders deterministically (tests). Every injected failure goes
//! through the same paths as a real one: the record is retried, then dead-lettered.
//!
//! Settings come from the environment (`FAULT_*`, see [`FaultConfig::from_lookup`]) for
//! the worker Lambda, and from flags for `orders local`.

use std::sync::Arc;

use crate::config::{ConfigError, DelaySpec, FromEnv, Vars};
use orders_domain::ports::{OrderStore, PutOutcome, StoreError};
use orders_domain::StoredOrder;

/// Decides, per write, whether to fail it and how.
pub type StoreFaultRule = Arc<dyn Fn(&StoredOrder) -> Option<StoreError> + Send + Sync>;

/// Probabilities (0.0 to 1.0) and delays of injected faults. All zero by default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultConfig {
    /// Share of writes failed as a worker error (`FAULT_FAILURE_RATE`).
    pub failure_rate: f64,
    /// Share of writes that panic (`FAULT_PANIC_RATE`).
    pub panic_rate: f64,
    /// Share of writes answered as DynamoDB throttling (`FAULT_THROTTLE_RATE`).
    pub throttle_rate: f64,
    /// Share of writes answered as a DynamoDB error (`FAULT_ERROR_RATE`).
    pub error_rate: f64,
    /// Extra delay before each write (`FAULT_EXTRA_DELAY_MS`: `250` or `100-900`).
    pub extra_delay: DelaySpec,
    /// Share of sends delivered twice (`FAULT_DUPLICATE_RATE`; the embedded queue only: SQS
    /// duplicates on its own).
    pub duplicate_rate: f64,
}

impl FaultConfig {
    /// True when no write fault is injected.
    pub fn is_off(&self) -> bool {
        Self {
            duplicate_rate: 0.0,
            ..*self
        } == Self::default()
    }
}

/// Reads `FAULT_FAILURE_RATE`, `FAULT_PANIC_RATE`, `FAULT_THROTTLE_RATE`, `FAULT_ERROR_RATE`,
/// `FAULT_DUPLICATE_RATE` (each 0.0-1.0) and `FAULT_EXTRA_DELAY_MS`.
impl FromEnv for FaultConfig {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let rate = |name| vars.parse_or(name, 0.0, parse_rate);
        Ok(Self {
            failure_rate: rate("FAULT_FAILURE_RATE")?,
            panic_rate: rate("FAULT_PANIC_RATE")?,
            throttle_rate: rate("FAULT_THROTTLE_RATE")?,
            error_rate: rate("FAULT_ERROR_RATE")?,
            duplicate_rate: rate("FAULT_DUPLICATE_RATE")?,
            extra_delay: vars.parse_or(
                "FAULT_EXTRA_DELAY_MS",
                DelaySpec::None,
                DelaySpec::parse,
            )?,
        })
    }
}

/// A share of writes: a number from 0.0 to 1.0 (the `FAULT_*_RATE` variables and
/// `orders local`'s `--fault-*-rate` flags).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err("must be a number from 0.0 to 1.0".into()),
    }
}

/// An [`OrderStore`] that injects the configured faults and passes the rest through.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    config: FaultConfig,
    rule: Option<StoreFaultRule>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`; with the default config and no rule every write passes through.
    pub fn new(inner: S, config: FaultConfig, rule: Option<StoreFaultRule>) -> Self {
        if !config.is_off() {
            tracing::warn!(?config, "fault injection is ON");
        }
        Self {
            inner,
            config,
            rule,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: OrderStore> OrderStore for FaultyStore<S> {
    async fn put_new(&self, order: &StoredOrder) -> Result<PutOutcome, StoreError> {
        if let Some(error) = self.rule.as_ref().and_then(|rule| rule(order)) {
            return Err(error);
        }
        let c = &self.config;
        if c.is_off() {
            return self.inner.put_new(order).await;
        }
        tokio::time::sleep(c.extra_delay.sample()).await;
        let roll = fastrand::f64();
        let mut edge = c.failure_rate;
        if roll < edge {
            return Err(StoreError::Unavailable("injected worker failure".into()));
        }
        edge += c.panic_rate;
        if roll < edge {
            panic!("injected panic (FAULT_PANIC_RATE)");
        }
        edge += c.throttle_rate;
        if roll < edge {
            return Err(StoreError::Throttled(
                "injected ProvisionedThroughputExceededException".into(),
            ));
        }
        edge += c.error_rate;
        if roll < edge {
            return Err(StoreError::Unavailable(
                "injected InternalServerError".into(),
            ));
        }
        self.inner.put_new(order).await
    }
}
