use super::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// `expected` within HdrHistogram's precision (3 significant digits: 0.1 %), plus
/// one unit of the value's bucket.
fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected * 0.001 + 0.001
}

#[test]
fn a_uniform_distribution_has_the_textbook_percentiles() {
    let mut l = Latency::new();
    for v in 1..=1000 {
        l.record(ms(v));
    }
    let p = l.percentiles();
    assert_eq!(p.count, 1000);
    assert!(close(p.p50_ms, 500.0), "{p:?}");
    assert!(close(p.p90_ms, 900.0), "{p:?}");
    assert!(close(p.p99_ms, 990.0), "{p:?}");
    assert!(close(p.p99_9_ms, 999.0), "{p:?}");
    assert!(close(p.max_ms, 1000.0), "{p:?}");
    assert!(close(p.min_ms, 1.0), "{p:?}");
    assert!(close(p.mean_ms, 500.5), "{p:?}");
}

#[test]
fn a_constant_distribution_has_every_percentile_equal() {
    let mut l = Latency::new();
    for _ in 0..10_000 {
        l.record(Duration::from_micros(12_345));
    }
    let p = l.percentiles();
    for v in [p.min_ms, p.p50_ms, p.p90_ms, p.p99_ms, p.p99_9_ms, p.max_ms] {
        assert!(close(v, 12.345), "{p:?}");
    }
}

#[test]
fn a_long_tail_shows_in_the_high_percentiles_only() {
    // 99 % fast (10 ms), 0.9 % slow (1 s), 0.1 % very slow (5 s): the shape a
    // coordinated-omission-blind tool hides.
    let mut l = Latency::new();
    for _ in 0..9900 {
        l.record(ms(10));
    }
    for _ in 0..90 {
        l.record(ms(1000));
    }
    for _ in 0..10 {
        l.record(ms(5000));
    }
    let p = l.percentiles();
    assert!(close(p.p50_ms, 10.0), "{p:?}");
    assert!(close(p.p90_ms, 10.0), "{p:?}");
    assert!(close(p.p99_ms, 10.0), "{p:?}");
    assert!(close(p.p99_9_ms, 1000.0), "{p:?}");
    assert!(close(p.max_ms, 5000.0), "{p:?}");
    assert!(close(p.mean_ms, 9.9 + 9.0 + 5.0), "{p:?}");
}

#[test]
fn an_exponential_distribution_matches_its_quantile_function() {
    // Deterministic exponential samples with a mean of 100 ms: quantile q is
    // -100 ln(1 - q). Drawn at evenly spaced q, so the percentiles are exact.
    let mut l = Latency::new();
    let n = 100_000;
    for i in 0..n {
        let q = (i as f64 + 0.5) / n as f64;
        l.record(Duration::from_secs_f64(-0.1 * (1.0 - q).ln()));
    }
    let p = l.percentiles();
    let expect = |q: f64| -100.0 * (1.0f64 - q).ln();
    for (actual, q) in [
        (p.p50_ms, 0.5),
        (p.p90_ms, 0.9),
        (p.p99_ms, 0.99),
        (p.p99_9_ms, 0.999),
    ] {
        assert!(
            (actual - expect(q)).abs() <= expect(q) * 0.002 + 0.01,
            "q={q}: {actual} vs {}",
            expect(q)
        );
    }
    assert!((p.mean_ms - 100.0).abs() < 0.5, "{p:?}");
}

#[test]
fn extremes_are_clamped_not_lost_and_empty_is_zero() {
    assert_eq!(Latency::new().percentiles(), Percentiles::default());
    let mut l = Latency::new();
    l.record(Duration::ZERO);
    l.record(Duration::from_secs(7200));
    let p = l.percentiles();
    assert_eq!(p.count, 2);
    assert!(close(p.min_ms, 0.001), "{p:?}");
    assert!(close(p.max_ms, 3_600_000.0), "{p:?}");
}

#[test]
fn merging_adds_the_values() {
    let (mut a, mut b) = (Latency::new(), Latency::new());
    for v in 1..=500 {
        a.record(ms(v));
    }
    for v in 501..=1000 {
        b.record(ms(v));
    }
    a.merge(&b);
    let p = a.percentiles();
    assert_eq!(p.count, 1000);
    assert!(close(p.p50_ms, 500.0), "{p:?}");
}

#[test]
fn outcomes_are_counted_by_status_class() {
    let mut c = OutcomeCounts::default();
    for status in [202, 202, 400, 429, 500, 503, 504, 403, 409] {
        c.add(Outcome::of_status(status));
    }
    c.add(Outcome::Timeout);
    c.add(Outcome::ConnectionError);
    assert_eq!(
        (
            c.accepted,
            c.bad_request,
            c.throttled,
            c.server_error,
            c.other_status
        ),
        (2, 1, 1, 3, 2)
    );
    assert_eq!((c.total(), c.answered()), (11, 9));
    assert!(!Outcome::Accepted.is_error() && !Outcome::BadRequest.is_error());
    assert!(Outcome::Throttled.is_error() && Outcome::Timeout.is_error());
}

#[test]
fn per_second_counts_each_value_in_its_own_second_and_add_up() {
    let mut s = PerSecond::default();
    // Second 0: 100 orders, 1..=100 ms; second 2: 3 orders; second 1 stays empty.
    for v in 1..=100 {
        s.record_order(ms(v * 5), ms(v));
    }
    for v in [7, 8, 9] {
        s.record_order(ms(2000 + v), ms(v));
    }
    let outcomes = [
        Outcome::Accepted,
        Outcome::Throttled,
        Outcome::ServerError,
        Outcome::OtherStatus,
        Outcome::Timeout,
        Outcome::ConnectionError,
        Outcome::BadRequest,
    ];
    let mut total = OutcomeCounts::default();
    for i in 0..70u64 {
        let outcome = outcomes[i as usize % outcomes.len()];
        total.add(outcome);
        s.record_attempt(ms(i * 40), outcome, ms(10 + i), i % 3 == 0);
    }
    let series = s.series();
    assert_eq!(series.len(), 3, "{series:?}");
    assert_eq!(
        series.iter().map(|x| x.second).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(
        series.iter().map(|x| x.orders).collect::<Vec<_>>(),
        vec![100, 0, 3]
    );
    // Attempts every 40 ms: 25 in second 0, 25 in second 1, 20 in second 2.
    assert_eq!(
        series.iter().map(|x| x.attempts).collect::<Vec<_>>(),
        vec![25, 25, 20]
    );
    let mut sum = OutcomeCounts::default();
    for x in &series {
        assert_eq!(x.responses.total(), x.attempts, "{x:?}");
        for (outcome, n) in [
            (Outcome::Accepted, x.responses.accepted),
            (Outcome::BadRequest, x.responses.bad_request),
            (Outcome::Throttled, x.responses.throttled),
            (Outcome::ServerError, x.responses.server_error),
            (Outcome::OtherStatus, x.responses.other_status),
            (Outcome::Timeout, x.responses.timeout),
            (Outcome::ConnectionError, x.responses.connection_error),
        ] {
            for _ in 0..n {
                sum.add(outcome);
            }
        }
    }
    assert_eq!(sum, total);
    assert_eq!(series.iter().map(|x| x.retries).sum::<u64>(), 24);
    // Percentiles: within 1 % (2 significant digits); p99 >= p50; none when empty.
    let first = &series[0];
    let (p50, p99) = (first.latency_p50_ms.unwrap(), first.latency_p99_ms.unwrap());
    assert!((p50 - 50.0).abs() <= 0.5 + 1e-9, "{first:?}");
    assert!((p99 - 99.0).abs() <= 1.0, "{first:?}");
    assert!(p99 >= p50);
    assert_eq!(
        (series[1].latency_p50_ms, series[1].latency_p99_ms),
        (None, None)
    );
    assert!(
        series[1].service_time_p50_ms.is_some(),
        "attempts were sent in second 1"
    );
    for x in &series {
        if let (Some(a), Some(b)) = (x.service_time_p50_ms, x.service_time_p99_ms) {
            assert!(b >= a, "{x:?}");
        }
    }
    let json = serde_json::to_value(&series[1]).unwrap();
    assert_eq!(json["latency_p50_ms"], serde_json::Value::Null);
    assert_eq!(json["responses"]["429"], series[1].responses.throttled);
}

#[test]
fn the_percentile_curve_steps_as_hdrhistogram_does_and_ends_at_the_max() {
    assert!(percentile_grid(0).is_empty());
    let grid = percentile_grid(1000);
    assert_eq!(grid[0], 0.0);
    assert_eq!(*grid.last().unwrap(), 1.0);
    assert!(grid.windows(2).all(|w| w[0] < w[1]), "{grid:?}");
    // 5 ticks per halving: the 5th is 50 %, the 10th 75 %, the 35th 99.2 %...
    assert!((grid[5] - 0.5).abs() < 1e-12 && (grid[10] - 0.75).abs() < 1e-12);
    // ...up to where 1000 values tell quantiles apart (1/(1-q) <= 1000: q <= 99.9 %).
    let before_max = grid[grid.len() - 2];
    assert!(1.0 / (1.0 - before_max) <= 1000.0, "{before_max}");
    assert_eq!(grid.len(), 50 + 1, "2^(49/5) <= 1000 < 2^(50/5): {grid:?}");

    let mut l = Latency::new();
    for v in 1..=1000 {
        l.record(ms(v));
    }
    let curve = l.curve(&grid);
    assert_eq!(curve.len(), grid.len());
    assert!(curve.windows(2).all(|w| w[0].ms <= w[1].ms), "{curve:?}");
    assert!(close(curve[5].ms, 500.0), "{:?}", curve[5]);
    assert_eq!(curve[5].percentile, 50.0);
    let last = curve.last().unwrap();
    assert_eq!(last.percentile, 100.0);
    assert!(close(last.ms, 1000.0), "{last:?}");
    assert!(Latency::new().curve(&grid).is_empty());
}
