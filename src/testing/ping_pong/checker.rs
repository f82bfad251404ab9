//! [`Checker`]: a ping-pong client's bookkeeping of requests and replies, and its
//! always-assertions on every reply.

use std::collections::{BTreeSet, VecDeque};

use super::numbers::Numbers;
use std::time::Duration;

use super::ledger::Ledger;
use super::text::parse_head;
use super::{ClientStats, Mode};
use crate::peer::{Peer, PeerError};
use crate::provider::{Clock, NetworkProvider};
use crate::{always_assert, always_le};

/// A client's bookkeeping of requests and replies.
pub(super) struct Checker {
    pub(super) me: String,
    /// A reliable mode: no reply may ever be skipped, except for a dropped request.
    pub(super) reliable: bool,
    /// A reliable mode with the drop-oldest policy ([`Mode::drops`]): replies may skip as
    /// many requests as the Peer dropped, and those are never answered.
    pub(super) drops: bool,
    /// The Peer's `messages_dropped` when last looked at ([`note_drops`](Self::note_drops)).
    pub(super) dropped: u64,
    /// Reliable drop-oldest: requests a reply skipped (each must be a dropped one).
    pub(super) skipped: u64,
    /// The server restarted (a new session epoch) at least once: at-least-once may answer a
    /// re-sent request again, and the replies the dead server had not had acknowledged are
    /// gone (the promise covers this side's messages, not a dead server's).
    pub(super) restarted: bool,
    /// The iteration's key and the campaign's ledger (to note a restart there).
    pub(super) key: u64,
    pub(super) ledger: Ledger,
    /// Exactly-once: requests handed back by a restart, to send again.
    pub(super) handed_back: VecDeque<Vec<u8>>,
    /// How many of those were sent again.
    pub(super) resent_after_restart: u64,
    /// Sent and not answered yet (nor known lost).
    pub(super) outstanding: BTreeSet<u64>,
    /// The last number answered.
    pub(super) last: Option<u64>,
    /// Every reply handed over (by number).
    pub(super) received: Numbers,
    /// `Scenario::reply_buffer`: the small buffer to receive into, if any.
    pub(super) reply_buffer: Option<Vec<u8>>,
    /// A reply too large for it waits in the Peer, this long.
    pub(super) oversized: Option<usize>,
    /// On a reply too large for the small buffer, return (the client sends its next burst
    /// with the reply held in the Peer); false at the end, where it takes it at once.
    pub(super) pause_on_oversized: bool,
    /// The number of the next request.
    pub(super) next: u64,
    pub(super) stats: ClientStats,
}

impl Checker {
    pub(super) fn new(
        me: String,
        mode: Mode,
        key: u64,
        ledger: Ledger,
        reply_buffer: Option<usize>,
    ) -> Self {
        Self {
            reply_buffer: reply_buffer.map(|len| vec![0; len]),
            oversized: None,
            pause_on_oversized: true,
            me,
            key,
            ledger,
            reliable: mode.delivery.is_reliable(),
            drops: mode.drops(),
            dropped: 0,
            skipped: 0,
            restarted: false,
            handed_back: VecDeque::new(),
            resent_after_restart: 0,
            outstanding: BTreeSet::new(),
            last: None,
            received: Numbers::default(),
            next: 0,
            stats: ClientStats::default(),
        }
    }

    /// Exactly-once: the server restarted; `unacknowledged` are the requests of unknown fate.
    /// Those still unanswered are to be sent again ([`handed_back`](Self::handed_back)); one
    /// already answered was processed, so it is not.
    pub(super) fn restarted_with(&mut self, unacknowledged: Vec<Vec<u8>>) {
        self.restarted = true;
        self.ledger.note_restart(self.key, &self.me);
        for message in unacknowledged {
            let n = parse_head(&message, b"ping").map(|(_, n)| n);
            if n.is_some_and(|n| self.outstanding.contains(&n)) {
                self.handed_back.push_back(message);
            }
        }
    }

    pub(super) fn sent(&mut self, n: u64) {
        self.outstanding.insert(n);
        self.stats.sent += 1;
    }

    /// Reliable drop-oldest: takes note of how many requests the Peer has dropped so far.
    pub(super) fn note_drops<P: NetworkProvider>(&mut self, peer: &Peer<P>) {
        if self.drops {
            self.dropped = peer.metrics().messages_dropped;
        }
    }

    /// True while a reply may still come: some request is unanswered, beyond (in the
    /// reliable drop-oldest mode) those the Peer dropped and no reply has skipped yet.
    pub(super) fn expecting(&self) -> bool {
        let unexplained = if self.drops {
            self.dropped.saturating_sub(self.skipped)
        } else {
            0
        };
        self.outstanding.len() as u64 > unexplained
    }

    /// Reads replies until none is outstanding, the connection breaks, or `patience` passes
    /// without a reply.
    pub(super) async fn read<P: NetworkProvider>(
        &mut self,
        peer: &mut Peer<P>,
        clock: &P::Clock,
        patience: Duration,
        calm: bool,
    ) -> Result<(), PeerError> {
        self.note_drops(peer);
        while self.expecting() {
            match clock.timeout(patience, self.receive(peer)).await {
                Ok(Ok(Some(reply))) => {
                    self.restarted |= self.reliable && peer.metrics().session_restarts > 0;
                    self.reply(&reply);
                }
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(error @ (PeerError::InvalidConfig { .. } | PeerError::Closed { .. }))) => {
                    return Err(error)
                }
                Ok(Err(PeerError::SessionRestarted { unacknowledged, .. })) => {
                    self.restarted_with(unacknowledged);
                    return Ok(());
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

    /// The next reply, through `recv`, or `recv_into` the small buffer; `None` when it is
    /// too small and the caller should go on (the reply stays in the Peer).
    pub(super) async fn receive<P: NetworkProvider>(
        &mut self,
        peer: &mut Peer<P>,
    ) -> Result<Option<Vec<u8>>, PeerError> {
        let Some(small) = &mut self.reply_buffer else {
            return peer.recv().await.map(Some);
        };
        let mut large;
        let buf = match self.oversized.take() {
            Some(needed) => {
                large = vec![0; needed];
                &mut large[..]
            }
            None => &mut small[..],
        };
        match peer.recv_into(buf).await {
            Ok(len) => Ok(Some(buf[..len].to_vec())),
            Err(PeerError::BufferTooSmall { needed, .. }) => {
                self.oversized = Some(needed);
                if self.pause_on_oversized {
                    Ok(None)
                } else {
                    Box::pin(self.receive(peer)).await
                }
            }
            Err(error) => Err(error),
        }
    }

    pub(super) fn reply(&mut self, reply: &[u8]) {
        // `pong <client> <n>`, then a large reply's padding, which is never scanned.
        let parsed = parse_head(reply, b"pong")
            .and_then(|(client, n)| Some((std::str::from_utf8(client).ok()?, n)));
        always_assert!(
            "reply_well_formed",
            parsed.is_some(),
            "bad reply {:.60}",
            String::from_utf8_lossy(&reply[..reply.len().min(240)])
        );
        let Some((client, n)) = parsed else { return };
        if client == self.me {
            self.received.insert(n);
        }
        always_assert!(
            "reply_for_me",
            client == self.me,
            "{} got a reply for {client}",
            self.me
        );
        if self.restarted {
            // After a server restart: a request it had processed but not acknowledged was
            // sent again and may be answered again; re-sent requests are answered after newer
            // ones; the dead server's unacknowledged replies never come.
            if self.outstanding.remove(&n) {
                self.stats.answered += 1;
                self.last = self.last.max(Some(n));
            } else {
                self.stats.duplicate_replies += 1;
            }
            return;
        }
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
        if self.drops {
            // Each request a reply skips was dropped by the queue, never sent.
            self.skipped += older.len() as u64;
            always_le!(
                "reliable_reply_skipped_a_drop",
                self.skipped,
                self.dropped,
                "{} got pong {n} before pongs {older:?}",
                self.me
            );
        } else {
            // After a server restart its unacknowledged replies died with it: only then may
            // a reliable mode skip one.
            always_assert!(
                "reliable_replies_in_sequence",
                !self.reliable || older.is_empty(),
                "{} got pong {n} before pongs {older:?}",
                self.me
            );
        }
        for lost in older {
            self.outstanding.remove(&lost);
            self.stats.lost += 1;
        }
        self.outstanding.remove(&n);
        self.last = Some(n);
        self.stats.answered += 1;
    }
}
