//! Settings parsing.

use std::collections::HashMap;
use std::time::Duration;

use orders::config::{ConfigError, DelaySpec, IngestConfig, WorkerConfig};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn delay_spec_parses_fixed_and_ranges() {
    assert_eq!(DelaySpec::parse("0"), Ok(DelaySpec::None));
    assert_eq!(DelaySpec::parse("250"), Ok(DelaySpec::Fixed(250)));
    assert_eq!(
        DelaySpec::parse("2000-5000"),
        Ok(DelaySpec::Range(2000, 5000))
    );
    assert_eq!(DelaySpec::parse(" 10 - 10 "), Ok(DelaySpec::Fixed(10)));
    for bad in ["", "abc", "5000-2000", "-5", "1-2-3", "1.5"] {
        assert!(DelaySpec::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(DelaySpec::Range(2000, 5000).max(), Duration::from_secs(5));
}

#[test]
fn delay_samples_stay_in_range() {
    let spec = DelaySpec::Range(10, 20);
    let samples: Vec<Duration> = (0..1000).map(|_| spec.sample()).collect();
    assert!(samples
        .iter()
        .all(|d| (10..=20).contains(&(d.as_millis() as u64))));
    assert!(
        samples
            .iter()
            .any(|d| d.as_millis() != samples[0].as_millis()),
        "a range must vary"
    );
}

#[test]
fn worker_config_defaults_and_errors() {
    let cfg = WorkerConfig::from_lookup(env(&[("TABLE_NAME", "orders")])).unwrap();
    assert_eq!(cfg.delay, DelaySpec::None);
    assert_eq!(cfg.deadline_margin, Duration::from_millis(1000));
    assert_eq!(
        WorkerConfig::from_lookup(env(&[])),
        Err(ConfigError::Missing("TABLE_NAME"))
    );
    let err =
        WorkerConfig::from_lookup(env(&[("TABLE_NAME", "t"), ("PROCESSING_DELAY_MS", "slow")]))
            .unwrap_err();
    assert!(err.to_string().contains("PROCESSING_DELAY_MS"), "{err}");
    let cfg = WorkerConfig::from_lookup(env(&[
        ("TABLE_NAME", "t"),
        ("PROCESSING_DELAY_MS", "2000-5000"),
        ("DEADLINE_MARGIN_MS", "500"),
    ]))
    .unwrap();
    assert_eq!(cfg.delay, DelaySpec::Range(2000, 5000));
    assert_eq!(cfg.deadline_margin, Duration::from_millis(500));
}

#[test]
fn ingest_config_requires_queue_url() {
    assert_eq!(
        IngestConfig::from_lookup(env(&[])),
        Err(ConfigError::Missing("QUEUE_URL"))
    );
    let cfg = IngestConfig::from_lookup(env(&[("QUEUE_URL", "http://q")])).unwrap();
    assert_eq!(cfg.retry_after_seconds, 2);
    assert!(
        IngestConfig::from_lookup(env(&[("QUEUE_URL", "q"), ("RETRY_AFTER_SECONDS", "soon")]))
            .is_err()
    );
}
