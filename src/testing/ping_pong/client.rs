//! The ping-pong [`client`]: pings through a resilient [`Peer`], checking every pong.

use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::backoff::BackoffChecker;
use super::checker::Checker;
use super::draw::{below, chance};
use super::ledger::{ClientReport, Ledger};
use super::liveness::probe_after_heal;
use super::replies::{check_replies, ReplyLog};
use super::tap::Tap;
use super::text::push_head;
use super::{peer_config, Mode, Scenario, PORT};
use crate::peer::{Peer, PeerError};
use crate::provider::{Clock, NetworkProvider};
use crate::sim::Digest;
use crate::testing::WorkloadTopology;
use crate::{always_assert, always_le, sometimes_assert};

/// How long a reliable-mode client waits, at the end, for every acknowledgement and reply.
const SETTLE: Duration = Duration::from_secs(120);

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
    /// At-least-once: pongs received a second time, after the server restarted.
    pub duplicate_replies: u64,
}

/// A client: sends a few hundred pings to the first peer IP's port 4500 through a [`Peer`]
/// in `mode` (a [`Delivery`](crate::peer::Delivery) or a [`Mode`]), in bursts of 1 to 32,
/// reading the replies after each burst, and checks them. In the reliable modes it then waits (at most 120 s) until everything is
/// acknowledged and answered. It reports what it sent to the [`Ledger`].
///
/// # Errors
/// Only errors that mean the Peer is unusable ([`PeerError::InvalidConfig`],
/// [`PeerError::Closed`], [`PeerError::MessageTooLarge`]); network failures are expected and
/// counted.
pub async fn client<P: NetworkProvider>(
    seed: u64,
    provider: P,
    topology: WorkloadTopology,
    mode: impl Into<Mode>,
    ledger: Ledger,
) -> Result<ClientStats, PeerError> {
    let scenario = Scenario::from_seed(seed);
    client_in(scenario, seed, provider, topology, mode, ledger).await
}

/// [`client`] in a given [`Scenario`] (the hostile campaign's, say) rather than the one
/// [`Scenario::from_seed`] draws.
///
/// # Errors
/// As [`client`].
pub async fn client_in<P: NetworkProvider>(
    scenario: Scenario,
    seed: u64,
    provider: P,
    topology: WorkloadTopology,
    mode: impl Into<Mode>,
    ledger: Ledger,
) -> Result<ClientStats, PeerError> {
    let mode = mode.into();
    let me = topology.name.clone();
    let reliable = mode.delivery.is_reliable();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name_hash(&me));
    let clock = provider.clock();
    let destination = format!("{}:{PORT}", topology.peer_ips[0]);
    let config = peer_config(mode);
    let (max_queue, max_message) = (config.max_queue_size, config.max_message_size);
    let mut backoff = BackoffChecker::new(&config);
    // What the Peer reads from each connection, to check that every reply read reaches us.
    let log = ReplyLog::new(&me, max_message + 64, reliable);
    let (provider, reads) = Tap::new(provider, log);
    let mut peer = Peer::try_new(provider, destination, config)?;
    peer.record_connection_events();
    let mut check = Checker::new(
        me.clone(),
        mode,
        topology.iteration_key(),
        ledger.clone(),
        scenario.reply_buffer,
    );
    let total = 200 + below(&mut rng, 200);
    let mut longest = 0;
    let mut request = Vec::new();
    // Calm networks answer within milliseconds; hostile ones may never answer.
    let patience = if scenario.calm {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(300)
    };
    // `send` never connects: connect first, so the first burst does not overflow the queue.
    absorb(&mut check, peer.reconnect().await)?;
    while check.next < total {
        if chance(&mut rng, scenario.reconnect_probability) {
            absorb(&mut check, peer.reconnect().await)?;
        }
        let burst = 1 + below(&mut rng, 32);
        for _ in 0..burst.min(total - check.next) {
            let n = check.next;
            check.next += 1;
            let fill = if scenario.large_replies && below(&mut rng, 4) == 0 {
                b'y' // the server echoes it, twelve times
            } else {
                b'x'
            };
            let padding = below(&mut rng, 1500) as usize;
            write_request(&mut request, &me, n, padding, fill);
            longest = longest.max(request.len());
            match peer.send_slice(&request).await {
                Ok(()) => check.sent(n),
                // With OverflowPolicy::Reject: the request is not sent at all. The client
                // sends the same number again after reading replies, so the numbers the
                // Peer accepts stay consecutive.
                Err(error @ PeerError::QueueFull { .. }) => {
                    sometimes_assert!("queue_overflowed", true);
                    tracing::debug!(client = %me, %error, "request not sent");
                    check.next -= 1;
                    break;
                }
                Err(error) => return Err(error),
            }
            sometimes_assert!(
                "queued_while_disconnected",
                peer.queue_size() > 0 && !peer.is_connected()
            );
            check_queue(&peer, max_queue, longest);
        }
        check
            .read(&mut peer, &clock, patience, scenario.calm)
            .await?;
        resend_handed_back(&mut peer, &mut check, &clock, patience, scenario.calm).await?;
        observe(&mut peer, &mut backoff);
    }
    let mut acknowledged = false;
    check.pause_on_oversized = false;
    if !reliable && scenario.heal_at_end {
        probe_after_heal(&mut peer, &mut check, &clock, &topology, longest).await?;
    }
    if reliable {
        acknowledged = settle(&mut peer, &mut check, &clock, scenario.calm).await?;
    } else {
        check
            .read(&mut peer, &clock, patience * 3, scenario.calm)
            .await?;
    }
    observe(&mut peer, &mut backoff);
    check_queue(&peer, max_queue, longest);
    // Replies the Peer kept from a connection that broke during the last read.
    while let Ok(Some(reply)) = peer.try_recv() {
        check.reply(&reply);
    }
    check_replies(&reads, &check.received, &me);
    check.stats.lost += check.outstanding.len() as u64;
    always_assert!(
        "calm_nothing_lost",
        !scenario.calm || check.restarted || check.stats.lost == 0,
        "{me} lost {} of {} replies on a calm network",
        check.stats.lost,
        check.stats.sent
    );
    if !reliable && chance(&mut rng, 0.5) {
        // Unreliable mode: a client that closes with requests still in the Peer. At most a
        // queue's worth, so `send` never waits (with Reject it may refuse: then it stops);
        // `close` counts what it discards as dropped.
        for _ in 0..1 + below(&mut rng, max_queue as u64) {
            let n = check.next;
            check.next += 1;
            let padding = 1000 + below(&mut rng, 500) as usize;
            write_request(&mut request, &me, n, padding, b'x');
            match peer.send_slice(&request).await {
                Ok(()) => {}
                // OverflowPolicy::Reject: the queue is already full.
                Err(PeerError::QueueFull { .. }) => break,
                Err(error) => return Err(error),
            }
            check.sent(n);
            check.stats.lost += 1;
        }
    }
    // What the overflow policy dropped; `close` may discard more (unacknowledged messages
    // the remote may have, after an unsettled end).
    let overflow_dropped = peer.metrics().messages_dropped;
    peer.close().await;
    let m = peer.metrics();
    // Each write of a message is its first, or a resend counted as such (possibly delivered).
    always_le!(
        "peer_writes_counted",
        m.messages_written,
        m.messages_queued + m.messages_resent,
        "{me}: {m:?}"
    );
    // And a resend is counted when it is written, not when it is planned.
    always_le!(
        "peer_resends_written",
        m.messages_resent,
        m.messages_written,
        "{me}: {m:?}"
    );
    ledger.client_done(
        topology.iteration_key(),
        &me,
        ClientReport {
            sent: check.stats.sent,
            written: m.messages_written,
            possibly_lost: m.messages_possibly_lost,
            dropped: m.messages_dropped,
            overflow_dropped,
            acknowledged,
            resent_after_restart: check.resent_after_restart,
        },
    );
    topology.count_messages(check.stats.sent);
    Ok(check.stats)
}

/// Reliable modes: waits until every request is acknowledged and every reply received, but
/// those of requests the Peer dropped (`reliable_settled`); true if it got there within
/// [`SETTLE`].
async fn settle<P: NetworkProvider>(
    peer: &mut Peer<P>,
    check: &mut Checker,
    clock: &P::Clock,
    calm: bool,
) -> Result<bool, PeerError> {
    let settled = clock
        .timeout(SETTLE, async {
            loop {
                let acknowledged = match peer.wait_acknowledged().await {
                    Ok(()) => true,
                    Err(error) => {
                        absorb(check, Err(error))?;
                        false
                    }
                };
                resend_handed_back(peer, check, clock, Duration::from_secs(5), calm).await?;
                if !acknowledged || !check.handed_back.is_empty() {
                    continue;
                }
                // Everything acknowledged: now the replies. After a server restart some may
                // never come (they died with it).
                let patience = if check.restarted {
                    Duration::from_secs(5)
                } else {
                    SETTLE
                };
                check.read(peer, clock, patience, calm).await?;
                if !check.handed_back.is_empty() {
                    continue; // a restart during the read: send those again, wait again
                }
                check.note_drops(peer);
                if !check.expecting() || check.restarted {
                    return Ok(());
                }
            }
        })
        .await;
    let done = matches!(settled, Ok(Ok(())));
    if let Ok(Err(error)) = settled {
        return Err(error);
    }
    // With drop-oldest, the requests still unanswered must be ones the Peer dropped.
    check.note_drops(peer);
    always_assert!(
        "reliable_settled",
        done && (check.restarted || !check.expecting()),
        "{}: {} requests unanswered after {SETTLE:?} (metrics {:?})",
        check.me,
        check.outstanding.len(),
        peer.metrics()
    );
    Ok(done)
}

/// Takes an outcome whose failure the client survives: a session restart's hand-back is
/// kept to send again ([`resend_handed_back`]); errors that make the Peer unusable are
/// returned; the rest (network failures) are expected.
fn absorb(check: &mut Checker, outcome: Result<(), PeerError>) -> Result<(), PeerError> {
    match outcome {
        Ok(()) => Ok(()),
        Err(error @ (PeerError::InvalidConfig { .. } | PeerError::Closed { .. })) => Err(error),
        Err(PeerError::SessionRestarted { unacknowledged, .. }) => {
            check.restarted_with(unacknowledged);
            Ok(())
        }
        Err(error) => {
            tracing::debug!(client = %check.me, %error, "survived");
            Ok(())
        }
    }
}

/// Exactly-once: sends again the requests a server restart handed back (the caller's choice
/// here: the server may process one twice, which the ledger allows for as many as were sent
/// again), reading replies while the queue is full.
async fn resend_handed_back<P: NetworkProvider>(
    peer: &mut Peer<P>,
    check: &mut Checker,
    clock: &P::Clock,
    patience: Duration,
    calm: bool,
) -> Result<(), PeerError> {
    while let Some(message) = check.handed_back.pop_front() {
        match peer.send(message).await {
            Ok(()) => check.resent_after_restart += 1,
            Err(PeerError::QueueFull { message, .. }) => {
                check.handed_back.push_front(message);
                check.read(peer, clock, patience, calm).await?;
                if let Ok(outcome) = clock.timeout(patience, peer.wait_acknowledged()).await {
                    absorb(check, outcome)?;
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The accounting of the Peer's queue: the messages it holds (waiting, in the write batch,
/// unacknowledged) stay within `max_queue_size` (`peer_queue_bounded`), and their bytes
/// within what that many of the longest request sent carry, none with no message
/// (`peer_queue_bytes_consistent`).
fn check_queue<P: NetworkProvider>(peer: &Peer<P>, max_queue: usize, longest: usize) {
    let (size, bytes) = (peer.queue_size(), peer.queue_bytes());
    always_le!(
        "peer_queue_bounded",
        size,
        max_queue,
        "{:?}",
        peer.metrics()
    );
    always_le!(
        "peer_queue_bytes_consistent",
        bytes,
        size * longest,
        "{:?}",
        peer.metrics()
    );
}

/// Checks the Peer's connection attempts so far against its backoff, and records its state
/// in the sometimes-assertions.
fn observe<P: NetworkProvider>(peer: &mut Peer<P>, backoff: &mut BackoffChecker) {
    backoff.check(&peer.take_connection_events());
    let m = peer.metrics();
    let reconnected = match (m.last_failure, m.last_connected) {
        (Some(failed), Some(connected)) => connected > failed,
        _ => false,
    };
    sometimes_assert!("peer_reconnected", reconnected);
    sometimes_assert!(
        "queue_overflowed",
        m.messages_dropped > 0 || m.messages_rejected > 0
    );
    sometimes_assert!("backoff_at_cap", peer.backoff_at_cap());
    sometimes_assert!("connect_timed_out", m.connection_timeouts > 0);
    sometimes_assert!("message_requeued", m.messages_requeued > 0);
    if peer.config().delivery.is_reliable() {
        sometimes_assert!("message_resent", m.messages_resent > 0);
    }
}

/// `ping <me> <n> <padding>` into `request` (one buffer reused for every request:
/// `send_slice` copies it only when it must queue).
fn write_request(request: &mut Vec<u8>, me: &str, n: u64, padding: usize, fill: u8) {
    request.clear();
    push_head(request, "ping", me, n);
    request.push(b' ');
    request.resize(request.len() + padding, fill);
}

/// FNV-1a of a workload name: mixed into the seed so each client draws its own numbers.
fn name_hash(name: &str) -> u64 {
    let mut digest = Digest::new();
    digest.fold_bytes(name.as_bytes());
    digest.value()
}
