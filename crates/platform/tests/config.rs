//! Settings parsing.

use orders_platform::config::FromEnv as _;
use std::collections::HashMap;
use std::time::Duration;

use orders_platform::config::{ConfigError, DelaySpec, IngestConfig, WorkerConfig};

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
fn a_delay_prints_as_a_user_writes_it_and_parses_back() {
    for (written, shown) in [
        ("0", "0 ms"),
        ("250", "250 ms"),
        ("2000-5000", "2000-5000 ms"),
        (" 10 - 10 ", "10 ms"),
    ] {
        let spec = DelaySpec::parse(written).unwrap();
        assert_eq!(spec.to_string(), shown, "{written:?}");
        let again = DelaySpec::parse(shown.trim_end_matches(" ms")).unwrap();
        assert_eq!(again, spec, "{shown:?} reads back as the same delay");
    }
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

#[cfg(feature = "faults")]
#[test]
fn fault_injection_is_off_by_default_and_validated() {
    use orders_platform::adapters::faults::FaultConfig;
    let off = FaultConfig::from_lookup(env(&[])).unwrap();
    assert!(off.is_off());
    let on = FaultConfig::from_lookup(env(&[
        ("FAULT_FAILURE_RATE", "0.2"),
        ("FAULT_EXTRA_DELAY_MS", "10-20"),
        ("FAULT_DUPLICATE_RATE", "0.1"),
    ]))
    .unwrap();
    assert_eq!(on.failure_rate, 0.2);
    assert_eq!(on.extra_delay, DelaySpec::Range(10, 20));
    assert!(!on.is_off());
    for (name, bad) in [
        ("FAULT_PANIC_RATE", "1.5"),
        ("FAULT_THROTTLE_RATE", "-0.1"),
        ("FAULT_ERROR_RATE", "often"),
        ("FAULT_EXTRA_DELAY_MS", "9-1"),
    ] {
        let err = FaultConfig::from_lookup(env(&[(name, bad)])).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[tokio::test]
async fn faulty_store_injects_exactly_what_is_configured() {
    use orders_domain::ports::{OrderStore, StoreError};
    use orders_domain::{NewOrder, OrderId, StoredOrder};
    use orders_platform::adapters::faults::{FaultConfig, FaultyStore};
    use orders_platform::adapters::memory::InMemoryStore;
    let order = || {
        let q = NewOrder::parse_json(br#"{"email":"a@b.co","items":[{"sku":"S","qty":1}]}"#)
            .unwrap()
            .accept(OrderId::new_v7(), chrono::Utc::now());
        StoredOrder::processed(q, chrono::Utc::now(), 1, 1)
    };
    let always_throttle = FaultyStore::new(
        InMemoryStore::new(),
        FaultConfig {
            throttle_rate: 1.0,
            ..Default::default()
        },
        None,
    );
    assert!(matches!(
        always_throttle.put_new(&order()).await,
        Err(StoreError::Throttled(_))
    ));
    assert!(always_throttle.inner().is_empty());
    let off = FaultyStore::new(InMemoryStore::new(), FaultConfig::default(), None);
    for _ in 0..100 {
        off.put_new(&order()).await.unwrap();
    }
    assert_eq!(off.inner().len(), 100);
    fastrand::seed(7);
    let fifth = FaultyStore::new(
        InMemoryStore::new(),
        FaultConfig {
            failure_rate: 0.2,
            ..Default::default()
        },
        None,
    );
    let mut failed = 0;
    for _ in 0..2000 {
        failed += usize::from(fifth.put_new(&order()).await.is_err());
    }
    assert!(
        (300..=500).contains(&failed),
        "about 20% of 2000 writes fail: {failed}"
    );
}

#[test]
fn the_ca_bundle_is_pinned_only_when_the_environment_chose_none() {
    use orders_platform::config::ca_bundle_to_pin;
    use std::ffi::OsString;
    use std::path::PathBuf;
    let probed = || Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    };
    assert_eq!(ca_bundle_to_pin(vars(&[]), probed()), probed());
    assert_eq!(ca_bundle_to_pin(vars(&[]), None), None);
    assert_eq!(
        ca_bundle_to_pin(vars(&[("SSL_CERT_FILE", "/mine.pem")]), probed()),
        None
    );
    assert_eq!(
        ca_bundle_to_pin(vars(&[("SSL_CERT_DIR", "/mine")]), probed()),
        None
    );
}
