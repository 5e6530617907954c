//! The order pipeline's platform: what the domain's ports need from AWS, and what every
//! function shares around its handler.
//!
//! - [`adapters`]: the ports over SQS and DynamoDB, and in memory for tests.
//! - [`config`]: settings from the environment and the shared AWS SDK configuration.
//! - `lambda` (feature `lambda`): the functions' one entry point.
//! - [`metrics`]: business metric names and their CloudWatch EMF output.
//! - [`telemetry`]: log set-up.
//! - `xray` (feature `xray`): X-Ray subsegments from `tracing` spans and AWS SDK calls.

pub mod adapters;
pub mod config;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod telemetry;
#[cfg(feature = "xray")]
pub mod xray;
