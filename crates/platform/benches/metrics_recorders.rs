//! Issue 14: our `metrics::Recorder` (registry + EMF emitter) against the maintained
//! candidates, on what a worker invocation does. Run with `bench/run metrics`, or alone:
//! `cargo bench -p orders-platform --all-features --bench metrics_recorders`.
//!
//! - `record`: the facade calls of one worker invocation of 10 records (per record
//!   `OrdersProcessed` + `ProcessingTime`, then `BatchSize` and `RecordsRetried`), through
//!   - `ours`: [`EmfMetrics`], whose look-up is `metrics_util`'s registry since issue 14
//!     (before, one mutex-guarded map: its figures are kept in `bench/RESULTS.md`);
//!   - `metrics_util`: `metrics_util::registry::Registry<Key, AtomicStorage>` alone
//!     (sharded read-write-locked maps, atomic cells, nothing rendered): the floor;
//!   - `metrique`: `metrique_metricsrs::MetricRecorder` (a `metrics_util` registry with
//!     bucketed histograms), the recorder its Lambda reporter installs;
//!
//!   with 1 and 2 threads recording at once (the local API's pipelines share a recorder).
//! - `flush`: the same invocation recorded, then written as EMF: ours ([`EmfMetrics::render`])
//!   against `metrique_writer_format_emf::Emf` formatting `MetricRecorder::readout()` (what
//!   its `lambda_reporter::flush_metrics` writes).
//!
//! Before timing, `main` checks what each flush writes against the EMF specification
//! (`test_support::emf_spec::check_line`) and prints the `ProcessingTime` values each one
//! keeps, so the speed figures sit beside what the output is worth. Under `cargo test
//! --benches` divan runs each benchmark once.

use std::sync::Arc;

use divan::{black_box, Bencher};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use metrique_metricsrs::MetricRecorder;
use metrique_writer_core::format::Format;
use metrique_writer_format_emf::Emf;
use orders_platform::metrics::{dimensions, names, EmfMetrics, MetricsConfig};

/// Processing times of the 10 records, in milliseconds (fractions, as the worker records).
const TIMES_MS: [f64; 10] = [0.41, 0.52, 0.38, 2.75, 0.44, 0.47, 12.6, 0.43, 0.39, 0.5];

fn main() {
    report_fidelity();
    divan::main();
}

/// What one worker invocation records, through whichever recorder is current.
fn record_invocation() {
    for time in TIMES_MS {
        metrics::counter!(names::ORDERS_PROCESSED, dimensions::FUNCTION => "worker").increment(1);
        metrics::histogram!(names::PROCESSING_TIME, dimensions::FUNCTION => "worker").record(time);
    }
    metrics::histogram!(names::BATCH_SIZE, dimensions::FUNCTION => "worker").record(10.0);
    metrics::counter!(names::RECORDS_RETRIED, dimensions::FUNCTION => "worker").increment(0);
}

fn ours() -> EmfMetrics {
    EmfMetrics::new(MetricsConfig::default(), Box::new(std::io::sink()))
}

/// `metrics_util`'s registry with its atomic storage, as a recorder.
struct UtilRecorder(Registry<Key, AtomicStorage>);

impl UtilRecorder {
    fn new() -> Self {
        Self(Registry::atomic())
    }
}

impl Recorder for UtilRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.get_or_create_counter(key, Arc::clone))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.0.get_or_create_gauge(key, Arc::clone))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.0.get_or_create_histogram(key, Arc::clone))
    }
}

type Metrique = MetricRecorder<dyn metrics::Recorder>;

fn metrique_emf() -> Emf {
    Emf::all_validations("OrderPipeline".to_owned(), vec![vec![]])
}

/// Every recorder, so one benchmark body serves all three.
#[derive(Debug, Clone, Copy)]
enum Candidate {
    Ours,
    MetricsUtil,
    Metrique,
}

fn recorder(candidate: Candidate) -> Arc<dyn Recorder + Send + Sync> {
    match candidate {
        Candidate::Ours => Arc::new(ours()),
        Candidate::MetricsUtil => Arc::new(UtilRecorder::new()),
        Candidate::Metrique => Arc::new(Metrique::new()),
    }
}

#[divan::bench(
    args = [Candidate::Ours, Candidate::MetricsUtil, Candidate::Metrique],
    threads = [1, 2],
)]
fn record(bencher: Bencher, candidate: Candidate) {
    let recorder = recorder(candidate);
    bencher.bench(|| metrics::with_local_recorder(&*recorder, record_invocation));
}

#[divan::bench]
fn flush_ours(bencher: Bencher) {
    let emf = ours();
    bencher.bench_local(|| {
        metrics::with_local_recorder(&emf, record_invocation);
        black_box(emf.render(1_700_000_000_000))
    });
}

#[divan::bench]
fn flush_metrique(bencher: Bencher) {
    let recorder = Metrique::new();
    let mut emf = metrique_emf();
    let mut out = Vec::with_capacity(4096);
    bencher.bench_local(|| {
        metrics::with_local_recorder(&recorder, record_invocation);
        out.clear();
        emf.format(&recorder.readout(), &mut out).expect("format");
        black_box(out.len())
    });
}

/// Prints, for each flush, whether every line passes the EMF checker and which
/// `ProcessingTime` values (with their counts) reach CloudWatch.
fn report_fidelity() {
    let emf = ours();
    metrics::with_local_recorder(&emf, record_invocation);
    let lines = emf.render(1_700_000_000_000);
    describe("ours", lines.iter().map(String::as_str));

    let recorder = Metrique::new();
    metrics::with_local_recorder(&recorder, record_invocation);
    let mut out = Vec::new();
    metrique_emf()
        .format(&recorder.readout(), &mut out)
        .expect("format");
    let text = String::from_utf8(out).expect("utf-8");
    describe("metrique", text.lines());
    println!("recorded ProcessingTime values: {TIMES_MS:?}");
}

fn describe<'a>(name: &str, lines: impl Iterator<Item = &'a str>) {
    let mut bytes = 0;
    let mut count = 0;
    for line in lines {
        count += 1;
        bytes += line.len() + 1;
        let verdict = match test_support::emf_spec::check_line(line) {
            Ok(_) => "valid EMF".to_owned(),
            Err(error) => format!("INVALID: {error}"),
        };
        let value: serde_json::Value = serde_json::from_str(line).expect("json");
        println!(
            "{name}: line {count}: {verdict}; ProcessingTime = {}",
            value
                .get(names::PROCESSING_TIME)
                .map_or("-".to_owned(), ToString::to_string)
        );
    }
    println!("{name}: {count} lines, {bytes} bytes");
}
