//! The driver, the collector and the report on a transport that answers at once (tokio's
//! paused clock).

use chrono::Utc;

use super::*;

/// Answers every order 202 after `service` (on the paused clock), one id per key.
struct Fixed {
    service: Duration,
}

impl Transport for Fixed {
    async fn post_order(&self, body: Vec<u8>, key: &str) -> AttemptResult {
        tokio::time::sleep(self.service).await;
        let invalid = serde_json::from_slice::<serde_json::Value>(&body)
            .map(|b| {
                b.get("items").is_none_or(|i| {
                    i.as_array().is_none_or(|a| {
                        a.is_empty()
                            || a[0]["qty"] == 0
                            || a[0]["qty"] == 10_001
                            || a[0]["sku"] == "   "
                    })
                }) || !b["email"].as_str().unwrap_or_default().contains('@')
            })
            .unwrap_or(true);
        AttemptResult::Response {
            status: if invalid { 400 } else { 202 },
            retry_after: None,
            order_id: (!invalid).then(|| format!("id-{key}")),
            replayed: false,
        }
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[tokio::test(start_paused = true)]
async fn latency_counts_from_the_intended_send_time_when_sends_are_delayed() {
    // 10 orders a second (one every 100 ms), one request at a time, each taking
    // 200 ms: order i is due at 100·i ms but can only leave at 200·i ms, and is
    // answered at 200·(i+1) ms. Its latency is 100·i + 200 ms, not 200 ms.
    let mut o = LoadOptions::new(
        "http://unused",
        Schedule::Rate {
            per_second: 10.0,
            limit: Limit::Count(5),
        },
    );
    o.max_in_flight = 1;
    let t = Arc::new(Fixed { service: ms(200) });
    let d = drive(t, &o, &Progress::hidden()).await;
    let latency = d.latency.percentiles();
    let service = d.service_time.percentiles();
    assert_eq!(latency.count, 5);
    assert!((latency.min_ms - 200.0).abs() < 0.5, "{latency:?}");
    assert!((latency.p50_ms - 400.0).abs() < 0.5, "{latency:?}");
    assert!((latency.max_ms - 600.0).abs() < 0.5, "{latency:?}");
    assert!((latency.mean_ms - 400.0).abs() < 0.5, "{latency:?}");
    assert!(
        (service.max_ms - 200.0).abs() < 0.5,
        "each attempt itself took 200 ms: {service:?}"
    );
    assert_eq!(d.max_send_lag, ms(400));
    assert_eq!(d.final_send_lag, ms(400));
    assert_eq!(d.elapsed, ms(1000));
    let report = LoadReport::new(&o, "http://unused", d, None);
    // 5 orders over the 500 ms schedule stretched by the last one's 400 ms lag.
    assert!(
        (report.rate.achieved - 5.0 / 0.9).abs() < 1e-6,
        "{:?}",
        report.rate
    );
    assert_eq!(report.rate.requested, 10.0);
    assert_eq!(report.exit_code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn on_time_sends_measure_the_service_time_and_the_requested_rate() {
    let mut o = LoadOptions::new(
        "http://unused",
        Schedule::Rate {
            per_second: 100.0,
            limit: Limit::Count(50),
        },
    );
    o.max_in_flight = 8;
    let d = drive(Arc::new(Fixed { service: ms(30) }), &o, &Progress::hidden()).await;
    let latency = d.latency.percentiles();
    assert!((latency.max_ms - 30.0).abs() < 0.1, "{latency:?}");
    assert!((latency.min_ms - 30.0).abs() < 0.1, "{latency:?}");
    assert_eq!(d.max_send_lag, Duration::ZERO);
    let report = LoadReport::new(&o, "u", d, None);
    assert!((report.rate.achieved - 100.0).abs() < 1e-6);
}

#[tokio::test(start_paused = true)]
async fn a_burst_behind_a_small_cap_queues_and_the_latency_shows_the_queue() {
    // 10 orders at once, 2 at a time, 100 ms each: answers at 100, 100, 200, 200...
    let mut o = LoadOptions::new(
        "u",
        Schedule::Bursts {
            size: 10,
            every: Duration::from_secs(2),
            limit: Limit::Count(10),
        },
    );
    o.max_in_flight = 2;
    let d = drive(
        Arc::new(Fixed { service: ms(100) }),
        &o,
        &Progress::hidden(),
    )
    .await;
    let p = d.latency.percentiles();
    assert!((p.min_ms - 100.0).abs() < 0.1, "{p:?}");
    assert!((p.max_ms - 500.0).abs() < 0.5, "{p:?}");
    assert!((p.mean_ms - 300.0).abs() < 0.5, "{p:?}");
    assert_eq!(d.max_send_lag, ms(400));
}

#[tokio::test(start_paused = true)]
async fn outcomes_are_counted_per_order_and_per_attempt() {
    let mut o = LoadOptions::new(
        "u",
        Schedule::Rate {
            per_second: 1000.0,
            limit: Limit::Count(400),
        },
    );
    o.invalid_ratio = 0.25;
    o.seed = 9;
    let d = drive(Arc::new(Fixed { service: ms(1) }), &o, &Progress::hidden()).await;
    let expected_invalid = OrderGenerator::new(9, 0.25)
        .take(400)
        .filter(|p| p.invalid.is_some())
        .count() as u64;
    let c = d.orders;
    assert_eq!(c.sent, 400);
    assert_eq!(c.invalid, expected_invalid);
    assert_eq!(c.invalid_answered_400, expected_invalid);
    assert_eq!(c.accepted, 400 - expected_invalid);
    assert_eq!(
        (c.rejected, c.failed, c.invalid_accepted),
        (expected_invalid, 0, 0)
    );
    assert_eq!(d.responses.accepted, c.accepted);
    assert_eq!(d.responses.bad_request, expected_invalid);
    assert_eq!(d.accepted.len() as u64, c.accepted);
}

#[test]
fn report_exit_codes() {
    let o = LoadOptions::new(
        "u",
        Schedule::Rate {
            per_second: 1.0,
            limit: Limit::Count(1),
        },
    );
    let driven = |outcome: Outcome| {
        let mut responses = OutcomeCounts::default();
        responses.add(outcome);
        Driven {
            orders: OrderCounts {
                sent: 1,
                ..Default::default()
            },
            responses,
            retries: 0,
            replayed: 0,
            latency: Latency::new(),
            service_time: Latency::new(),
            per_second: PerSecond::default(),
            accepted: vec![],
            max_send_lag: Duration::ZERO,
            final_send_lag: Duration::ZERO,
            elapsed: ms(1),
            started_at: Utc::now(),
        }
    };
    let r = LoadReport::new(&o, "u", driven(Outcome::ConnectionError), None);
    assert_eq!(r.exit_code(), EXIT_UNREACHABLE);
    let verified = |missing: usize| VerifyReport {
        reconciliation: crate::reconcile::Reconciliation {
            accepted: 1,
            stored: 1 - missing,
            missing,
            ..Default::default()
        },
        settled: missing == 0,
        waited_ms: 0.0,
        last_stored_after_start_ms: None,
        dead_letters_known: true,
        stored_from: String::new(),
        dead_letters_from: String::new(),
        check_errors: 0,
    };
    let r = LoadReport::new(&o, "u", driven(Outcome::Accepted), Some(verified(1)));
    assert_eq!(r.exit_code(), EXIT_LOST_ORDERS);
    assert!(r.render().contains("missing 1"), "{}", r.render());
    let r = LoadReport::new(&o, "u", driven(Outcome::Accepted), Some(verified(0)));
    assert_eq!(r.exit_code(), EXIT_OK);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["reconciliation"]["missing"], 0);
    assert_eq!(json["responses"]["202"], 1);
    assert_eq!(json["config"]["schedule"]["mode"], "rate");
    assert_eq!(json["config"]["schedule"]["limit"]["count"], 1);
}

#[tokio::test(start_paused = true)]
async fn per_second_orders_go_by_intended_send_and_attempts_by_actual_send() {
    // 10 orders a second for 3 s, one at a time, 200 ms each: the orders are due in
    // seconds 0, 1, 2 (10 each) but only 5 leave a second, over seconds 0 to 5. The
    // latency of the orders due in second 2 (sent 4 to 6 s) is far above second 0's.
    let mut o = LoadOptions::new(
        "u",
        Schedule::Rate {
            per_second: 10.0,
            limit: Limit::Count(30),
        },
    );
    o.max_in_flight = 1;
    let d = drive(
        Arc::new(Fixed { service: ms(200) }),
        &o,
        &Progress::hidden(),
    )
    .await;
    let report = LoadReport::new(&o, "u", d, None);
    let s = &report.per_second;
    assert_eq!(
        s.iter().map(|x| x.orders).collect::<Vec<_>>(),
        vec![10, 10, 10, 0, 0, 0]
    );
    assert_eq!(s.iter().map(|x| x.attempts).collect::<Vec<_>>(), vec![5; 6]);
    assert_eq!(s.iter().map(|x| x.responses.accepted).sum::<u64>(), 30);
    assert_eq!(s.iter().map(|x| x.retries).sum::<u64>(), 0);
    for x in s {
        if let Some(p99) = x.service_time_p99_ms {
            assert!(
                (p99 - 200.0).abs() <= 2.0,
                "each attempt took 200 ms: {x:?}"
            );
        }
    }
    // Order i is due at 100·i ms and answered at 200·(i+1) ms: second 0's orders waited
    // 200 to 1100 ms, second 2's 2200 to 3100 ms.
    let (p50_0, p50_2) = (s[0].latency_p50_ms.unwrap(), s[2].latency_p50_ms.unwrap());
    assert!((p50_0 - 600.0).abs() <= 6.0, "{:?}", s[0]);
    assert!((p50_2 - 2600.0).abs() <= 26.0, "{:?}", s[2]);
    assert!(s[2].latency_p99_ms.unwrap() >= p50_2);
    assert_eq!(s[3].latency_p50_ms, None, "no order was due in second 3");
    // The curves share their percentiles and end at the maximum.
    let (l, st) = (&report.latency_curve, &report.service_time_curve);
    assert_eq!(l.len(), st.len());
    assert!(l.iter().zip(st).all(|(a, b)| a.percentile == b.percentile));
    assert_eq!(l.last().unwrap().percentile, 100.0);
    assert!((l.last().unwrap().ms - report.latency.max_ms).abs() < 1e-9);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["per_second"].as_array().unwrap().len(), 6);
    assert_eq!(json["per_second"][0]["responses"]["202"], 5);
    assert!(json["latency_curve"][0]["ms"].as_f64().unwrap() > 0.0);
}
