use super::*;

fn settings(env: Option<&str>) -> PipelineSettings {
    crate::settings::LocalSettings::for_environment(env)
        .unwrap()
        .pipeline
}

fn at(s: &PipelineSettings, rate: f64, delay: &str) -> Plan {
    let target = Target {
        rate,
        delay: DelaySpec::parse(delay).unwrap(),
    };
    plan(s, &target, Assumptions::default(), Environment::Aws)
}

fn row<'a>(p: &'a Plan, id: &str) -> &'a Row {
    p.rows.iter().find(|r| r.id == id).unwrap()
}

#[test]
fn a_batch_takes_about_its_slowest_record() {
    assert_eq!(batch_ms(DelaySpec::Fixed(200), 10.0, 10.0), 210.0);
    let range = batch_ms(DelaySpec::Range(2000, 5000), 10.0, 10.0);
    assert!((range - (2000.0 + 3000.0 * 10.0 / 11.0 + 10.0)).abs() < 1e-9);
    // Past the worker's concurrent records, a batch runs in waves.
    let waves = batch_ms(
        DelaySpec::Fixed(100),
        2.0 * worker::MAX_CONCURRENT_RECORDS as f64,
        0.0,
    );
    assert_eq!(waves, 200.0);
}

#[test]
fn the_seeds_scenario_is_limited_by_the_workers_concurrency() {
    // A new account (10 executions), 2-5 s per order, the template's defaults.
    let s = settings(None);
    let p = at(&s, 10.0, "2000-5000");
    let (first, saturation) = p.first_limit.clone().unwrap();
    assert_eq!(first, "worker_batches");
    // MaximumConcurrency 5 x 10 records / 4.737 s.
    let expected = 5.0 * 10.0 / (batch_ms(DelaySpec::Range(2000, 5000), 10.0, 10.0) / 1000.0);
    assert!(
        (saturation - expected).abs() < 1e-6,
        "{saturation} vs {expected}"
    );
    assert!(!p.exceeded, "10/s fits, just");
    let over = at(&s, 20.0, "2000-5000");
    assert!(over.exceeded);
    assert!(
        (over.stored - expected).abs() < 1e-6,
        "the worker stores what it can"
    );
    assert_eq!(over.stored_limited_by, "worker_batches");
    assert!(over.accepted > over.stored, "the queue grows");
}

#[test]
fn at_its_saturation_rate_a_components_need_equals_its_limit() {
    let s = settings(Some("prod"));
    for r in at(&s, 1000.0, "250").rows {
        let Some(rate) = r.saturates_at else { continue };
        let again = at(&s, rate, "250");
        let same = row(&again, r.id);
        let limit = same.limit.unwrap();
        assert!(
            (same.need - limit).abs() / limit < 1e-9,
            "{}: {} vs {}",
            r.id,
            same.need,
            limit
        );
    }
}

#[test]
fn prod_at_ten_thousand_a_second_names_the_stage_throttle_and_lifts_it() {
    let s = settings(Some("prod"));
    let p = at(&s, 10_000.0, "0");
    assert!(p.exceeded);
    assert_eq!(p.first_limit.as_ref().unwrap().0, "api_stage");
    assert_eq!(p.accepted, f64::from(s.api_rate_limit));
    let lift = &p.lifts[0];
    assert!(
        lift.change.starts_with("ApiThrottlingRateLimit=12000"),
        "{lift:?}"
    );
    assert!(lift.headroom.unwrap() >= 1.2 - 1e-9);
    // Past the stage, a new table's 4,000 WRU/s is next (before the API's 10,000/s).
    assert_eq!(lift.next_limit.as_ref().unwrap().0, "dynamodb_writes");
}

#[test]
fn raising_maximum_concurrency_lifts_the_worker_limit() {
    let s = settings(None);
    let p = at(&s, 20.0, "2000-5000");
    let lift = p
        .lifts
        .iter()
        .find(|l| l.change.starts_with("MaximumConcurrency="))
        .unwrap();
    assert!(lift.headroom.unwrap() >= 1.2 - 1e-9, "{lift:?}");
    // ... which on a new account's 10 executions leaves the API too few, and says so.
    assert_eq!(lift.next_limit.as_ref().unwrap().0, "ingest_executions");
    assert!(
        lift.breaks.iter().any(|b| b.contains("AccountConcurrency")),
        "{lift:?}"
    );
}

#[test]
fn limits_that_are_off_limit_nothing_and_nothing_overflows() {
    // orders local with its limits off carries them as u32::MAX.
    let s = crate::settings::LocalSettings::from_template()
        .unwrap()
        .unlimited()
        .emulated();
    let target = Target {
        rate: 1e6,
        delay: DelaySpec::Fixed(100),
    };
    let p = plan(&s, &target, Assumptions::default(), Environment::Local);
    assert!(
        p.rows
            .iter()
            .all(|r| r.id == "worker_batches" || r.limit.is_none()),
        "{p:?}"
    );
    assert_eq!(p.first_limit.as_ref().unwrap().0, "worker_batches");
    assert!(!p.lifts.is_empty());
}

#[test]
fn a_rate_must_be_above_zero() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = check_rate(bad).unwrap_err();
        assert_eq!(e.flag, "--rate");
    }
    assert!(check_rate(0.5).is_ok());
}
