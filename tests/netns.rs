//! Faults on real links: the simulator's scenarios (a partition that heals, a half-open
//! connection, a restart of the server process) on real TCP between two network namespaces
//! joined by a veth pair, each run beside the same scenario in the simulator with the same
//! `PeerConfig`, and both outcomes held to the same bounds.
//!
//! The Peer runs on a thread moved into the client namespace (setns), on the async-io
//! provider; the server is this test binary run again inside the server namespace
//! (`ip netns exec`, selected by `MOONPOOL_NETNS_SERVER`), so a restart is a real SIGKILL and
//! a new process. A partition is the server's end of the veth pair set down (every packet
//! lost both ways, no error to either side), a half-open connection a blackhole route to the
//! client in the server namespace (the server's bytes, acknowledgements and RSTs vanish).
//! Needs root and iproute2; elsewhere each test runs its simulator half and prints that it
//! skipped the real one. Delay and loss use `tc qdisc .. netem`, and their real half skips,
//! saying so, on a kernel without netem (this machine's).

use std::time::Duration;

use moonpool::peer::Delivery;

#[path = "netns/labs.rs"]
mod labs;
#[path = "netns/namespace.rs"]
mod namespace;
#[path = "netns/scenario.rs"]
mod scenario;
#[path = "netns/server.rs"]
mod server;

use scenario::{config, Outcome, Scenario};

/// Timers on a busy machine fire late (never early); the real runs get this much extra.
const SLACK: Duration = Duration::from_millis(250);

/// Not a test: the server process. A no-op unless `MOONPOOL_NETNS_SERVER` is set.
#[test]
fn netns_server_process() {
    if let Ok(spec) = std::env::var(server::SERVER_ENV) {
        server::run_child(&spec);
    }
}

/// The bounds every outcome of `scenario` must meet, simulated or real.
fn check(scenario: Scenario, delivery: Delivery, o: &Outcome) {
    let hb = config(delivery);
    match (scenario, delivery.is_reliable()) {
        (Scenario::Partition | Scenario::HalfOpen, false) => {
            // No heartbeat in unreliable mode: the connection survives, TCP delivers later.
            assert_eq!(o.detected_after, None, "{o:?}");
            assert_eq!(o.reconnects, 0, "{o:?}");
            assert_eq!(o.lost, 0, "{o:?}");
        }
        (Scenario::Partition | Scenario::HalfOpen, true) => {
            let detected = o.detected_after.expect("the heartbeat found the silence");
            assert!(o.by_heartbeat, "{o:?}");
            let low = hb.heartbeat_timeout - hb.heartbeat_interval;
            let high = hb.heartbeat_timeout + hb.heartbeat_interval + SLACK;
            assert!(
                low <= detected && detected <= high,
                "{detected:?} not in {low:?}..={high:?}"
            );
            assert!(o.reconnects >= 1, "{o:?}");
            assert_eq!(
                (o.lost, o.duplicated, o.session_restarts),
                (0, 0, 0),
                "{o:?}"
            );
        }
        (Scenario::DelayAndLoss, _) => {
            // A slow, lossy link is no failure: TCP retransmits, the heartbeat stays quiet.
            assert_eq!((o.detected_after, o.reconnects), (None, 0), "{o:?}");
            assert_eq!((o.lost, o.duplicated), (0, 0), "{o:?}");
        }
        (Scenario::Restart, _) => {
            let detected = o.detected_after.expect("the Peer saw the kill");
            assert!(!o.by_heartbeat && detected < hb.heartbeat_timeout, "{o:?}");
            assert!(o.reconnects >= 1, "{o:?}");
            match delivery {
                Delivery::Unreliable => assert!(o.lost <= o.possibly_lost, "{o:?}"),
                Delivery::AtLeastOnce => {
                    assert_eq!((o.lost, o.session_restarts), (0, 1), "{o:?}");
                }
                _ => {
                    assert_eq!((o.lost, o.session_restarts), (0, 1), "{o:?}");
                    assert!(o.duplicated <= o.handed_back, "{o:?}");
                }
            }
        }
    }
    // Messages handed back by `SessionRestarted` go to the back of the queue when sent again:
    // the client's choice, the only arrivals allowed out of order.
    if o.handed_back == 0 {
        assert!(o.in_order, "{o:?}");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(o: &Outcome) -> String {
    let detected = match o.detected_after {
        Some(d) if o.by_heartbeat => format!("heartbeat after {:.1} ms", ms(d)),
        Some(d) => format!("error after {:.1} ms", ms(d)),
        None => "not noticed".to_string(),
    };
    format!(
        "{} sent, {} reconnect(s) after {} failed attempt(s) ({} timed out), {detected}, {} lost \
         (<= {} possibly), {} duplicated, {} handed back",
        o.sent,
        o.reconnects,
        o.failed_attempts,
        o.timed_out_attempts,
        o.lost,
        o.possibly_lost,
        o.duplicated,
        o.handed_back
    )
}

/// Runs `scenario` in the simulator and on real links, checks both, and compares them.
fn compare(scenario: Scenario, delivery: Delivery) {
    let sim = labs::run_sim(scenario, delivery);
    check(scenario, delivery, &sim);
    let mode = server::delivery_name(delivery);
    let Some(real) = labs::run_real(scenario, delivery) else {
        println!(
            "netns: {scenario:?} {mode}: simulator only: {}",
            summary(&sim)
        );
        return;
    };
    println!(
        "netns: | {scenario:?} | {mode} | real: {} | sim: {} |",
        summary(&real),
        summary(&sim)
    );
    check(scenario, delivery, &real);
    assert_eq!(
        real.reconnects, sim.reconnects,
        "real {real:?}, sim {sim:?}"
    );
    assert_eq!(
        real.by_heartbeat, sim.by_heartbeat,
        "real {real:?}, sim {sim:?}"
    );
    // An attempt more or less: a new process takes its time to start, and a SYN lost just
    // before a partition heals is resent by Linux only after 1 s, where the simulator delivers
    // what waited at the heal.
    let attempts = real.failed_attempts.abs_diff(sim.failed_attempts);
    assert!(attempts <= 2, "real {real:?}, sim {sim:?}");
    if let (Some(r), Some(s)) = (real.detected_after, sim.detected_after) {
        let gap = r.abs_diff(s);
        assert!(
            gap <= config(delivery).heartbeat_interval + SLACK,
            "real {r:?}, sim {s:?}"
        );
    }
    if delivery.is_reliable() {
        assert_eq!((real.lost, sim.lost), (0, 0));
    }
}

#[test]
fn smoke_partition_unreliable() {
    compare(Scenario::Partition, Delivery::Unreliable);
}

#[test]
fn partition_at_least_once() {
    compare(Scenario::Partition, Delivery::AtLeastOnce);
}

#[test]
fn partition_exactly_once() {
    compare(Scenario::Partition, Delivery::ExactlyOnce);
}

#[test]
fn half_open_unreliable() {
    compare(Scenario::HalfOpen, Delivery::Unreliable);
}

#[test]
fn half_open_at_least_once() {
    compare(Scenario::HalfOpen, Delivery::AtLeastOnce);
}

#[test]
fn half_open_exactly_once() {
    compare(Scenario::HalfOpen, Delivery::ExactlyOnce);
}

#[test]
fn restart_unreliable() {
    compare(Scenario::Restart, Delivery::Unreliable);
}

#[test]
fn restart_at_least_once() {
    compare(Scenario::Restart, Delivery::AtLeastOnce);
}

#[test]
fn restart_exactly_once() {
    compare(Scenario::Restart, Delivery::ExactlyOnce);
}

#[test]
fn delay_and_loss_unreliable() {
    compare(Scenario::DelayAndLoss, Delivery::Unreliable);
}

#[test]
fn delay_and_loss_exactly_once() {
    compare(Scenario::DelayAndLoss, Delivery::ExactlyOnce);
}

#[test]
fn namespaces_are_deleted_on_a_panic() {
    let names = std::sync::Mutex::new(Vec::new());
    let unwound = std::panic::catch_unwind(|| {
        let pair = match namespace::NamespacePair::new() {
            Ok(pair) => pair,
            Err(error) => {
                println!("netns: skipped, cannot make network namespaces ({error})");
                return;
            }
        };
        names
            .lock()
            .unwrap()
            .extend([pair.client.clone(), pair.server.clone()]);
        panic!(
            "a test fails while {} and {} exist",
            pair.client, pair.server
        );
    });
    let names = names.into_inner().unwrap();
    if names.is_empty() {
        return; // skipped
    }
    assert!(unwound.is_err());
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let listed = String::from_utf8_lossy(&listed.stdout);
    let left: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| names.iter().any(|ours| ours == name))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
