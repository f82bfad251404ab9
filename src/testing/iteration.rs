//! One iteration of a campaign: a [`Job`] (a seed, or a child of exploration) run in its own
//! world, twice when its determinism is checked.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::FutureExt;

use super::assertions::{
    collect, quiet_panics, take_panic_location, watch_positions, AssertionMap, Positions,
};
use super::builder::SimulationBuilder;
use super::coverage::{self, BuggifyMap};
use super::determinism::{self, DeterminismCheck};
use super::explore::Branch;
use super::report::{IterationFailure, IterationRecord};
use super::topology::{workload_ip, Shutdown, WorkloadTopology};
use crate::sim::SimWorld;

/// The workload name of failures that are the simulation's own ([`crate::SimError`]).
const SIMULATION: &str = "(simulation)";
/// The workload name of a failed determinism check.
const DETERMINISM: &str = "(determinism)";
/// Faults shown before a failure in the report.
const FAULTS_SHOWN: usize = 20;

/// The next [`WorkloadTopology::iteration_key`]: one per iteration run in this process.
static NEXT_ITERATION_KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Faults injected in an iteration, per kind.
pub(crate) type FaultCounts = BTreeMap<String, u64>;

/// What to run: the world seed, and where its RNG switches streams.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The iteration's seed in the report: the world seed, or a child's id.
    pub id: u64,
    /// The world seed (what workloads are given).
    pub root: u64,
    /// `(draw position, stream seed)` switches of the world RNG, increasing positions.
    pub branches: Vec<(u64, u64)>,
    /// Where a child comes from in the exploration tree.
    pub branch: Option<Branch>,
}

impl Job {
    /// A campaign seed, run as is.
    pub(crate) fn plain(seed: u64) -> Self {
        Self {
            id: seed,
            root: seed,
            branches: Vec::new(),
            branch: None,
        }
    }
}

/// What one iteration produced.
pub(crate) struct Outcome {
    pub record: IterationRecord,
    pub failure: Option<IterationFailure>,
    pub assertions: AssertionMap,
    pub faults: FaultCounts,
    /// The `buggify!` sites it reached.
    pub buggify: BuggifyMap,
    /// Where its discoveries happened (empty unless watched).
    pub positions: Positions,
}

/// Runs `job`, the iteration at `index` of the campaign (twice if `check` applies to it,
/// comparing the runs); notes where its discoveries happened if `watch`.
pub(crate) fn run_iteration(
    b: &SimulationBuilder,
    check: DeterminismCheck,
    index: u64,
    job: &Job,
    watch: bool,
) -> Outcome {
    if !check.applies(index, job.id) {
        return run_once(b, job, false, watch).0;
    }
    let (mut outcome, first) = run_once(b, job, true, watch);
    let (_, second) = run_once(b, job, true, false);
    if let (Some(first), Some(second)) = (first, second) {
        if let Some(error) = determinism::verdict(job.id, &first, &second) {
            outcome.record.passed = false;
            outcome.failure = Some(IterationFailure {
                seed: job.id,
                workload: DETERMINISM.to_string(),
                error,
                faults: Vec::new(),
            });
        }
    }
    outcome
}

/// Runs one iteration with its own assertion collector (and quiet panics if asked), with
/// its digest and steps if `steps`.
fn run_once(
    b: &SimulationBuilder,
    job: &Job,
    steps: bool,
    watch: bool,
) -> (Outcome, Option<determinism::Run>) {
    let ((record, failure, (faults, buggify), run), assertions, positions) =
        collect(job.id, || {
            if b.quiet_panics {
                quiet_panics(|| iterate(b, job, steps, watch))
            } else {
                iterate(b, job, steps, watch)
            }
        });
    let outcome = Outcome {
        record,
        failure,
        assertions,
        faults,
        buggify,
        positions,
    };
    (outcome, run)
}

/// Shared between the workload tasks and the root future of one iteration.
#[derive(Default)]
struct RunState {
    finished: usize,
    /// Which workloads have returned.
    done: Vec<bool>,
    /// Which workloads the attrition is rebooting (stopped, a restart to come).
    rebooting: Vec<bool>,
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

/// What [`iterate`] gives: the record, the failure, the faults and `buggify!` sites, and the
/// digest and steps if asked.
type Iterated = (
    IterationRecord,
    Option<IterationFailure>,
    (FaultCounts, BuggifyMap),
    Option<determinism::Run>,
);

/// Builds the world of `job`, runs every workload in it (recording its steps if `steps`,
/// noting discoveries if `watch`), and says how it went.
fn iterate(b: &SimulationBuilder, job: &Job, steps: bool, watch: bool) -> Iterated {
    let seed = job.root;
    let span = if job.branches.is_empty() {
        tracing::info_span!("iteration", seed)
    } else {
        tracing::info_span!("iteration", seed, child = job.id)
    };
    let _span = span.entered();
    let failure = |workload: &str, error: String| IterationFailure {
        seed: job.id,
        workload: workload.to_string(),
        error,
        faults: Vec::new(),
    };
    let config = match catch_unwind(AssertUnwindSafe(|| (b.network)(seed))) {
        Ok(config) => config,
        Err(payload) => {
            let error = format!("the network config function {}", panic_text(payload));
            return (
                empty_record(job.id),
                Some(failure(SIMULATION, error)),
                Default::default(),
                None,
            );
        }
    };
    let checked = config.validate_within(b.time_budget);
    let world = match checked.and_then(|()| SimWorld::with_config(seed, config)) {
        Ok(world) => world,
        Err(error) => {
            return (
                empty_record(job.id),
                Some(failure(SIMULATION, error.to_string())),
                Default::default(),
                None,
            );
        }
    };
    world.set_time_budget(b.time_budget);
    world.set_buggify(b.buggify);
    world.set_rng_branches(&job.branches);
    if steps {
        world.record_steps();
    }
    if watch {
        watch_positions(&world);
    }
    let total = b.workloads.len();
    let ips: std::rc::Rc<[String]> = (0..total).map(workload_ip).collect();
    let shutdowns = Shutdown::for_iteration(total);
    let iteration_key = NEXT_ITERATION_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = Rc::new(RefCell::new(RunState {
        done: vec![false; total],
        rebooting: vec![false; total],
        ..RunState::default()
    }));
    for ((name, _), ip) in b.workloads.iter().zip(ips.iter()) {
        // Each workload's name resolves to its IP ("server:4500"); a name the DNS refuses
        // (an empty one) just stays unresolvable.
        let _ = world.register_name(name, ip);
    }
    for (index, ((name, f), shutdown)) in b.workloads.iter().zip(shutdowns).enumerate() {
        let provider = world.provider(&ips[index]);
        let topology = WorkloadTopology::new(
            index,
            name.clone(),
            ips.clone(),
            shutdown.clone(),
            world.downgrade(),
            iteration_key,
        );
        let (state, task_name, f) = (state.clone(), name.clone(), f.clone());
        // A process: a reboot (attrition) runs this factory again, on the same IP.
        let factory = move || {
            let (provider, topology, shutdown) =
                (provider.clone(), topology.clone(), shutdown.clone());
            let (state, name, f) = (state.clone(), task_name.clone(), f.clone());
            async move {
                // A new incarnation: any reboot of it is over.
                state.borrow_mut().rebooting[index] = false;
                let stop = provider.stop_requested();
                let result = match catch_unwind(AssertUnwindSafe(|| f(seed, provider, topology))) {
                    Ok(future) => AssertUnwindSafe(future)
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|payload| Err(panic_text(payload))),
                    Err(payload) => Err(panic_text(payload)),
                };
                // Returning because the attrition's graceful reboot asked its process to stop
                // is the process going down, not the workload finishing: its next
                // incarnation's return counts, as a crashed one's would. (A stop with no
                // restart to come, `SimWorld::stop` by hand, ends it as a return does.)
                let stopped = stop.now_or_never().is_some();
                if result.is_ok() && stopped && state.borrow().rebooting[index] {
                    return;
                }
                let mut state = state.borrow_mut();
                // (Each workload counts once, whatever its incarnations did.)
                if !state.done[index] {
                    shutdown.finish();
                    state.finished += 1;
                    state.done[index] = true;
                }
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
                record_of(&world, job.id, false),
                Some(failure(SIMULATION, error.to_string())),
                Default::default(),
                None,
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
        let (running, rebooting) = (state.clone(), state.clone());
        attrition.spawn(
            &world,
            targets,
            Rc::new(move |i| !running.borrow().done[i]),
            Rc::new(move |i| rebooting.borrow_mut().rebooting[i] = true),
        );
    }
    let run = || {
        world.block_on(poll_fn(|cx| {
            let mut state = state.borrow_mut();
            if state.failure.is_some() || state.finished == total {
                Poll::Ready(())
            } else {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }))
    };
    // A workload's own panic is caught inside its process; one in a task it spawned unwinds
    // out of the run loop, and fails the iteration the same way, naming the task.
    let ended = catch_unwind(AssertUnwindSafe(run)).map_err(|payload| {
        let text = panic_text(payload);
        match world.unwound_task() {
            Some((task, process)) => {
                let owner = process.and_then(|ip| {
                    ips.iter()
                        .position(|w| w.parse::<std::net::IpAddr>().ok() == Some(ip))
                });
                let workload = owner.map_or(SIMULATION, |i| b.workloads[i].0.as_str());
                (workload.to_string(), format!("task {task:?} {text}"))
            }
            None => (SIMULATION.to_string(), text),
        }
    });
    let failure = match (state.borrow_mut().failure.take(), ended) {
        (Some((workload, error)), _) => Some(failure(&workload, error)),
        (None, Err((workload, error))) => Some(failure(&workload, error)),
        (None, Ok(Err(error))) => Some(failure(SIMULATION, error.to_string())),
        (None, Ok(Ok(()))) => world
            .broken_invariant()
            .map(|broken| failure(SIMULATION, format!("simulator invariant broken: {broken}"))),
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
    let buggify = coverage::of_world(world.buggify_sites());
    let record = record_of(&world, job.id, failure.is_none());
    let run = world.take_steps().map(|steps| determinism::Run {
        digest: record.digest,
        steps,
    });
    (record, failure, (faults, buggify), run)
}

/// The record of an iteration that failed before its world ran.
fn empty_record(seed: u64) -> IterationRecord {
    IterationRecord {
        seed,
        digest: 0,
        sim_time: Duration::ZERO,
        events_processed: 0,
        messages: 0,
        passed: false,
    }
}

fn record_of(world: &SimWorld, seed: u64, passed: bool) -> IterationRecord {
    let stats = world.stats();
    IterationRecord {
        seed,
        digest: world.digest(),
        sim_time: stats.sim_time,
        events_processed: stats.events_processed,
        messages: stats.messages,
        passed,
    }
}
