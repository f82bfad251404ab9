//! Tests of the determinism check: seeds run twice, a difference fails the iteration and names
//! the first step where the runs diverge.

use std::cell::Cell;
use std::time::Duration;

use moonpool::testing::{ping_pong, DeterminismCheck, SimulationBuilder};
use moonpool::{Clock, NetworkProvider, SimWorld};

thread_local! {
    /// Runs of the leaky workloads on this thread: state that outlives an iteration.
    static RUNS: Cell<u64> = const { Cell::new(0) };
}

fn builder() -> SimulationBuilder {
    SimulationBuilder::new().seed_from_env(false).threads(1)
}

/// Sleeps a seed-dependent time, draws from the world RNG, sleeps again: deterministic.
fn steady() -> SimulationBuilder {
    builder().register_workload("steady", |seed, provider, topology| async move {
        let world = topology.world().try_upgrade().map_err(|e| e.to_string())?;
        let clock = provider.clock();
        clock.sleep(Duration::from_millis(seed % 7)).await;
        let nap = world.random_range(1..50);
        drop(world);
        clock.sleep(Duration::from_millis(nap)).await;
        Ok::<(), String>(())
    })
}

/// Like `steady`, but draws one more number from the world RNG on every other run (a
/// thread-local counter decides): the next scheduling choices differ.
fn leaky_draws() -> SimulationBuilder {
    builder()
        .register_workload("leaky", |_seed, provider, topology| async move {
            let world = topology.world().try_upgrade().map_err(|e| e.to_string())?;
            let clock = provider.clock();
            clock.sleep(Duration::from_millis(3)).await;
            if RUNS.with(|r| r.replace(r.get() + 1)) % 2 == 1 {
                world.random_u64();
            }
            drop(world);
            clock.sleep(Duration::from_millis(3)).await;
            Ok::<(), String>(())
        })
        .register_workload("bystander", |_seed, provider, _topology| async move {
            provider.clock().sleep(Duration::from_millis(5)).await;
            Ok::<(), String>(())
        })
}

#[test]
fn smoke_a_deterministic_campaign_passes_the_check_unchanged() {
    let plain = steady().iterations(20).run();
    let checked = steady()
        .iterations(20)
        .check_determinism(DeterminismCheck::All)
        .run();
    assert!(checked.is_success(), "{checked}");
    assert_eq!(plain.digest(), checked.digest());
    assert_eq!(plain.iterations, checked.iterations);
}

#[test]
fn a_workload_reading_leftover_state_is_caught_and_the_divergence_named() {
    let report = leaky_draws()
        .iterations(4)
        .check_determinism(DeterminismCheck::All)
        .run();
    assert_eq!(report.failed(), 4, "{report}");
    for failure in &report.failures {
        assert_eq!(failure.workload, "(determinism)");
        let error = &failure.error;
        assert!(
            error.contains(&format!("seed {} is not deterministic", failure.seed)),
            "{error}"
        );
        // The extra draw happens in the leaky task's poll at 3 ms: the next step is the first
        // to differ, and the runs agree up to that poll.
        assert!(error.contains("diverge at step"), "{error}");
        assert!(error.contains("rng draws before it"), "{error}");
        assert!(error.contains("last common step"), "{error}");
        assert!(error.contains("\"leaky\" at 3ms"), "{error}");
    }
    let shown = report.to_string();
    assert!(shown.contains("failed in (determinism)"), "{shown}");
}

#[test]
fn a_different_sleep_is_named_by_its_timer() {
    let report = builder()
        .register_workload("sleepy", |_seed, provider, _topology| async move {
            let runs = RUNS.with(|r| r.replace(r.get() + 1));
            provider
                .clock()
                .sleep(Duration::from_millis(10 + runs))
                .await;
            Ok::<(), String>(())
        })
        .check_determinism(DeterminismCheck::All)
        .run();
    let error = &report.failures[0].error;
    assert!(error.contains("digests"), "{error}");
    assert!(error.contains("timer 0 fires (event 0) at 1"), "{error}");
}

#[test]
fn a_count_checks_the_first_iterations_only() {
    let report = leaky_draws()
        .iterations(6)
        .check_determinism(DeterminismCheck::Count(2))
        .run();
    let failed: Vec<u64> = report.failures.iter().map(|f| f.seed).collect();
    assert_eq!(failed, vec![0, 1], "{report}");
}

#[test]
fn a_fraction_checks_the_same_seeds_on_any_number_of_threads() {
    let run = |threads| {
        leaky_draws()
            .iterations(200)
            .threads(threads)
            .check_determinism(DeterminismCheck::Fraction(0.1))
            .run()
    };
    let one = run(1);
    let two = run(2);
    let seeds =
        |r: &moonpool::SimulationReport| r.failures.iter().map(|f| f.seed).collect::<Vec<_>>();
    assert_eq!(seeds(&one), seeds(&two));
    assert!((8..=35).contains(&one.failed()), "{}", one.failed());
    assert!(steady()
        .iterations(200)
        .check_determinism(DeterminismCheck::Fraction(0.0))
        .run()
        .is_success());
}

#[test]
fn the_ping_pong_campaign_is_deterministic() {
    let report = ping_pong::builder(2)
        .iterations(6)
        .seed_from_env(false)
        .threads(1)
        .require_coverage(false)
        .check_determinism(DeterminismCheck::All)
        .run();
    assert!(report.is_success(), "{report}");
}

#[test]
fn traces_of_one_seed_agree_and_grow_with_the_run() {
    let run = |seed| {
        let world = SimWorld::new(seed);
        world.record_steps();
        let clock = world.clock();
        world.spawn("a", {
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_millis(2)).await }
        });
        world
            .block_on(async move { clock.sleep(Duration::from_millis(5)).await })
            .unwrap();
        world.take_steps().unwrap()
    };
    let (a, b) = (run(9), run(9));
    assert_eq!(a.first_divergence(&b), None);
    assert!(a.len() >= 4, "{}", a.len());
    assert!(SimWorld::new(1).take_steps().is_none());
}

/// A divergence names the tasks spawned before the recording started, and says so when one
/// run simply ended before the other.
#[test]
fn a_divergence_names_earlier_tasks_and_a_run_that_ended() {
    let run = |naps: &'static [u64]| {
        let world = SimWorld::new(3);
        let clock = world.clock();
        let early = world.spawn("early", async move {
            for nap in naps {
                clock.sleep(Duration::from_millis(*nap)).await;
            }
        });
        drop(early);
        world.record_steps();
        world.run().unwrap();
        world.take_steps().unwrap()
    };
    let divergence = run(&[5]).first_divergence(&run(&[6])).unwrap();
    let last = divergence.last_common.clone().unwrap_or_default();
    assert!(last.contains("\"early\""), "{divergence}");
    let divergence = run(&[5]).first_divergence(&run(&[5, 1])).unwrap();
    assert!(
        divergence.first.contains("the run ended after"),
        "{divergence}"
    );
    assert!(!divergence.second.contains("ended"), "{divergence}");
}
