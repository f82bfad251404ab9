//! The ping-pong campaign: clients using a resilient [`Peer`] against a framed echo server,
//! over calm and hostile simulated networks.
//!
//! Each iteration runs one [`server`] (at `10.0.0.1:4500`) and one or more [`client`]s. A
//! client sends a few hundred `ping <client> <n> <padding>` messages in bursts of random
//! size through a [`Peer`] and reads the `pong <client> <n>` replies with
//! [`Peer::recv`]. The [`Scenario`] drawn from the seed decides the network (calm in about a
//! fifth of the iterations, hostile with varying fault rates in the rest) and whether the
//! client forces reconnections.
//!
//! Delivery is at-most-once across reconnects: a reply can be lost with its connection, and
//! a request dropped by the full queue is never answered. So the clients check with
//! [`always_assert!`](crate::always_assert) that every reply is well-formed, addressed to
//! them, answers a request they sent and that was not answered before, and arrives in
//! increasing order; and, on a calm network, that nothing is lost. The
//! [`sometimes_assert!`](crate::sometimes_assert)s listed in [`SOMETIMES`] show the campaign
//! reaches the Peer's interesting states.
//!
//! # Examples
//! ```
//! use moonpool::testing::ping_pong;
//!
//! let report = ping_pong::builder(2).iterations(3).seed_from_env(false).run();
//! assert_eq!(report.failed(), 0, "{report}");
//! ```

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{SimulationBuilder, WorkloadTopology};
use crate::peer::{FramedStream, OverflowPolicy, Peer, PeerConfig, PeerError};
use crate::provider::{Clock, Listener, NetworkProvider};
use crate::sim::{Digest, LatencyRange, NetworkConfig};
use crate::{always_assert, sometimes_assert};

/// The server's port.
pub const PORT: u16 = 4500;

/// The sometimes-assertions of the campaign, declared up front by [`builder`].
///
/// - `peer_reconnected`: a connection failed or broke, and the Peer connected again.
/// - `queued_while_disconnected`: messages waited in the queue while disconnected.
/// - `queue_overflowed`: the full queue dropped its oldest message.
/// - `backoff_at_cap`: the reconnect delay grew to its maximum.
/// - `connect_timed_out`: a connection attempt hit `connection_timeout`.
/// - `message_requeued`: a message half-written on a broken connection was queued again.
pub const SOMETIMES: &[&str] = &[
    "peer_reconnected",
    "queued_while_disconnected",
    "queue_overflowed",
    "backoff_at_cap",
    "connect_timed_out",
    "message_requeued",
];

/// What an iteration looks like, drawn from its seed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Scenario {
    /// True for a calm network without faults (and no forced reconnections).
    pub calm: bool,
    /// The network of the iteration.
    pub network: NetworkConfig,
    /// Per burst, the probability that a client calls [`Peer::reconnect`] (hostile only).
    pub reconnect_probability: f64,
}

impl Scenario {
    /// The scenario of `seed`: calm one time in five, else [`NetworkConfig::hostile`] with
    /// refusal, stall and reset rates picked from a few levels each.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ce7_a810_0000_0001);
        if below(&mut rng, 5) == 0 {
            return Self {
                calm: true,
                network: NetworkConfig::default(),
                reconnect_probability: 0.0,
            };
        }
        let mut network = NetworkConfig::hostile();
        network.connect_failure_probability = pick(&mut rng, &[0.05, 0.1, 0.3, 0.6]);
        network.connect_stall_probability = pick(&mut rng, &[0.0, 0.05, 0.2]);
        network.connect_stall = Duration::from_millis(pick(&mut rng, &[500, 2000, 10_000]));
        network.reset_probability = pick(&mut rng, &[0.0005, 0.002, 0.01]);
        network.send_buffer_bytes = pick(&mut rng, &[1024, 4096, 16_384]);
        network.write_latency = LatencyRange::new(
            Duration::from_micros(100),
            Duration::from_millis(pick(&mut rng, &[2, 20])),
        );
        Self {
            calm: false,
            network,
            reconnect_probability: pick(&mut rng, &[0.0, 0.05, 0.2]),
        }
    }
}

/// The clients' Peer configuration: delays small enough that the backoff reaches its cap
/// within an iteration, a 16-message queue that overflows while disconnected, and a 1 s
/// connection timeout that stalled connects exceed.
pub fn peer_config() -> PeerConfig {
    PeerConfig {
        initial_reconnect_delay: Duration::from_millis(5),
        max_reconnect_delay: Duration::from_millis(40),
        max_queue_size: 16,
        connection_timeout: Duration::from_secs(1),
        overflow_policy: OverflowPolicy::DropOldest,
        stable_connection_time: Duration::from_millis(200),
        write_batch_bytes: 1,
        ..PeerConfig::default()
    }
}

/// A builder for the campaign: one `server` workload and `clients` client workloads
/// (`client1`, `client2`, ...), the [`Scenario`] network of each seed, the [`SOMETIMES`]
/// declared, and the example's replay hint. Choose the seeds on it.
pub fn builder(clients: usize) -> SimulationBuilder {
    let mut builder = SimulationBuilder::new()
        .register_workload("server", |_seed, provider, topology| {
            server(provider, topology)
        })
        .network_config_fn(|seed| Scenario::from_seed(seed).network)
        .declare_sometimes(SOMETIMES)
        .replay_hint("cargo run --release --example ping_pong --");
    for i in 1..=clients {
        builder =
            builder.register_workload(
                format!("client{i}"),
                |seed, provider, topology| async move {
                    client(seed, provider, topology).await.map(|_| ())
                },
            );
    }
    builder
}

/// The server: binds `my_ip:4500`, serves every accepted connection concurrently (answering
/// each `ping <client> <n> ...` with `pong <client> <n>`), and returns once the other
/// workloads are done ([`Shutdown`](super::Shutdown)).
///
/// # Errors
/// Only if binding fails; broken connections just end.
pub async fn server<P: NetworkProvider>(provider: P, topology: WorkloadTopology) -> io::Result<()> {
    let listener = provider.bind(&format!("{}:{PORT}", topology.my_ip)).await?;
    let mut connections = FuturesUnordered::new();
    loop {
        let accept = Box::pin(listener.accept());
        let stop = topology.shutdown.wait();
        let connection_ended = Box::pin(async {
            if connections.is_empty() {
                std::future::pending::<()>().await;
            }
            connections.next().await;
        });
        match select(accept, select(stop, connection_ended)).await {
            Either::Left((Ok((stream, _remote)), _)) => {
                connections.push(serve(FramedStream::new(stream)));
            }
            // A failed accept (the simulator does not produce them) ends nothing.
            Either::Left((Err(_), _)) => {}
            Either::Right((Either::Left(_), _)) => return Ok(()),
            Either::Right((Either::Right(_), _)) => {}
        }
    }
}

/// Answers one connection's pings until it ends.
async fn serve<S: crate::provider::Stream>(mut conn: FramedStream<S>) {
    while let Ok(Some(request)) = conn.recv().await {
        let text = String::from_utf8_lossy(&request);
        let mut parts = text.split(' ');
        let (kind, client, n) = (parts.next(), parts.next(), parts.next());
        let well_formed =
            kind == Some("ping") && client.is_some() && n.is_some_and(|n| n.parse::<u64>().is_ok());
        always_assert!(
            "server_request_well_formed",
            well_formed,
            "bad request {text:.60}"
        );
        let reply = format!("pong {} {}", client.unwrap_or(""), n.unwrap_or(""));
        if conn.send(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// What one client saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Pings handed to the Peer.
    pub sent: u64,
    /// Pongs received.
    pub answered: u64,
    /// Pings never answered (dropped by the queue or lost with a connection).
    pub lost: u64,
}

/// A client: sends a few hundred pings to the first peer IP's port 4500 through a [`Peer`],
/// in bursts of 1 to 32, reading the replies after each burst, and checks them.
///
/// # Errors
/// Only errors that mean the Peer is unusable ([`PeerError::InvalidConfig`],
/// [`PeerError::Closed`], [`PeerError::MessageTooLarge`]); network failures are expected and
/// counted.
pub async fn client<P: NetworkProvider>(
    seed: u64,
    provider: P,
    topology: WorkloadTopology,
) -> Result<ClientStats, PeerError> {
    let scenario = Scenario::from_seed(seed);
    let me = topology.name.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv(me.as_bytes()));
    let clock = provider.clock();
    let destination = format!("{}:{PORT}", topology.peer_ips[0]);
    let mut peer = Peer::try_new(provider, destination, peer_config())?;
    let mut check = Checker::new(me.clone());
    let total = 200 + below(&mut rng, 200);
    // Calm networks answer within milliseconds; hostile ones may never answer.
    let patience = if scenario.calm {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(300)
    };
    while check.next < total {
        if rng_chance(&mut rng, scenario.reconnect_probability) {
            let _ = peer.reconnect().await;
        }
        let burst = 1 + below(&mut rng, 32);
        for _ in 0..burst.min(total - check.next) {
            let n = check.next;
            check.next += 1;
            let padding = "x".repeat(below(&mut rng, 1500) as usize);
            match peer
                .send(format!("ping {me} {n} {padding}").into_bytes())
                .await
            {
                Ok(()) => check.sent(n),
                // Only with OverflowPolicy::Reject: the request is not sent at all.
                Err(error @ PeerError::QueueFull { .. }) => {
                    sometimes_assert!("queue_overflowed", true);
                    log::debug!("{me}: {error}");
                }
                Err(error) => return Err(error),
            }
            sometimes_assert!(
                "queued_while_disconnected",
                peer.queue_size() > 0 && !peer.is_connected()
            );
        }
        check
            .read(&mut peer, &clock, patience, scenario.calm)
            .await?;
        observe(&peer);
    }
    check
        .read(&mut peer, &clock, patience * 3, scenario.calm)
        .await?;
    observe(&peer);
    check.stats.lost += check.outstanding.len() as u64;
    always_assert!(
        "calm_nothing_lost",
        !scenario.calm || check.stats.lost == 0,
        "{me} lost {} of {} replies on a calm network",
        check.stats.lost,
        check.stats.sent
    );
    peer.close().await;
    Ok(check.stats)
}

/// Records the Peer's state in the sometimes-assertions.
fn observe<P: NetworkProvider>(peer: &Peer<P>) {
    let m = peer.metrics();
    let reconnected = match (m.last_failure, m.last_connected) {
        (Some(failed), Some(connected)) => connected > failed,
        _ => false,
    };
    sometimes_assert!("peer_reconnected", reconnected);
    sometimes_assert!("queue_overflowed", m.messages_dropped > 0);
    sometimes_assert!("backoff_at_cap", peer.backoff_at_cap());
    sometimes_assert!("connect_timed_out", m.connection_timeouts > 0);
    sometimes_assert!("message_requeued", m.messages_requeued > 0);
}

/// A client's bookkeeping of requests and replies.
struct Checker {
    me: String,
    /// Sent and not answered yet (nor known lost).
    outstanding: BTreeSet<u64>,
    /// The last number answered.
    last: Option<u64>,
    /// The number of the next request.
    next: u64,
    stats: ClientStats,
}

impl Checker {
    fn new(me: String) -> Self {
        Self {
            me,
            outstanding: BTreeSet::new(),
            last: None,
            next: 0,
            stats: ClientStats::default(),
        }
    }

    fn sent(&mut self, n: u64) {
        self.outstanding.insert(n);
        self.stats.sent += 1;
    }

    /// Reads replies until none is outstanding, the connection breaks, or `patience` passes
    /// without a reply.
    async fn read<P: NetworkProvider>(
        &mut self,
        peer: &mut Peer<P>,
        clock: &P::Clock,
        patience: Duration,
        calm: bool,
    ) -> Result<(), PeerError> {
        while !self.outstanding.is_empty() {
            match clock.timeout(patience, peer.recv()).await {
                Ok(Ok(reply)) => self.reply(&reply),
                Ok(Err(error @ (PeerError::InvalidConfig { .. } | PeerError::Closed { .. }))) => {
                    return Err(error)
                }
                Ok(Err(error)) => {
                    always_assert!(
                        "calm_no_errors",
                        !calm,
                        "{}: {error} on a calm network",
                        self.me
                    );
                    return Ok(());
                }
                Err(_elapsed) => return Ok(()),
            }
        }
        Ok(())
    }

    fn reply(&mut self, reply: &[u8]) {
        let text = String::from_utf8_lossy(reply);
        let parsed = text
            .strip_prefix("pong ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(client, n)| Some((client, n.parse::<u64>().ok()?)));
        always_assert!(
            "reply_well_formed",
            parsed.is_some(),
            "bad reply {text:.60}"
        );
        let Some((client, n)) = parsed else { return };
        always_assert!(
            "reply_for_me",
            client == self.me,
            "{} got a reply for {client}",
            self.me
        );
        always_assert!(
            "reply_answers_a_request",
            self.outstanding.contains(&n),
            "{} got pong {n}: not sent, or answered before",
            self.me
        );
        always_assert!(
            "replies_in_order",
            self.last.is_none_or(|last| n > last),
            "{} got pong {n} after pong {:?}",
            self.me,
            self.last
        );
        // Requests older than an answered one will never be answered: they are lost.
        let older: Vec<u64> = self.outstanding.range(..n).copied().collect();
        for lost in older {
            self.outstanding.remove(&lost);
            self.stats.lost += 1;
        }
        self.outstanding.remove(&n);
        self.last = Some(n);
        self.stats.answered += 1;
    }
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn rng_chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, choices: &[T]) -> T {
    choices[below(rng, choices.len() as u64) as usize]
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut digest = Digest::new();
    digest.fold_bytes(bytes);
    digest.value()
}
