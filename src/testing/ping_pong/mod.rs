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
//! A campaign runs one [`Delivery`] mode for every seed ([`campaign`]; [`builder`] is the
//! unreliable one), or every mode in turn ([`Modes::Mixed`], the example's default). Unreliable delivery is at most once across reconnects: a reply can be lost with its
//! connection, and a request dropped by the full queue is never answered. So the clients
//! check with [`always_assert!`](crate::always_assert) that every reply is well-formed,
//! addressed to them, answers a request they sent and that was not answered before, and
//! arrives in increasing order; and, on a calm network, that nothing is lost. Requests are
//! lost only between connections, so the server checks that on one connection each client's
//! request numbers are consecutive: a message lost inside a connection fails the iteration.
//! In the reliable modes the server speaks through a [`SessionServer`](crate::peer::SessionServer),
//! the clients refuse rather than drop ([`OverflowPolicy::Reject`](crate::peer::OverflowPolicy)),
//! and the checks tighten: each client's requests arrive consecutively across all its
//! connections, no reply is ever skipped, and at the end every request is acknowledged and
//! answered. A [`Mode`] with the drop-oldest policy loosens that to what drops allow: no
//! dropped request ever reaches the server, replies skip only as many requests as were
//! dropped, and only those go unanswered.
//!
//! The server records every request in a [`Ledger`] and, at the end of each iteration, judges
//! it against what each client's `send` accepted: [`Ledger::totals`] gives the campaign's
//! `lost`, `duplicated` and `reordered` counts (the example prints them on its summary line).
//! Exactly-once must show 0/0/0; at-least-once 0 lost; unreliable mode's losses must each be
//! within the Peer's `messages_possibly_lost`, and its counters must add up
//! (`sent = written + dropped`). The [`sometimes_assert!`](crate::sometimes_assert)s listed
//! by [`sometimes`] show the campaign reaches the Peer's interesting states.
//!
//! Each client also checks its Peer's reconnect timing from the virtual clock
//! ([`BackoffChecker`]), its queue's accounting after every send, that every reply its Peer
//! read whole from any connection reached it (a tap on its provider), and, in unreliable
//! mode outside the hostile campaign, liveness: its network healed, a probe must be answered
//! within [`liveness_bound`].
//!
//! # Examples
//! ```
//! use moonpool::testing::ping_pong;
//!
//! let report = ping_pong::builder(2).iterations(3).seed_from_env(false).run();
//! assert_eq!(report.failed(), 0, "{report}");
//! ```

mod backoff;
mod checker;
mod client;
mod draw;
mod ledger;
mod liveness;
mod mode;
mod numbers;
mod replies;
mod scenario;
mod server;
mod tap;
mod text;

use std::time::Duration;

pub use backoff::BackoffChecker;
pub use client::{client, client_in, ClientStats};
pub use ledger::{Delivered, Ledger};
pub use liveness::{exchange_bound, liveness_bound, round_bound};
pub use mode::{overflow_name, parse_overflow, Mode, Modes};
pub use scenario::Scenario;
pub use server::server;

use super::{Attrition, SimulationBuilder};
use crate::peer::{Delivery, PeerConfig};
use crate::sim::FaultKind;

/// The server's port.
pub const PORT: u16 = 4500;

/// The sometimes-assertions of the unreliable campaign, declared up front by [`builder`].
///
/// - `peer_reconnected`: a connection failed or broke, and the Peer connected again.
/// - `queued_while_disconnected`: messages waited in the queue while disconnected.
/// - `queue_overflowed`: the full queue dropped (or, in the reliable modes, refused) a message.
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

/// What the reliable campaigns declare besides [`SOMETIMES`]: `message_resent` (a message
/// written on a broken connection was sent again). Duplicates never reach a receiver here:
/// the handshake tells the sender what arrived, so it re-sends only the rest.
pub const SOMETIMES_RELIABLE_EXTRA: &[&str] = &["message_resent"];

/// The sometimes-assertions of a campaign in `delivery` mode.
pub fn sometimes(delivery: Delivery) -> Vec<&'static str> {
    let mut names = SOMETIMES.to_vec();
    if delivery.is_reliable() {
        names.extend_from_slice(SOMETIMES_RELIABLE_EXTRA);
    }
    names
}

/// The clients' Peer configuration: delays small enough that the backoff reaches its cap
/// within an iteration, a 16-message queue that overflows while disconnected, a 1 s
/// connection timeout that stalled connects exceed, and a brisk heartbeat; the mode's
/// delivery and overflow policy (a bare [`Delivery`]: the reliable modes refuse new
/// messages on a full queue rather than drop old ones).
pub fn peer_config(mode: impl Into<Mode>) -> PeerConfig {
    let Mode { delivery, overflow } = mode.into();
    PeerConfig {
        initial_reconnect_delay: Duration::from_millis(5),
        max_reconnect_delay: Duration::from_millis(40),
        max_queue_size: 16,
        connection_timeout: Duration::from_secs(1),
        overflow_policy: overflow,
        reconnect_jitter: 0.25,
        stable_connection_time: Duration::from_millis(200),
        write_batch_bytes: 1,
        delivery,
        heartbeat_interval: Duration::from_millis(250),
        heartbeat_timeout: Duration::from_secs(2),
        ..PeerConfig::default()
    }
}

/// The command-line name of a mode: `unreliable`, `at-least-once`, `exactly-once`.
pub fn mode_name(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::AtLeastOnce => "at-least-once",
        Delivery::ExactlyOnce => "exactly-once",
        _ => "unreliable",
    }
}

/// The mode a command-line name names (see [`mode_name`]).
pub fn parse_mode(name: &str) -> Option<Delivery> {
    [
        Delivery::Unreliable,
        Delivery::AtLeastOnce,
        Delivery::ExactlyOnce,
    ]
    .into_iter()
    .find(|&mode| mode_name(mode) == name)
}

/// The unreliable campaign's builder: see [`campaign`].
pub fn builder(clients: usize) -> SimulationBuilder {
    campaign(clients, Delivery::Unreliable).0
}

/// A campaign in `mode` (a [`Delivery`], or a [`Mode`] that also names the overflow
/// policy): one `server` workload and `clients` client workloads
/// (`client1`, `client2`, ...), the [`Scenario`] network of each seed, the mode's
/// [`sometimes`] declared, and the example's replay hint ([`replay_hint`]); and the
/// [`Ledger`] that totals what arrived. Choose the seeds on the builder.
///
/// # Examples
/// ```
/// use moonpool::peer::Delivery;
/// use moonpool::testing::ping_pong;
///
/// let (builder, ledger) = ping_pong::campaign(1, Delivery::ExactlyOnce);
/// let report = builder.iterations(2).seed_from_env(false).require_coverage(false).run();
/// assert_eq!(report.failed(), 0, "{report}");
/// let totals = ledger.totals();
/// assert!(totals.sent > 0);
/// assert_eq!((totals.lost, totals.duplicated, totals.reordered), (0, 0, 0));
/// ```
///
/// With [`Modes::Mixed`] each seed runs the mode [`Modes::for_seed`] picks, and the campaign
/// declares the reliable modes' sometimes-assertions (a superset of the unreliable ones).
pub fn campaign(clients: usize, modes: impl Into<Modes>) -> (SimulationBuilder, Ledger) {
    campaign_in(clients, modes.into(), Scenario::from_seed)
}

/// [`campaign`] with the scenario of each seed drawn by `scenario`.
fn campaign_in(
    clients: usize,
    modes: Modes,
    scenario: fn(u64) -> Scenario,
) -> (SimulationBuilder, Ledger) {
    let declared = if modes.any_reliable() {
        Delivery::AtLeastOnce
    } else {
        Delivery::Unreliable
    };
    let ledger = Ledger::default();
    let server_ledger = ledger.clone();
    let mut builder = SimulationBuilder::new()
        .register_workload("server", move |seed, provider, topology| {
            let mode = modes.for_seed(seed);
            server(seed, provider, topology, mode, server_ledger.clone())
        })
        .network_config_fn(move |seed| scenario(seed).network)
        .declare_sometimes(&sometimes(declared))
        .replay_hint(replay_hint(clients, modes));
    for i in 1..=clients {
        let ledger = ledger.clone();
        builder =
            builder.register_workload(format!("client{i}"), move |seed, provider, topology| {
                let ledger = ledger.clone();
                let mode = modes.for_seed(seed);
                async move {
                    client_in(scenario(seed), seed, provider, topology, mode, ledger)
                        .await
                        .map(|_| ())
                }
            });
    }
    (builder, ledger)
}

/// The fault kinds the hostile campaign ([`hostile_campaign`]) must inject at least once each.
pub const HOSTILE_FAULTS: &[FaultKind] = &[
    FaultKind::Refused,
    FaultKind::ConnectStall,
    FaultKind::SynLost,
    FaultKind::Reset,
    FaultKind::Clog,
    FaultKind::Partition,
    FaultKind::Heal,
    FaultKind::ShortRead,
    FaultKind::ShortWrite,
    FaultKind::Corrupt,
    FaultKind::SlowSegment,
    FaultKind::SlowLink,
    FaultKind::Crash,
    FaultKind::Restart,
    FaultKind::Buggify,
];

/// The hostile campaign in `mode`: [`campaign`]'s workloads, but every seed hostile
/// ([`Scenario::hostile_from_seed`]: a network drawn from calm to hostile, corruption in half
/// the seeds), the server rebooted at random during each iteration ([`Attrition`]: killed or
/// powered off; none after 30 s, so the clients finish on a quiet network), and every kind of
/// [`HOSTILE_FAULTS`] required somewhere in the campaign
/// ([`expect_faults`](SimulationBuilder::expect_faults)).
///
/// # Examples
/// ```
/// use moonpool::peer::Delivery;
/// use moonpool::testing::ping_pong;
///
/// let (builder, ledger) = ping_pong::hostile_campaign(2, Delivery::ExactlyOnce);
/// let report = builder.iterations(4).seed_from_env(false).require_coverage(false).run();
/// assert_eq!(report.failed(), 0, "{report}");
/// assert_eq!(ledger.totals().lost, 0);
/// ```
pub fn hostile_campaign(clients: usize, modes: impl Into<Modes>) -> (SimulationBuilder, Ledger) {
    let mode = modes.into();
    let (builder, ledger) = campaign_in(clients, mode, Scenario::hostile_from_seed);
    let mut attrition = Attrition::new(&["server"]);
    attrition.until = Duration::from_secs(30);
    let hint = format!("{} --hostile", replay_hint(clients, mode));
    let builder = builder
        .attrition(attrition)
        .expect_faults(HOSTILE_FAULTS)
        .replay_hint(hint);
    (builder, ledger)
}

/// The command that replays one seed of a `clients`-client campaign in `modes`, after
/// `MOONPOOL_SEED=<seed>`: the example with every flag that changes an iteration
/// (`--clients`; `--mode` unless mixed, the example's default; `--overflow` unless the mode's
/// default; the seed count and threads do not).
///
/// # Examples
/// ```
/// use moonpool::peer::Delivery;
/// use moonpool::testing::ping_pong::{self, Modes};
///
/// let report = ping_pong::builder(3).seeds(vec![7]).require_coverage(false).run();
/// assert_eq!(
///     report.replay_line(7),
///     "MOONPOOL_SEED=7 cargo run --release --example ping_pong -- --clients 3 --mode unreliable"
/// );
/// assert!(ping_pong::replay_hint(2, Modes::Mixed).ends_with("--clients 2"));
/// assert!(ping_pong::replay_hint(2, Delivery::ExactlyOnce).ends_with("--mode exactly-once"));
/// let dropping = ping_pong::Mode::drop_oldest(Delivery::AtLeastOnce);
/// assert!(ping_pong::replay_hint(2, dropping)
///     .ends_with("--mode at-least-once --overflow drop-oldest"));
/// ```
pub fn replay_hint(clients: usize, modes: impl Into<Modes>) -> String {
    let mut hint = format!("cargo run --release --example ping_pong -- --clients {clients}");
    if let Modes::Fixed(mode) = modes.into() {
        hint.push_str(" --mode ");
        hint.push_str(mode_name(mode.delivery));
        if !mode.is_default() {
            hint.push_str(" --overflow ");
            hint.push_str(overflow_name(mode.overflow));
        }
    }
    hint
}
