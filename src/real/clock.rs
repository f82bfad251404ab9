//! [`RealClock`]: wall-clock time and async-io timers.

use std::future::Future;
use std::time::{Duration, Instant};

use async_io::Timer;

use crate::provider::Clock;

/// A [`Clock`] over the system's monotonic clock, sleeping on [`async_io::Timer`]s.
///
/// [`now`](Clock::now) is the time elapsed since the clock was created; clones share that
/// origin. Sleeps and timeouts are `Send` futures that work under any executor.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::{Clock, RealClock};
///
/// async_io::block_on(async {
///     let clock = RealClock::new();
///     let fast = clock.timeout(Duration::from_secs(5), async { 7 }).await;
///     assert_eq!(fast, Ok(7));
///
///     let slow = clock.timeout(Duration::from_millis(10), futures::future::pending::<()>());
///     assert!(slow.await.is_err());
///     assert!(clock.now() >= Duration::from_millis(10));
/// });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for RealClock {
    /// Same as [`RealClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + use<> {
        // `Timer::after` never fires for a deadline past `Instant`'s range; no overflow panic.
        let timer = Timer::after(duration);
        async move {
            timer.await;
        }
    }
}
