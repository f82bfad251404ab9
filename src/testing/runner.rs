//! Running a campaign: seeds, one iteration in its own world, worker threads, progress.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::FutureExt;

use super::assertions::{collect, quiet_panics, take_panic_location, AssertionMap};
use super::builder::{Progress, SimulationBuilder};
use super::report::{IterationFailure, IterationRecord, SimulationReport};
use super::seeds;
use super::topology::{workload_ip, Shutdown, WorkloadTopology};
use crate::provider::Clock;
use crate::real::RealClock;
use crate::sim::SimWorld;

/// The workload name of failures that are the simulation's own ([`crate::SimError`]).
const SIMULATION: &str = "(simulation)";
/// Wall time between two progress callbacks.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Faults injected in an iteration, per kind.
type FaultCounts = BTreeMap<String, u64>;
/// Faults shown before a failure in the report.
const FAULTS_SHOWN: usize = 20;

/// What one iteration produced.
struct Outcome {
    record: IterationRecord,
    failure: Option<IterationFailure>,
    assertions: AssertionMap,
    faults: FaultCounts,
}

/// Runs the campaign described by `b` over the seeds resolved from it.
pub(crate) fn run(b: &SimulationBuilder, resolved: seeds::Resolved) -> SimulationReport {
    // Wall time, for the report's `wall_time` and the progress cadence only: it never reaches
    // a SimWorld, so it cannot change a run.
    let wall = RealClock::new();
    let seeds::Resolved {
        source: seeds,
        until_covered,
        from_plan,
    } = resolved;
    let coverage_required = from_plan && b.require_coverage;
    let mut acc = Accumulator {
        report: SimulationReport::new(b.declared.clone(), coverage_required, b.replay_hint.clone()),
        pending: BTreeMap::new(),
        next: 0,
        until_covered,
        covered: false,
    };
    let total = usize::try_from(seeds.len()).unwrap_or(usize::MAX);
    let threads = b.threads.clamp(1, total.max(1));
    let mut last_progress = wall.now();
    let mut done = 0;
    let mut report_progress = |done: usize, failures: usize, force: bool| {
        if let Some(progress) = &b.progress {
            if force || wall.now() - last_progress >= PROGRESS_EVERY {
                last_progress = wall.now();
                progress(&Progress {
                    done,
                    total,
                    failures,
                });
            }
        }
    };
    if threads == 1 {
        let mut index = 0;
        while let Some(seed) = seeds.get(index) {
            acc.add(index, run_iteration(b, seed));
            index += 1;
            done += 1;
            report_progress(done, acc.report.failures.len(), false);
            if acc.covered {
                break;
            }
        }
    } else {
        let next = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<(u64, Outcome)>();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, stop, seeds) = (&next, &stop, &seeds);
                scope.spawn(move || loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seed) = seeds.get(index) else { break };
                    if tx.send((index, run_iteration(b, seed))).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (index, outcome) in rx {
                acc.add(index, outcome);
                done += 1;
                report_progress(done, acc.report.failures.len(), false);
                if acc.covered {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    report_progress(acc.report.iterations.len(), acc.report.failures.len(), true);
    let mut report = acc.report;
    report.wall_time = wall.now();
    report
}

/// Adds outcomes to the report in seed order, whatever order they finish in.
struct Accumulator {
    report: SimulationReport,
    pending: BTreeMap<u64, Outcome>,
    next: u64,
    until_covered: bool,
    covered: bool,
}

impl Accumulator {
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
            );
            if self.until_covered && self.report.unreached().is_empty() {
                self.covered = true;
                self.pending.clear();
                return;
            }
        }
    }
}

/// Runs one iteration with its own assertion collector (and quiet panics if asked).
fn run_iteration(b: &SimulationBuilder, seed: u64) -> Outcome {
    let ((record, failure, faults), assertions) = collect(seed, || {
        if b.quiet_panics {
            quiet_panics(|| iterate(b, seed))
        } else {
            iterate(b, seed)
        }
    });
    Outcome {
        record,
        failure,
        assertions,
        faults,
    }
}

/// Shared between the workload tasks and the root future of one iteration.
#[derive(Default)]
struct RunState {
    finished: usize,
    /// Which workloads have returned.
    done: Vec<bool>,
    failure: Option<(String, String)>,
    waker: Option<Waker>,
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    };
    match take_panic_location() {
        Some(location) => format!("panicked at {location}: {message}"),
        None => format!("panicked: {message}"),
    }
}

/// Builds the world of `seed`, runs every workload in it, and says how it went.
fn iterate(
    b: &SimulationBuilder,
    seed: u64,
) -> (IterationRecord, Option<IterationFailure>, FaultCounts) {
    let _span = tracing::info_span!("iteration", seed).entered();
    let failure = |workload: &str, error: String| IterationFailure {
        seed,
        workload: workload.to_string(),
        error,
        faults: Vec::new(),
    };
    let config = (b.network)(seed);
    let checked = config.validate_within(b.time_budget);
    let world = match checked.and_then(|()| SimWorld::with_config(seed, config)) {
        Ok(world) => world,
        Err(error) => {
            let record = IterationRecord {
                seed,
                digest: 0,
                sim_time: Duration::ZERO,
                events_processed: 0,
                passed: false,
            };
            return (
                record,
                Some(failure(SIMULATION, error.to_string())),
                BTreeMap::new(),
            );
        }
    };
    world.set_time_budget(b.time_budget);
    world.set_buggify(b.buggify);
    let total = b.workloads.len();
    let ips: std::rc::Rc<[String]> = (0..total).map(workload_ip).collect();
    let shutdowns = Shutdown::for_iteration(total);
    let state = Rc::new(RefCell::new(RunState {
        done: vec![false; total],
        ..RunState::default()
    }));
    for ((name, _), ip) in b.workloads.iter().zip(ips.iter()) {
        // Each workload's name resolves to its IP ("server:4500"); a name the DNS refuses
        // (an empty one) just stays unresolvable.
        let _ = world.register_name(name, ip);
    }
    for (index, ((name, f), shutdown)) in b.workloads.iter().zip(shutdowns).enumerate() {
        let provider = world.provider(&ips[index]);
        let topology = WorkloadTopology::new(index, name.clone(), ips.clone(), shutdown.clone());
        let (state, task_name, f) = (state.clone(), name.clone(), f.clone());
        // A process: a reboot (attrition) runs this factory again, on the same IP.
        let factory = move || {
            let (provider, topology, shutdown) =
                (provider.clone(), topology.clone(), shutdown.clone());
            let (state, name, f) = (state.clone(), task_name.clone(), f.clone());
            async move {
                let result = match catch_unwind(AssertUnwindSafe(|| f(seed, provider, topology))) {
                    Ok(future) => AssertUnwindSafe(future)
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|payload| Err(panic_text(payload))),
                    Err(payload) => Err(panic_text(payload)),
                };
                shutdown.finish();
                let mut state = state.borrow_mut();
                state.finished += 1;
                state.done[index] = true;
                if let Err(error) = result {
                    state.failure.get_or_insert((name, error));
                }
                if let Some(waker) = state.waker.take() {
                    waker.wake();
                }
            }
        };
        if let Err(error) = world.spawn_process(name.clone(), &ips[index], factory) {
            return (
                record_of(&world, seed, false),
                Some(failure(SIMULATION, error.to_string())),
                BTreeMap::new(),
            );
        }
    }
    if let Some(attrition) = &b.attrition {
        let targets = b
            .workloads
            .iter()
            .map(|(name, _)| name.clone())
            .zip(ips.iter().cloned())
            .collect();
        let state = state.clone();
        attrition.spawn(&world, targets, Rc::new(move |i| !state.borrow().done[i]));
    }
    let ended = world.block_on(poll_fn(|cx| {
        let mut state = state.borrow_mut();
        if state.failure.is_some() || state.finished == total {
            Poll::Ready(())
        } else {
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }));
    let failure = match (state.borrow_mut().failure.take(), ended) {
        (Some((workload, error)), _) => Some(failure(&workload, error)),
        (None, Err(error)) => Some(failure(SIMULATION, error.to_string())),
        (None, Ok(())) => None,
    };
    if let Some(failure) = &failure {
        tracing::info!(workload = %failure.workload, error = %failure.error, "iteration failed");
    }
    let failure = failure.map(|mut failure| {
        let timeline = world.fault_timeline();
        let skip = timeline.len().saturating_sub(FAULTS_SHOWN);
        failure.faults = timeline.iter().skip(skip).map(|e| e.to_string()).collect();
        failure
    });
    let counts = world.fault_counts();
    for kind in &b.expected_faults {
        let name = format!("fault_{kind}");
        super::assertions::record_sometimes(&name, counts.get(kind).is_some_and(|n| *n > 0));
    }
    let faults = counts
        .into_iter()
        .map(|(kind, n)| (kind.to_string(), n))
        .collect();
    (record_of(&world, seed, failure.is_none()), failure, faults)
}

fn record_of(world: &SimWorld, seed: u64, passed: bool) -> IterationRecord {
    let stats = world.stats();
    IterationRecord {
        seed,
        digest: world.digest(),
        sim_time: stats.sim_time,
        events_processed: stats.events_processed,
        passed,
    }
}
