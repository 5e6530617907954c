//! The progress bar on stderr: live rate, errors, in flight.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use super::*;

/// Live counters for the progress bar.
#[derive(Debug, Default)]
pub(super) struct Live {
    pub(super) started: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
}

impl Live {
    pub(super) fn finished(&self, delivery: &Delivery) {
        let errors = delivery
            .attempts
            .iter()
            .filter(|a| a.outcome.is_error())
            .count();
        self.errors.fetch_add(errors as u64, Ordering::Relaxed);
        self.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The progress bar on stderr (live rate, errors, in flight), or nothing.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    pub(super) live: Arc<Live>,
}

impl Progress {
    /// No bar (tests, `--json`, `--quiet`, stderr not a terminal).
    pub fn hidden() -> Self {
        Self {
            bar: None,
            live: Arc::default(),
        }
    }

    /// A bar of `planned` orders when `show` (and stderr is a terminal).
    pub fn new(show: bool, planned: u64) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(planned), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        ) {
            bar.set_style(style);
        }
        Self {
            bar: Some(bar),
            live: Arc::default(),
        }
    }

    /// Refreshes the bar every 200 ms with the rate of answers over the last second.
    pub(super) fn start_ticker(&self) -> Option<tokio::task::JoinHandle<()>> {
        let bar = self.bar.clone()?;
        let live = self.live.clone();
        Some(tokio::spawn(async move {
            let mut window: VecDeque<(Instant, u64)> = VecDeque::new();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let now = Instant::now();
                let (started, done) = (
                    live.started.load(Ordering::Relaxed),
                    live.completed.load(Ordering::Relaxed),
                );
                window.push_back((now, done));
                while window.len() > 2 && now - window[0].0 > Duration::from_secs(1) {
                    window.pop_front();
                }
                let (t0, d0) = window[0];
                let secs = (now - t0).as_secs_f64();
                let rate = if secs > 0.0 {
                    (done - d0) as f64 / secs
                } else {
                    0.0
                };
                bar.set_position(done);
                bar.set_message(format!(
                    "{rate:.0}/s  in flight {}  errors {}",
                    started.saturating_sub(done),
                    live.errors.load(Ordering::Relaxed)
                ));
            }
        }))
    }

    /// During `--verify`.
    pub(super) fn verifying(&self, stored: usize, dead: usize, open: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "verifying: stored {stored}  dead-lettered {dead}  not yet seen {open}"
            ));
            bar.tick();
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
