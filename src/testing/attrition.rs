//! [`Attrition`]: processes rebooted at random during an iteration (FoundationDB's attrition).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::CampaignConfigError;
use crate::provider::Clock;
use crate::sim::{CrashKind, LatencyRange, SimWorld};

/// Random reboots of workloads during each iteration of a campaign.
///
/// Every [`interval`](Self::interval) draw, one running workload among
/// [`workloads`](Self::workloads) is crashed as [`kind`](Self::kind) says and restarted
/// after a [`downtime`](Self::downtime) draw (its future made anew, on the same IP), as long
/// as fewer than [`max_down`](Self::max_down) are down and virtual time is before
/// [`until`](Self::until). Workloads that already returned are left alone.
///
/// # Examples
/// ```
/// use moonpool::testing::Attrition;
///
/// let attrition = Attrition::new(&["server"]);
/// assert_eq!(attrition.max_down, 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Attrition {
    /// Names of the workloads that may be rebooted (all when empty).
    pub workloads: Vec<String>,
    /// Most workloads down at once.
    pub max_down: usize,
    /// Time between two reboots.
    pub interval: LatencyRange,
    /// Time a rebooted workload stays down.
    pub downtime: LatencyRange,
    /// How a reboot crashes it. [`CrashKind::Graceful`] asks it to stop first
    /// ([`SimNetworkProvider::stop_requested`](crate::SimNetworkProvider::stop_requested)) and
    /// closes what is left after [`grace`](Self::grace).
    pub kind: CrashKind,
    /// How long a graceful stop waits before closing what is left.
    pub grace: Duration,
    /// No reboot starts after this virtual time, so the last phase of an iteration is calm.
    pub until: Duration,
}

impl Attrition {
    /// Reboots of `workloads`: one at a time, every 0.5..=5 s, down for 0.1..=2 s, crash kind
    /// drawn per reboot, none after 60 s.
    pub fn new(workloads: &[&str]) -> Self {
        Self {
            workloads: workloads.iter().map(|w| w.to_string()).collect(),
            max_down: 1,
            interval: LatencyRange::new(Duration::from_millis(500), Duration::from_secs(5)),
            downtime: LatencyRange::new(Duration::from_millis(100), Duration::from_secs(2)),
            kind: CrashKind::Random,
            grace: Duration::from_secs(1),
            until: Duration::from_secs(60),
        }
    }

    /// Checks the settings against the campaign's `workloads` (their registered names).
    ///
    /// # Errors
    /// [`CampaignConfigError::InvalidAttrition`] for a name that is not registered (a typo
    /// would silently turn reboots off), an interval whose maximum is zero, a range whose
    /// minimum exceeds its maximum, or a `max_down` of 0.
    pub(crate) fn validate(&self, workloads: &[&str]) -> Result<(), CampaignConfigError> {
        let invalid = |reason: String| Err(CampaignConfigError::InvalidAttrition { reason });
        if let Some(name) = self
            .workloads
            .iter()
            .find(|w| !workloads.contains(&w.as_str()))
        {
            return invalid(format!(
                "it names workload {name:?}, which is not registered (registered: {workloads:?})"
            ));
        }
        if self.interval.max.is_zero() {
            return invalid("its interval between reboots is zero".into());
        }
        for (what, range) in [("interval", self.interval), ("downtime", self.downtime)] {
            if range.min > range.max {
                return invalid(format!(
                    "its {what} runs from {:?} down to {:?}: min must not exceed max",
                    range.min, range.max
                ));
            }
        }
        if self.max_down == 0 {
            return invalid("max_down is 0, so it would reboot nothing".into());
        }
        Ok(())
    }

    /// A uniform draw in `range` from the world's RNG.
    fn draw(world: &SimWorld, range: LatencyRange) -> Duration {
        let span = (range.max.saturating_sub(range.min)).as_nanos() as u64;
        range.min + Duration::from_nanos(world.random_range(0..span.saturating_add(1)))
    }

    /// The reboot loop of one iteration: `targets` are `(name, ip)`; `running(index)` says
    /// whether a target's workload is still running; `rebooting(index)` is told before a
    /// target is stopped for a reboot.
    pub(crate) fn spawn(
        &self,
        world: &SimWorld,
        targets: Vec<(String, String)>,
        running: Rc<dyn Fn(usize) -> bool>,
        rebooting: Rc<dyn Fn(usize)>,
    ) {
        let eligible: Vec<usize> = targets
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| self.workloads.is_empty() || self.workloads.contains(name))
            .map(|(i, _)| i)
            .collect();
        if eligible.is_empty() || self.max_down == 0 {
            return;
        }
        let this = self.clone();
        let weak = world.downgrade();
        let clock = world.clock();
        let down = Rc::new(Cell::new(0usize));
        world.spawn("attrition", async move {
            loop {
                let Some(world) = weak.upgrade() else { return };
                let wait = Self::draw(&world, this.interval);
                drop(world);
                clock.sleep(wait).await;
                let Some(world) = weak.upgrade() else { return };
                if clock.now() > this.until {
                    return;
                }
                let alive: Vec<usize> = eligible.iter().copied().filter(|i| running(*i)).collect();
                if alive.is_empty() || down.get() >= this.max_down {
                    continue;
                }
                let pick = alive[world.random_range(0..alive.len() as u64) as usize];
                let ip = targets[pick].1.clone();
                let mut downtime = Self::draw(&world, this.downtime);
                let stopped = if this.kind == CrashKind::Graceful {
                    downtime += this.grace;
                    rebooting(pick);
                    world.stop(&ip, this.grace)
                } else {
                    world.crash(&ip, this.kind)
                };
                if stopped.is_err() {
                    continue;
                }
                down.set(down.get() + 1);
                let (weak, clock, down) = (weak.clone(), clock.clone(), down.clone());
                world.spawn("reboot", async move {
                    clock.sleep(downtime).await;
                    if let Some(world) = weak.upgrade() {
                        let _ = world.restart(&ip, Duration::ZERO);
                    }
                    down.set(down.get() - 1);
                });
            }
        });
    }
}
