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

/// The children of one discovery still to run, made one at a time as waves take them: a
/// discovery allowed millions of children holds one entry here, not millions of jobs.
struct Litter {
    parent: Job,
    assertion: String,
    at: u64,
    /// Depth of the children.
    depth: u32,
    /// Index of the next child.
    next: u32,
}

impl Litter {
    /// The next child: the parent's switches before the discovery, then a switch at it.
    fn child(&mut self) -> Job {
        let index = self.next;
        self.next += 1;
        let parent = &self.parent;
        let id = child_seed(parent.id, &self.assertion, index);
        let mut branches: Vec<(u64, u64)> = parent
            .branches
            .iter()
            .copied()
            .filter(|&(at, _)| at < self.at)
            .collect();
        branches.push((self.at, id));
        Job {
            id,
            root: parent.root,
            branches,
            branch: Some(Branch {
                id,
                parent: parent.id,
                root: parent.root,
                at: self.at,
                assertion: self.assertion.clone(),
                index,
            }),
        }
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
    let mut queue: VecDeque<Litter> = VecDeque::new();
    let mut depth: BTreeMap<u64, u32> = BTreeMap::new();
    let mut frontier = Frontier::default();
    let (mut next_seed, mut index, mut children) = (0u64, 0u64, 0u64);
    loop {
        let mut wave: Vec<Job> = Vec::with_capacity(WAVE);
        while wave.len() < WAVE {
            let Some(litter) = queue.front_mut() else {
                break;
            };
            if litter.next >= config.children || children >= max_children {
                queue.pop_front();
                continue;
            }
            children += 1;
            let job = litter.child();
            depth.insert(job.id, litter.depth);
            wave.push(job);
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
                if job_depth < config.max_depth && config.children > 0 && children < max_children {
                    queue.push_back(Litter {
                        parent: job.clone(),
                        assertion: discovery.assertion.clone(),
                        at: discovery.at,
                        depth: job_depth + 1,
                        next: 0,
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
