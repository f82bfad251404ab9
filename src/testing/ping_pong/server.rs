//! The ping-pong [`server`]: answers every ping with its pong, records what arrived in the
//! [`Ledger`], and judges each client's requests at the end of the iteration.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};

use super::ledger::{ClientId, Ledger};
use super::text::{parse_head, push_head};
use super::{Mode, PORT};
use crate::peer::{Delivery, FramedStream, SessionError, SessionServer};
use crate::provider::{Clock, Listener, NetworkProvider, Stream};
use crate::testing::WorkloadTopology;
use crate::{always_assert, always_le};

/// How long the server lets its connections finish once the clients are done.
const DRAIN: Duration = Duration::from_secs(10);

/// Reliable modes: each client's last request number in this server's sessions.
type Last = Rc<RefCell<BTreeMap<String, u64>>>;

/// The server: binds `my_ip:4500`, serves every accepted connection concurrently (answering
/// each `ping <client> <n> ...` with `pong <client> <n>`), in `mode`'s reliable deliveries
/// through one [`SessionServer`] so each client's session outlives its connections. Once the other
/// workloads are done ([`Shutdown`](crate::testing::Shutdown)) it lets its connections drain
/// (at most 10 s) and judges what each client sent against what arrived
/// ([`Ledger`]): in the reliable modes nothing lost (but what the Peer dropped, which must
/// never have arrived), duplicated (exactly-once) or reordered; in unreliable mode, every
/// loss within the Peer's `messages_possibly_lost`. The ledger keeps each iteration apart by
/// [`WorkloadTopology::iteration_key`]; the server draws nothing from the seed.
///
/// # Errors
/// Only if binding fails; broken connections just end.
pub async fn server<P: NetworkProvider>(
    _seed: u64,
    provider: P,
    topology: WorkloadTopology,
    mode: impl Into<Mode>,
    ledger: Ledger,
) -> io::Result<()> {
    let mode = mode.into();
    let delivery = mode.delivery;
    // The ledger's key for this iteration: not the seed, which concurrent iterations (a
    // seed's exploration children, a repeated seed) share.
    let key = topology.iteration_key();
    let listener = provider.bind(&format!("{}:{PORT}", topology.my_ip)).await?;
    let sessions = delivery
        .is_reliable()
        .then(|| SessionServer::new(provider.random_seed()));
    let last: Last = Rc::default();
    let mut connections: FuturesUnordered<Pin<Box<dyn Future<Output = ()>>>> =
        FuturesUnordered::new();
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
                let ledger = ledger.clone();
                connections.push(match &sessions {
                    Some(sessions) => Box::pin(serve_session(
                        sessions.clone(),
                        stream,
                        key,
                        ledger,
                        Rc::clone(&last),
                        mode.drops(),
                    )),
                    None => Box::pin(serve(FramedStream::new(stream), key, ledger)),
                });
            }
            // A failed accept ends nothing.
            Either::Left((Err(_), _)) => {}
            Either::Right((Either::Left(_), _)) => break,
            Either::Right((Either::Right(_), _)) => {}
        }
    }
    let drain = async { while connections.next().await.is_some() {} };
    let _ = provider.clock().timeout(DRAIN, drain).await;
    judge(key, delivery, &ledger);
    Ok(())
}

/// Parses `ping <client> <n> ...`, decoding only the first three fields: the padding after
/// them (up to 1,500 bytes) is never looked at, and decoding it took a tenth of the campaign.
fn parse(request: &[u8]) -> Option<(Cow<'_, str>, u64)> {
    let parsed =
        parse_head(request, b"ping").map(|(client, n)| (String::from_utf8_lossy(client), n));
    always_assert!(
        "server_request_well_formed",
        parsed.is_some(),
        "bad request {:.60}",
        String::from_utf8_lossy(&request[..request.len().min(240)])
    );
    parsed
}

/// Records `n` as `client`'s last request number; returns the one before (allocating the
/// client's name only the first time it is seen).
fn replace_last(last: &mut BTreeMap<String, u64>, client: &str, n: u64) -> Option<u64> {
    match last.get_mut(client) {
        Some(previous) => Some(std::mem::replace(previous, n)),
        None => last.insert(client.to_owned(), n),
    }
}

/// Unreliable mode: answers one connection's pings until it ends.
///
/// Checks that, on this connection, each client's request numbers are consecutive
/// (`server_requests_consecutive`). A client's Peer numbers its requests in order and loses
/// them only between connections: the overflow policy drops waiting messages only while
/// disconnected, and a frame half-written on a broken connection is sent again whole, first,
/// on the next one. So within one connection nothing may be missing: a gap there is a
/// message the simulated TCP (or the Peer) lost silently.
async fn serve<S: Stream>(mut conn: FramedStream<S>, key: u64, ledger: Ledger) {
    // Each client seen on this connection (one, unless a request is misaddressed): its
    // ledger record and its last request number.
    let mut clients: BTreeMap<String, (ClientId, Option<u64>)> = BTreeMap::new();
    let mut reply = Vec::new();
    while let Ok(Some(request)) = conn.recv_ref().await {
        let parsed = parse(request);
        let Some((client, n)) = parsed else { continue };
        if !clients.contains_key(&*client) {
            let id = ledger.client(key, &client);
            clients.insert(client.to_string(), (id, None));
        }
        let (id, last) = clients.get_mut(&*client).expect("inserted above");
        ledger.arrived_at(*id, n);
        let previous = last.replace(n);
        always_assert!(
            "server_requests_consecutive",
            previous.is_none_or(|previous| previous.checked_add(1) == Some(n)),
            "{client}'s ping {n} follows ping {previous:?} on one connection"
        );
        unreliable_reply(&mut reply, request, &client, n);
        if conn.send(&reply).await.is_err() {
            return;
        }
    }
}

/// `pong <client> <n>`; a request whose padding is of `y`s asks for it back, twelve times
/// (up to 18 KB: more than the Peer's first read chunks, so its read buffer grows and compacts).
fn unreliable_reply(reply: &mut Vec<u8>, request: &[u8], client: &str, n: u64) {
    reply.clear();
    push_head(reply, "pong", client, n);
    // The padding is everything after the third space (it has none of its own): found by
    // splitting three times, not by scanning it.
    let padding = request.splitn(4, |&byte| byte == b' ').nth(3);
    if let Some(padding) = padding.filter(|p| p.starts_with(b"y")) {
        reply.reserve(1 + 12 * padding.len());
        reply.push(b' ');
        for _ in 0..12 {
            reply.extend_from_slice(padding);
        }
    }
}

/// Reliable modes: answers one connection of a session until it ends. Each client's
/// requests must be consecutive across all its connections (`server_session_in_order`):
/// the session drops re-sent duplicates, and with
/// [`OverflowPolicy::Reject`](crate::peer::OverflowPolicy) the clients never drop a
/// request. With `gaps` (drop-oldest) they may: numbers must then only increase.
async fn serve_session<S: Stream>(
    sessions: SessionServer,
    stream: S,
    key: u64,
    ledger: Ledger,
    last: Last,
    gaps: bool,
) {
    let Ok(mut conn) = sessions.accept(stream).await else {
        return;
    };
    loop {
        let request = match conn.recv().await {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => break,
        };
        let parsed = parse(&request);
        let Some((client, n)) = parsed else { continue };
        let previous = replace_last(&mut last.borrow_mut(), &client, n);
        ledger.arrived(key, &client, n);
        // A client told of a server restart (exactly-once's `SessionRestarted`) sends the
        // requests of unknown fate again, after newer ones: the ledger judges those.
        always_assert!(
            "server_session_in_order",
            ledger.restart_noted(key, &client)
                || previous.is_none_or(|previous| if gaps {
                    n > previous
                } else {
                    previous.checked_add(1) == Some(n)
                }),
            "{client}'s ping {n} follows ping {previous:?} in its session"
        );
        let mut reply = Vec::with_capacity(16 + client.len());
        push_head(&mut reply, "pong", &client, n);
        match conn.send(reply).await {
            Ok(()) => {}
            Err(error) => {
                always_assert!(
                    "server_reply_accepted",
                    !matches!(error, SessionError::Backlog { .. }),
                    "{error}"
                );
                break;
            }
        }
    }
    always_assert!(
        "server_no_duplicates_reach_the_session",
        conn.stats().duplicates_dropped == 0,
        "the handshake's receive number should spare every re-send of a received message"
    );
}

/// Judges every client of iteration `key` that reported (see [`server`]).
fn judge(key: u64, delivery: Delivery, ledger: &Ledger) {
    for (client, judged) in ledger.judge(key) {
        let d = judged.delivered;
        let c = judged.client;
        if delivery.is_reliable() {
            // A dropped request was never written (the policy spares any the remote may
            // have): none of them arrived, and every other one did.
            always_le!(
                "reliable_dropped_never_arrived",
                d.received + c.overflow_dropped,
                d.sent + c.resent_after_restart,
                "{client}: {} requests arrived and {} were dropped",
                d.received,
                c.overflow_dropped
            );
            always_assert!(
                "reliable_nothing_lost",
                !c.acknowledged || d.lost <= c.overflow_dropped,
                "{client}: {} of {} acknowledged requests never arrived, {} dropped",
                d.lost,
                d.sent,
                c.overflow_dropped
            );
            // Only requests the client chose to send again after a restart may come late.
            always_assert!(
                "reliable_in_order",
                d.reordered <= c.resent_after_restart,
                "{client}: {} requests reordered",
                d.reordered
            );
        }
        if delivery == Delivery::ExactlyOnce {
            always_assert!(
                "exactly_once_no_duplicates",
                d.duplicated + d.reordered <= c.resent_after_restart,
                "{client}: {} requests arrived twice and {} out of order, but only {} were \
                 sent again after a server restart",
                d.duplicated,
                d.reordered,
                c.resent_after_restart
            );
        }
        if delivery == Delivery::Unreliable {
            // Each message is accepted, then written once or dropped; what never arrived
            // was written on a connection that broke (or was closed), and counted so.
            always_assert!(
                "unreliable_metrics_add_up",
                c.sent == c.written + c.dropped && d.received <= c.written,
                "{client}: sent {} != written {} + dropped {}, or received {} > written",
                c.sent,
                c.written,
                c.dropped,
                d.received
            );
            always_assert!(
                "unreliable_losses_counted",
                c.written.saturating_sub(d.received) <= c.possibly_lost,
                "{client}: {} written requests never arrived, {} counted possibly lost",
                c.written.saturating_sub(d.received),
                c.possibly_lost
            );
        }
    }
}
