//! [`StepLog`]: the per-step record of a run, and [`StepDivergence`], the first step where
//! two runs of one seed differ.
//!
//! A world records its steps only when asked ([`SimWorld::record_steps`]); each step is a task
//! poll or an event taken off the queue, with the virtual time, the RNG draws made so far and
//! the world digest after it. Two runs of the same seed must give equal logs; the first
//! step where they do not is where nondeterminism crept in.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::events::Event;
use super::world::SimWorld;

/// Steps kept per log; a longer run is compared on this prefix and its final digest.
const STEP_LIMIT: usize = 1 << 20;

/// What one step of a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// The executor polled task `task` (0 is the `block_on` future).
    Poll { task: u64 },
    /// An event scheduled with sequence number `seq` was processed.
    Event { seq: u64, event: Event },
}

/// One step: what happened, when, and the state of the RNG and digest after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    time: Duration,
    action: Action,
    /// RNG draws made before this step's action (a draw between two steps shows here).
    draws: u64,
    digest: u64,
}

/// The steps of one run, from [`SimWorld::take_steps`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepLog {
    steps: Vec<Step>,
    /// Steps past [`STEP_LIMIT`], counted but not kept.
    dropped: u64,
    /// Task names by id, for the description of a divergence.
    names: BTreeMap<u64, String>,
}

impl StepLog {
    pub(crate) fn poll(&mut self, time: Duration, task: u64, draws: u64, digest: u64) {
        self.push(Step {
            time,
            action: Action::Poll { task },
            draws,
            digest,
        });
    }

    pub(crate) fn event(
        &mut self,
        time: Duration,
        seq: u64,
        event: Event,
        draws: u64,
        digest: u64,
    ) {
        self.push(Step {
            time,
            action: Action::Event { seq, event },
            draws,
            digest,
        });
    }

    pub(crate) fn spawned(&mut self, task: u64, name: &str) {
        self.names.insert(task, name.to_string());
    }

    fn push(&mut self, step: Step) {
        if self.steps.len() < STEP_LIMIT {
            self.steps.push(step);
        } else {
            self.dropped += 1;
        }
    }

    /// Steps taken (polls and events), including any past the kept prefix.
    pub fn len(&self) -> u64 {
        self.steps.len() as u64 + self.dropped
    }

    /// True if the run took no step.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first step where `self` (the first run) and `other` (the second) differ, or `None`
    /// if the kept steps agree and both runs took as many steps.
    pub fn first_divergence(&self, other: &StepLog) -> Option<StepDivergence> {
        let common = self
            .steps
            .iter()
            .zip(&other.steps)
            .position(|(a, b)| a != b);
        let index = match common {
            Some(index) => index,
            None if self.len() != other.len() || self.steps.len() != other.steps.len() => {
                self.steps.len().min(other.steps.len())
            }
            None => return None,
        };
        Some(StepDivergence {
            step: index as u64,
            first: self.describe(index),
            second: other.describe(index),
            last_common: index.checked_sub(1).map(|i| self.describe(i)),
        })
    }

    /// The step at `index` in words, or how the run ended before it.
    fn describe(&self, index: usize) -> String {
        let Some(step) = self.steps.get(index) else {
            return if index < STEP_LIMIT {
                format!("the run ended after {} steps", self.steps.len())
            } else {
                format!("past the {STEP_LIMIT} steps kept")
            };
        };
        let action = match step.action {
            Action::Poll { task: 0 } => "poll of block_on".to_string(),
            Action::Poll { task } => match self.names.get(&task) {
                Some(name) => format!("poll of task {task} {name:?}"),
                None => format!("poll of task {task}"),
            },
            Action::Event {
                seq,
                event: Event::Timer { id },
            } => format!("timer {id} fires (event {seq})"),
            Action::Event {
                seq,
                event: Event::Deliver { conn, to },
            } => {
                let side = if to == 0 { "client" } else { "server" };
                format!("delivery on connection {conn} to the {side} (event {seq})")
            }
            Action::Event { seq, event } => format!("{event:?} (event {seq})"),
        };
        format!(
            "{action} at {:?}, {} rng draws before it, digest {:016x}",
            step.time, step.draws, step.digest
        )
    }
}

/// Where two runs of one seed first differ: the step number and what each run did there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepDivergence {
    /// The 0-based number of the first step that differs.
    pub step: u64,
    /// What the first run did at that step.
    pub first: String,
    /// What the second run did at that step.
    pub second: String,
    /// The step before it, the same in both runs (`None` if the runs differ from the start).
    pub last_common: Option<String>,
}

impl fmt::Display for StepDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the runs diverge at step {}: first run: {}; second run: {}",
            self.step, self.first, self.second
        )?;
        if let Some(last) = &self.last_common {
            write!(f, "; last common step: {last}")?;
        }
        Ok(())
    }
}

impl SimWorld {
    /// Starts recording a [`StepLog`] of every later step (task polls and events), replacing
    /// any log being recorded. Costs memory (a few dozen bytes a step, at most about a
    /// million steps kept) and a little time; meant for determinism checks.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use moonpool::{Clock, SimWorld};
    ///
    /// let run = |nap_ms| {
    ///     let world = SimWorld::new(1);
    ///     world.record_steps();
    ///     let clock = world.clock();
    ///     world.block_on(async move { clock.sleep(Duration::from_millis(nap_ms)).await }).unwrap();
    ///     world.take_steps().unwrap()
    /// };
    /// assert_eq!(run(5).first_divergence(&run(5)), None);
    /// let divergence = run(5).first_divergence(&run(6)).unwrap();
    /// assert!(divergence.to_string().contains("timer 0 fires"), "{divergence}");
    /// ```
    pub fn record_steps(&self) {
        let names = self.shared.exec.task_names();
        self.with_state(|s| {
            let mut log = StepLog::default();
            for (id, name) in names {
                log.spawned(id, &name);
            }
            s.steps = Some(Box::new(log));
        });
    }

    /// Stops recording and returns the log recorded since [`record_steps`](Self::record_steps)
    /// (`None` if it was not called).
    pub fn take_steps(&self) -> Option<StepLog> {
        self.with_state(|s| s.steps.take().map(|t| *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the kept prefix, steps are still counted: two runs that differ only in how many
    /// steps they took beyond it diverge there.
    #[test]
    fn steps_past_the_limit_count() {
        let mut long = StepLog::default();
        for i in 0..STEP_LIMIT as u64 + 3 {
            long.poll(Duration::ZERO, i % 7, i, i);
        }
        assert_eq!(long.len(), STEP_LIMIT as u64 + 3);
        assert!(!long.is_empty());
        let mut longer = long.clone();
        longer.poll(Duration::ZERO, 1, 0, 0);
        assert_eq!(longer.len(), STEP_LIMIT as u64 + 4);
        let divergence = long
            .first_divergence(&longer)
            .expect("they differ in length");
        assert!(divergence.first.contains("past the"), "{divergence:?}");
        assert!(long.first_divergence(&long.clone()).is_none());
    }

    /// Events are steps as polls are: two runs that differ in an event diverge there.
    #[test]
    fn events_are_steps() {
        let mut a = StepLog::default();
        a.poll(Duration::ZERO, 1, 0, 0);
        a.event(Duration::from_millis(1), 7, Event::Timer { id: 3 }, 1, 2);
        assert_eq!(a.len(), 2);
        let mut b = StepLog::default();
        b.poll(Duration::ZERO, 1, 0, 0);
        b.event(Duration::from_millis(1), 7, Event::Timer { id: 4 }, 1, 2);
        let divergence = a.first_divergence(&b).expect("the events differ");
        assert_eq!(divergence.step, 1);
        assert!(divergence.first.contains("timer 3"), "{divergence:?}");
    }
}
