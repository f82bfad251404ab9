//! Running a campaign: seeds (or exploration's waves) over worker threads, and progress.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::builder::{Progress, ProgressFn, SimulationBuilder};
use super::determinism::DeterminismCheck;
use super::explore;
use super::iteration::{run_iteration, Job, Outcome};
use super::report::SimulationReport;
use super::seeds;
use crate::provider::Clock;
use crate::real::RealClock;

/// Wall time between two progress callbacks.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Runs the campaign described by `b` over the seeds resolved from it, checking determinism
/// as `check` says; `branches` (from `MOONPOOL_BRANCH`) makes a one-seed replay a child of
/// exploration.
pub(crate) fn run(
    b: &SimulationBuilder,
    resolved: seeds::Resolved,
    check: DeterminismCheck,
    branches: Option<Vec<(u64, u64)>>,
) -> SimulationReport {
    // Wall time, for the report's `wall_time` and the progress cadence only: it never reaches
    // a SimWorld, so it cannot change a run.
    let wall = RealClock::new();
    let seeds::Resolved {
        source: seeds,
        until_covered,
        from_plan,
    } = resolved;
    let coverage_required = from_plan && b.require_coverage;
    let mut report =
        SimulationReport::new(b.declared.clone(), coverage_required, b.replay_hint.clone());
    let total = usize::try_from(seeds.len()).unwrap_or(usize::MAX);
    let mut progress = ProgressReporter::new(b, wall, total);
    // A child of exploration replayed: `MOONPOOL_SEED=<root> MOONPOOL_BRANCH=<switches>`.
    let replayed = branches.map(|branches| Job {
        id: branches.last().map_or(0, |last| last.1),
        root: seeds.get(0).unwrap_or(0),
        branches,
        branch: None,
    });
    match (replayed, b.exploration) {
        (Some(job), _) => {
            let job_at = |index: u64| (index == 0).then(|| job.clone());
            run_jobs(
                b,
                check,
                &job_at,
                1,
                until_covered,
                &mut report,
                &mut progress,
            );
        }
        (None, Some(config)) if from_plan => {
            explore::run(
                b,
                config,
                check,
                &seeds,
                until_covered,
                &mut report,
                &mut progress,
            );
        }
        (None, _) => {
            let job_at = |index: u64| seeds.get(index).map(Job::plain);
            run_jobs(
                b,
                check,
                &job_at,
                total,
                until_covered,
                &mut report,
                &mut progress,
            );
        }
    }
    progress.tick(report.iterations.len(), report.failures.len(), true);
    report.wall_time = wall.now();
    report
}

/// Calls the builder's progress callback at most every [`PROGRESS_EVERY`], and when forced.
pub(crate) struct ProgressReporter {
    callback: Option<ProgressFn>,
    wall: RealClock,
    last: Duration,
    total: usize,
}

impl ProgressReporter {
    fn new(b: &SimulationBuilder, wall: RealClock, total: usize) -> Self {
        Self {
            callback: b.progress.clone(),
            last: wall.now(),
            wall,
            total,
        }
    }

    /// Reports `done` iterations and `failures` if it is time (or `force`).
    pub(crate) fn tick(&mut self, done: usize, failures: usize, force: bool) {
        if let Some(progress) = &self.callback {
            if force || self.wall.now() - self.last >= PROGRESS_EVERY {
                self.last = self.wall.now();
                progress(&Progress {
                    done,
                    total: self.total,
                    failures,
                });
            }
        }
    }
}

/// Worker threads a campaign starts at most, whatever [`SimulationBuilder::threads`] asks:
/// results never depend on the count, and past the cores more only cost memory.
const MAX_THREADS: usize = 256;

/// Runs the jobs `job_at(0), job_at(1), ...` (until `None`) over the builder's threads,
/// adding them to `report` in index order.
fn run_jobs(
    b: &SimulationBuilder,
    check: DeterminismCheck,
    job_at: &(dyn Fn(u64) -> Option<Job> + Sync),
    total: usize,
    until_covered: bool,
    report: &mut SimulationReport,
    progress: &mut ProgressReporter,
) {
    let mut acc = Accumulator {
        report,
        pending: BTreeMap::new(),
        next: 0,
        until_covered,
        covered: false,
    };
    let threads = b.threads.clamp(1, total.clamp(1, MAX_THREADS));
    let mut done = 0;
    let mut workers = 0;
    if threads > 1 {
        let next = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<(u64, Outcome)>();
        std::thread::scope(|scope| {
            workers = spawn_workers(scope, threads, || {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                move || loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = job_at(index) else { break };
                    let outcome = run_iteration(b, check, index, &job, false);
                    if tx.send((index, outcome)).is_err() {
                        break;
                    }
                }
            });
            drop(tx);
            for (index, outcome) in rx {
                acc.add(index, outcome);
                done += 1;
                progress.tick(done, acc.report.failures.len(), false);
                if acc.covered {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    if workers == 0 {
        // One thread asked for, or none could be started: the calling thread runs them all.
        let mut index = 0;
        while let Some(job) = job_at(index) {
            acc.add(index, run_iteration(b, check, index, &job, false));
            index += 1;
            done += 1;
            progress.tick(done, acc.report.failures.len(), false);
            if acc.covered {
                break;
            }
        }
    }
}

/// Runs `jobs`, the iterations at `first_index..` of the campaign, over the builder's
/// threads, noting where their discoveries happened; the outcomes come back in job order.
pub(crate) fn run_wave(
    b: &SimulationBuilder,
    check: DeterminismCheck,
    first_index: u64,
    jobs: &[Job],
) -> Vec<Outcome> {
    let threads = b.threads.clamp(1, jobs.len().clamp(1, MAX_THREADS));
    let run = |i: usize| run_iteration(b, check, first_index + i as u64, &jobs[i], true);
    if threads == 1 {
        return (0..jobs.len()).map(run).collect();
    }
    let next = AtomicUsize::new(0);
    let mut outcomes: Vec<Option<Outcome>> = (0..jobs.len()).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    std::thread::scope(|scope| {
        spawn_workers(scope, threads, || {
            let (tx, next, run) = (tx.clone(), &next, &run);
            move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() || tx.send((i, run(i))).is_err() {
                    break;
                }
            }
        });
        drop(tx);
        for (i, outcome) in rx {
            outcomes[i] = Some(outcome);
        }
    });
    // Jobs no worker ran (none could be started) run on the calling thread.
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| outcome.unwrap_or_else(|| run(i)))
        .collect()
}

/// Starts up to `threads` workers in `scope`, each made by `worker`; returns how many
/// started. A thread the system refuses is one fewer worker, not a panic.
fn spawn_workers<'scope, W>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    threads: usize,
    mut worker: impl FnMut() -> W,
) -> usize
where
    W: FnOnce() + Send + 'scope,
{
    let mut started = 0;
    for _ in 0..threads {
        let spawned = std::thread::Builder::new().spawn_scoped(scope, worker());
        if spawned.is_err() {
            break;
        }
        started += 1;
    }
    started
}

/// Adds outcomes to the report in seed order, whatever order they finish in.
struct Accumulator<'a> {
    report: &'a mut SimulationReport,
    pending: BTreeMap<u64, Outcome>,
    next: u64,
    until_covered: bool,
    covered: bool,
}

impl Accumulator<'_> {
    fn add(&mut self, index: u64, outcome: Outcome) {
        if self.covered {
            return;
        }
        self.pending.insert(index, outcome);
        while let Some(outcome) = self.pending.remove(&self.next) {
            self.next += 1;
            self.report.push(
                outcome.record,
                outcome.failure,
                &outcome.assertions,
                &outcome.faults,
                &outcome.buggify,
            );
            if self.until_covered && self.report.unreached().is_empty() {
                self.covered = true;
                self.pending.clear();
                return;
            }
        }
    }
}
