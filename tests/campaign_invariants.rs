//! The campaign's reusable invariants on their own: `ping_pong::BackoffChecker` over
//! hand-written connection events and over a real Peer's, the liveness bounds, and the heal
//! rule that keeps random partitions off a host.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use moonpool::peer::{ConnectionEvent, ConnectionEventKind as Kind, Peer, PeerConfig};
use moonpool::sim::{FaultKind, NetOp, Verdict};
use moonpool::testing::ping_pong::{self, BackoffChecker};
use moonpool::{LatencyRange, NetworkConfig, NetworkProvider, SimWorld};

const MS: Duration = Duration::from_millis(1);

/// 10 ms doubling to 40 ms, jitter up to a half, stable after 100 ms.
fn config() -> PeerConfig {
    PeerConfig {
        initial_reconnect_delay: 10 * MS,
        max_reconnect_delay: 40 * MS,
        reconnect_jitter: 0.5,
        stable_connection_time: 100 * MS,
        ..PeerConfig::default()
    }
}

fn events(list: &[(u64, Kind)]) -> Vec<ConnectionEvent> {
    list.iter()
        .map(|&(ms, kind)| ConnectionEvent {
            at: Duration::from_millis(ms),
            kind,
        })
        .collect()
}

/// The checker's panic message, or `None` if it accepted `list`.
fn verdict(list: &[(u64, Kind)]) -> Option<String> {
    let mut checker = BackoffChecker::new(&config());
    let caught = catch_unwind(AssertUnwindSafe(|| checker.check(&events(list))));
    caught.err().map(|panic| match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(_) => "a panic".into(),
    })
}

#[test]
fn smoke() {
    // Fail at 0 (10 ms, at least 5), at 8 (20 ms, at least 10): in bounds.
    let good = [
        (0, Kind::Wanted),
        (0, Kind::AttemptStarted),
        (1, Kind::Failed),
        (2, Kind::Wanted),
        (8, Kind::AttemptStarted),
        (9, Kind::Failed),
        (9, Kind::Wanted),
        (25, Kind::AttemptStarted),
        (26, Kind::Connected),
    ];
    assert_eq!(verdict(&good), None);
}

#[test]
fn an_attempt_before_the_jittered_delay_is_caught() {
    let early = [
        (0, Kind::Wanted),
        (0, Kind::AttemptStarted),
        (1, Kind::Failed),
        (1, Kind::Wanted),
        (4, Kind::AttemptStarted), // 10 ms halved is 5 ms: too early
    ];
    let message = verdict(&early).expect("caught");
    assert!(message.contains("backoff_gap_at_least_delay"), "{message}");
}

#[test]
fn an_attempt_after_the_delay_is_caught_only_if_a_call_wanted_it_sooner() {
    let wanted_early = [
        (0, Kind::Wanted),
        (0, Kind::AttemptStarted),
        (1, Kind::Failed),
        (2, Kind::Wanted),
        (11, Kind::AttemptStarted), // due by 10 ms
    ];
    let message = verdict(&wanted_early).expect("caught");
    assert!(message.contains("backoff_gap_at_most_delay"), "{message}");
    // Nobody asked until 500 ms: on demand, that attempt is on time.
    let wanted_late = [
        (0, Kind::Wanted),
        (0, Kind::AttemptStarted),
        (1, Kind::Failed),
        (500, Kind::Wanted),
        (500, Kind::AttemptStarted),
    ];
    assert_eq!(verdict(&wanted_late), None);
    let unwanted = [(0, Kind::AttemptStarted)];
    let message = verdict(&unwanted).expect("caught");
    assert!(message.contains("backoff_attempt_wanted"), "{message}");
}

#[test]
fn only_a_connection_that_lived_the_stable_time_resets_the_delay() {
    let failures_then = |lived: u64| {
        let up = 100; // connected at 100 ms after three failures (delay now 40 ms)
        vec![
            (0, Kind::Wanted),
            (0, Kind::AttemptStarted),
            (0, Kind::Failed),
            (10, Kind::Wanted),
            (10, Kind::AttemptStarted),
            (10, Kind::Failed),
            (30, Kind::Wanted),
            (30, Kind::AttemptStarted),
            (30, Kind::Failed),
            (up, Kind::Wanted),
            (up, Kind::AttemptStarted),
            (up, Kind::Connected),
            (up + lived, Kind::Broke),
            (up + lived, Kind::Wanted),
            (up + lived, Kind::AttemptStarted), // at once
        ]
    };
    assert_eq!(
        verdict(&failures_then(100)),
        None,
        "stable: the delay reset"
    );
    let message = verdict(&failures_then(99)).expect("a young connection counts as failed");
    assert!(message.contains("backoff_gap_at_least_delay"), "{message}");
}

/// A Peer against nothing: every attempt is refused, and its record passes the checker.
#[test]
fn a_real_peers_attempts_pass_the_checker() {
    let world = SimWorld::new(3);
    let mut peer = Peer::new(world.provider("10.0.0.2"), "10.0.0.1:4500".into(), config());
    peer.record_connection_events();
    let mut checker = BackoffChecker::new(&config());
    world
        .block_on(async {
            peer.send(b"hello".to_vec()).await.unwrap();
            for _ in 0..8 {
                assert!(peer.flush().await.is_err());
            }
        })
        .unwrap();
    let recorded = peer.take_connection_events();
    assert_eq!(recorded.len(), 24, "{recorded:?}");
    checker.check(&recorded);
    assert_eq!((checker.attempts(), checker.failures()), (8, 8));
    assert!(peer.take_connection_events().is_empty(), "taken");
}

#[test]
fn the_liveness_bound_grows_with_the_backlog_and_the_faults() {
    let peer = ping_pong::peer_config(moonpool::peer::Delivery::Unreliable);
    let calm = NetworkConfig {
        connect_latency: LatencyRange::fixed(MS),
        write_latency: LatencyRange::fixed(MS),
        ..NetworkConfig::default()
    };
    // 40 ms of backoff and two exchanges of (200 ms RTO + 1 ms each way).
    assert_eq!(ping_pong::round_bound(&calm, &peer, 0), 40 * MS + 404 * MS);
    assert_eq!(ping_pong::liveness_bound(&calm, &peer, 0), 2 * 444 * MS);
    let hostile = NetworkConfig::hostile();
    assert!(
        ping_pong::liveness_bound(&hostile, &peer, 64 << 10)
            > ping_pong::liveness_bound(&hostile, &peer, 0)
    );
    assert!(
        ping_pong::exchange_bound(&hostile, 0) > ping_pong::exchange_bound(&calm, 0) + 500 * MS,
        "a clog decided before the heal counts"
    );
}

/// Regression: a rule that lets a connect pass also keeps the config's random partitions
/// off it (before, every connect still drew them, so no rule could heal a host).
#[test]
fn a_rule_that_passes_connects_starts_no_partition() {
    let config = NetworkConfig {
        partition_probability: 1.0,
        partition_duration: LatencyRange::fixed(Duration::from_secs(10)),
        ..NetworkConfig::default()
    };
    let run = |with_rule: bool| {
        let world = SimWorld::with_config(5, config.clone()).unwrap();
        if with_rule {
            world.add_rule(|op| matches!(op, NetOp::Connect { .. }).then_some(Verdict::Pass));
        }
        let (server, client) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
        let listener = world
            .block_on(async move { server.bind("10.0.0.1:80").await })
            .unwrap()
            .unwrap();
        let _stream = world
            .block_on(async move { client.connect("10.0.0.1:80").await })
            .unwrap();
        drop(listener);
        (
            world.fault_counts().get(&FaultKind::Partition).copied(),
            world.now(),
        )
    };
    let (partitions, took) = run(true);
    assert_eq!(partitions, None);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (partitions, _) = run(false);
    assert_eq!(
        partitions,
        Some(1),
        "without the rule the config's partition starts"
    );
}

/// The `buggify!` sites written in the library's source, as `file:line` (a site's name starts
/// with it): every line outside comments that calls `buggify!(` or names a `sim_site!()`,
/// except the macros' own definitions.
fn buggify_sites_in_source() -> Vec<String> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, sites: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, sites);
                continue;
            }
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if !name.ends_with(".rs") || name == "src/buggify.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                let call = code.contains("buggify!(") || code.contains("sim_site!()");
                if call && !code.starts_with("//") && !code.contains("macro_rules!") {
                    sites.push(format!("{name}:{}", i + 1));
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sites = Vec::new();
    walk(&root.join("src"), root, &mut sites);
    sites
}

/// Every `buggify!` site in the library fires somewhere in a campaign of ping-pong (both
/// sides of the mixed modes), and the report names each: a site whose guard can no longer be
/// true, or whose code is no longer reached, is a fault the campaign silently stopped
/// injecting.
#[test]
fn every_buggify_site_in_the_library_fires_in_a_campaign() {
    let written = buggify_sites_in_source();
    assert!(written.len() >= 5, "the scan found only {written:?}");
    let (builder, _) = ping_pong::campaign(2, ping_pong::Modes::Mixed);
    let report = builder
        .iterations(40)
        .seed_from_env(false)
        .require_coverage(false)
        .run();
    assert_eq!(report.failed(), 0, "{report}");
    let of = |site: &str| {
        report
            .buggify
            .iter()
            .filter(|(name, _)| *name == site || name.starts_with(&format!("{site}:")))
            .map(|(_, coverage)| *coverage)
            .collect::<Vec<_>>()
    };
    for site in &written {
        let found = of(site);
        assert!(!found.is_empty(), "{site} never reached:\n{report}");
        assert!(
            found.iter().any(|c| c.fired > 0 && c.enabled > 0),
            "{site} never fired: {found:?}\n{report}"
        );
    }
    for name in report.buggify.keys() {
        assert!(
            written
                .iter()
                .any(|site| name == site || name.starts_with(&format!("{site}:"))),
            "the report names {name}, which the scan of the source missed: {written:?}"
        );
    }
    assert!(report.buggify_never_fired().is_empty(), "{report}");
    assert!(report.to_string().contains("buggify: "), "{report}");
}
