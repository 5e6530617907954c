//! CloudWatch Embedded Metric Format, for Lambda: what an invocation recorded, written on
//! flush as one JSON document per line, split at the specification's limits.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::{json, Map, Value};

use super::*;

/// Where EMF lines are written (stdout in Lambda; a buffer in tests).
pub type EmfWriter = Box<dyn Write + Send>;

/// The Lambda recorder: collects what an invocation records and, on [`EmfMetrics::flush`],
/// writes it as CloudWatch Embedded Metric Format, one JSON document per line.
///
/// One document per distinct set of labels (for example one per `ErrorCode`), holding
/// every metric of that set recorded since the last flush: a counter's increase (a
/// counter incremented by 0 is written as 0, so a function can publish explicit zeros),
/// a gauge's value, a distribution's values as an array. Each document has one directive
/// with the configured namespace, the dimension set `[Service, Function, …labels]` and,
/// when there are labels beyond `Function`, also the roll-up set `[Service, Function]`.
/// Past 100 metrics or 100 values of one metric, further documents are written.
#[derive(Clone)]
pub struct EmfMetrics {
    registry: Arc<Registry>,
    config: Arc<MetricsConfig>,
    out: Arc<Mutex<EmfWriter>>,
}

impl std::fmt::Debug for EmfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfMetrics")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

delegate_recorder!(EmfMetrics);

/// The global recorder was already installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a global metrics recorder is already installed")]
pub struct AlreadyInstalled;

impl EmfMetrics {
    /// An emitter writing to `out`.
    pub fn new(config: MetricsConfig, out: EmfWriter) -> Self {
        Self {
            registry: Arc::new(Registry::new(true)),
            config: Arc::new(config),
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// An emitter writing to stdout (Lambda sends stdout to CloudWatch Logs, which
    /// extracts the metrics from lines with an `_aws` member).
    pub fn stdout(config: MetricsConfig) -> Self {
        Self::new(config, Box::new(std::io::stdout()))
    }

    /// Makes this the process's recorder (`main.rs`, once).
    pub fn install(&self) -> Result<(), AlreadyInstalled> {
        ::metrics::set_global_recorder(self.clone()).map_err(|_| AlreadyInstalled)
    }

    /// The configuration.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// Writes what was recorded since the last flush (nothing if nothing was) and returns
    /// the number of lines written. Call once at the end of every invocation.
    pub fn flush(&self) -> std::io::Result<usize> {
        let lines = self.render(now_ms());
        if lines.is_empty() {
            return Ok(0);
        }
        let mut text = lines.join("\n");
        text.push('\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        // One write for all lines, so log lines of other writers never land inside one.
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(lines.len())
    }

    /// [`EmfMetrics::flush`], logging a failure instead of returning it (the invocation's
    /// answer matters more than its metrics).
    pub fn flush_or_log(&self) {
        if let Err(error) = self.flush() {
            tracing::warn!(%error, "could not write the invocation's metrics");
        }
    }

    /// The EMF documents for what was recorded since the last flush, stamped
    /// `timestamp_ms`; takes the values out (a second call returns nothing new).
    pub fn render(&self, timestamp_ms: u64) -> Vec<String> {
        let mut groups: BTreeMap<Labels, Vec<(String, &'static str, Value)>> = BTreeMap::new();
        for (key, series) in self.registry.snapshot() {
            let unit = self.registry.unit(&key.name, &series);
            let values: Vec<Value> = match &series {
                Series::Counter(c) => {
                    let delta = c.unflushed.swap(0, Ordering::Relaxed);
                    let touched = c.touched.swap(false, Ordering::Acquire);
                    if touched || delta > 0 {
                        vec![json!(delta)]
                    } else {
                        continue;
                    }
                }
                Series::Gauge(g) => {
                    if g.touched.swap(false, Ordering::Acquire) {
                        vec![json!(g.value())]
                    } else {
                        continue;
                    }
                }
                Series::Histogram(h) => {
                    let mut state = h.state.lock().unwrap_or_else(PoisonError::into_inner);
                    if state.dropped > 0 {
                        tracing::warn!(metric = %key.name, dropped = state.dropped, "too many values between two flushes; some were not written");
                        state.dropped = 0;
                    }
                    let pending = std::mem::take(&mut state.pending);
                    if pending.is_empty() {
                        continue;
                    }
                    // One entry per chunk of at most 100 values (each becomes an array).
                    pending
                        .chunks(MAX_VALUES_PER_METRIC)
                        .map(|chunk| json!(chunk))
                        .collect()
                }
            };
            if key.labels.len() + 1 > MAX_DIMENSIONS_PER_SET
                || key.labels.iter().any(|(k, _)| k == dimensions::SERVICE)
            {
                tracing::warn!(metric = %key.name, "metric has too many labels, or a Service label; not written");
                continue;
            }
            let group = groups.entry(key.labels.clone()).or_default();
            for value in values {
                group.push((key.name.clone(), unit, value));
            }
        }

        let mut lines = Vec::new();
        for (labels, entries) in groups {
            // Pack into documents: at most 100 metrics each, a name at most once each.
            let mut documents: Vec<Vec<(String, &'static str, Value)>> = Vec::new();
            for entry in entries {
                let slot = documents.iter_mut().find(|d| {
                    d.len() < MAX_METRICS_PER_DIRECTIVE && d.iter().all(|(n, _, _)| *n != entry.0)
                });
                match slot {
                    Some(document) => document.push(entry),
                    None => documents.push(vec![entry]),
                }
            }
            for document in documents {
                lines.push(self.document(timestamp_ms, &labels, document).to_string());
            }
        }
        lines
    }

    fn document(
        &self,
        timestamp_ms: u64,
        labels: &Labels,
        metrics: Vec<(String, &'static str, Value)>,
    ) -> Value {
        let mut full = vec![dimensions::SERVICE.to_owned()];
        full.extend(labels.iter().map(|(k, _)| k.clone()));
        let mut sets = vec![full];
        let has_function = labels.iter().any(|(k, _)| k == dimensions::FUNCTION);
        if has_function && labels.len() > 1 {
            sets.push(vec![
                dimensions::SERVICE.to_owned(),
                dimensions::FUNCTION.to_owned(),
            ]);
        }
        let mut root = Map::new();
        root.insert(dimensions::SERVICE.to_owned(), json!(self.config.service));
        for (k, v) in labels {
            root.insert(k.clone(), json!(v));
        }
        let mut definitions = Vec::with_capacity(metrics.len());
        for (name, unit, value) in metrics {
            if root.contains_key(&name) {
                tracing::warn!(metric = %name, "metric named like a dimension; not written");
                continue;
            }
            definitions.push(json!({"Name": name, "Unit": unit}));
            root.insert(name, value);
        }
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.config.namespace,
                    "Dimensions": sets,
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
