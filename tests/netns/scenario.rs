//! The scenarios, written once over `P: NetworkProvider` and a [`Faults`] that injects
//! them (the simulator's fault API, or iproute2 and signals on real links).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use moonpool::peer::Delivery;
use moonpool::{Clock, NetworkProvider, Peer, PeerConfig, PeerError};

use super::server::{message, Event, START_LIMIT};

/// What goes wrong, and how each side injects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// All traffic between client and server is lost for [`FAULT`], then flows again.
    /// Real: the server's end of the veth pair down, then up. Simulator: `partition`, `heal`.
    Partition,
    /// The server sends nothing for [`FAULT`] (no data, no acknowledgement, no RST): the
    /// client's connection is half-open. Real: a blackhole route to the client in the server
    /// namespace. Simulator: `partition_one_way(server -> client)`, `heal`.
    HalfOpen,
    /// The server process is killed, and a new one (with no memory of the sessions) starts
    /// [`DOWN`] later. Real: SIGKILL and a new process. Simulator: `crash(Kill)`, `restart`.
    Restart,
    /// Every packet both ways is delayed by [`DELAY`] (and, on real links, 1 % lost) for
    /// [`FAULT`]. Real: `tc qdisc .. netem` on both ends of the veth pair, where the kernel has
    /// it. Simulator: `set_link_latency` (its TCP never loses bytes: a loss is a delay there).
    DelayAndLoss,
}

/// The extra latency of [`Scenario::DelayAndLoss`], each way.
pub const DELAY: Duration = Duration::from_millis(30);

/// Injects a scenario's fault and ends it.
pub trait Faults {
    fn inject(&self, scenario: Scenario);
    fn end(&self, scenario: Scenario);
}

/// The Peer's configuration in every run: heartbeats, backoff and connect timeout short
/// enough that each run takes a few seconds.
pub fn config(delivery: Delivery) -> PeerConfig {
    PeerConfig {
        delivery,
        initial_reconnect_delay: Duration::from_millis(20),
        max_reconnect_delay: Duration::from_millis(160),
        connection_timeout: Duration::from_millis(300),
        stable_connection_time: Duration::from_secs(1),
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(400),
        ..PeerConfig::default()
    }
}

/// How long a partition, a half-open connection or a slow link lasts.
pub const FAULT: Duration = Duration::from_secs(1);
/// How long the killed server stays down.
pub const DOWN: Duration = Duration::from_millis(500);
/// From the fault on, a message is sent every [`STEP`] for this long (the fault ends inside).
const WINDOW: Duration = Duration::from_millis(1500);
/// One step of the window: a message sent, then the Peer driven for the rest of the step (or,
/// while it is disconnected, until its connection attempt ends).
const STEP: Duration = Duration::from_millis(50);
/// Messages sent before the fault, and after the window.
const BEFORE: u32 = 10;
const AFTER: u32 = 10;
/// Bound on the phases after the fault (reconnecting, delivering everything).
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The Peer's observable outcome of one run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Connections made after the first one.
    pub reconnects: u64,
    /// Connection attempts that failed (refused, timed out) and, of those, timed out.
    pub failed_attempts: u64,
    pub timed_out_attempts: u64,
    /// From the fault to the first error the Peer reported (`None`: it never noticed).
    pub detected_after: Option<Duration>,
    /// Whether that first error was `Unresponsive` (the heartbeat found the silence).
    pub by_heartbeat: bool,
    /// Messages sent, numbered from 0.
    pub sent: u32,
    /// Messages of those the server's application never received.
    pub lost: u64,
    /// Arrivals beyond the first of a message.
    pub duplicated: u64,
    /// First arrivals in the order sent.
    pub in_order: bool,
    /// The Peer's `messages_possibly_lost`.
    pub possibly_lost: u64,
    /// The Peer's `session_restarts`.
    pub session_restarts: u64,
    /// Messages handed back by `SessionRestarted` (and sent again).
    pub handed_back: u64,
}

/// What the server reported so far.
pub struct Log {
    events: UnboundedReceiver<Event>,
    pub got: Vec<u32>,
    listening: usize,
}

impl Log {
    pub fn new(events: UnboundedReceiver<Event>) -> Self {
        Log {
            events,
            got: Vec::new(),
            listening: 0,
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Listening => self.listening += 1,
            Event::Got(k) => self.got.push(k),
        }
    }

    /// Waits until `done` holds, for at most `limit`; false if it did not.
    pub async fn wait<K: Clock>(
        &mut self,
        clock: &K,
        limit: Duration,
        done: impl Fn(&Log) -> bool,
    ) -> bool {
        let deadline = clock.now() + limit;
        while !done(self) {
            let left = deadline.saturating_sub(clock.now());
            match clock.timeout(left, self.events.next()).await {
                Ok(Some(event)) => self.apply(event),
                _ => return false,
            }
        }
        true
    }

    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.apply(event);
        }
    }
}

/// Errors seen while driving the Peer.
#[derive(Default)]
struct Tally {
    first_error: Option<(Duration, bool)>,
    handed_back: u64,
}

/// Drives the Peer for one step: waits for acknowledgements (reliable modes, so heartbeats
/// run) or flushes (unreliable), noting any error; re-sends what `SessionRestarted` hands back.
async fn drive<P: NetworkProvider>(
    peer: &mut Peer<P>,
    clock: &P::Clock,
    tally: &mut Tally,
    step: Duration,
) {
    let start = clock.now();
    // Never cut a connection attempt short: it ends by itself (connected, refused, timed out).
    let config = peer.config();
    let limit = if peer.is_connected() {
        step
    } else {
        config.max_reconnect_delay + config.connection_timeout + step
    };
    let result = if config.delivery.is_reliable() {
        clock.timeout(limit, peer.wait_acknowledged()).await
    } else {
        clock.timeout(limit, peer.flush()).await
    };
    if let Ok(Err(error)) = result {
        note(peer, tally, error, clock.now()).await;
    }
    let spent = clock.now() - start;
    if spent < step {
        clock.sleep(step - spent).await;
    }
}

async fn note<P: NetworkProvider>(
    peer: &mut Peer<P>,
    tally: &mut Tally,
    error: PeerError,
    now: Duration,
) {
    assert!(
        error.is_disconnect() || matches!(error, PeerError::SessionRestarted { .. }),
        "{error}"
    );
    let heartbeat = matches!(error, PeerError::Unresponsive { .. });
    tally.first_error.get_or_insert((now, heartbeat));
    if let PeerError::SessionRestarted { unacknowledged, .. } = error {
        tally.handed_back += unacknowledged.len() as u64;
        for message in unacknowledged {
            peer.send(message).await.expect("room in the queue");
        }
    }
}

/// Runs `scenario` against the server at `addr` (which reports through `log`).
pub async fn run<P: NetworkProvider>(
    scenario: Scenario,
    net: P,
    addr: String,
    faults: &impl Faults,
    log: &mut Log,
    delivery: Delivery,
) -> Outcome {
    let clock = net.clock();
    assert!(
        log.wait(&clock, START_LIMIT, |l| l.listening >= 1).await,
        "the server started"
    );
    let mut peer = Peer::new(net, addr, config(delivery));
    let mut tally = Tally::default();

    // Before: everything arrives (and is acknowledged).
    for k in 0..BEFORE {
        peer.send(message(k)).await.expect("queued");
    }
    peer.flush().await.expect("connected");
    if delivery.is_reliable() {
        peer.wait_acknowledged().await.expect("acknowledged");
    }
    assert!(
        log.wait(&clock, SETTLE_LIMIT, |l| l.got.contains(&(BEFORE - 1)))
            .await
    );

    // The fault, one message per step; it ends within the window.
    let t0 = clock.now();
    faults.inject(scenario);
    let end_at = if scenario == Scenario::Restart {
        DOWN
    } else {
        FAULT
    };
    let mut ended = false;
    let mut next = BEFORE;
    while clock.now() - t0 < WINDOW {
        if !ended && clock.now() - t0 >= end_at {
            faults.end(scenario);
            ended = true;
        }
        peer.send(message(next)).await.expect("queued");
        next += 1;
        drive(&mut peer, &clock, &mut tally, STEP).await;
    }
    if !ended {
        faults.end(scenario);
    }

    // After: everything still queued is delivered.
    let total = next + AFTER;
    for k in next..total {
        peer.send(message(k)).await.expect("queued");
    }
    let deadline = clock.now() + SETTLE_LIMIT;
    loop {
        let result = if delivery.is_reliable() {
            clock.timeout(SETTLE_LIMIT, peer.wait_acknowledged()).await
        } else {
            clock.timeout(SETTLE_LIMIT, peer.flush()).await
        };
        match result {
            Ok(Ok(())) => break,
            Ok(Err(error)) => note(&mut peer, &mut tally, error, clock.now()).await,
            Err(_) => panic!("the Peer did not deliver within {SETTLE_LIMIT:?}"),
        }
        assert!(
            clock.now() < deadline,
            "the Peer did not deliver within {SETTLE_LIMIT:?}"
        );
    }
    assert!(
        log.wait(&clock, SETTLE_LIMIT, |l| l.got.contains(&(total - 1)))
            .await,
        "the last message arrived"
    );
    log.drain();
    let metrics = peer.metrics();
    peer.close().await;

    let distinct: BTreeSet<u32> = log.got.iter().copied().collect();
    let mut first = Vec::new();
    let mut seen = BTreeSet::new();
    for &k in &log.got {
        if seen.insert(k) {
            first.push(k);
        }
    }
    Outcome {
        reconnects: metrics.connections_established.saturating_sub(1),
        failed_attempts: metrics.connection_failures,
        timed_out_attempts: metrics.connection_timeouts,
        detected_after: tally.first_error.map(|(at, _)| at - t0),
        by_heartbeat: tally.first_error.is_some_and(|(_, heartbeat)| heartbeat),
        sent: total,
        lost: (0..total).filter(|k| !distinct.contains(k)).count() as u64,
        duplicated: (log.got.len() - distinct.len()) as u64,
        in_order: first.windows(2).all(|w| w[0] < w[1]),
        possibly_lost: metrics.messages_possibly_lost,
        session_restarts: metrics.session_restarts,
        handed_back: tally.handed_back,
    }
}
