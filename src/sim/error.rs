//! [`SimError`]: why a simulation stopped or could not start.

use std::time::Duration;

/// Why a simulation run stopped early, or why a world could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Tasks are waiting but no event is scheduled that could ever wake them.
    #[error(
        "deadlock at {time:?}: tasks {tasks:?} are waiting and nothing is scheduled to wake them"
    )]
    Deadlock {
        /// Virtual time at which the world ran out of work.
        time: Duration,
        /// Names of the waiting tasks, in spawn order (`"block_on"` for the root future).
        tasks: Vec<String>,
    },
    /// The next event lies beyond the time budget (see `SimWorld::set_time_budget`).
    #[error("time budget of {budget:?} exceeded: tasks {tasks:?} still running")]
    TimeBudgetExceeded {
        /// The budget: the latest virtual time the world may reach.
        budget: Duration,
        /// Names of the unfinished tasks, in spawn order.
        tasks: Vec<String>,
    },
    /// Too many polls without virtual time advancing: tasks keep waking each other.
    #[error("livelock at {time:?}: {polls} polls without virtual time advancing")]
    Livelock {
        /// Virtual time that stopped advancing.
        time: Duration,
        /// Polls made at that time.
        polls: u64,
    },
    /// A [`NetworkConfig`](crate::sim::NetworkConfig) field is out of range.
    #[error("invalid network config: {reason}")]
    InvalidConfig {
        /// The offending field and why it is rejected.
        reason: String,
    },
    /// A `WeakSimWorld` could not be upgraded: the world was dropped.
    #[error("the simulated world was dropped")]
    WorldDropped,
    /// `run` or `block_on` was called from inside a task of the same world.
    #[error("run or block_on called from inside a simulated task")]
    NestedRun,
}
