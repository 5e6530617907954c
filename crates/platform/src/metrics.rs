//! Business metrics: the names every entry point emits, and where they go.
//!
//! Handlers record through the [`metrics`](::metrics) facade (`metrics::counter!`,
//! `metrics::histogram!`) with a `Function` label (and `ErrorCode` for `OrdersRejected`);
//! they never know where the numbers end up:
//!
//! - in Lambda, [`EmfMetrics`] is the process's recorder: `main.rs` flushes it once per
//!   invocation, which writes CloudWatch Embedded Metric Format lines (one JSON object per
//!   line) to stdout, where CloudWatch Logs turns them into metrics;
//! - in `orders local` (and the handlers' tests), [`InMemoryMetrics`] keeps running totals,
//!   scoped to one pipeline with [`scoped`] so several pipelines can share a process.
//!
//! Every metric carries the dimensions `Service` (the `SERVICE_NAME` setting) and
//! `Function` (`ingest` or `worker`); `OrdersRejected` also carries `ErrorCode`.
//! The dashboard and alarms in `template.yaml` may reference only these names (tested).
//!
//! The registry is `metrics-util`'s; why not `metrique` or `metrics_cloudwatch_embedded`: see
//! the README (Observability / Metrics) and `bench/RESULTS.md`. In short, `metrique` writes
//! bucketed integer values (sub-millisecond times read 0) and keeps no running totals;
//! `metrics_cloudwatch_embedded` never splits a document past the EMF limits (it drops
//! histogram values past 100 between flushes instead of writing another line); and both
//! install one process-global recorder, which cannot be scoped to one local pipeline or test.

/// Namespace used when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "OrderPipeline";
/// Service dimension used when `SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE: &str = "orders";

/// Environment variable with the CloudWatch namespace.
pub const ENV_METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// Environment variable with the `Service` dimension's value.
pub const ENV_SERVICE_NAME: &str = "SERVICE_NAME";

/// Dimension names.
pub mod dimensions {
    /// The service (stack-wide) dimension.
    pub const SERVICE: &str = "Service";
    /// `ingest` or `worker`.
    pub const FUNCTION: &str = "Function";
    /// The rejection's machine-readable error code (`OrdersRejected` only).
    pub const ERROR_CODE: &str = "ErrorCode";
}

/// Metric names.
pub mod names {
    /// Ingest: requests received (count).
    pub const ORDERS_RECEIVED: &str = "OrdersReceived";
    /// Ingest: requests rejected, by `ErrorCode` (count).
    pub const ORDERS_REJECTED: &str = "OrdersRejected";
    /// Ingest: orders the queue accepted (count).
    pub const ORDERS_ENQUEUED: &str = "OrdersEnqueued";
    /// Ingest: valid orders the queue did not accept (count).
    pub const ENQUEUE_FAILED: &str = "EnqueueFailed";
    /// Worker: orders stored (count).
    pub const ORDERS_PROCESSED: &str = "OrdersProcessed";
    /// Worker: deliveries of orders already stored (count).
    pub const ORDERS_DUPLICATE: &str = "OrdersDuplicate";
    /// Worker: records that failed and go back to the queue (count).
    pub const ORDERS_FAILED: &str = "OrdersFailed";
    /// Worker: time to process one record (milliseconds).
    pub const PROCESSING_TIME: &str = "ProcessingTime";
    /// Worker: records per invocation (count).
    pub const BATCH_SIZE: &str = "BatchSize";
    /// Worker: records delivered more than once (`ApproximateReceiveCount` > 1) (count).
    pub const RECORDS_RETRIED: &str = "RecordsRetried";
    /// Both: first invocation of a process (count).
    pub const COLD_START: &str = "ColdStart";
}

/// `(function, metric)` for every metric the functions emit.
pub const EMITTED: &[(&str, &str)] = &[
    ("ingest", names::ORDERS_RECEIVED),
    ("ingest", names::ORDERS_REJECTED),
    ("ingest", names::ORDERS_ENQUEUED),
    ("ingest", names::ENQUEUE_FAILED),
    ("ingest", names::COLD_START),
    ("worker", names::ORDERS_PROCESSED),
    ("worker", names::ORDERS_DUPLICATE),
    ("worker", names::ORDERS_FAILED),
    ("worker", names::PROCESSING_TIME),
    ("worker", names::BATCH_SIZE),
    ("worker", names::RECORDS_RETRIED),
    ("worker", names::COLD_START),
];

/// Metrics recorded as distributions (one value per record or per invocation); every
/// other metric of [`EMITTED`] is a counter.
pub const DISTRIBUTIONS: &[&str] = &[names::PROCESSING_TIME, names::BATCH_SIZE];

/// The unit of a metric of the contract: milliseconds for `ProcessingTime`, a count for
/// the others; `None` for a name outside the contract.
pub fn unit_of(name: &str) -> Option<Unit> {
    if name == names::PROCESSING_TIME {
        Some(Unit::Milliseconds)
    } else if EMITTED.iter().any(|(_, metric)| *metric == name) {
        Some(Unit::Count)
    } else {
        None
    }
}

/// EMF: most metric definitions in one directive (more are written as further lines).
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// EMF: most values in one metric's array (more are written as further lines).
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// EMF: most dimensions in one dimension set.
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
/// Most distribution values kept between two flushes (a flush per invocation keeps far
/// fewer: at most one per record); past it values are counted in the summaries but not
/// written, and a warning is logged.
pub const MAX_PENDING_VALUES: usize = 100_000;

/// Where the functions' metrics go: the CloudWatch namespace and the `Service` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// CloudWatch namespace (`METRICS_NAMESPACE`, default [`DEFAULT_NAMESPACE`]).
    pub namespace: String,
    /// Value of the `Service` dimension (`SERVICE_NAME`, default [`DEFAULT_SERVICE`]).
    pub service: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            service: DEFAULT_SERVICE.to_owned(),
        }
    }
}

/// Reads `METRICS_NAMESPACE` and `SERVICE_NAME` (unset or blank: the defaults). A namespace
/// CloudWatch would refuse is an error at init.
impl FromEnv for MetricsConfig {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let read = |name: &str, default: &str| {
            vars.get(name)
                .map_or_else(|| default.to_owned(), |v| v.trim().to_owned())
        };
        let namespace = read(ENV_METRICS_NAMESPACE, DEFAULT_NAMESPACE);
        let service = read(ENV_SERVICE_NAME, DEFAULT_SERVICE);
        let invalid = |name: &'static str, value: &str, reason: &str| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if namespace.len() > 255 {
            return Err(invalid(
                ENV_METRICS_NAMESPACE,
                &namespace,
                "at most 255 characters",
            ));
        }
        if !namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-_/#:".contains(c))
        {
            return Err(invalid(
                ENV_METRICS_NAMESPACE,
                &namespace,
                "only letters, digits, spaces and . - _ / # : are allowed",
            ));
        }
        if namespace.starts_with("AWS/") {
            return Err(invalid(
                ENV_METRICS_NAMESPACE,
                &namespace,
                "the AWS/ prefix is reserved for AWS services",
            ));
        }
        if service.chars().count() > 1024 || service.chars().any(char::is_control) {
            return Err(invalid(
                ENV_SERVICE_NAME,
                &service,
                "at most 1024 characters, no control characters",
            ));
        }
        Ok(Self { namespace, service })
    }
}

// ---------------------------------------------------------------------------------------
// Storage shared by both recorders (the children `memory` and `emf`).

/// Labels of a series, in dimension order: `Function` first, then by name.
type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    labels: Labels,
    name: String,
}

impl SeriesKey {
    fn of(key: &Key) -> Self {
        let mut labels: Labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort_by(|a, b| {
            (a.0 != dimensions::FUNCTION, &a.0).cmp(&(b.0 != dimensions::FUNCTION, &b.0))
        });
        Self {
            labels,
            name: key.name().to_owned(),
        }
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A counter: its running total, and what was added since the last flush.
#[derive(Debug, Default)]
struct CounterCell {
    total: AtomicU64,
    unflushed: AtomicU64,
    touched: AtomicBool,
}

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        self.unflushed.fetch_add(value, Ordering::Relaxed);
        self.touched.store(true, Ordering::Release);
    }

    fn absolute(&self, value: u64) {
        let previous = self.total.fetch_max(value, Ordering::Relaxed);
        self.unflushed
            .fetch_add(value.saturating_sub(previous), Ordering::Relaxed);
        self.touched.store(true, Ordering::Release);
    }
}

/// A gauge: its last value (f64 bits), and whether it was set since the last flush.
#[derive(Debug, Default)]
struct GaugeCell {
    bits: AtomicU64,
    touched: AtomicBool,
}

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(f(f64::from_bits(bits)).to_bits())
            });
        self.touched.store(true, Ordering::Release);
    }

    fn value(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

/// A distribution: summary statistics since the start, and (for EMF) the values since the
/// last flush.
#[derive(Debug)]
struct HistogramCell {
    state: Mutex<HistogramState>,
    keep_values: bool,
}

#[derive(Debug, Default)]
struct HistogramState {
    summary: Summary,
    pending: Vec<f64>,
    dropped: u64,
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        if !value.is_finite() {
            return; // JSON has no NaN or infinity, and CloudWatch refuses them.
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.summary.add(value);
        if self.keep_values {
            if state.pending.len() < MAX_PENDING_VALUES {
                state.pending.push(value);
            } else {
                state.dropped += 1;
            }
        }
    }
}

/// Count, sum, minimum and maximum of a distribution's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (`None` before the first value).
    pub min: Option<f64>,
    /// The largest (`None` before the first value).
    pub max: Option<f64>,
}

impl Summary {
    fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
    }

    fn merge(&mut self, other: &Summary) {
        self.count += other.count;
        self.sum += other.sum;
        for v in other.min.iter().chain(other.max.iter()) {
            self.min = Some(self.min.map_or(*v, |m| m.min(*v)));
            self.max = Some(self.max.map_or(*v, |m| m.max(*v)));
        }
    }

    /// The mean (`None` before the first value).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

#[derive(Debug, Clone)]
enum Series {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

impl Series {
    fn kind(&self) -> &'static str {
        match self {
            Self::Counter(_) => "counter",
            Self::Gauge(_) => "gauge",
            Self::Histogram(_) => "histogram",
        }
    }
}

/// Every series, and the units described through the facade.
///
/// The facade's look-up (a `counter!` call finds its cell by the macro's [`Key`]) is
/// `metrics_util`'s registry: sharded maps behind read-write locks, measured 8-15% faster
/// than the mutex-guarded map it replaced (`bench/RESULTS.md`, "Metrics recorders"). Its
/// [`Storage`] is [`Cells`], which is called only when a key is new and keeps what the
/// library does not: one series per name and label *set* (labels in any order), the first
/// kind a name is registered as, and the order the EMF lines are written in.
#[derive(Debug)]
struct Registry {
    handles: metrics_util::registry::Registry<Key, Arc<Cells>>,
    units: Mutex<HashMap<String, Unit>>,
}

/// The series by name and sorted labels (what snapshots and flushes read), filled by the
/// registry when it meets a key for the first time. Series are never removed.
#[derive(Debug)]
struct Cells {
    all: Mutex<BTreeMap<SeriesKey, Series>>,
    keep_values: bool,
}

impl Cells {
    /// The series for `key`, created by `make` if new; `None` (with a warning) when the
    /// name and labels are already registered as another kind of metric.
    fn series(
        &self,
        key: &Key,
        kind: &'static str,
        make: impl FnOnce() -> Series,
    ) -> Option<Series> {
        let series_key = SeriesKey::of(key);
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        let series = all.entry(series_key.clone()).or_insert_with(make).clone();
        if series.kind() == kind {
            return Some(series);
        }
        tracing::warn!(
            metric = %series_key.name,
            registered_as = series.kind(),
            requested_as = kind,
            "metric registered twice with different kinds; ignoring the second"
        );
        None
    }

    fn histogram(&self) -> HistogramCell {
        HistogramCell {
            state: Mutex::default(),
            keep_values: self.keep_values,
        }
    }
}

/// On a kind conflict the registry gets a cell that no series holds: what is recorded in it
/// is never read (as `metrics`' no-op handles).
impl Storage<Key> for Cells {
    type Counter = Arc<CounterCell>;
    type Gauge = Arc<GaugeCell>;
    type Histogram = Arc<HistogramCell>;

    fn counter(&self, key: &Key) -> Self::Counter {
        match self.series(key, "counter", || Series::Counter(Arc::default())) {
            Some(Series::Counter(cell)) => cell,
            _ => Arc::default(),
        }
    }

    fn gauge(&self, key: &Key) -> Self::Gauge {
        match self.series(key, "gauge", || Series::Gauge(Arc::default())) {
            Some(Series::Gauge(cell)) => cell,
            _ => Arc::default(),
        }
    }

    fn histogram(&self, key: &Key) -> Self::Histogram {
        let make = || Series::Histogram(Arc::new(self.histogram()));
        match self.series(key, "histogram", make) {
            Some(Series::Histogram(cell)) => cell,
            _ => Arc::new(self.histogram()),
        }
    }
}

impl Registry {
    fn new(keep_values: bool) -> Self {
        let cells = Cells {
            all: Mutex::default(),
            keep_values,
        };
        Self {
            handles: metrics_util::registry::Registry::new(Arc::new(cells)),
            units: Mutex::default(),
        }
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        let mut units = self.units.lock().unwrap_or_else(PoisonError::into_inner);
        match unit {
            Some(unit) => units.insert(key.as_str().to_owned(), unit),
            None => units.remove(key.as_str()),
        };
    }

    /// The CloudWatch unit of a series: described through the facade, else the
    /// contract's ([`unit_of`]), else `Count` for a counter and `None` otherwise.
    fn unit(&self, name: &str, series: &Series) -> &'static str {
        let described = self
            .units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied();
        match described.or_else(|| unit_of(name)) {
            Some(unit) => cloudwatch_unit(unit),
            None if matches!(series, Series::Counter(_)) => "Count",
            None => "None",
        }
    }

    fn snapshot(&self) -> Vec<(SeriesKey, Series)> {
        self.handles
            .storage()
            .all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handles.get_or_create_counter(key, Arc::clone))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handles.get_or_create_gauge(key, Arc::clone))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handles.get_or_create_histogram(key, Arc::clone))
    }
}

/// The CloudWatch name of a unit (EMF takes CloudWatch's `StandardUnit` names).
pub fn cloudwatch_unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        // CloudWatch has no nanoseconds: such a value is written as a plain number.
        Unit::Nanoseconds => "None",
        Unit::Tebibytes => "Terabytes",
        Unit::Gibibytes => "Gigabytes",
        Unit::Mebibytes => "Megabytes",
        Unit::Kibibytes => "Kilobytes",
        Unit::Bytes => "Bytes",
        Unit::TerabitsPerSecond => "Terabits/Second",
        Unit::GigabitsPerSecond => "Gigabits/Second",
        Unit::MegabitsPerSecond => "Megabits/Second",
        Unit::KilobitsPerSecond => "Kilobits/Second",
        Unit::BitsPerSecond => "Bits/Second",
        Unit::CountPerSecond => "Count/Second",
    }
}

macro_rules! delegate_recorder {
    ($ty:ty) => {
        impl Recorder for $ty {
            fn describe_counter(&self, key: KeyName, unit: Option<Unit>, d: SharedString) {
                self.registry.describe_counter(key, unit, d)
            }
            fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, d: SharedString) {
                self.registry.describe_gauge(key, unit, d)
            }
            fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, d: SharedString) {
                self.registry.describe_histogram(key, unit, d)
            }
            fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
                self.registry.register_counter(key, metadata)
            }
            fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
                self.registry.register_gauge(key, metadata)
            }
            fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
                self.registry.register_histogram(key, metadata)
            }
        }
    };
}

mod emf;
mod memory;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics_util::registry::Storage;

use ::metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use serde::Serialize;

pub use emf::{AlreadyInstalled, EmfMetrics, EmfWriter};
pub use memory::{scoped, InMemoryMetrics, Scoped};

use crate::config::{ConfigError, FromEnv, Vars};
