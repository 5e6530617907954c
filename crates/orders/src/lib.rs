//! Shared core of the order pipeline.
//!
//! - [`domain`]: orders and the rules that make one valid (no I/O).
//! - [`ports`]: the capabilities handlers need, one small trait each.
//! - [`adapters`]: those capabilities over SQS and DynamoDB, and in memory for tests.
//! - [`http`]: the single mapping from errors to API responses.
//! - [`config`]: settings from the environment and the shared AWS SDK configuration.
//! - [`metrics`]: business metric names and their CloudWatch EMF output.
//! - [`telemetry`]: log set-up.
//! - `xray` (feature `xray`): X-Ray subsegments from `tracing` spans and AWS SDK calls.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod telemetry;
#[cfg(feature = "template")]
pub mod template;
#[cfg(feature = "xray")]
pub mod xray;
