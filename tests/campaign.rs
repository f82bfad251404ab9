//! A campaign's plan: partitions of its seeds, and the settings it refuses before running.
//! (The same through the environment and an example's exit status: `tests/cli.rs`.)

use moonpool::testing::{CampaignConfigError, Partition, SimulationBuilder, SimulationReport};
use moonpool::{sometimes_assert, Clock, NetworkProvider};

fn campaign() -> SimulationBuilder {
    SimulationBuilder::new()
        .seed_from_env(false)
        .register_workload("w", |seed, net, _| async move {
            net.clock()
                .sleep(std::time::Duration::from_millis(seed % 13))
                .await;
            sometimes_assert!("multiple_of_five", seed % 5 == 0);
            Ok::<(), String>(())
        })
}

#[test]
fn smoke_partitions_cover_every_seed_once_and_merge_into_the_whole() {
    let full = campaign().iterations(23).run();
    for n in [1, 2, 3, 7, 23] {
        let mut seeds = Vec::new();
        let mut merged: Option<SimulationReport> = None;
        for k in 1..=n {
            let part = campaign()
                .iterations(23)
                .partition(Partition::new(k, n).unwrap())
                .require_coverage(false)
                .run();
            // Equal parts: sizes differ by at most one.
            assert!(part.iteration_count().abs_diff(23 / n as usize) <= 1);
            seeds.extend(part.seeds());
            let shard = SimulationReport::from_shard_text(&part.to_shard_text()).unwrap();
            match &mut merged {
                Some(report) => report.merge(shard).unwrap(),
                None => merged = Some(shard),
            }
        }
        assert_eq!(seeds, (0..23).collect::<Vec<_>>(), "{n} parts");
        let mut merged = merged.unwrap();
        merged.coverage_required = true;
        assert_eq!(merged.digest(), full.digest());
        assert_eq!(merged.assertions, full.assertions);
        assert!(merged.is_success());
    }
}

#[test]
fn a_partition_splits_ranges_and_lists_alike() {
    let part = |b: SimulationBuilder, k, n| {
        b.partition(Partition::new(k, n).unwrap())
            .require_coverage(false)
            .run()
            .seeds()
    };
    assert_eq!(part(campaign().seed_range(100..110), 2, 3), [103, 104, 105]);
    assert_eq!(part(campaign().seeds(vec![9, 4, 7, 1]), 2, 2), [7, 1]);
    // The whole u64 range splits without overflow.
    let top = Partition::new(4, 4).unwrap();
    let report = campaign()
        .base_seed(u64::MAX - 2)
        .iterations(u64::MAX)
        .partition(top)
        .require_coverage(false)
        .run();
    assert_eq!(report.seeds(), [u64::MAX - 1]);
}

#[test]
fn bad_settings_are_refused_before_anything_runs() {
    let err = |b: SimulationBuilder| b.try_run().unwrap_err();
    assert_eq!(
        err(campaign().iterations(0)).to_string(),
        "the campaign has no seeds to run: iterations(0)"
    );
    assert_eq!(
        err(campaign().seeds(Vec::new())).to_string(),
        "the campaign has no seeds to run: an empty seed list"
    );
    assert!(matches!(
        err(campaign().seed_range(7..7)),
        CampaignConfigError::NoSeeds { .. }
    ));
    assert_eq!(err(campaign().threads(0)), CampaignConfigError::ZeroThreads);
    assert_eq!(
        err(campaign()
            .iterations(2)
            .partition(Partition::new(1, 3).unwrap()))
        .to_string(),
        "the campaign has no seeds to run: partition 1/3 of 2 seed(s) is empty"
    );
    assert_eq!(
        err(campaign()
            .until_all_sometimes_reached(100)
            .partition(Partition::new(1, 2).unwrap())),
        CampaignConfigError::PartitionUntilCovered
    );
    for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/2/3", ""] {
        let error = bad.parse::<Partition>().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("invalid partition {bad:?}")),
            "{error}"
        );
    }
    assert!(Partition::new(0, 1).is_err());
    // `run` says the same in its panic, never a silent empty report.
    let panic = std::panic::catch_unwind(|| campaign().iterations(0).run()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "the campaign cannot start: the campaign has no seeds to run: iterations(0)"
    );
}

#[test]
fn a_delay_past_the_time_budget_is_refused_with_its_name() {
    use moonpool::{LatencyRange, NetworkConfig, SimError, SimWorld};
    use std::time::Duration;

    let config = NetworkConfig {
        write_latency: LatencyRange::fixed(Duration::MAX),
        ..NetworkConfig::default()
    };
    let Err(SimError::InvalidConfig { reason }) = SimWorld::with_config(1, config.clone()) else {
        panic!("Duration::MAX accepted");
    };
    assert!(reason.starts_with("write_latency: "), "{reason}");
    // In a campaign every iteration fails at once, saying why (it used to wait forever).
    let report = campaign().iterations(3).network_config(config).run();
    assert_eq!(report.failed(), 3);
    assert!(
        report.failures[0].error.contains("write_latency"),
        "{}",
        report.failures[0].error
    );

    // Within the default limit but past the campaign's time budget.
    let config = NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_secs(120)),
        ..NetworkConfig::default()
    };
    assert!(config.validate().is_ok());
    let report = campaign()
        .iterations(2)
        .time_budget(Duration::from_secs(60))
        .network_config(config.clone())
        .run();
    assert_eq!(report.failed(), 2);
    let error = &report.failures[0].error;
    assert!(
        error.contains("connect_latency: 120s is longer than the time budget (60s)"),
        "{error}"
    );
    // The same config under a long enough budget runs.
    let report = campaign()
        .iterations(2)
        .time_budget(Duration::from_secs(600))
        .network_config(config)
        .require_coverage(false)
        .run();
    assert_eq!(report.failed(), 0);
}

#[test]
fn messages_counted_by_workloads_reach_the_report_and_its_shards() {
    let counting = SimulationBuilder::new()
        .seed_from_env(false)
        .register_workload("a", |seed, _, topology| async move {
            topology.count_messages(seed);
            topology.count_messages(1);
            Ok::<(), String>(())
        })
        .register_workload("b", |_, _, topology| async move {
            topology.count_messages(10);
            Ok::<(), String>(())
        });
    let report = counting.iterations(4).run();
    // Seeds 0..4: (seed + 1) from "a" and 10 from "b" each.
    let per_seed: Vec<u64> = report.iterations.iter().map(|i| i.messages).collect();
    assert_eq!(per_seed, [11, 12, 13, 14]);
    assert_eq!(report.messages(), 50);
    assert!(report.to_string().contains("messages/s"), "{report}");
    let shard = SimulationReport::from_shard_text(&report.to_shard_text()).unwrap();
    assert_eq!(shard.messages(), 50);
}
