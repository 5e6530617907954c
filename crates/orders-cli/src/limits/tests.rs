//! The token bucket and the executions against their definitions, on tokio's paused clock.

use super::*;

#[tokio::test(start_paused = true)]
async fn the_bucket_starts_full_refills_at_its_rate_and_never_holds_more_than_its_burst() {
    let bucket = TokenBucket::new(10, 3);
    assert_eq!(
        (0..5).filter(|_| bucket.try_take()).count(),
        3,
        "a full bucket: the burst"
    );
    assert!(!bucket.try_take());
    tokio::time::advance(Duration::from_millis(99)).await;
    assert!(!bucket.try_take(), "0.99 of a token after 99 ms at 10/s");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(bucket.try_take(), "one token after 100 ms");
    assert!(!bucket.try_take());
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        (0..10).filter(|_| bucket.try_take()).count(),
        3,
        "an idle minute refills to the burst, not to 600"
    );
    // A steady 10/s for 10 s is all admitted: the rate is the long-run limit.
    let mut admitted = 0;
    for _ in 0..100 {
        tokio::time::advance(Duration::from_millis(100)).await;
        admitted += usize::from(bucket.try_take());
    }
    assert_eq!(admitted, 100);
    // Twice the rate: half is throttled (after the burst is spent).
    let mut admitted = 0;
    for _ in 0..200 {
        tokio::time::advance(Duration::from_millis(50)).await;
        admitted += usize::from(bucket.try_take());
    }
    assert_eq!(admitted, 100);
}

#[tokio::test(start_paused = true)]
async fn a_zero_rate_is_never_refilled_and_a_zero_burst_admits_nothing() {
    let never_refilled = TokenBucket::new(0, 2);
    let none = TokenBucket::new(1000, 0);
    for _ in 0..3 {
        assert!(!none.try_take());
    }
    assert_eq!((0..5).filter(|_| never_refilled.try_take()).count(), 2);
    tokio::time::advance(Duration::from_secs(3600 * 24 * 365)).await;
    assert!(!never_refilled.try_take(), "a year later, still empty");
    assert!(!none.try_take());
}

#[tokio::test(start_paused = true)]
async fn executions_are_shared_and_freed_when_an_invocation_ends() {
    let limits = Limits::new(LimitSettings {
        api: None,
        account_concurrency: Some(2),
        invocation_hold: INVOCATION_HOLD,
        unmapped_throttles: false,
    });
    let first_started = Instant::now();
    let first = limits.start_execution(first_started).unwrap();
    let worker = limits
        .admit_invocation(Duration::ZERO)
        .await
        .expect("a free execution");
    assert_eq!(limits.executions_in_use(), Some(2));
    assert_eq!(
        limits.start_execution(Instant::now()).unwrap_err(),
        Refusal::NoExecution
    );
    // A worker invocation waits for one, and gets the first that ends.
    let waiting = tokio::spawn(async move {
        let limits = limits;
        let got = limits.admit_invocation(Duration::from_secs(5)).await;
        (got.is_some(), limits)
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "still waiting while both run");
    drop(first);
    let (started, limits) = waiting.await.unwrap();
    assert!(started);
    assert_eq!(
        first_started.elapsed(),
        INVOCATION_HOLD,
        "the API invocation's execution is free after its hold, not before"
    );
    drop(worker);
    assert_eq!(limits.executions_in_use(), Some(0));
    assert_eq!(
        limits.stats(),
        LimitStats {
            api_throttled: 0,
            api_concurrency_throttled: 1,
            worker_concurrency_throttled: 1,
            worker_batches_given_back: 0,
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_api_invocation_holds_its_execution_for_the_planned_duration() {
    let limits = Limits::new(LimitSettings {
        api: None,
        account_concurrency: Some(1),
        invocation_hold: INVOCATION_HOLD,
        unmapped_throttles: false,
    });
    let started = Instant::now();
    limits.start_execution(started).unwrap().finish().await;
    assert_eq!(
        started.elapsed(),
        INVOCATION_HOLD,
        "the answer waits the hold"
    );
    assert_eq!(
        limits.executions_in_use(),
        Some(0),
        "and the execution is free from then on, exactly"
    );
    // A handler slower than the hold (this machine busy) does not keep the execution:
    // the emulated invocation lasts the hold.
    let slow = limits.start_execution(Instant::now()).unwrap();
    assert_eq!(limits.executions_in_use(), Some(1));
    tokio::time::sleep(INVOCATION_HOLD).await;
    assert_eq!(limits.executions_in_use(), Some(0));
    let started = Instant::now();
    slow.finish().await;
    assert_eq!(started.elapsed(), Duration::ZERO, "past its hold already");
    // A request that passed the stage 30 ms ago (its handler ran late here) holds its
    // execution until 20 ms from now: the accounting follows the emulated start.
    let passed = limits.pass_stage().unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let late = limits.start_execution(passed).unwrap();
    tokio::time::sleep(Duration::from_millis(19)).await;
    assert_eq!(limits.executions_in_use(), Some(1));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(limits.executions_in_use(), Some(0));
    late.finish().await;
    // Without a concurrency limit nothing waits.
    let unlimited = Limits::new(LimitSettings::OFF);
    let started = Instant::now();
    unlimited.start_execution(started).unwrap().finish().await;
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn behind_rule_7s_stage_throttle_api_invocations_never_exceed_burst_plus_refill() {
    // The default environment: 40/s, burst 2, 50 ms invocations, 5 executions left to
    // the API. Requests arrive in bursts and trickles, and their handlers start late by
    // up to 40 ms (a busy machine): no request finds the executions exhausted.
    let limits = Limits::new(LimitSettings {
        api: Some((40, 2)),
        account_concurrency: Some(5),
        invocation_hold: INVOCATION_HOLD,
        unmapped_throttles: false,
    });
    let mut admitted = 0;
    let mut seed = 7u64;
    for step in 0..2_000u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let arrivals = if step % 100 == 0 { 300 } else { seed >> 62 };
        for _ in 0..arrivals {
            if let Ok(passed) = limits.pass_stage() {
                // Out of order and late, as a busy runtime runs handlers.
                let late = Duration::from_millis((seed >> 33) % 40);
                tokio::time::advance(late / 10).await;
                let admission = limits.start_execution(passed);
                assert!(admission.is_ok(), "step {step}: {:?}", limits.stats());
                admitted += 1;
            }
        }
        // Arrivals at any microsecond, not on a grid that lines refills up with ends.
        tokio::time::advance(Duration::from_micros((seed >> 20) % 7_000)).await;
    }
    assert!(admitted > 200, "{admitted}");
    assert_eq!(limits.stats().api_concurrency_throttled, 0);
}

#[tokio::test(start_paused = true)]
async fn a_worker_invocation_that_cannot_start_in_time_gives_its_batch_back() {
    let limits = Limits::new(LimitSettings {
        api: None,
        account_concurrency: Some(1),
        invocation_hold: INVOCATION_HOLD,
        unmapped_throttles: false,
    });
    // Another worker invocation holds the only execution for as long as it runs.
    let _busy = limits.admit_invocation(Duration::ZERO).await.unwrap();
    let started = Instant::now();
    assert!(limits
        .admit_invocation(Duration::from_secs(150))
        .await
        .is_none());
    assert_eq!(started.elapsed(), Duration::from_secs(150));
    assert_eq!(limits.stats().worker_batches_given_back, 1);
}

#[tokio::test(start_paused = true)]
async fn the_stage_throttle_answers_before_any_execution_is_taken() {
    let limits = Limits::new(LimitSettings {
        api: Some((1, 1)),
        account_concurrency: Some(5),
        invocation_hold: INVOCATION_HOLD,
        unmapped_throttles: false,
    });
    let passed = limits.pass_stage().unwrap();
    let _one = limits.start_execution(passed).unwrap();
    assert_eq!(limits.pass_stage().unwrap_err(), Refusal::Throttled);
    assert_eq!(
        limits.executions_in_use(),
        Some(1),
        "a throttled request takes none"
    );
    assert_eq!(limits.stats().api_throttled, 1);
}

#[test]
fn off_admits_everything() {
    let limits = Limits::new(LimitSettings::OFF);
    let held: Vec<_> = (0..10_000)
        .map(|_| {
            limits
                .pass_stage()
                .and_then(|at| limits.start_execution(at))
                .unwrap()
        })
        .collect();
    assert_eq!(held.len(), 10_000);
    assert_eq!(limits.executions_in_use(), None);
    assert_eq!(limits.stats(), LimitStats::default());
}
