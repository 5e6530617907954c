//! In memory: `orders local` and the tests. Running totals, and a recorder scoped to one
//! future so that several pipelines can share a process.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::{json, Map, Value};

use super::*;

/// A recorder keeping running totals in memory (`orders local`, tests). Cheap to clone:
/// clones share the totals.
#[derive(Debug, Clone)]
pub struct InMemoryMetrics {
    registry: Arc<Registry>,
}

impl Default for InMemoryMetrics {
    fn default() -> Self {
        Self::new()
    }
}

delegate_recorder!(InMemoryMetrics);

impl InMemoryMetrics {
    /// Empty totals.
    pub fn new() -> Self {
        Self {
            registry: Arc::new(Registry::new(false)),
        }
    }

    /// Empty totals that also keep each distribution's values until [`Self::take_values`]
    /// takes them (up to [`MAX_PENDING_VALUES`] between two takes): the live dashboard's
    /// percentiles per second.
    pub fn with_values() -> Self {
        Self {
            registry: Arc::new(Registry::new(true)),
        }
    }

    /// The values recorded since the last call in every distribution named `name` whose
    /// labels include all of `labels` (empty unless made [`Self::with_values`]).
    pub fn take_values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let mut values = Vec::new();
        for series in self.matching(name, labels) {
            if let Series::Histogram(h) = series {
                let mut state = h.state.lock().unwrap_or_else(PoisonError::into_inner);
                values.append(&mut state.pending);
                state.dropped = 0;
            }
        }
        values
    }

    /// Runs `future` with this recorder (see [`scoped`]).
    pub fn scope<F: Future>(&self, future: F) -> Scoped<Self, F> {
        scoped(self.clone(), future)
    }

    /// Sum of every counter named `name` whose labels include all of `labels`
    /// (`&[("Function", "ingest")]`: every error code's rejections together).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .filter_map(|s| match s {
                Series::Counter(c) => Some(c.total.load(Ordering::Relaxed)),
                _ => None,
            })
            .sum()
    }

    /// The merged summary of every distribution named `name` whose labels include all of
    /// `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Summary {
        let mut summary = Summary::default();
        for series in self.matching(name, labels) {
            if let Series::Histogram(h) = series {
                let state = h.state.lock().unwrap_or_else(PoisonError::into_inner);
                summary.merge(&state.summary);
            }
        }
        summary
    }

    fn matching<'a>(
        &self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = Series> + 'a {
        self.registry
            .snapshot()
            .into_iter()
            .filter(move |(key, _)| {
                key.name == name && labels.iter().all(|(k, v)| key.label(k) == Some(*v))
            })
            .map(|(_, series)| series)
    }

    /// Every total, by function, as JSON: each counter of [`EMITTED`] (0 until it
    /// counts), each distribution's `count`/`sum`/`min`/`max`/`mean`, and for a counter
    /// with more labels than `Function` a breakdown named `<Name>By<Label>`
    /// (`"OrdersRejectedByErrorCode": {"validation_failed": 2}`).
    pub fn snapshot(&self) -> Value {
        let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (function, name) in EMITTED {
            let entry = out.entry((*function).to_owned()).or_default();
            let value = if DISTRIBUTIONS.contains(name) {
                summary_json(&Summary::default())
            } else {
                json!(0)
            };
            entry.insert((*name).to_owned(), value);
            if *name == names::ORDERS_REJECTED {
                entry.insert(format!("{name}By{}", dimensions::ERROR_CODE), json!({}));
            }
        }
        let mut summaries: BTreeMap<(String, String), Summary> = BTreeMap::new();
        for (key, series) in self.registry.snapshot() {
            let function = key
                .label(dimensions::FUNCTION)
                .unwrap_or("other")
                .to_owned();
            let entry = out.entry(function.clone()).or_default();
            match series {
                Series::Counter(c) => {
                    let n = c.total.load(Ordering::Relaxed);
                    add_count(entry, &key.name, n);
                    for (label, value) in
                        key.labels.iter().filter(|(k, _)| k != dimensions::FUNCTION)
                    {
                        let by = entry
                            .entry(format!("{}By{label}", key.name))
                            .or_insert_with(|| json!({}));
                        if let Value::Object(map) = by {
                            add_count(map, value, n);
                        }
                    }
                }
                Series::Gauge(g) => {
                    entry.insert(key.name.clone(), json!(g.value()));
                }
                Series::Histogram(h) => {
                    let state = h.state.lock().unwrap_or_else(PoisonError::into_inner);
                    summaries
                        .entry((function, key.name.clone()))
                        .or_default()
                        .merge(&state.summary);
                }
            }
        }
        for ((function, name), summary) in summaries {
            out.entry(function)
                .or_default()
                .insert(name, summary_json(&summary));
        }
        Value::Object(
            out.into_iter()
                .map(|(k, v)| (k, Value::Object(v)))
                .collect(),
        )
    }
}

fn add_count(map: &mut Map<String, Value>, name: &str, n: u64) {
    let before = map.get(name).and_then(Value::as_u64).unwrap_or(0);
    map.insert(name.to_owned(), json!(before + n));
}

fn summary_json(s: &Summary) -> Value {
    json!({"count": s.count, "sum": s.sum, "min": s.min, "max": s.max, "mean": s.mean()})
}

/// A future that runs with its own metrics recorder: see [`scoped`].
#[derive(Debug)]
pub struct Scoped<R, F> {
    recorder: R,
    future: Pin<Box<F>>,
}

/// Runs `future` with `recorder` as the recorder of everything it records, on whichever
/// thread each poll happens (the recorder is set around every poll, so it follows the
/// task across a multi-threaded runtime). Tasks the future spawns are not covered.
/// A scoped recorder wins over the process-global one, so one process can run several
/// local pipelines (or tests), each counting its own.
pub fn scoped<R: Recorder, F: Future>(recorder: R, future: F) -> Scoped<R, F> {
    Scoped {
        recorder,
        future: Box::pin(future),
    }
}

impl<R: Recorder + Unpin, F: Future> Future for Scoped<R, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _guard = ::metrics::set_default_local_recorder(&this.recorder);
        this.future.as_mut().poll(cx)
    }
}
