use super::*;

fn rules() -> Vec<AlarmRule> {
    let template = orders_template::Template::parse(crate::settings::TEMPLATE).unwrap();
    template.alarms(&template.parameter_defaults()).unwrap()
}

fn rule(id: &str) -> AlarmRule {
    rules().into_iter().find(|r| r.id == id).expect(id)
}

fn points(n: u64, f: impl Fn(u64, &mut Point)) -> Vec<Point> {
    (1..=n)
        .map(|t| {
            let mut p = Point {
                t: 1_000 + t,
                ..Point::default()
            };
            f(t, &mut p);
            p
        })
        .collect()
}

fn state(id: &str, points: &[Point]) -> &'static str {
    let refs: Vec<&Point> = points.iter().collect();
    evaluate(&rule(id), &refs).state
}

#[test]
fn every_alarm_of_the_template_is_evaluated_locally() {
    let one = points(1, |_, _| {});
    let refs: Vec<&Point> = one.iter().collect();
    for rule in rules() {
        let s = evaluate(&rule, &refs);
        assert_ne!(s.source, "not available in orders local", "{}", rule.id);
        assert_eq!(s.state, "OK", "{} on an idle pipeline", rule.id);
    }
}

#[test]
fn the_dead_letter_alarm_fires_on_one_message_and_clears_a_period_after() {
    let with = points(30, |t, p| p.dlq_visible = u64::from(t == 30));
    assert_eq!(state("DeadLetterQueueAlarm", &with), "ALARM");
    // Emptied at second 31: the period's maximum is still 1 for 60 s, as in CloudWatch.
    let later = points(89, |t, p| p.dlq_visible = u64::from(t == 30));
    assert_eq!(state("DeadLetterQueueAlarm", &later), "ALARM");
    let cleared = points(91, |t, p| p.dlq_visible = u64::from(t == 30));
    assert_eq!(state("DeadLetterQueueAlarm", &cleared), "OK");
}

#[test]
fn the_5xx_rate_alarm_needs_3_breaching_periods_of_5() {
    let threshold = rule("Api5xxRateAlarm").threshold;
    assert!(threshold > 0.0 && threshold < 100.0);
    // Every request 5xx during two minutes: 2 of 5 periods breach, not enough.
    let two = points(300, |t, p| {
        p.api_count = 10;
        p.api_5xx = if t > 180 { 10 } else { 0 };
    });
    assert_eq!(state("Api5xxRateAlarm", &two), "OK");
    let three = points(300, |t, p| {
        p.api_count = 10;
        p.api_5xx = if t > 120 { 10 } else { 0 };
    });
    assert_eq!(state("Api5xxRateAlarm", &three), "ALARM");
}

#[test]
fn percentiles_are_nearest_rank() {
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&values, 0.5), Some(50.0));
    assert_eq!(percentile(&values, 0.99), Some(99.0));
    assert_eq!(percentile(&[], 0.5), None);
}

#[test]
fn api_answers_are_classed_as_api_gateways_metrics_class_them() {
    let traffic = ApiTraffic::default();
    for status in [202, 400, 429, 503, 500] {
        traffic.record(status, Duration::from_millis(5));
    }
    assert_eq!(traffic.totals(), [5, 1, 1, 1, 2]);
    assert_eq!(traffic.take_latencies().len(), 5);
    assert!(traffic.take_latencies().is_empty());
}
