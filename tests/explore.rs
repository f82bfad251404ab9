//! Tests of exploration: children replay a run up to a discovery and branch from there.

use std::time::Duration;

use moonpool::testing::{Exploration, SimulationBuilder, SimulationReport, WorkloadTopology};
use moonpool::{
    always_assert, sometimes_assert, sometimes_max, Clock, NetworkProvider, SimNetworkProvider,
};

/// Per-step chance of the first rare event (the system is "armed").
const ARM: f64 = 0.0005;
/// Per-step chance of the second rare event while armed: the bug.
const FIRE: f64 = 0.05;
/// Steps the system stays armed.
const WINDOW: u32 = 2;
/// Steps of one iteration.
const STEPS: u32 = 20;

/// A system with a bug that needs two rare events in a row: it is armed with chance [`ARM`]
/// per step, and the bug fires if, within the [`WINDOW`] steps after, an event of chance
/// [`FIRE`] happens. Every random choice is drawn from the world RNG.
async fn double_fault(
    provider: SimNetworkProvider,
    topology: WorkloadTopology,
) -> Result<(), String> {
    let world = topology.world().clone();
    let clock = provider.clock();
    let mut armed_for = 0;
    for _ in 0..STEPS {
        clock.sleep(Duration::from_millis(1)).await;
        let world = world.try_upgrade().map_err(|e| e.to_string())?;
        if armed_for > 0 {
            armed_for -= 1;
            always_assert!(
                "no_double_fault",
                !world.random_bool(FIRE),
                "fired while armed"
            );
        } else if world.random_bool(ARM) {
            armed_for = WINDOW;
            sometimes_assert!("armed", true);
        }
    }
    Ok(())
}

fn campaign(base_seed: u64, iterations: u64) -> SimulationBuilder {
    SimulationBuilder::new()
        .register_workload("system", |_seed, provider, topology| {
            double_fault(provider, topology)
        })
        .seed_from_env(false)
        .require_coverage(false)
        .base_seed(base_seed)
        .iterations(iterations)
}

/// Iterations run up to and including the first failure (in run order), if any failed.
fn iterations_to_bug(report: &SimulationReport) -> Option<usize> {
    report
        .iterations
        .iter()
        .position(|i| !i.passed)
        .map(|p| p + 1)
}

fn explore() -> Exploration {
    Exploration {
        children: 32,
        ..Exploration::default()
    }
}

#[test]
fn smoke_exploration_is_the_same_on_any_number_of_threads() {
    let run = |threads| campaign(0, 300).threads(threads).explore(explore()).run();
    let (one, three) = (run(1), run(3));
    assert_eq!(one.iterations, three.iterations);
    assert_eq!(one.exploration, three.exploration);
    assert_eq!(one.assertions, three.assertions);
    assert!(!one.exploration.discoveries.is_empty(), "{one}");
}

#[test]
fn children_replay_the_prefix_and_then_branch() {
    // Naps of random length: a long one is the discovery, and what follows it differs in
    // each child (and shows in the digest, which folds every timer's time).
    let report = SimulationBuilder::new()
        .register_workload("napper", |_seed, provider, topology| async move {
            let world = topology.world().clone();
            for _ in 0..10 {
                let nap = world
                    .try_upgrade()
                    .map_err(|e| e.to_string())?
                    .random_range(1..100);
                provider.clock().sleep(Duration::from_millis(nap)).await;
                sometimes_assert!("long_nap", nap >= 95);
            }
            Ok::<(), String>(())
        })
        .seed_from_env(false)
        .iterations(40)
        .threads(2)
        .explore(explore())
        .run();
    let discovery = &report.exploration.discoveries[0];
    assert_eq!(discovery.assertion, "long_nap");
    let children: Vec<_> = report
        .exploration
        .branches
        .iter()
        .filter(|b| b.parent == discovery.iteration)
        .collect();
    assert_eq!(children.len(), 32);
    assert!(children
        .iter()
        .all(|c| c.at == discovery.at && c.root == discovery.iteration));
    // Every child replays the long nap (the prefix), so each hits it once more at least...
    assert!(report.assertions["long_nap"].hits >= 33, "{report}");
    // ...and the children differ from each other after it.
    let digests: std::collections::BTreeSet<u64> = report
        .iterations
        .iter()
        .filter(|i| children.iter().any(|c| c.id == i.seed))
        .map(|i| i.digest)
        .collect();
    assert!(digests.len() > 16, "{}", digests.len());
}

/// The figure in the README: iterations until the double fault is found, by plain seeds and
/// with exploration, for ten campaigns (base seeds 0, 10 000, 20 000, ...).
#[test]
fn exploration_finds_a_double_fault_in_far_fewer_iterations() {
    const CAP: u64 = 6000;
    let mut plain = Vec::new();
    let mut explored = Vec::new();
    for campaign_index in 0..10u64 {
        let base = campaign_index * 10_000;
        let seeds = campaign(base, CAP).run();
        plain.push(iterations_to_bug(&seeds).unwrap_or(CAP as usize));
        let exploring = campaign(base, CAP / 4).explore(explore()).run();
        explored.push(iterations_to_bug(&exploring).unwrap_or(CAP as usize));
    }
    let median = |v: &mut Vec<usize>| {
        v.sort_unstable();
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
    };
    println!("iterations to the double fault, plain seeds: {plain:?}");
    println!("iterations to the double fault, exploration: {explored:?}");
    let (plain_median, explored_median) = (median(&mut plain), median(&mut explored));
    println!("median: plain {plain_median}, exploration {explored_median}");
    assert!(
        explored_median * 4 <= plain_median,
        "exploration {explored_median} vs plain {plain_median}"
    );
}

#[test]
fn a_failed_child_has_a_replay_line_that_reproduces_it() {
    let report = campaign(0, 600).threads(2).explore(explore()).run();
    let failure = report
        .failures
        .iter()
        .find(|f| report.exploration.path(f.seed).is_some())
        .expect("a child found the double fault");
    let line = report.replay_line(failure.seed);
    let (root, branches) = report.exploration.path(failure.seed).unwrap();
    assert!(
        line.starts_with(&format!("MOONPOOL_SEED={root} MOONPOOL_BRANCH=")),
        "{line}"
    );
    let shown = report.to_string();
    assert!(shown.contains(&line), "{shown}");
    assert!(
        shown.contains("paid off") && shown.contains("failed"),
        "{shown}"
    );
    let seed = line.split_whitespace().next().unwrap();
    let branch = line.split_whitespace().nth(1).unwrap();
    assert_eq!(branches.len(), branch.matches(':').count());
    // The only test here that reads the environment.
    std::env::set_var("MOONPOOL_SEED", seed.trim_start_matches("MOONPOOL_SEED="));
    std::env::set_var(
        "MOONPOOL_BRANCH",
        branch.trim_start_matches("MOONPOOL_BRANCH="),
    );
    let replay = campaign(0, 600)
        .seed_from_env(true)
        .explore(explore())
        .run();
    std::env::remove_var("MOONPOOL_SEED");
    std::env::remove_var("MOONPOOL_BRANCH");
    let original = report
        .iterations
        .iter()
        .find(|i| i.seed == failure.seed)
        .unwrap();
    assert_eq!(replay.iterations, vec![*original]);
    assert_eq!(replay.failures, vec![failure.clone()]);
}

#[test]
fn shards_carry_their_trees_through_text_and_merge() {
    let shard = |range: std::ops::Range<u64>| {
        campaign(0, 0)
            .seed_range(range)
            .threads(2)
            .explore(explore())
            .run()
    };
    let a = shard(0..300);
    let b = shard(300..600);
    assert!(!a.exploration.is_empty() && !b.exploration.is_empty());
    let text = a.to_shard_text();
    assert!(
        text.contains("\n{\"branch\":{") && text.contains("\n{\"discovery\":{"),
        "{text}"
    );
    let back = SimulationReport::from_shard_text(&text).unwrap();
    assert_eq!(back, a);
    let mut merged = back;
    merged
        .merge(SimulationReport::from_shard_text(&b.to_shard_text()).unwrap())
        .unwrap();
    assert_eq!(
        merged.exploration.branches.len(),
        a.exploration.branches.len() + b.exploration.branches.len()
    );
    for failure in &b.failures {
        assert_eq!(
            merged.replay_line(failure.seed),
            b.replay_line(failure.seed)
        );
    }
    let bad = text.replacen("{\"branch\":{\"id\":", "{\"branch\":{\"id\":-", 1);
    assert!(SimulationReport::from_shard_text(&bad).is_err());
}

#[test]
fn a_watermark_that_improves_is_a_discovery() {
    let report = SimulationBuilder::new()
        .register_workload("climber", |_seed, provider, topology| async move {
            let world = topology.world().clone();
            let mut height = 0u64;
            for _ in 0..10 {
                provider.clock().sleep(Duration::from_millis(1)).await;
                let world = world.try_upgrade().map_err(|e| e.to_string())?;
                if world.random_bool(0.3) {
                    height += 1;
                    sometimes_max!("height", height);
                }
            }
            Ok::<(), String>(())
        })
        .seed_from_env(false)
        .iterations(64)
        .explore(Exploration {
            children: 4,
            max_depth: 2,
            max_children: Some(40),
        })
        .run();
    let tree = &report.exploration;
    // Each discovery beats the one before it.
    let values: Vec<i64> = tree.discoveries.iter().map(|d| d.value.unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    assert!(values.len() >= 3, "{report}");
    assert!(
        !tree.branches.is_empty() && tree.branches.len() <= 40,
        "{report}"
    );
    assert_eq!(tree.branches.len() % 4, 0);
    let shown = report.to_string();
    assert!(shown.contains("exploration: "), "{shown}");
    assert!(shown.contains("reached height = "), "{shown}");
    // Depth 2 at most: no child's parent is itself a grandchild.
    let ids: std::collections::BTreeMap<u64, u64> =
        tree.branches.iter().map(|b| (b.id, b.parent)).collect();
    for branch in &tree.branches {
        let mut depth = 1;
        let mut parent = branch.parent;
        while let Some(&up) = ids.get(&parent) {
            depth += 1;
            parent = up;
        }
        assert!(depth <= 2, "{depth}");
    }
}

#[test]
fn children_pass_the_determinism_check() {
    use moonpool::testing::DeterminismCheck;
    let plain = campaign(0, 200).threads(2).explore(explore()).run();
    let checked = campaign(0, 200)
        .threads(2)
        .explore(explore())
        .check_determinism(DeterminismCheck::All)
        .run();
    assert!(!plain.exploration.branches.is_empty());
    assert_eq!(plain.iterations, checked.iterations);
    assert_eq!(plain.exploration, checked.exploration);
    assert!(checked
        .failures
        .iter()
        .all(|f| f.workload != "(determinism)"));
}

/// Limits at their extremes: unbounded children per discovery, depth and total, in a
/// campaign that runs until its coverage is complete. Children are made as waves take them,
/// so the first discovery (which asks for four billion children) queues one entry, and the
/// campaign ends as soon as a child reaches the second assertion.
#[test]
fn children_are_made_as_they_run_whatever_the_limits() {
    let report = SimulationBuilder::new()
        .register_workload("w", |_seed, provider, topology| async move {
            let world = topology.world().try_upgrade().map_err(|e| e.to_string())?;
            provider.clock().sleep(Duration::from_millis(1)).await;
            let first = world.random_bool(0.2);
            sometimes_assert!("first", first);
            provider.clock().sleep(Duration::from_millis(1)).await;
            sometimes_assert!("then_second", first && world.random_bool(0.05));
            Ok::<(), String>(())
        })
        .seed_from_env(false)
        .explore(Exploration {
            children: u32::MAX,
            max_depth: u32::MAX,
            max_children: Some(u64::MAX),
        })
        .until_all_sometimes_reached(u64::MAX)
        .run();
    assert!(report.is_success(), "{report}");
    assert!(report.iteration_count() < 10_000, "{report}");
    assert!(!report.exploration.branches.is_empty(), "{report}");
}
