//! The one entry point of the three functions: what every `main.rs` did the same way.
//!
//! [`run`] pins the CA bundle before any thread starts ([`crate::config::pin_ca_bundle`]),
//! starts tokio, installs the logs and traces ([`crate::telemetry::init`]) and the EMF
//! metrics recorder, builds the function's handler once from the shared AWS SDK
//! configuration (clients and warm-up at init, as Lambda bills and expects), then serves
//! invocations through the Lambda Runtime API, flushing the invocation's metrics after each
//! one, whatever its outcome. The invocation span is `lambda_runtime`'s own; with X-Ray on,
//! each invocation first parents it on the function segment its trace header names
//! (`xray::adopt_invocation`). A `main.rs` is
//! then only the wiring that differs: which config, which adapters, which handler.

use std::future::Future;

use aws_config::SdkConfig;
pub use lambda_runtime::{Error, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

use tracing::Instrument as _;

use crate::config::FromEnv as _;
use crate::metrics::{EmfMetrics, MetricsConfig};

/// Runs a function: `init` builds its state (clients, the handler) from the SDK
/// configuration, once; `handle` answers each invocation with it. Returns only when the
/// runtime stops, or when init fails (which Lambda reports as an init error).
///
/// The state lives as long as the process (it is leaked once, at init), so `handle` gets it
/// as `&'static` and its future borrows nothing from the runtime's loop.
pub fn run<E, R, S, Init, InitFut, H, Fut>(init: Init, handle: H) -> Result<(), Error>
where
    E: DeserializeOwned,
    R: Serialize,
    S: Sync + 'static,
    Init: FnOnce(SdkConfig) -> InitFut,
    InitFut: Future<Output = Result<S, Error>>,
    H: Fn(&'static S, LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    // Before the runtime starts any thread: it sets an environment variable.
    crate::config::pin_ca_bundle();
    tokio::runtime::Runtime::new()?.block_on(async move {
        crate::telemetry::init();
        // CloudWatch Embedded Metric Format on stdout, flushed after every invocation.
        let metrics = EmfMetrics::stdout(MetricsConfig::from_env()?);
        metrics.install()?;
        let state: &'static S = Box::leak(Box::new(init(crate::config::sdk_config().await).await?));
        let (handle, metrics) = (&handle, &metrics);
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: LambdaEvent<E>| async move {
                #[cfg(feature = "xray")]
                crate::xray::adopt_invocation(event.context.xray_trace_id.as_deref());
                let context = crate::telemetry::invocation_span(
                    &event.context.request_id,
                    event.context.xray_trace_id.as_deref(),
                    COLD_START.swap(false, std::sync::atomic::Ordering::Relaxed),
                );
                let answer = handle(state, event).instrument(context).await;
                metrics.flush_or_log();
                answer
            },
        ))
        .await
    })
}

/// Whether the next invocation is this process's first (Powertools' `cold_start`).
static COLD_START: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
