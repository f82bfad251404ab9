//! Tests of the simulation harness: SimulationBuilder, assertions, reports, replay.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::stream::{FuturesUnordered, StreamExt};

use moonpool::testing::{
    AssertionKind, CampaignConfigError, MergeError, ShardParseError, SimulationBuilder,
    SimulationReport,
};
use moonpool::{
    always_assert, sometimes_assert, Clock, Listener, NetworkConfig, NetworkProvider,
    SimNetworkProvider, WorkloadTopology,
};

/// A builder that ignores the environment (tests pick their own seeds).
fn builder() -> SimulationBuilder {
    SimulationBuilder::new().seed_from_env(false).threads(2)
}

/// An echo server on port 7 that serves connections until the clients are done.
async fn echo_server(net: SimNetworkProvider, topo: WorkloadTopology) -> std::io::Result<()> {
    let listener = net.bind(&format!("{}:7", topo.my_ip)).await?;
    let mut conns = FuturesUnordered::new();
    loop {
        let accept = Box::pin(listener.accept());
        let shutdown = topo.shutdown.wait();
        let next_done = Box::pin(async {
            if conns.is_empty() {
                std::future::pending::<()>().await;
            }
            conns.next().await;
        });
        match select(accept, select(shutdown, next_done)).await {
            Either::Left((accepted, _)) => {
                let (mut stream, _) = accepted?;
                conns.push(async move {
                    let mut buf = [0; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Either::Right((Either::Left(_), _)) => return Ok(()),
            Either::Right((Either::Right(_), _)) => {}
        }
    }
}

/// A client that echoes a few seed-dependent messages through the first peer.
async fn echo_client(
    seed: u64,
    net: SimNetworkProvider,
    topo: WorkloadTopology,
) -> std::io::Result<()> {
    let clock = net.clock();
    clock
        .sleep(Duration::from_micros(net.random_seed() % 1000))
        .await;
    let mut stream = net.connect(&format!("{}:7", topo.peer_ips[0])).await?;
    for i in 0..(seed % 5 + 1) {
        let message = [i as u8; 8];
        stream.write_all(&message).await?;
        let mut echo = [0; 8];
        stream.read_exact(&mut echo).await?;
        always_assert!(
            "echo_matches",
            echo == message,
            "sent {message:?}, got {echo:?}"
        );
    }
    sometimes_assert!("long_exchange", seed % 5 == 4);
    Ok(())
}

fn echo_builder() -> SimulationBuilder {
    builder()
        .register_workload("server", |_, net, topo| echo_server(net, topo))
        .register_workload("client_a", echo_client)
        .register_workload("client_b", echo_client)
}

#[test]
fn smoke() {
    let report = echo_builder().iterations(10).run_checked().unwrap();
    assert_eq!(report.iteration_count(), 10);
    assert_eq!(report.passed(), 10);
    assert_eq!(report.seeds(), (0..10).collect::<Vec<_>>());
    assert!(report.events_processed() > 0);
    assert!(report.max_sim_time() > Duration::ZERO);
    let echo = report.assertions["echo_matches"];
    assert_eq!(echo.kind, AssertionKind::Always);
    assert_eq!(echo.checks, echo.hits);
    // seeds 0..10: seed % 5 + 1 messages per client, two clients.
    assert_eq!(echo.checks, 2 * (0..10u64).map(|s| s % 5 + 1).sum::<u64>());
    assert_eq!(report.assertions["long_exchange"].hits, 4);
    assert!(report.to_string().contains("long_exchange"));
    assert!(report
        .summary_line()
        .starts_with("summary iterations=10 passed=10 failed=0 sometimes_reached=1/1 digest="));
}

#[test]
fn workload_error_fails_the_iteration() {
    let report = builder()
        .register_workload("fine", |_, _, _| async { Ok::<(), String>(()) })
        .register_workload("picky", |seed, _, _| async move {
            if seed == 3 {
                Err(format!("seed {seed} is unlucky"))
            } else {
                Ok(())
            }
        })
        .iterations(5)
        .run();
    assert_eq!((report.passed(), report.failed()), (4, 1));
    let failure = &report.failures[0];
    assert_eq!(failure.seed, 3);
    assert_eq!(failure.workload, "picky");
    assert_eq!(failure.error, "seed 3 is unlucky");
    assert!(!report.is_success());
    let error = report.into_result().unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("seed 3 failed in picky: seed 3 is unlucky"),
        "{text}"
    );
    // The replay line names this test binary and this test, so it works when pasted.
    assert!(
        text.contains(
            "MOONPOOL_SEED=3 cargo test --test harness workload_error_fails_the_iteration -- --exact --include-ignored"
        ),
        "{text}"
    );
    // Debug prints the same readable text (what `unwrap` shows).
    assert_eq!(format!("{error:?}"), text);
}

#[test]
fn panic_is_caught_with_its_message() {
    let report = builder()
        .register_workload("bomb", |seed, net, _| async move {
            net.clock().sleep(Duration::from_millis(5)).await;
            if seed % 2 == 1 {
                panic!("boom at seed {seed}");
            }
            Ok::<(), String>(())
        })
        .iterations(4)
        .run();
    assert_eq!(report.failed(), 2);
    let failure = &report.failures[1];
    assert_eq!((failure.seed, failure.workload.as_str()), (3, "bomb"));
    assert!(
        failure.error.contains("boom at seed 3"),
        "{}",
        failure.error
    );
    assert!(failure.error.contains("harness.rs"), "{}", failure.error);
}

#[test]
fn panic_while_building_the_future_is_caught() {
    let report = builder()
        .register_workload(
            "eager",
            |_, _, _| -> std::future::Ready<Result<(), String>> { panic!("refusing to start") },
        )
        .iterations(1)
        .run();
    assert!(report.failures[0].error.contains("refusing to start"));
}

/// A panic in a task a workload spawned fails its iteration like the workload's own: the
/// report names the workload, the task and the message, on one thread or several; so does a
/// panic in the network config function.
#[test]
fn a_panic_in_a_spawned_task_or_the_config_fails_the_iteration() {
    for threads in [1, 2] {
        let report = builder()
            .threads(threads)
            .register_workload("parent", |seed, _, topology| async move {
                let world = topology.world().try_upgrade().map_err(|e| e.to_string())?;
                let child = world.spawn("child", async move {
                    if seed % 2 == 1 {
                        panic!("boom in the child of seed {seed}");
                    }
                });
                drop(world);
                child.await;
                Ok::<(), String>(())
            })
            .iterations(4)
            .run();
        assert_eq!(report.failed(), 2, "{report}");
        let failure = &report.failures[0];
        assert_eq!((failure.seed, failure.workload.as_str()), (1, "parent"));
        assert!(
            failure.error.contains("task \"child\" panicked at")
                && failure.error.contains("boom in the child of seed 1")
                && failure.error.contains("harness.rs"),
            "{}",
            failure.error
        );
    }
    let report = builder()
        .register_workload("w", |_, _, _| async { Ok::<(), String>(()) })
        .network_config_fn(|seed| {
            assert!(seed != 2, "no config for seed {seed}");
            NetworkConfig::default()
        })
        .iterations(4)
        .run();
    assert_eq!(report.failed(), 1, "{report}");
    let failure = &report.failures[0];
    assert_eq!(
        (failure.seed, failure.workload.as_str()),
        (2, "(simulation)")
    );
    assert!(
        failure.error.contains("network config function panicked")
            && failure.error.contains("no config for seed 2"),
        "{}",
        failure.error
    );
}

#[test]
fn deadlock_is_reported() {
    let report = builder()
        .register_workload("stuck", |_, net, topo| async move {
            let listener = net.bind(&format!("{}:1", topo.my_ip)).await?;
            listener.accept().await?;
            Ok::<(), std::io::Error>(())
        })
        .iterations(2)
        .run();
    assert_eq!(report.failed(), 2);
    let failure = &report.failures[0];
    assert_eq!(failure.workload, "(simulation)");
    assert!(failure.error.contains("deadlock"), "{}", failure.error);
    assert!(failure.error.contains("stuck"), "{}", failure.error);
}

#[test]
fn time_budget_is_reported() {
    let report = builder()
        .register_workload("sleepy", |_, net, _| async move {
            net.clock().sleep(Duration::from_secs(120)).await;
            Ok::<(), String>(())
        })
        .time_budget(Duration::from_secs(60))
        .iterations(1)
        .run();
    assert!(report.failures[0].error.contains("time budget"));
}

#[test]
fn always_assert_failure_names_assertion_and_seed() {
    let report = builder()
        .register_workload("checker", |seed, _, _| async move {
            always_assert!("small_seed", seed < 4, "seed {seed} is too big");
            Ok::<(), String>(())
        })
        .iterations(6)
        .run();
    assert_eq!(report.failed(), 2);
    let error = &report.failures[0].error;
    assert!(
        error.contains("always_assert!(small_seed) failed"),
        "{error}"
    );
    assert!(error.contains("seed 4 is too big"), "{error}");
    assert!(error.contains("(seed 4)"), "{error}");
    let stats = report.assertions["small_seed"];
    assert_eq!((stats.checks, stats.hits), (6, 4));
    assert!(report.to_string().contains("<- FAILED"));
}

#[test]
fn always_assert_outside_a_campaign_panics() {
    let caught = std::panic::catch_unwind(|| always_assert!("outside", 1 + 1 == 3, "math"));
    let message = *caught.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("always_assert!(outside) failed: math (outside a campaign)"));
    // A sometimes-assertion outside a campaign records nothing and does not panic.
    sometimes_assert!("outside", false);
}

#[test]
fn unreached_sometimes_fails_the_campaign_with_counts() {
    let report = builder()
        .register_workload("w", |seed, _, _| async move {
            sometimes_assert!("reached", seed == 1);
            sometimes_assert!("never", seed > 100, "seed {seed} is small");
            Ok::<(), String>(())
        })
        .iterations(3)
        .run();
    assert_eq!(report.failed(), 0);
    assert!(!report.is_success());
    assert_eq!(report.unreached(), vec!["never"]);
    let text = report.into_result().unwrap_err().to_string();
    assert!(
        text.contains("sometimes_assert!(never) never true: checks=3 hits=0"),
        "{text}"
    );
    assert!(!text.contains("sometimes_assert!(reached)"), "{text}");
    // Replaying chosen seeds need not reach everything.
    let replay = builder()
        .register_workload("w", |_, _, _| async {
            sometimes_assert!("never", false);
            Ok::<(), String>(())
        })
        .seeds(vec![5])
        .require_coverage(false)
        .run();
    assert!(replay.is_success());
    assert_eq!(replay.unreached(), vec!["never"]);
}

#[test]
fn declared_but_never_checked_fails() {
    let report = builder()
        .register_workload("w", |_, _, _| async { Ok::<(), String>(()) })
        .declare_sometimes(&["ghost"])
        .iterations(2)
        .run();
    assert_eq!(report.unreached(), vec!["ghost"]);
    let text = report.into_result().unwrap_err().to_string();
    assert!(
        text.contains("sometimes_assert!(ghost) declared but never checked: checks=0 hits=0"),
        "{text}"
    );
}

#[test]
fn campaigns_in_parallel_do_not_share_counts() {
    let campaign = |name: &'static str, iterations: u64| {
        move || {
            SimulationBuilder::new()
                .seed_from_env(false)
                .threads(2)
                .register_workload("w", move |seed, net, _| async move {
                    for i in 0..10 {
                        net.clock().sleep(Duration::from_millis(1)).await;
                        sometimes_assert!(name, (seed + i) % 3 == 0);
                        always_assert!("shared_name", true);
                    }
                    Ok::<(), String>(())
                })
                .iterations(iterations)
                .run()
        }
    };
    let a = std::thread::spawn(campaign("only_in_a", 40));
    let b = std::thread::spawn(campaign("only_in_b", 25));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(a.assertions.contains_key("only_in_a") && !a.assertions.contains_key("only_in_b"));
    assert!(b.assertions.contains_key("only_in_b") && !b.assertions.contains_key("only_in_a"));
    assert_eq!(a.assertions["only_in_a"].checks, 400);
    assert_eq!(b.assertions["only_in_b"].checks, 250);
    assert_eq!(a.assertions["shared_name"].checks, 400);
    assert_eq!(b.assertions["shared_name"].checks, 250);
}

fn hostile_echo() -> SimulationBuilder {
    echo_builder().network_config_fn(|seed| {
        if seed % 3 == 0 {
            NetworkConfig::default()
        } else {
            NetworkConfig {
                reset_probability: 0.0,
                connect_failure_probability: 0.0,
                ..NetworkConfig::hostile()
            }
        }
    })
}

/// Per-seed digests, pass flags and the campaign digest of a report.
fn fingerprint(report: &SimulationReport) -> (Vec<(u64, u64, bool)>, u64) {
    let per_seed = report
        .iterations
        .iter()
        .map(|i| (i.seed, i.digest, i.passed))
        .collect();
    (per_seed, report.digest())
}

#[test]
fn one_thread_and_many_threads_agree() {
    let one = hostile_echo().iterations(24).threads(1).run();
    let many = hostile_echo().iterations(24).threads(4).run();
    assert_eq!(fingerprint(&one), fingerprint(&many));
    assert_eq!(one.assertions, many.assertions);
    assert_eq!(one.failures, many.failures);
    // Asking for every thread there could be starts at most one per seed (and 256).
    let most = hostile_echo().iterations(24).threads(usize::MAX).run();
    assert_eq!(fingerprint(&one), fingerprint(&most));
    // Different seeds give different digests.
    let other = hostile_echo().base_seed(1000).iterations(24).run();
    assert_ne!(one.digest(), other.digest());
}

#[test]
fn replaying_a_seed_gives_the_same_world_digest() {
    let campaign = hostile_echo().iterations(12).run();
    let replay = hostile_echo().seeds(vec![7]).run();
    assert_eq!(replay.seeds(), vec![7]);
    assert_eq!(replay.iterations[0].digest, campaign.iterations[7].digest);
    assert_ne!(campaign.iterations[6].digest, campaign.iterations[7].digest);

    // The same through MOONPOOL_SEED (the only test in this file that reads the environment).
    std::env::set_var("MOONPOOL_SEED", "7");
    let from_env = hostile_echo().seed_from_env(true).iterations(12).run();
    std::env::remove_var("MOONPOOL_SEED");
    assert_eq!(from_env.seeds(), vec![7]);
    assert_eq!(from_env.iterations[0].digest, campaign.iterations[7].digest);
    assert!(!from_env.coverage_required);
    // A child's switches without its seed replay nothing: refused, not ignored.
    std::env::set_var("MOONPOOL_BRANCH", "5:9");
    let refused = hostile_echo().seed_from_env(true).iterations(12).try_run();
    std::env::remove_var("MOONPOOL_BRANCH");
    let error = refused.unwrap_err();
    assert!(
        matches!(error, CampaignConfigError::InvalidBranch { ref value } if value == "5:9"),
        "{error}"
    );
}

#[test]
fn shards_merge_into_the_full_run() {
    let full = hostile_echo().iterations(20).run();
    let mut first = hostile_echo().seed_range(0..8).run();
    let second = hostile_echo().seed_range(8..20).run();
    first.merge(second).unwrap();
    assert_eq!(fingerprint(&first), fingerprint(&full));
    assert_eq!(first.assertions, full.assertions);
    assert_eq!(
        first.summary_line().split(" wall_s").next(),
        full.summary_line().split(" wall_s").next()
    );
}

/// Assertion counts are campaign totals: an overlapping shard cannot be counted once, so it is
/// refused whole and handed back.
#[test]
fn overlapping_shards_are_refused() {
    let mut merged = hostile_echo().seed_range(0..8).run();
    let before = merged.clone();
    let overlapping = hostile_echo().seed_range(5..12).run();
    let err = merged.merge(overlapping.clone()).unwrap_err();
    let MergeError::OverlappingSeeds {
        count,
        first,
        shard,
    } = err.clone()
    else {
        panic!("{err:?}")
    };
    assert_eq!((count, first), (3, 5));
    assert_eq!(*shard, overlapping);
    assert_eq!(
        merged, before,
        "a refused shard leaves the report unchanged"
    );
    assert_eq!(
        err.to_string(),
        "the shard overlaps the report: 3 seed(s) in both, the first 5"
    );
    // The same shard twice is an overlap too.
    assert!(merged.merge(before.clone()).is_err());
    // The disjoint rest merges into the full run, counts included.
    merged
        .merge(hostile_echo().seed_range(8..12).run())
        .unwrap();
    let full = hostile_echo().iterations(12).run();
    assert_eq!(fingerprint(&merged), fingerprint(&full));
    assert_eq!(merged.assertions, full.assertions);
}

/// A campaign with failures, and names and messages full of spaces, line breaks, backslashes,
/// control characters and non-ASCII text.
fn awkward_campaign() -> SimulationBuilder {
    builder()
        .register_workload("server", |_, net, topo| echo_server(net, topo))
        .register_workload("client one\nsecond line", echo_client)
        .register_workload("", |seed, _, _| async move {
            sometimes_assert!("with space\tand tab", seed % 3 == 0);
            sometimes_assert!("never \\ reached", false);
            always_assert!("always \u{7}bell é", true);
            match seed % 4 {
                1 => Err(format!(
                    "error with \\ backslash\r\nand line \u{0} nul, {seed} é"
                )),
                2 => panic!("boom {seed}"),
                _ => Ok(()),
            }
        })
        .declare_sometimes(&["declared never checked", "with space\tand tab"])
        .replay_hint("MY_VAR=1 cargo test --test harness -- awkward")
        .network_config_fn(|seed| {
            if seed % 2 == 0 {
                NetworkConfig::default()
            } else {
                NetworkConfig::hostile()
            }
        })
}

fn awkward_report() -> SimulationReport {
    awkward_campaign().iterations(12).run()
}

#[test]
fn shard_text_round_trips() {
    let report = awkward_report();
    assert!(report.failed() > 0 && !report.is_success());
    assert!(
        !report.buggify.is_empty(),
        "the simulator's own sites are reached"
    );
    let text = report.to_shard_text();
    assert!(
        text.starts_with("{\"shard\":{\"format\":\"moonpool-shard\",\"version\":2,"),
        "{text}"
    );
    // JSON lines: every line is a JSON object of one record, readable by any JSON reader.
    for line in text.lines() {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    }
    let parsed = SimulationReport::from_shard_text(&text).unwrap();
    assert_eq!(parsed, report);
    assert_eq!(parsed.to_string(), report.to_string());
    assert_eq!(parsed.to_shard_text(), text);
    // Also with CRLF line ends and blank lines.
    let crlf = format!("\r\n{}", text.replace('\n', "\r\n\r\n"));
    assert_eq!(SimulationReport::from_shard_text(&crlf).unwrap(), report);
}

#[test]
fn parsed_shards_merge_into_the_full_run() {
    let full = hostile_echo().iterations(20).run();
    let a = hostile_echo()
        .seed_range(0..8)
        .require_coverage(false)
        .run()
        .to_shard_text();
    let b = hostile_echo()
        .seed_range(8..20)
        .require_coverage(false)
        .run()
        .to_shard_text();
    let mut merged = SimulationReport::from_shard_text(&a).unwrap();
    merged
        .merge(SimulationReport::from_shard_text(&b).unwrap())
        .unwrap();
    merged.coverage_required = true;
    assert_eq!(fingerprint(&merged), fingerprint(&full));
    assert_eq!(merged.iterations, full.iterations);
    assert_eq!(merged.failures, full.failures);
    assert_eq!(merged.assertions, full.assertions);
    assert_eq!(merged.buggify, full.buggify);
    assert_eq!(merged.declared, full.declared);
    assert_eq!(merged.is_success(), full.is_success());
    assert_eq!(
        merged.summary_line().split(" wall_s").next(),
        full.summary_line().split(" wall_s").next()
    );
    // Merging the other way round gives the same campaign.
    let mut reversed = SimulationReport::from_shard_text(&b).unwrap();
    reversed
        .merge(SimulationReport::from_shard_text(&a).unwrap())
        .unwrap();
    assert_eq!(reversed.digest(), full.digest());

    // With failures and unreached assertions: the merged verdict is the full run's.
    let awkward = awkward_report();
    let shard = |range| {
        let report = awkward_campaign()
            .seed_range(range)
            .require_coverage(false)
            .run();
        SimulationReport::from_shard_text(&report.to_shard_text()).unwrap()
    };
    let mut merged = shard(0..5);
    merged.merge(shard(5..12)).unwrap();
    merged.coverage_required = true;
    assert_eq!(merged.iterations, awkward.iterations);
    assert_eq!(merged.failures, awkward.failures);
    assert_eq!(merged.assertions, awkward.assertions);
    assert!(!merged.is_success());
    assert_eq!(merged.unreached(), awkward.unreached());
}

fn parse_err(text: &str) -> ShardParseError {
    SimulationReport::from_shard_text(text).unwrap_err()
}

#[test]
fn garbage_and_truncated_shards_are_typed_errors() {
    let text = hostile_echo().iterations(6).run().to_shard_text();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();

    assert!(matches!(
        parse_err(""),
        ShardParseError::NotAShard { line: 1, .. }
    ));
    assert!(matches!(
        parse_err("hello world\n"),
        ShardParseError::NotAShard { line: 1, .. }
    ));
    assert!(matches!(
        parse_err("{\"other\":{}}\n"),
        ShardParseError::NotAShard { line: 1, .. }
    ));
    // The plain-text format of version 1 is not read any more, and says so.
    assert!(matches!(
        parse_err("moonpool-shard 1\n"),
        ShardParseError::NotAShard { line: 1, .. }
    ));
    let v3 = lines[0].replace("\"version\":2", "\"version\":3");
    let err = parse_err(&format!("{v3}\n"));
    assert_eq!(
        err.to_string(),
        "line 1: shard format version 3 is not supported (this build reads version 2)"
    );
    // Every cut at a line boundary before the end line is a truncation, at the right line.
    for keep in 1..n {
        let cut = lines[..keep].join("\n");
        assert_eq!(
            parse_err(&cut),
            ShardParseError::Truncated { line: keep + 1 },
            "kept {keep} lines"
        );
    }
    // Every cut anywhere after the header is a truncation (only the final newline may go).
    for cut in lines[0].len() + 1..text.len() - 1 {
        if text.is_char_boundary(cut) {
            assert!(
                matches!(parse_err(&text[..cut]), ShardParseError::Truncated { .. }),
                "cut at {cut}: {}",
                parse_err(&text[..cut])
            );
        }
    }
    assert!(SimulationReport::from_shard_text(&text[..text.len() - 1]).is_ok());
    let last = text.trim_end().rfind('\n').unwrap();
    assert_eq!(
        parse_err(&text[..last + 8]).to_string(),
        format!("line {n}: truncated shard: it ends before its `end` record is complete")
    );

    let replace = |from: &str, to: &str| {
        assert!(text.contains(from), "{from:?} not in the shard");
        text.replacen(from, to, 1)
    };
    let at = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap();
    // An edited assertion count: well formed, plausible, and refused by the checksum.
    let assertion = lines[at("{\"assertion\"")];
    let checks = assertion.split("\"checks\":").nth(1).unwrap();
    let checks: u64 = checks[..checks.find(',').unwrap()].parse().unwrap();
    let edited = assertion.replace(
        &format!("\"checks\":{checks},"),
        &format!("\"checks\":{},", checks + 1),
    );
    let err = parse_err(&replace(assertion, &edited));
    assert!(
        matches!(err, ShardParseError::Mismatch { what: "checksum", line, .. } if line == n),
        "{err}"
    );
    // A dropped record is caught by the end record's count.
    let iteration = lines[at("{\"iteration\"")];
    let err = parse_err(&replace(&format!("{iteration}\n"), ""));
    assert!(
        matches!(
            err,
            ShardParseError::Mismatch {
                what: "records",
                ..
            }
        ),
        "{err}"
    );
    // An edited end record: its digest.
    let end = lines[n - 1];
    let digest = end.split("\"digest\":\"").nth(1).unwrap();
    let err = parse_err(&replace(
        end,
        &end.replace(&digest[..16], "0000000000000001"),
    ));
    assert!(
        matches!(err, ShardParseError::Mismatch { what: "digest", .. }),
        "{err}"
    );
    // Not a record, or a bad field: named, with serde's reason.
    let err = parse_err(&replace("{\"iteration\"", "{\"iteratoin\""));
    assert!(matches!(err, ShardParseError::BadRecord { .. }), "{err}");
    assert!(
        err.to_string().contains("unknown variant `iteratoin`"),
        "{err}"
    );
    let bad_digest = iteration.replace("\"digest\":\"", "\"digest\":\"zz");
    let err = parse_err(&replace(iteration, &bad_digest));
    assert_eq!(err.line(), at("{\"iteration\"") + 1);
    assert!(
        err.to_string().contains("is not a hexadecimal u64"),
        "{err}"
    );
    let err = parse_err(&replace("\"coverage_required\":", "\"coverage\":"));
    assert!(
        matches!(err, ShardParseError::BadRecord { line: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        parse_err(&format!("{text}{iteration}\n")),
        ShardParseError::TrailingData { line } if line == n + 1
    ));
    // Contradictions (checked before the end record is reached).
    let too_many_hits = assertion.replace("\"hits\":", "\"hits\":1000000");
    assert!(matches!(
        parse_err(&replace(assertion, &too_many_hits)),
        ShardParseError::Inconsistent { .. }
    ));
    let site = "{\"buggify\":{\"site\":\"src/x.rs:1:1\",\"reached\":2,\"enabled\":3,\"fired\":0}}";
    let err = parse_err(&replace(
        &format!("{iteration}\n"),
        &format!("{iteration}\n{site}\n"),
    ));
    assert!(
        err.to_string()
            .contains("enabled in 3 iterations but reached in 2"),
        "{err}"
    );
    let unfired = site.replace("\"enabled\":3,\"fired\":0", "\"enabled\":0,\"fired\":5");
    let err = parse_err(&replace(
        &format!("{iteration}\n"),
        &format!("{iteration}\n{unfired}\n"),
    ));
    assert!(err.to_string().contains("fired but never enabled"), "{err}");
    let orphan = "{\"failure\":{\"seed\":0,\"workload\":\"w\",\"error\":\"oops\"}}\n";
    assert!(matches!(
        parse_err(&replace(
            &format!("{iteration}\n"),
            &format!("{iteration}\n{orphan}")
        )),
        ShardParseError::Inconsistent { .. }
    ));

    // Random edits never panic, and an edited shard that still parses is the same report
    // (only line ends and blank lines may change).
    let original = SimulationReport::from_shard_text(&text).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: Vec<char> = " \n\\0123456789abcdefzé{}\u{0}\r-\":,".chars().collect();
    for _ in 0..3000 {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..1 + next() % 3 {
            let at = (next() % chars.len() as u64) as usize;
            let c = alphabet[(next() % alphabet.len() as u64) as usize];
            match next() % 3 {
                0 => chars[at] = c,
                1 => chars.insert(at, c),
                _ => drop(chars.remove(at)),
            }
        }
        let mutated: String = chars.into_iter().collect();
        if let Ok(report) = SimulationReport::from_shard_text(&mutated) {
            assert_eq!(report, original, "{mutated}");
        }
    }
}

#[test]
fn until_all_sometimes_reached_stops_at_the_shortest_prefix() {
    let run = |threads: usize| {
        builder()
            .register_workload("w", |seed, _, _| async move {
                sometimes_assert!("seven_three", seed % 7 == 3);
                sometimes_assert!("eleven_nine", seed % 11 == 9);
                Ok::<(), String>(())
            })
            .base_seed(100)
            .until_all_sometimes_reached(1000)
            .threads(threads)
            .run()
    };
    // 100 % 7 == 2: seed 101 reaches seven_three; 100 % 11 == 1: seed 108 reaches eleven_nine.
    for threads in [1, 3] {
        let report = run(threads);
        assert_eq!(
            report.seeds(),
            (100..=108).collect::<Vec<_>>(),
            "{threads} threads"
        );
        assert!(report.is_success());
    }
    // Never reached: stops at the maximum and fails.
    let report = builder()
        .register_workload("w", |_, _, _| async {
            sometimes_assert!("impossible", false);
            Ok::<(), String>(())
        })
        .until_all_sometimes_reached(15)
        .run();
    assert_eq!(report.iteration_count(), 15);
    assert!(!report.is_success());
}

/// Seeds are computed from their index: `u64::MAX`-sized campaigns start at once and stop as
/// soon as they are done.
#[test]
fn u64_max_campaigns_compute_seeds_lazily() {
    let totals = Arc::new(Mutex::new(Vec::new()));
    for threads in [1, 4] {
        let seen = totals.clone();
        let report = builder()
            .register_workload("w", |seed, _, _| async move {
                sometimes_assert!("seven_three", seed % 7 == 3);
                Ok::<(), String>(())
            })
            .base_seed(100)
            .until_all_sometimes_reached(u64::MAX)
            .threads(threads)
            .on_progress(move |p| seen.lock().unwrap().push(p.total))
            .run();
        assert_eq!(report.seeds(), vec![100, 101], "{threads} threads");
        assert!(report.is_success());
    }
    let expected_total = usize::try_from(u64::MAX - 100).unwrap_or(usize::MAX);
    assert_eq!(*totals.lock().unwrap(), vec![expected_total; 2]);

    // `iterations(u64::MAX)` saturates at the top of the seed space.
    let count = |b: SimulationBuilder| {
        b.register_workload("w", |_, _, _| async { Ok::<(), String>(()) })
            .run()
            .seeds()
    };
    let top = count(builder().base_seed(u64::MAX - 3).iterations(u64::MAX));
    assert_eq!(top, vec![u64::MAX - 3, u64::MAX - 2, u64::MAX - 1]);
    let top = count(builder().seed_range(u64::MAX - 2..u64::MAX).threads(3));
    assert_eq!(top, vec![u64::MAX - 2, u64::MAX - 1]);
    let (high, low) = (5, 2);
    let empty = builder().seed_range(high..low).try_run().unwrap_err();
    assert_eq!(
        empty.to_string(),
        "the campaign has no seeds to run: an empty seed range"
    );
}

/// Set by [`moonpool_seeds_over_the_whole_u64_range_start_at_once`] for its child process.
const CHILD_VAR: &str = "MOONPOOL_HARNESS_TEST_CHILD";

/// `MOONPOOL_SEEDS=0..18446744073709551615` runs seed after seed (it used to build the whole
/// list first and panic). Runs this test binary again with the variable set, where
/// [`whole_range_child`] exits the process successfully from seed 5.
#[test]
fn moonpool_seeds_over_the_whole_u64_range_start_at_once() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "whole_range_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .env_remove("MOONPOOL_SEED")
        .env("MOONPOOL_SEEDS", format!("0..{}", u64::MAX))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("whole range child reached seed 5"),
        "{output:?}"
    );
}

/// The child of [`moonpool_seeds_over_the_whole_u64_range_start_at_once`]; does nothing unless
/// run as that child.
#[test]
fn whole_range_child() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    SimulationBuilder::new()
        .threads(2)
        .register_workload("w", |seed, _, _| async move {
            if seed == 5 {
                println!("whole range child reached seed 5");
                std::process::exit(0);
            }
            Ok::<(), String>(())
        })
        .run();
    panic!("the campaign over every u64 seed ended");
}

#[test]
fn topology_ips_follow_registration_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut b = builder().iterations(1);
    for name in ["first", "second", "third"] {
        let seen = seen.clone();
        b = b.register_workload(name, move |_, net, topo| {
            let seen = seen.clone();
            async move {
                assert_eq!(net.ip().to_string(), topo.my_ip);
                seen.lock().unwrap().push((
                    topo.name.clone(),
                    topo.my_ip.clone(),
                    topo.peer_ips.to_vec(),
                    topo.all_ips().to_vec(),
                ));
                Ok::<(), String>(())
            }
        });
    }
    b.run_checked().unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let ip = |n: u8| format!("10.0.0.{n}");
    let all = vec![ip(1), ip(2), ip(3)];
    assert_eq!(
        seen,
        vec![
            ("first".into(), ip(1), vec![ip(2), ip(3)], all.clone()),
            ("second".into(), ip(2), vec![ip(1), ip(3)], all.clone()),
            ("third".into(), ip(3), vec![ip(1), ip(2)], all.clone()),
        ]
    );
}

#[test]
fn progress_is_reported_at_the_end() {
    let calls = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(None));
    let (c, l) = (calls.clone(), last.clone());
    echo_builder()
        .iterations(6)
        .on_progress(move |p| {
            c.fetch_add(1, Ordering::Relaxed);
            *l.lock().unwrap() = Some((p.done, p.total, p.failures));
        })
        .run_checked()
        .unwrap();
    assert!(calls.load(Ordering::Relaxed) >= 1);
    assert_eq!(*last.lock().unwrap(), Some((6, 6, 0)));
}

#[test]
fn invalid_network_config_fails_the_iteration() {
    let report = builder()
        .register_workload("w", |_, _, _| async { Ok::<(), String>(()) })
        .network_config(NetworkConfig {
            reset_probability: 2.0,
            ..NetworkConfig::default()
        })
        .iterations(1)
        .run();
    assert!(report.failures[0].error.contains("reset_probability"));
}
