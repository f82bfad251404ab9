//! [`SimulationReport`]: what a campaign did, and [`CampaignError`] when it failed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use super::assertions::{AssertionKind, AssertionMap, AssertionStats};
use super::coverage::{merge_buggify, BuggifyCoverage};
use super::explore::{branch_text, ExplorationTree};
use crate::sim::Digest;

/// One failed iteration: its seed, the workload that failed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IterationFailure {
    /// The iteration's seed (replay it with `MOONPOOL_SEED=<seed>`).
    pub seed: u64,
    /// The workload that failed first, or `"(simulation)"` for a [`SimError`](crate::SimError)
    /// such as a deadlock or an exceeded time budget.
    pub workload: String,
    /// The error text or panic message.
    pub error: String,
    /// The last faults injected before the failure (up to 20, oldest first), as
    /// [`FaultEvent`](crate::sim::FaultEvent) lines: the failing seed's story.
    pub faults: Vec<String>,
}

/// What one iteration produced, as kept in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IterationRecord {
    /// The seed (for a child of exploration, its id: see
    /// [`ExplorationTree::path`](super::ExplorationTree::path)).
    pub seed: u64,
    /// The world's [`digest`](crate::SimWorld::digest) at the end of the iteration.
    pub digest: u64,
    /// Virtual time the iteration reached.
    pub sim_time: Duration,
    /// Events the world processed.
    pub events_processed: u64,
    /// Messages the workloads counted
    /// ([`WorkloadTopology::count_messages`](crate::WorkloadTopology::count_messages)).
    pub messages: u64,
    /// Whether the iteration passed.
    pub passed: bool,
}

/// The result of a campaign: counts, failures, assertion coverage, times and the digest.
///
/// Iterations are kept in seed order whatever the number of threads, so two runs of the same
/// seeds have equal [`digest`](Self::digest)s. [`Display`](fmt::Display) prints a compact
/// table with a replay command for each failed seed; [`summary_line`](Self::summary_line)
/// prints one greppable line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SimulationReport {
    /// Every iteration run, in seed order (in run order when exploring: each wave's children,
    /// then its seeds).
    pub iterations: Vec<IterationRecord>,
    /// Failed iterations, in seed order.
    pub failures: Vec<IterationFailure>,
    /// Every assertion checked (or declared), by name.
    pub assertions: BTreeMap<String, AssertionStats>,
    /// Sometimes-assertions declared up front with
    /// [`declare_sometimes`](super::SimulationBuilder::declare_sometimes).
    pub declared: BTreeSet<String>,
    /// Whether unreached sometimes-assertions fail the campaign (false for a one-seed replay).
    pub coverage_required: bool,
    /// Wall-clock time the campaign took (measured by the runner, outside the iterations).
    pub wall_time: Duration,
    /// The command a failed seed's replay line starts with, after `MOONPOOL_SEED=<seed>`.
    pub replay_hint: String,
    /// Faults injected over the campaign, per kind
    /// ([`FaultKind`](crate::sim::FaultKind)'s name).
    pub faults: BTreeMap<String, u64>,
    /// Every [`buggify!`](crate::buggify!) site the iterations reached, by name
    /// (`file:line:column`): how often it was enabled and fired.
    pub buggify: BTreeMap<String, BuggifyCoverage>,
    /// What exploration did (empty unless the campaign explored).
    pub exploration: ExplorationTree,
}

impl SimulationReport {
    /// An empty report.
    pub(crate) fn new(
        declared: BTreeSet<String>,
        coverage_required: bool,
        replay_hint: String,
    ) -> Self {
        let mut assertions = BTreeMap::new();
        for name in &declared {
            assertions.insert(name.clone(), AssertionStats::new(AssertionKind::Sometimes));
        }
        Self {
            iterations: Vec::new(),
            failures: Vec::new(),
            assertions,
            declared,
            coverage_required,
            wall_time: Duration::ZERO,
            replay_hint,
            faults: BTreeMap::new(),
            buggify: BTreeMap::new(),
            exploration: ExplorationTree::default(),
        }
    }

    /// Adds one iteration's results (callers add them in seed order).
    pub(crate) fn push(
        &mut self,
        mut record: IterationRecord,
        mut failure: Option<IterationFailure>,
        assertions: &AssertionMap,
        faults: &BTreeMap<String, u64>,
        buggify: &BTreeMap<String, BuggifyCoverage>,
    ) {
        // A name counted as one kind here and another in the campaign so far (declared, or
        // checked by earlier iterations) fails this iteration: its counts are not merged.
        if let Some((name, known, here)) = kind_conflict(&self.assertions, assertions) {
            record.passed = false;
            failure.get_or_insert_with(|| IterationFailure {
                seed: record.seed,
                workload: "(simulation)".to_string(),
                error: format!(
                    "assertion {name:?} is {here} in this iteration but {known} in the campaign \
                     (declared, or checked before): give each assertion its own name"
                ),
                faults: Vec::new(),
            });
        }
        self.iterations.push(record);
        self.failures.extend(failure);
        merge_assertions(&mut self.assertions, assertions);
        merge_faults(&mut self.faults, faults);
        merge_buggify(&mut self.buggify, buggify);
    }

    /// The [`buggify!`](crate::buggify!) sites that were reached but never fired, in name
    /// order: code paths the campaign was meant to shake and did not.
    pub fn buggify_never_fired(&self) -> Vec<&str> {
        self.buggify
            .iter()
            .filter(|(_, c)| c.fired == 0)
            .map(|(site, _)| site.as_str())
            .collect()
    }

    /// Faults injected over the campaign, all kinds together.
    pub fn fault_total(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Iterations run.
    pub fn iteration_count(&self) -> usize {
        self.iterations.len()
    }

    /// Iterations that passed.
    pub fn passed(&self) -> usize {
        self.iterations.iter().filter(|i| i.passed).count()
    }

    /// Iterations that failed.
    pub fn failed(&self) -> usize {
        self.iterations.len() - self.passed()
    }

    /// Passed iterations over all iterations (1.0 for an empty campaign).
    pub fn success_rate(&self) -> f64 {
        match self.iterations.len() {
            0 => 1.0,
            n => self.passed() as f64 / n as f64,
        }
    }

    /// The seeds run, in order.
    pub fn seeds(&self) -> Vec<u64> {
        self.iterations.iter().map(|i| i.seed).collect()
    }

    /// FNV-1a 64 fold of every iteration's `(seed, world digest)`, in seed order.
    pub fn digest(&self) -> u64 {
        let mut digest = Digest::new();
        for i in &self.iterations {
            digest.fold(i.seed);
            digest.fold(i.digest);
        }
        digest.value()
    }

    /// Virtual time summed over all iterations.
    pub fn total_sim_time(&self) -> Duration {
        self.iterations.iter().map(|i| i.sim_time).sum()
    }

    /// Mean virtual time of an iteration (zero for an empty campaign).
    pub fn mean_sim_time(&self) -> Duration {
        match u32::try_from(self.iterations.len()) {
            Ok(0) | Err(_) => Duration::ZERO,
            Ok(n) => self.total_sim_time() / n,
        }
    }

    /// Longest virtual time of an iteration.
    pub fn max_sim_time(&self) -> Duration {
        self.iterations
            .iter()
            .map(|i| i.sim_time)
            .max()
            .unwrap_or_default()
    }

    /// Events processed over all iterations.
    pub fn events_processed(&self) -> u64 {
        self.iterations.iter().map(|i| i.events_processed).sum()
    }

    /// Messages the workloads counted over all iterations
    /// ([`WorkloadTopology::count_messages`](crate::WorkloadTopology::count_messages)).
    pub fn messages(&self) -> u64 {
        self.iterations.iter().map(|i| i.messages).sum()
    }

    /// Names of the sometimes-assertions (checked or declared), in name order.
    pub fn sometimes(&self) -> Vec<&str> {
        self.assertions
            .iter()
            .filter(|(_, s)| s.kind == AssertionKind::Sometimes)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Sometimes-assertions (checked or declared) that were never true, in name order.
    pub fn unreached(&self) -> Vec<&str> {
        self.assertions
            .iter()
            .filter(|(_, s)| s.kind == AssertionKind::Sometimes && s.hits == 0)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// True if no iteration failed and, when coverage is required, every sometimes-assertion
    /// was reached.
    pub fn is_success(&self) -> bool {
        self.failures.is_empty() && (!self.coverage_required || self.unreached().is_empty())
    }

    /// `Ok(self)` on success, else a [`CampaignError`] carrying the report.
    ///
    /// # Errors
    /// [`CampaignError`] if [`is_success`](Self::is_success) is false.
    pub fn into_result(self) -> Result<SimulationReport, CampaignError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(CampaignError {
                report: Box::new(self),
            })
        }
    }

    /// One line:
    /// `summary iterations=N passed=N failed=N sometimes_reached=K/K digest=HEX sim_time_s=X wall_s=Y`.
    pub fn summary_line(&self) -> String {
        let sometimes = self.sometimes().len();
        format!(
            "summary iterations={} passed={} failed={} sometimes_reached={}/{} digest={:016x} \
             sim_time_s={:.3} wall_s={:.3}",
            self.iteration_count(),
            self.passed(),
            self.failed(),
            sometimes - self.unreached().len(),
            sometimes,
            self.digest(),
            self.total_sim_time().as_secs_f64(),
            self.wall_time.as_secs_f64(),
        )
    }

    /// The replay command of `seed`: `MOONPOOL_SEED=<seed> <replay hint>`, or for a child of
    /// exploration `MOONPOOL_SEED=<root seed> MOONPOOL_BRANCH=<switches> <replay hint>`.
    pub fn replay_line(&self, seed: u64) -> String {
        match self.exploration.path(seed) {
            Some((root, branches)) => format!(
                "MOONPOOL_SEED={root} MOONPOOL_BRANCH={} {}",
                branch_text(&branches),
                self.replay_hint
            ),
            None => format!("MOONPOOL_SEED={seed} {}", self.replay_hint),
        }
    }

    /// The failures, unreached assertions and replay lines (what [`CampaignError`] shows).
    fn write_problems(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.failures {
            writeln!(
                f,
                "  seed {} failed in {}: {}",
                failure.seed, failure.workload, failure.error
            )?;
            writeln!(f, "    replay: {}", self.replay_line(failure.seed))?;
            if !failure.faults.is_empty() {
                writeln!(f, "    faults before it:")?;
                for line in &failure.faults {
                    writeln!(f, "      {line}")?;
                }
            }
        }
        if self.coverage_required {
            for name in self.unreached() {
                let stats = &self.assertions[name];
                let how = if self.declared.contains(name) && stats.checks == 0 {
                    "declared but never checked"
                } else {
                    "never true"
                };
                writeln!(
                    f,
                    "  sometimes_assert!({name}) {how}: checks={} hits={}",
                    stats.checks, stats.hits
                )?;
            }
        }
        Ok(())
    }
}

/// Adds the fault counts of `from` to `into`.
pub(super) fn merge_faults(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (kind, n) in from {
        *into.entry(kind.clone()).or_insert(0) += n;
    }
}

/// The first assertion named in both maps as different kinds: its name, its kind in `into`,
/// its kind in `from`.
pub(super) fn kind_conflict<'a>(
    into: &AssertionMap,
    from: &'a AssertionMap,
) -> Option<(&'a str, AssertionKind, AssertionKind)> {
    from.iter().find_map(|(name, theirs)| {
        let ours = into.get(name)?.kind;
        (ours != theirs.kind).then_some((name.as_str(), ours, theirs.kind))
    })
}

/// Adds the counts of `from` to `into`; a name of another kind in `into` keeps its counts.
pub(super) fn merge_assertions(into: &mut AssertionMap, from: &AssertionMap) {
    for (name, stats) in from {
        let entry = into
            .entry(name.clone())
            .or_insert(AssertionStats::new(stats.kind));
        if entry.kind == stats.kind {
            entry.merge(stats);
        }
    }
}

impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_success() {
            "PASSED"
        } else {
            "FAILED"
        };
        writeln!(
            f,
            "simulation {verdict}: {} iterations, {} passed, {} failed ({:.1}% success)",
            self.iteration_count(),
            self.passed(),
            self.failed(),
            self.success_rate() * 100.0
        )?;
        let wall = self.wall_time.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "  sim time: total {:.3}s, mean {:.3}s, max {:.3}s; events {}; wall {:.3}s \
             ({:.1} iterations/s, {:.0} messages/s, {:.0} events/s)",
            self.total_sim_time().as_secs_f64(),
            self.mean_sim_time().as_secs_f64(),
            self.max_sim_time().as_secs_f64(),
            self.events_processed(),
            self.wall_time.as_secs_f64(),
            self.iteration_count() as f64 / wall,
            self.messages() as f64 / wall,
            self.events_processed() as f64 / wall,
        )?;
        if !self.faults.is_empty() {
            let counts: Vec<String> = self
                .faults
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            writeln!(
                f,
                "  faults: {} ({} in all)",
                counts.join(" "),
                self.fault_total()
            )?;
        }
        if !self.buggify.is_empty() {
            let fired = self.buggify.values().filter(|c| c.fired > 0).count();
            let times: u64 = self.buggify.values().map(|c| c.fired).sum();
            writeln!(
                f,
                "  buggify: {fired} of {} sites reached fired, {times} times in all",
                self.buggify.len()
            )?;
            for site in self.buggify_never_fired() {
                let c = &self.buggify[site];
                writeln!(
                    f,
                    "    never fired: {site} (reached in {} iterations, enabled in {})",
                    c.reached, c.enabled
                )?;
            }
        }
        if !self.assertions.is_empty() {
            let width = self.assertions.keys().map(String::len).max().unwrap_or(0);
            writeln!(
                f,
                "  {:<9} {:<width$} {:>10} {:>10} {:>7}",
                "kind", "assertion", "checks", "hits", "rate"
            )?;
            for (name, s) in &self.assertions {
                let rate = match s.checks {
                    0 => 0.0,
                    n => s.hits as f64 / n as f64 * 100.0,
                };
                let flag = match s.kind {
                    AssertionKind::Sometimes if s.hits == 0 => "  <- never reached",
                    AssertionKind::Always if s.hits < s.checks => "  <- FAILED",
                    _ => "",
                };
                let best = s.best.map(|b| format!("  best {b}")).unwrap_or_default();
                writeln!(
                    f,
                    "  {:<9} {name:<width$} {:>10} {:>10} {rate:>6.1}%{flag}{best}",
                    s.kind.to_string(),
                    s.checks,
                    s.hits
                )?;
            }
        }
        let failed = self.failures.iter().map(|x| x.seed).collect();
        self.exploration.write(f, &failed)?;
        self.write_problems(f)?;
        write!(f, "{}", self.summary_line())
    }
}

/// A failed campaign: some iteration failed or a sometimes-assertion was never reached.
///
/// Its `Display` (and `Debug`, so `unwrap` prints it readably) lists the failures with their
/// replay commands and the unreached assertions with their counts.
#[derive(thiserror::Error)]
#[error("simulation campaign failed ({}):\n{}", report.summary_line(), Problems(report))]
pub struct CampaignError {
    /// The full report.
    pub report: Box<SimulationReport>,
}

impl fmt::Debug for CampaignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct Problems<'a>(&'a SimulationReport);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_problems(f)
    }
}
