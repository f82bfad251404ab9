//! [`Backoff`]: when the next connection attempt may start. Pure: time comes in as arguments.

use std::time::Duration;

/// Exponential reconnect backoff, free of I/O and clocks.
///
/// After the `k`-th consecutive failure the next attempt may start `min(initial * 2^(k-1),
/// max)` after the failed attempt *started*, shortened by up to `jitter` of itself (a fraction
/// drawn by the caller). A connection resets the count, either at once or, with a
/// `stable_time`, only if it stays up that long: one that dies younger counts as a failure.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::peer::Backoff;
///
/// let ms = Duration::from_millis;
/// let mut backoff = Backoff::new(ms(100), ms(300), 0.0, Duration::ZERO);
/// assert_eq!(backoff.ready_at(), Duration::ZERO); // first attempt: at once
/// backoff.on_attempt(ms(0));
/// backoff.on_failure(0.0);
/// assert_eq!(backoff.ready_at(), ms(100));
/// backoff.on_attempt(ms(100));
/// backoff.on_failure(0.0);
/// assert_eq!(backoff.ready_at(), ms(300)); // 100 + 200
/// backoff.on_attempt(ms(300));
/// backoff.on_failure(0.0);
/// assert_eq!(backoff.ready_at(), ms(600)); // capped at 300
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    stable_time: Duration,
    failures: u32,
    last_attempt: Duration,
    ready_at: Duration,
    connected_at: Option<Duration>,
}

impl Backoff {
    /// A backoff with no failures yet: the first attempt may start at once.
    ///
    /// `jitter` is clamped to 0.0..=1.0.
    pub fn new(initial: Duration, max: Duration, jitter: f64, stable_time: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            jitter: if jitter.is_nan() {
                0.0
            } else {
                jitter.clamp(0.0, 1.0)
            },
            stable_time,
            failures: 0,
            last_attempt: Duration::ZERO,
            ready_at: Duration::ZERO,
            connected_at: None,
        }
    }

    /// Earliest time the next attempt may start.
    pub fn ready_at(&self) -> Duration {
        self.ready_at
    }

    /// How long to wait at `now` before the next attempt may start.
    pub fn remaining(&self, now: Duration) -> Duration {
        self.ready_at.saturating_sub(now)
    }

    /// Consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The un-jittered delay that follows the current count of failures: zero with none.
    pub fn current_delay(&self) -> Duration {
        match self.failures {
            0 => Duration::ZERO,
            k => {
                let factor = 1u32.checked_shl(k - 1).unwrap_or(u32::MAX);
                self.initial.saturating_mul(factor).min(self.max)
            }
        }
    }

    /// True once the delay has reached the configured maximum.
    pub fn at_cap(&self) -> bool {
        self.failures > 0 && self.current_delay() >= self.max
    }

    /// Records that an attempt starts at `now`.
    pub fn on_attempt(&mut self, now: Duration) {
        self.last_attempt = now;
    }

    /// Records that the attempt failed; `draw` in `0.0..1.0` picks the jitter. Returns the
    /// delay applied, counted from the attempt's start.
    pub fn on_failure(&mut self, draw: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = self.jittered(draw);
        self.ready_at = self.last_attempt.saturating_add(delay);
        delay
    }

    /// Records a connection established at `now`.
    pub fn on_connected(&mut self, now: Duration) {
        if self.stable_time.is_zero() {
            self.failures = 0;
        }
        self.connected_at = Some(now);
        self.ready_at = now;
    }

    /// Records that the connection broke at `now`. A connection younger than the stable time
    /// counts as a failure and the next attempt waits; otherwise the next may start at once.
    /// Returns the delay applied.
    pub fn on_disconnected(&mut self, now: Duration, draw: f64) -> Duration {
        if self.is_stable(now) {
            return self.on_closed(now);
        }
        self.connected_at = None;
        self.failures = self.failures.saturating_add(1);
        let delay = self.jittered(draw);
        self.ready_at = now.saturating_add(delay);
        delay
    }

    /// Records that the connection was closed on purpose at `now` (not a failure): the next
    /// attempt may start at once, and failures reset if the connection had proved stable.
    /// Returns the delay applied: zero.
    pub fn on_closed(&mut self, now: Duration) -> Duration {
        if self.is_stable(now) {
            self.failures = 0;
        }
        self.connected_at = None;
        self.ready_at = now;
        Duration::ZERO
    }

    /// The state as of `now`: a connection up for the stable time has reset the failures.
    /// Views such as [`failures`](Backoff::failures) and [`at_cap`](Backoff::at_cap) of the
    /// result describe the present rather than the last event.
    pub fn settled(&self, now: Duration) -> Self {
        let mut view = self.clone();
        if view.connected_at.is_some() && view.is_stable(now) {
            view.failures = 0;
        }
        view
    }

    /// True if the current connection (if any) has been up for the stable time.
    fn is_stable(&self, now: Duration) -> bool {
        let connected_at = self.connected_at.unwrap_or(now);
        self.stable_time.is_zero() || now.saturating_sub(connected_at) >= self.stable_time
    }

    fn jittered(&self, draw: f64) -> Duration {
        let delay = self.current_delay();
        let draw = if draw.is_finite() {
            draw.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let factor = 1.0 - self.jitter * draw;
        if factor >= 1.0 {
            return delay;
        }
        Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
    }
}
