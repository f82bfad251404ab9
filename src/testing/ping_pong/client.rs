//! The ping-pong [`client`]: pings through a resilient [`Peer`], checking every pong.

use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checker::Checker;
use super::draw::{below, chance};
use super::{peer_config, Scenario, PORT};
use crate::peer::{Peer, PeerError};
use crate::provider::NetworkProvider;
use crate::sim::Digest;
use crate::testing::WorkloadTopology;
use crate::{always_assert, sometimes_assert};

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
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name_hash(&me));
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
    // `send` never connects: connect first, so the first burst does not overflow the queue.
    let _ = peer.reconnect().await;
    while check.next < total {
        if chance(&mut rng, scenario.reconnect_probability) {
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
                    tracing::debug!(client = %me, %error, "request not sent");
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

/// FNV-1a of a workload name: mixed into the seed so each client draws its own numbers.
fn name_hash(name: &str) -> u64 {
    let mut digest = Digest::new();
    digest.fold_bytes(name.as_bytes());
    digest.value()
}
