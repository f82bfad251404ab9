//! [`SessionStream`]: one accepted connection of a session.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::MutexGuard;
use std::task::Poll;
use std::time::Duration;

use futures::future::{select, Either};

use super::limits::{FrozenClock, ServerLimits};
use super::table::{lock_state, SessionState, Shared, Slot};
use super::SessionError;
use crate::peer::sequence::Incoming;
use crate::peer::wire::{self, Message};
use crate::peer::{FramedStream, LengthChecksumCodec};
use crate::provider::{Clock, Stream};

/// Who owns a session on one connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner {
    pub session: u128,
    pub generation: u64,
    pub resumed: bool,
}

/// A connection's hold on its session and on its place in the server's connection count;
/// dropping it detaches the session (unless a newer connection took it) and frees the place.
#[derive(Debug)]
pub(super) struct Link {
    state: Shared,
    owner: Owner,
    _slot: Slot,
}

impl Link {
    pub fn new(state: Shared, owner: Owner, slot: Slot) -> Self {
        Self {
            state,
            owner,
            _slot: slot,
        }
    }

    /// The session's state, unless a newer connection took it over.
    fn lock(&self) -> Result<MutexGuard<'_, SessionState>, SessionError> {
        let state = lock_state(&self.state);
        if state.generation != self.owner.generation {
            return Err(SessionError::Superseded {
                session: self.owner.session,
            });
        }
        Ok(state)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Ok(mut state) = self.lock() {
            state.attached = false;
        }
    }
}

/// What one [`SessionStream`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Messages received and handed to the caller (each exactly once per session).
    pub received: u64,
    /// Messages received again (re-sent by the Peer after a reconnect) and dropped.
    pub duplicates_dropped: u64,
    /// Messages of this side's the Peer acknowledged.
    pub acknowledged: u64,
    /// Messages of this side's re-sent when the connection was accepted.
    pub resent: u64,
}

/// One connection of a session, from [`SessionServer::accept`](super::SessionServer::accept):
/// receives the Peer's messages once each and in order, acknowledges them, answers pings,
/// and sends numbered messages that are kept (in the session) until the Peer acknowledges
/// them and re-sent on its next connection.
///
/// Acknowledgements go out whenever `recv` is about to wait, and with every `flush`. Keep
/// calling `recv`: it is also where pings are answered.
///
/// Its waits are bounded on the server's clock: [`ServerLimits::idle_timeout`] for `recv`
/// with nothing arriving, [`ServerLimits::write_timeout`] for every flush.
#[derive(Debug)]
pub struct SessionStream<S, K = FrozenClock> {
    framed: FramedStream<S, LengthChecksumCodec>,
    link: Link,
    limits: ServerLimits,
    clock: K,
    stats: SessionStats,
    /// When the last frame of the Peer's arrived (or the connection was accepted): the idle
    /// deadline counts from here, however many receives start and are dropped meanwhile.
    last_heard: Duration,
}

impl<S: Stream, K: Clock> SessionStream<S, K> {
    pub(super) fn new(
        framed: FramedStream<S, LengthChecksumCodec>,
        link: Link,
        limits: ServerLimits,
        clock: K,
        resent: u64,
    ) -> Self {
        Self {
            framed,
            link,
            limits,
            last_heard: clock.now(),
            clock,
            stats: SessionStats {
                resent,
                ..SessionStats::default()
            },
        }
    }

    /// The session's identity (the Peer's [`session_id`](crate::peer::Peer::session_id)).
    pub fn session(&self) -> u128 {
        self.link.owner.session
    }

    /// True if the session existed before this connection (the Peer reconnected).
    pub fn resumed(&self) -> bool {
        self.link.owner.resumed
    }

    /// The underlying stream (to read its addresses, or reset it in a test).
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    /// The underlying stream, ending this connection (the session stays in its server).
    pub fn into_inner(self) -> S {
        self.framed.into_inner()
    }

    /// What this connection did.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Feeds an acknowledgement of everything received, if one is owed.
    fn feed_ack(&mut self) -> Result<bool, SessionError> {
        let mut state = self.link.lock()?;
        let adopted = adopt(&mut self.framed, &mut state)?;
        let next = state.seq.take_ack();
        drop(state);
        match next {
            Some(next) => {
                self.framed.feed(&wire::ack(next))?;
                Ok(true)
            }
            None => Ok(adopted),
        }
    }

    /// Receives the Peer's next message, each once and in order; `None` when the Peer closed
    /// the connection.
    ///
    /// Cancel-safe: a `recv` dropped before it returns (raced against a timer or another
    /// stream in `select_biased!`) loses no message; the next call goes on where it stopped.
    /// Acknowledgements are read and pings answered only inside `recv`, so a server that
    /// also sends should keep one running beside its work rather than between two steps of
    /// it.
    ///
    /// # Errors
    /// [`SessionError::Io`] (the session survives for the Peer's next connection),
    /// [`SessionError::Protocol`] (a frame over the size limit is one, found from its
    /// header), [`SessionError::Superseded`], [`SessionError::Idle`],
    /// [`SessionError::WriteStalled`].
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, SessionError> {
        loop {
            let buffered = self.framed.recv_buffered_ref().map_err(protocol_or_io)?;
            let frame = match buffered {
                Some(frame) => frame,
                None => {
                    // About to wait: acknowledge what arrived.
                    if self.feed_ack()? {
                        self.write_out().await?;
                    }
                    let timeout = self.limits.idle_timeout;
                    let session = self.session();
                    let quiet = self.clock.now().saturating_sub(self.last_heard);
                    let left = timeout.saturating_sub(quiet);
                    let read = pin!(self.clock.timeout(left, self.framed.recv_ref()));
                    // A reply a superseded connection was given ends the wait: write it now.
                    let link = &self.link;
                    let orphaned = pin!(poll_fn(|cx| match link.lock() {
                        Ok(state) if state.orphans > 0 => Poll::Ready(()),
                        Ok(mut state) => {
                            // Each poll of the wait comes here: clone the waker only when
                            // it changed.
                            let known = state.orphan_waker.as_ref();
                            if !known.is_some_and(|w| w.will_wake(cx.waker())) {
                                state.orphan_waker = Some(cx.waker().clone());
                            }
                            Poll::Pending
                        }
                        Err(_) => Poll::Pending,
                    }));
                    let read = match select(read, orphaned).await {
                        Either::Left((read, _)) => read,
                        Either::Right(((), _)) => continue,
                    };
                    match read.map_err(|_| SessionError::Idle { session, timeout })? {
                        Ok(Some(frame)) => frame,
                        Ok(None) => return Ok(None),
                        Err(error) => return Err(protocol_or_io(error)),
                    }
                }
            };
            self.last_heard = self.clock.now();
            let mut state = self.link.lock()?;
            match wire::parse(frame) {
                Ok(Message::Data { seq, payload }) => match state.seq.on_data(seq) {
                    Incoming::Deliver { .. } => {
                        let urgent = state.seq.ack_urgent();
                        state.carried = true;
                        drop(state);
                        // The one copy: the payload out of the read buffer.
                        let message = payload.to_vec();
                        self.stats.received += 1;
                        if urgent {
                            self.feed_ack()?;
                        }
                        return Ok(Some(message));
                    }
                    Incoming::Duplicate => self.stats.duplicates_dropped += 1,
                },
                Ok(Message::Ack { next }) => self.stats.acknowledged += state.acknowledge(next),
                Ok(Message::Ping) => {
                    drop(state);
                    self.framed.feed(&wire::PONG_MESSAGE)?;
                    self.feed_ack()?;
                    self.write_out().await?;
                }
                Ok(Message::Pong) => {}
                Ok(other) => {
                    return Err(SessionError::Protocol {
                        reason: format!("unexpected {other:?} mid-session"),
                    })
                }
                Err(error) => {
                    return Err(SessionError::Protocol {
                        reason: error.to_string(),
                    })
                }
            }
        }
    }

    /// Encodes `message` into the write buffer, numbered and kept in the session until the
    /// Peer acknowledges it; [`flush`](SessionStream::flush) writes it.
    ///
    /// On a connection a newer one of the session took over (the Peer reconnected while a
    /// handler worked), the message is numbered and kept all the same, and the newer
    /// connection writes it: at once if it is waiting in `recv` (it is woken), else when it
    /// next sends, acknowledges or starts a receive. The
    /// [`flush`](SessionStream::flush) that follows says
    /// [`SessionError::Superseded`]: drop this connection, the reply is not lost.
    ///
    /// # Errors
    /// [`SessionError::Backlog`] (handing the message back) when the Peer has not
    /// acknowledged [`max_unacknowledged`](ServerLimits::max_unacknowledged) messages or
    /// [`max_buffered_bytes`](ServerLimits::max_buffered_bytes) of them;
    /// [`SessionError::Io`] (kind `InvalidInput`) for a message over the size limit.
    pub fn feed(&mut self, message: Vec<u8>) -> Result<(), SessionError> {
        // On a connection a newer one took over, the message is still numbered and kept in
        // the session: the newer connection writes it (a reply is not lost to a reconnect).
        let (mut state, live) = match self.link.lock() {
            Ok(state) => (state, true),
            Err(SessionError::Superseded { .. }) => (lock_state(&self.link.state), false),
            Err(other) => return Err(other),
        };
        if state.resend.len() >= self.limits.max_unacknowledged
            || state.resend_bytes + message.len() > self.limits.max_buffered_bytes
        {
            return Err(SessionError::Backlog {
                session: self.link.owner.session,
                max: self.limits.max_unacknowledged,
                max_bytes: self.limits.max_buffered_bytes,
                message,
            });
        }
        let seq = state.seq.next_send();
        if live {
            // What a superseded connection was given first: the Peer needs them in order.
            adopt(&mut self.framed, &mut state)?;
            self.framed.feed_parts(&wire::data_header(seq), &message)?;
        } else {
            state.orphans += 1;
            if let Some(waker) = state.orphan_waker.take() {
                waker.wake();
            }
        }
        state.seq.assign();
        state.carried = true;
        state.resend_bytes += message.len();
        state.resend.push_back((seq, message));
        Ok(())
    }

    /// Writes everything fed (with an acknowledgement of what arrived) and flushes.
    ///
    /// # Errors
    /// [`SessionError::Io`], [`SessionError::WriteStalled`]; what was fed stays in the
    /// session and is re-sent on the Peer's next connection.
    pub async fn flush(&mut self) -> Result<(), SessionError> {
        self.feed_ack()?;
        self.write_out().await
    }

    /// Flushes the write buffer within the write deadline.
    fn write_out(&mut self) -> impl Future<Output = Result<(), SessionError>> + '_ {
        let timeout: Duration = self.limits.write_timeout;
        let session = self.link.owner.session;
        let flush = self.clock.timeout(timeout, self.framed.flush());
        async move {
            match flush.await {
                Ok(result) => Ok(result?),
                Err(_) => Err(SessionError::WriteStalled { session, timeout }),
            }
        }
    }

    /// [`feed`](SessionStream::feed) then [`flush`](SessionStream::flush).
    ///
    /// # Errors
    /// As `feed` and `flush`.
    pub async fn send(&mut self, message: Vec<u8>) -> Result<(), SessionError> {
        self.feed(message)?;
        self.flush().await
    }
}

/// Feeds into `framed` the messages a superseded connection of the session was given after
/// this one took over (numbered then, kept at the end of the session's re-send queue); true
/// if there were any. Called before this connection numbers a message of its own, and
/// whenever it acknowledges, so the Peer gets them in order and without waiting long.
fn adopt<S: Stream>(
    framed: &mut FramedStream<S, LengthChecksumCodec>,
    state: &mut SessionState,
) -> Result<bool, SessionError> {
    if state.orphans == 0 {
        return Ok(false);
    }
    let from = state.resend.len().saturating_sub(state.orphans);
    state.orphans = 0;
    for (seq, message) in state.resend.iter().skip(from) {
        framed.feed_parts(&wire::data_header(*seq), message)?;
    }
    Ok(true)
}

/// A bad frame (`InvalidData`, whether found in what was buffered or in a new read) is a
/// protocol error, which ends the session's connection; any other I/O error leaves the
/// session to the Peer's next connection.
fn protocol_or_io(error: std::io::Error) -> SessionError {
    if error.kind() == std::io::ErrorKind::InvalidData {
        SessionError::Protocol {
            reason: error.to_string(),
        }
    } else {
        error.into()
    }
}
