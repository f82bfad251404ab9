//! The sans-io reconnect backoff, driven with explicit times.

use std::time::Duration;

use moonpool::peer::Backoff;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Fails `n` attempts, each starting when allowed and failing 5 ms later.
fn fail_attempts(backoff: &mut Backoff, n: usize) -> Vec<Duration> {
    let mut starts = Vec::new();
    for _ in 0..n {
        let start = backoff.ready_at();
        starts.push(start);
        backoff.on_attempt(start);
        backoff.on_failure(0.0);
    }
    starts
}

#[test]
fn smoke_first_attempt_is_immediate() {
    let backoff = Backoff::new(ms(100), ms(1000), 0.0, Duration::ZERO);
    assert_eq!(backoff.ready_at(), Duration::ZERO);
    assert_eq!(backoff.remaining(ms(50)), Duration::ZERO);
    assert_eq!(backoff.failures(), 0);
}

#[test]
fn delay_doubles_per_failure_up_to_the_cap() {
    let mut backoff = Backoff::new(ms(100), ms(1000), 0.0, Duration::ZERO);
    let starts = fail_attempts(&mut backoff, 7);
    let gaps: Vec<_> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
    );
    assert!(backoff.at_cap());
    assert_eq!(backoff.failures(), 7);
}

#[test]
fn at_cap_only_once_a_failure_brought_the_delay_to_the_maximum() {
    let mut backoff = Backoff::new(ms(100), ms(1000), 0.0, Duration::ZERO);
    let mut capped = vec![backoff.at_cap()];
    for _ in 0..6 {
        fail_attempts(&mut backoff, 1);
        capped.push(backoff.at_cap());
    }
    // 100, 200, 400, 800 ms are below the cap; the fifth failure reaches it.
    assert_eq!(capped, [false, false, false, false, false, true, true]);
    // With no failure there is no delay to be at its cap, even a cap of zero.
    let zero = Backoff::new(Duration::ZERO, Duration::ZERO, 0.0, Duration::ZERO);
    assert!(!zero.at_cap());
}

#[test]
fn delay_counts_from_the_attempt_start() {
    let mut backoff = Backoff::new(ms(100), ms(1000), 0.0, Duration::ZERO);
    backoff.on_attempt(ms(0));
    backoff.on_failure(0.0);
    assert_eq!(backoff.remaining(ms(80)), ms(20));
    // An attempt that took longer than the delay allows the next one at once.
    backoff.on_attempt(ms(100));
    backoff.on_failure(0.0);
    assert_eq!(backoff.remaining(ms(900)), Duration::ZERO);
}

#[test]
fn success_resets_the_delay() {
    let mut backoff = Backoff::new(ms(100), ms(1000), 0.0, Duration::ZERO);
    fail_attempts(&mut backoff, 3);
    backoff.on_attempt(ms(700));
    backoff.on_connected(ms(701));
    assert_eq!(backoff.failures(), 0);
    assert_eq!(backoff.on_disconnected(ms(702), 0.0), Duration::ZERO);
    assert_eq!(backoff.remaining(ms(702)), Duration::ZERO);
    backoff.on_attempt(ms(702));
    backoff.on_failure(0.0);
    assert_eq!(backoff.ready_at(), ms(802));
}

#[test]
fn young_connections_count_as_failures_with_a_stable_time() {
    let mut backoff = Backoff::new(ms(100), ms(1000), 0.0, ms(500));
    fail_attempts(&mut backoff, 2); // delay now 200
    backoff.on_attempt(ms(300));
    backoff.on_connected(ms(301));
    assert_eq!(
        backoff.failures(),
        2,
        "not reset until the connection proves stable"
    );
    let delay = backoff.on_disconnected(ms(350), 0.0);
    assert_eq!(delay, ms(400));
    assert_eq!(backoff.ready_at(), ms(750));
    // A connection that lives past the stable time resets everything.
    backoff.on_attempt(ms(750));
    backoff.on_connected(ms(751));
    assert_eq!(backoff.on_disconnected(ms(1251), 0.0), Duration::ZERO);
    assert_eq!(backoff.failures(), 0);
}

#[test]
fn jitter_shortens_the_delay_by_at_most_its_fraction() {
    let mut backoff = Backoff::new(ms(1000), ms(10_000), 0.25, Duration::ZERO);
    backoff.on_attempt(ms(0));
    assert_eq!(backoff.on_failure(0.0), ms(1000));
    backoff.on_attempt(ms(1000));
    assert_eq!(backoff.on_failure(0.5), ms(1750)); // 2000 * (1 - 0.25 * 0.5)
    backoff.on_attempt(ms(3000));
    let delay = backoff.on_failure(0.999_999);
    assert!(delay > ms(2999) && delay <= ms(4000), "{delay:?}");
}

#[test]
fn many_failures_do_not_overflow() {
    let mut backoff = Backoff::new(ms(100), Duration::from_secs(30), 0.0, Duration::ZERO);
    for i in 0..200u64 {
        backoff.on_attempt(Duration::from_secs(i * 30));
        backoff.on_failure(0.0);
    }
    assert_eq!(backoff.current_delay(), Duration::from_secs(30));
}

#[test]
fn huge_delays_saturate_instead_of_panicking() {
    let mut backoff = Backoff::new(Duration::MAX, Duration::MAX, 0.5, Duration::ZERO);
    backoff.on_attempt(ms(10));
    let delay = backoff.on_failure(0.3);
    assert!(delay > Duration::from_secs(1 << 62));
    assert_eq!(backoff.ready_at(), ms(10) + delay);
    // An attempt late in time plus the largest delay saturates at the end of time.
    backoff.on_attempt(Duration::MAX - ms(1));
    backoff.on_failure(0.0);
    assert_eq!(backoff.ready_at(), Duration::MAX);
}

#[test]
fn a_closed_connection_is_not_a_failure() {
    let mut backoff = Backoff::new(ms(100), ms(1000), 0.0, ms(500));
    fail_attempts(&mut backoff, 2);
    backoff.on_attempt(ms(300));
    backoff.on_connected(ms(301));
    assert_eq!(backoff.on_closed(ms(350)), Duration::ZERO);
    assert_eq!(backoff.remaining(ms(350)), Duration::ZERO);
    assert_eq!(
        backoff.failures(),
        2,
        "too young to reset, but not a failure either"
    );
}

#[test]
fn settled_view_resets_once_the_connection_is_stable() {
    let mut backoff = Backoff::new(ms(100), ms(200), 0.0, ms(500));
    fail_attempts(&mut backoff, 3);
    assert!(backoff.at_cap());
    backoff.on_attempt(ms(1000));
    backoff.on_connected(ms(1000));
    assert!(backoff.settled(ms(1499)).at_cap());
    let settled = backoff.settled(ms(1500));
    assert_eq!(settled.failures(), 0);
    assert!(!settled.at_cap());
}
