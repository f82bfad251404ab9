//! The simulator's side of tracing: the virtual time of the world running on this thread.
//!
//! The executor sets it while it runs (see [`TimeScope`]) and keeps it current as time jumps;
//! each task is polled inside its own `task` span, so a subscriber sees which simulated
//! process an event came from. [`current_time`] is what a timer of a subscriber reads
//! (`testing::init_tracing`, feature `subscriber`, is one).

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    static NOW: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// The virtual time of the simulated world running on this thread, or `None` outside a run.
///
/// Meant for log and trace formatters: an event emitted by a simulated task (or by the
/// simulator between polls) is stamped with the world's time rather than the wall clock's.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::{sim, Clock, SimWorld};
///
/// assert_eq!(sim::current_time(), None);
/// let world = SimWorld::new(1);
/// let clock = world.clock();
/// let seen = world
///     .block_on(async move {
///         clock.sleep(Duration::from_secs(2)).await;
///         sim::current_time()
///     })
///     .unwrap();
/// assert_eq!(seen, Some(Duration::from_secs(2)));
/// assert_eq!(sim::current_time(), None);
/// ```
pub fn current_time() -> Option<Duration> {
    NOW.with(Cell::get)
}

/// Sets this thread's virtual time for the length of a run; restores the previous one on drop.
pub(crate) struct TimeScope(Option<Duration>);

impl TimeScope {
    pub(crate) fn enter(now: Duration) -> Self {
        Self(NOW.with(|cell| cell.replace(Some(now))))
    }

    /// Time moved on inside the run.
    pub(crate) fn set(&self, now: Duration) {
        NOW.with(|cell| cell.set(Some(now)));
    }
}

impl Drop for TimeScope {
    fn drop(&mut self) {
        NOW.with(|cell| cell.set(self.0));
    }
}
