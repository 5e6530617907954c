//! `orders local`: the settings from the template, samconfig and the flags, then the
//! pipeline until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::pipeline::{self, LocalOptions};
use crate::settings::LocalSettings;

use super::*;

pub(super) async fn run(mut args: LocalArgs) -> anyhow::Result<()> {
    init_logs(args.log_format == "json");
    args.target = args.target.resolve().await?;
    let mut settings = LocalSettings::for_environment(args.env.as_deref())?;
    let limits = &mut settings.limits;
    match args.account_concurrency {
        Some(Limit::Off) => limits.account_concurrency = None,
        Some(Limit::At(n)) => limits.account_concurrency = Some(n),
        None => {}
    }
    match (args.api_rate, args.api_burst) {
        (Some(Limit::Off), _) => limits.api = None,
        (rate, burst) => {
            if let Some(rate) = match rate {
                Some(Limit::At(r)) => Some(r),
                _ => limits.api.map(|(r, _)| r),
            } {
                let burst = burst.or(limits.api.map(|(_, b)| b)).unwrap_or(1);
                limits.api = Some((rate, burst.max(1)));
            }
        }
    }
    limits.unmapped_throttles = args.unmapped_throttles;
    if let Some(ms) = args.invocation_ms {
        limits.invocation_hold = Duration::from_millis(ms);
    }
    if let Some(spec) = &args.processing_delay_ms {
        settings = settings.with_delay(spec)?;
    }
    let p = &mut settings.pipeline;
    if let Some(v) = args.worker_timeout {
        p.worker_timeout = Duration::from_secs(v);
    }
    if let Some(v) = args.batch_size {
        p.batch_size = v;
    }
    if let Some(v) = args.batching_window {
        p.batching_window = Duration::from_secs(v);
    }
    if let Some(v) = args.max_concurrency {
        p.maximum_concurrency = v;
    }
    if let Some(v) = args.visibility_timeout {
        p.visibility_timeout = Duration::from_secs(v);
    }
    if let Some(v) = args.max_receive_count {
        p.max_receive_count = v;
    }
    if let Some(v) = args.deadline_margin_ms {
        p.deadline_margin = Duration::from_millis(v);
    }
    let running = pipeline::start(LocalOptions {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port),
        state_dir: args.target.state_dir.clone(),
        in_memory: args.in_memory,
        settings,
        aws: args.target.aws_target()?,
        enforce_timing_rules: !args.allow_unsafe_settings,
        store_fault: None,
        faults: args.faults(),
        keep_in_flight: args.keep_in_flight,
    })
    .await?;
    // One Ctrl-C listener for the whole run, installed (by its first poll) before the banner
    // says Ctrl-C stops it: a Ctrl-C that arrives while a summary is being computed is kept
    // for the next select, not lost with a listener made per iteration.
    // (Fused: had the install failed, it stays pending and Ctrl-C ends the process as usual.)
    let mut ctrl_c = Box::pin(futures::FutureExt::fuse(tokio::signal::ctrl_c()));
    let _ = futures::poll!(&mut ctrl_c);
    eprintln!("orders local is running\n{}", running.describe());
    eprintln!(
        "try:  curl -s -X POST http://{}/order -H 'Content-Type: application/json' -d @events/order-plain.json",
        running.addr()
    );
    eprintln!("Ctrl-C stops it; accepted orders are kept and delivered after a restart.");

    // Every 5 s, the metrics and queue depths, when something changed.
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    let mut last = String::new();
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = ticker.tick() => {
                let line = pipeline::summary_line(&running.stats().await);
                if line != last {
                    eprintln!("{line}");
                    last = line;
                }
            }
        }
    }
    eprintln!("stopping: no new requests; letting in-flight batches finish...");
    running.shutdown().await;
    eprintln!("stopped");
    Ok(())
}
