//! The campaign's last phase: a client's network healed, then progress required within a
//! bound of virtual time derived from the network's and the Peer's configurations.

use std::time::Duration;

use super::checker::Checker;
use crate::peer::{Peer, PeerConfig, PeerError};
use crate::provider::{Clock, NetworkProvider};
use crate::sim::{NetworkConfig, TailShape};
use crate::testing::WorkloadTopology;
use crate::{always_assert, sometimes_max};

/// One minimum retransmission timeout: a segment lost before the heal arrives this late.
const MIN_RTO: Duration = Duration::from_millis(200);

/// The slowest one-way trip on `network`: connect or write latency, the latency tail, a slow
/// link.
fn one_way(network: &NetworkConfig) -> Duration {
    let tail = if network.latency_tail.probability > 0.0 {
        match network.latency_tail.shape {
            TailShape::Uniform(range) => range.max,
            TailShape::Exponential { max, .. } => max,
        }
    } else {
        Duration::ZERO
    };
    let slow = if network.slow_link_probability > 0.0 {
        network.slow_link_latency
    } else {
        Duration::ZERO
    };
    network.connect_latency.max.max(network.write_latency.max) + tail + slow
}

/// How long a healed network may take to carry `bytes` one way and answer: a clog or a lost
/// segment decided before the heal still plays out, then one slowest trip per send buffer
/// of bytes, and the trip back.
pub fn exchange_bound(network: &NetworkConfig, bytes: usize) -> Duration {
    let clog = if network.clog_probability > 0.0 {
        network.clog_duration.max
    } else {
        Duration::ZERO
    };
    let segments = bytes.div_ceil(network.send_buffer_bytes.max(1)).max(1) as u32;
    clog + MIN_RTO + one_way(network) * (segments + 1)
}

/// How long one round of the liveness probe may take on a healed network, with `backlog`
/// bytes queued ahead of the probe: the backoff waits at most `max_reconnect_delay` (jitter
/// only shortens it), then a connect and the probe's exchange (see [`exchange_bound`]). No
/// attempt runs at the heal (the Peer connects inside its caller's awaits) and `buggify!` is
/// off after it, so none times out.
pub fn round_bound(network: &NetworkConfig, peer: &PeerConfig, backlog: usize) -> Duration {
    peer.max_reconnect_delay + exchange_bound(network, 0) + exchange_bound(network, backlog)
}

/// How long after the heal an unreliable client's probe may take to be answered: one
/// [`round_bound`] to give up on the connection held at the heal (unreliable mode has no
/// heartbeat: a connection the server gave up on stays half-open until the client stops
/// waiting and reconnects), and one to get through.
pub fn liveness_bound(network: &NetworkConfig, peer: &PeerConfig, backlog: usize) -> Duration {
    round_bound(network, peer, backlog) * 2
}

/// Heals this workload's network: the partitions end, and from now on every connect, write
/// and read with its host at either end passes ([`SimWorld::calm_host`]: a lookup, however
/// many clients are healed); `buggify!` goes off, for every workload.
/// Returns the network's configuration, or `None` outside a simulation.
///
/// [`SimWorld::calm_host`]: crate::SimWorld::calm_host
pub(super) fn heal(topology: &WorkloadTopology) -> Option<NetworkConfig> {
    let world = topology.world().upgrade()?;
    world.calm_host(&topology.my_ip).ok()?;
    world.heal();
    world.set_buggify(false);
    Some(world.network_config())
}

/// The unreliable client's last phase: heals its network, then sends probes (a fresh request
/// each round, reconnecting when a round passes without its reply) until one is answered,
/// and asserts `liveness_after_heal`: within [`liveness_bound`], for a backlog of what the
/// Peer holds at the heal plus one probe (`longest`: the longest request sent).
pub(super) async fn probe_after_heal<P: NetworkProvider>(
    peer: &mut Peer<P>,
    check: &mut Checker,
    clock: &P::Clock,
    topology: &WorkloadTopology,
    longest: usize,
) -> Result<(), PeerError> {
    let Some(network) = heal(topology) else {
        return Ok(());
    };
    let config = peer.config().clone();
    // Ahead of each probe: what the Peer holds now (its queue only shrinks from here).
    let backlog = peer.metrics().queue_bytes.saturating_add(longest);
    let round = round_bound(&network, &config, backlog);
    let bound = liveness_bound(&network, &config, backlog);
    let healed = clock.now();
    let mut rounds = 0;
    let mut answered = None;
    // Bounded in virtual time: each round ends within `round`.
    while answered.is_none() && clock.now().saturating_sub(healed) <= bound {
        rounds += 1;
        let n = check.next;
        check.next += 1;
        match peer
            .send(format!("ping {} {n} probe", check.me).into_bytes())
            .await
        {
            Ok(()) => check.sent(n),
            Err(PeerError::QueueFull { .. }) => {
                // OverflowPolicy::Reject and a queue full of older requests: let them go
                // out first, then probe again.
                check.next -= 1;
                let _ = clock.timeout(round, peer.flush()).await;
                continue;
            }
            Err(error) => return Err(error),
        }
        let deadline = clock.now().saturating_add(round);
        while check.outstanding.contains(&n) {
            let left = deadline.saturating_sub(clock.now());
            match clock.timeout(left, check.receive(peer)).await {
                Ok(Ok(Some(reply))) => check.reply(&reply),
                Ok(Ok(None)) => {}
                Ok(Err(error @ (PeerError::InvalidConfig { .. } | PeerError::Closed { .. }))) => {
                    return Err(error)
                }
                Ok(Err(_)) | Err(_) => break,
            }
        }
        if check.received.contains(n) {
            answered = Some(clock.now().saturating_sub(healed));
        } else if let Err(error @ (PeerError::InvalidConfig { .. } | PeerError::Closed { .. })) =
            peer.reconnect().await
        {
            return Err(error);
        }
    }
    if let Some(took) = answered {
        // The slowest recovery seen, in the report, against the bound.
        sometimes_max!("liveness_ms_after_heal", took.as_millis() as u64);
        sometimes_max!("liveness_bound_ms", bound.as_millis() as u64);
    }
    always_assert!(
        "liveness_after_heal",
        answered.is_some_and(|took| took <= bound),
        "{}: no probe answered within {bound:?} of the heal (round {round:?}; {rounds} rounds, \
         answered after {answered:?}; metrics {:?})",
        check.me,
        peer.metrics()
    );
    Ok(())
}
