//! The exploring campaign: waves of children and seeds, discoveries judged in run order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{child_seed, Branch, Discovery, Exploration};
use crate::testing::builder::SimulationBuilder;
use crate::testing::determinism::DeterminismCheck;
use crate::testing::iteration::{Job, Outcome};
use crate::testing::report::SimulationReport;
use crate::testing::runner::{run_wave, ProgressReporter};
use crate::testing::seeds::SeedSource;

/// Iterations per wave: fixed, so the campaign is the same on any number of threads.
const WAVE: usize = 32;

/// What the campaign has reached so far, to tell a discovery from a repeat.
#[derive(Default)]
struct Frontier {
    /// Sometimes-assertions true at least once.
    reached: BTreeSet<String>,
    /// The best value of each watermark.
    bests: BTreeMap<String, i64>,
}

impl Frontier {
    /// The discoveries `outcome` of iteration `id` makes, in assertion-name order, taking
    /// them into the frontier.
    fn discover(&mut self, id: u64, outcome: &Outcome) -> Vec<Discovery> {
        let mut found = Vec::new();
        for (name, &at) in &outcome.positions.first_hits {
            if self.reached.insert(name.clone()) {
                found.push(Discovery {
                    iteration: id,
                    assertion: name.clone(),
                    at,
                    value: None,
                });
            }
        }
        for (name, &(value, at)) in &outcome.positions.bests {
            let Some(kind) = outcome.assertions.get(name).map(|s| s.kind) else {
                continue;
            };
            if kind.improves(value, self.bests.get(name).copied()) {
                self.bests.insert(name.clone(), value);
                found.push(Discovery {
                    iteration: id,
                    assertion: name.clone(),
                    at,
                    value: Some(value),
                });
            }
        }
        found
    }
}

/// Runs the seeds of `seeds` with exploration: each wave of [`WAVE`] iterations takes the
/// pending children first, then seeds; outcomes are judged in wave order, and every
/// discovery queues `config.children` children (within the depth and total limits).
pub(crate) fn run(
    b: &SimulationBuilder,
    config: Exploration,
    check: DeterminismCheck,
    seeds: &SeedSource,
    until_covered: bool,
    report: &mut SimulationReport,
    progress: &mut ProgressReporter,
) {
    let max_children = config.max_children.unwrap_or(seeds.len());
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut depth: BTreeMap<u64, u32> = BTreeMap::new();
    let mut frontier = Frontier::default();
    let (mut next_seed, mut index, mut children) = (0u64, 0u64, 0u64);
    loop {
        let mut wave: Vec<Job> = Vec::with_capacity(WAVE);
        while wave.len() < WAVE {
            match queue.pop_front() {
                Some(job) => wave.push(job),
                None => break,
            }
        }
        while wave.len() < WAVE {
            match seeds.get(next_seed) {
                Some(seed) => {
                    wave.push(Job::plain(seed));
                    next_seed += 1;
                }
                None => break,
            }
        }
        if wave.is_empty() {
            return;
        }
        let outcomes = run_wave(b, check, index, &wave);
        for (job, outcome) in wave.into_iter().zip(outcomes) {
            index += 1;
            let found = frontier.discover(job.id, &outcome);
            report.push(
                outcome.record,
                outcome.failure,
                &outcome.assertions,
                &outcome.faults,
                &outcome.buggify,
            );
            if let Some(branch) = job.branch.clone() {
                report.exploration.branches.push(branch);
            }
            let job_depth = depth.get(&job.id).copied().unwrap_or(0);
            for discovery in found {
                for i in 0..config.children {
                    if job_depth >= config.max_depth || children >= max_children {
                        break;
                    }
                    children += 1;
                    let id = child_seed(job.id, &discovery.assertion, i);
                    let mut branches: Vec<(u64, u64)> = job
                        .branches
                        .iter()
                        .copied()
                        .filter(|&(at, _)| at < discovery.at)
                        .collect();
                    branches.push((discovery.at, id));
                    depth.insert(id, job_depth + 1);
                    queue.push_back(Job {
                        id,
                        root: job.root,
                        branches,
                        branch: Some(Branch {
                            id,
                            parent: job.id,
                            root: job.root,
                            at: discovery.at,
                            assertion: discovery.assertion.clone(),
                            index: i,
                        }),
                    });
                }
                report.exploration.discoveries.push(discovery);
            }
            progress.tick(report.iterations.len(), report.failures.len(), false);
            if until_covered && report.unreached().is_empty() {
                return;
            }
        }
    }
}
