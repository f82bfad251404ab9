//! Tracing in virtual time (feature `subscriber`): every event of a simulated run is stamped
//! with the world's time and sits in the spans of its iteration, task and Peer connection.
#![cfg(feature = "subscriber")]

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool::testing::{SimTimer, SimulationBuilder};
use moonpool::{Clock, Peer, PeerConfig, SimWorld};
use tracing_subscriber::fmt::MakeWriter;

/// A writer collecting everything into one shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs `f` with a debug-level subscriber stamping virtual time; returns what it printed.
fn traced(f: impl FnOnce()) -> String {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_timer(SimTimer)
        .with_writer(capture.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    capture.text()
}

#[test]
fn smoke_an_event_in_a_task_carries_virtual_time_and_task_name() {
    let out = traced(|| {
        let world = SimWorld::new(3);
        let clock = world.clock();
        world.spawn("sleeper", async move {
            clock.sleep(Duration::from_millis(2500)).await;
            tracing::info!(answer = 42, "woke up");
        });
        world.run().unwrap();
    });
    let line = out.lines().find(|l| l.contains("woke up")).expect(&out);
    assert!(line.starts_with("   2.500000s"), "{line}");
    assert!(line.contains("task{name=\"sleeper\"}"), "{line}");
    assert!(line.contains("answer=42"), "{line}");
}

#[test]
fn a_peer_connection_attempt_is_a_span_with_fields() {
    let out = traced(|| {
        let world = SimWorld::new(5);
        let net = world.provider("10.0.0.2");
        world.spawn("client", async move {
            let mut peer = Peer::new(net, "10.0.0.1:4500".into(), PeerConfig::default());
            // Nobody listens: the attempt is refused.
            assert!(peer.reconnect().await.is_err());
        });
        world.run().unwrap();
    });
    let line = out
        .lines()
        .find(|l| l.contains("connection attempt failed"))
        .expect(&out);
    assert!(
        line.contains("task{name=\"client\"}:peer{destination=10.0.0.1:4500 attempt=1}"),
        "{line}"
    );
    assert!(line.contains("next_attempt="), "{line}");
    // Stamped with virtual time (the refusal takes simulated latency), not the wall clock.
    assert!(line.trim_start().starts_with("0.0"), "{line}");
}

#[test]
fn a_campaign_iteration_is_a_span_with_its_seed() {
    let out = traced(|| {
        let report = SimulationBuilder::new()
            .register_workload("w", |seed, _net, _topo| async move {
                tracing::debug!(seed, "running");
                if seed == 11 {
                    return Err("seed eleven fails");
                }
                Ok(())
            })
            .seed_range(10..12)
            .threads(1)
            .seed_from_env(false)
            .run();
        assert_eq!(report.failures.len(), 1);
    });
    assert!(
        out.contains("iteration{seed=10}:task{name=\"w\"}: trace: running seed=10"),
        "{out}"
    );
    let failed = out
        .lines()
        .find(|l| l.contains("iteration failed"))
        .expect(&out);
    assert!(failed.contains("iteration{seed=11}"), "{failed}");
    assert!(failed.contains("error=seed eleven fails"), "{failed}");
}

#[test]
fn outside_a_world_no_virtual_time_is_claimed() {
    assert_eq!(moonpool::sim::current_time(), None);
    let out = traced(|| tracing::info!("plain"));
    // The wall clock's RFC 3339 stamp, not a virtual offset.
    assert!(out.starts_with("20"), "{out}");
}

/// The drop-oldest warning names what it dropped, once per send that dropped something and
/// never for one that dropped nothing.
#[test]
fn the_queue_full_warning_comes_only_with_a_drop() {
    let out = traced(|| {
        let world = SimWorld::new(5);
        let net = world.provider("10.0.0.2");
        world.spawn("client", async move {
            let config = PeerConfig {
                max_queue_size: 2,
                ..PeerConfig::default()
            };
            // Nobody listens: the messages queue.
            let mut peer = Peer::new(net, "10.0.0.1:4500".into(), config);
            for message in [&b"one"[..], b"two", b"three"] {
                peer.send_slice(message).await.unwrap();
            }
            assert_eq!(peer.metrics().messages_dropped, 1);
        });
        world.run().unwrap();
    });
    let warnings: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("dropped the oldest"))
        .collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(warnings[0].contains("dropped=1"), "{}", warnings[0]);
}
