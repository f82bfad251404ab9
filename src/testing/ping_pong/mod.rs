//! The ping-pong campaign: clients using a resilient [`Peer`](crate::Peer) against a framed echo server,
//! over calm and hostile simulated networks.
//!
//! Each iteration runs one [`server`] (at `10.0.0.1:4500`) and one or more [`client`]s. A
//! client sends a few hundred `ping <client> <n> <padding>` messages in bursts of random
//! size through a [`Peer`](crate::Peer) and reads the `pong <client> <n>` replies with
//! [`Peer::recv`](crate::Peer::recv). The [`Scenario`] drawn from the seed decides the network (calm in about a
//! fifth of the iterations, hostile with varying fault rates in the rest) and whether the
//! client forces reconnections.
//!
//! Delivery is at-most-once across reconnects: a reply can be lost with its connection, and
//! a request dropped by the full queue is never answered. So the clients check with
//! [`always_assert!`](crate::always_assert) that every reply is well-formed, addressed to
//! them, answers a request they sent and that was not answered before, and arrives in
//! increasing order; and, on a calm network, that nothing is lost. Requests are lost only
//! between connections, so the server checks that on one connection each client's request
//! numbers are consecutive: a message lost inside a connection fails the iteration. The
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

mod checker;
mod client;
mod draw;
mod scenario;
mod server;

use std::time::Duration;

pub use client::{client, ClientStats};
pub use scenario::Scenario;
pub use server::server;

use super::SimulationBuilder;
use crate::peer::{OverflowPolicy, PeerConfig};

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
/// declared, and the example's replay hint ([`replay_hint`]). Choose the seeds on it.
pub fn builder(clients: usize) -> SimulationBuilder {
    let mut builder = SimulationBuilder::new()
        .register_workload("server", |_seed, provider, topology| {
            server(provider, topology)
        })
        .network_config_fn(|seed| Scenario::from_seed(seed).network)
        .declare_sometimes(SOMETIMES)
        .replay_hint(replay_hint(clients));
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

/// The command that replays one seed of a `clients`-client campaign, after
/// `MOONPOOL_SEED=<seed>`: the example with every flag that changes an iteration
/// (`--clients`; the seed count and threads do not).
///
/// # Examples
/// ```
/// use moonpool::testing::ping_pong;
///
/// let report = ping_pong::builder(3).seeds(vec![7]).require_coverage(false).run();
/// assert_eq!(
///     report.replay_line(7),
///     "MOONPOOL_SEED=7 cargo run --release --example ping_pong -- --clients 3"
/// );
/// ```
pub fn replay_hint(clients: usize) -> String {
    format!("cargo run --release --example ping_pong -- --clients {clients}")
}
