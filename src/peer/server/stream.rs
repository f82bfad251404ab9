//! [`SessionStream`]: one accepted connection of a session.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{SessionError, SessionState};
use crate::peer::sequence::Incoming;
use crate::peer::wire::{self, Message};
use crate::peer::{FramedStream, LengthChecksumCodec};
use crate::provider::Stream;

/// Who owns a session on one connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner {
    pub session: u64,
    pub generation: u64,
    pub resumed: bool,
    pub max_unacknowledged: usize,
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
#[derive(Debug)]
pub struct SessionStream<S> {
    framed: FramedStream<S, LengthChecksumCodec>,
    state: Arc<Mutex<SessionState>>,
    owner: Owner,
    stats: SessionStats,
}

impl<S: Stream> SessionStream<S> {
    pub(super) fn new(
        framed: FramedStream<S, LengthChecksumCodec>,
        state: Arc<Mutex<SessionState>>,
        owner: Owner,
        resent: u64,
    ) -> Self {
        Self {
            framed,
            state,
            owner,
            stats: SessionStats {
                resent,
                ..SessionStats::default()
            },
        }
    }

    /// The session's identity (the Peer's [`session_id`](crate::peer::Peer::session_id)).
    pub fn session(&self) -> u64 {
        self.owner.session
    }

    /// True if the session existed before this connection (the Peer reconnected).
    pub fn resumed(&self) -> bool {
        self.owner.resumed
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
        let next = lock(&self.state, &self.owner)?.seq.take_ack();
        match next {
            Some(next) => {
                self.framed.feed(&wire::ack(next))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Receives the Peer's next message, each once and in order; `None` when the Peer closed
    /// the connection.
    ///
    /// # Errors
    /// [`SessionError::Io`] (the session survives for the Peer's next connection),
    /// [`SessionError::Protocol`], [`SessionError::Superseded`].
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, SessionError> {
        loop {
            let frame = match self.framed.recv_buffered()? {
                Some(frame) => frame,
                None => {
                    // About to wait: acknowledge what arrived.
                    if self.feed_ack()? {
                        self.framed.flush().await?;
                    }
                    match self.framed.recv().await? {
                        Some(frame) => frame,
                        None => return Ok(None),
                    }
                }
            };
            let mut state = lock(&self.state, &self.owner)?;
            match wire::parse(&frame) {
                Ok(Message::Data { seq, .. }) => match state.seq.on_data(seq) {
                    Incoming::Deliver { .. } => {
                        let urgent = state.seq.ack_urgent();
                        drop(state);
                        self.stats.received += 1;
                        if urgent {
                            self.feed_ack()?;
                        }
                        // The message is the frame without its header: no second copy.
                        let mut message = frame;
                        message.drain(..wire::DATA_HEADER_LEN);
                        return Ok(Some(message));
                    }
                    Incoming::Duplicate => self.stats.duplicates_dropped += 1,
                },
                Ok(Message::Ack { next }) => {
                    while state.resend.front().is_some_and(|(seq, _)| *seq < next) {
                        state.resend.pop_front();
                        self.stats.acknowledged += 1;
                    }
                }
                Ok(Message::Ping) => {
                    drop(state);
                    self.framed.feed(&wire::PONG_MESSAGE)?;
                    self.feed_ack()?;
                    self.framed.flush().await?;
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
    /// # Errors
    /// [`SessionError::Backlog`] (handing the message back) when the Peer has not
    /// acknowledged `max_unacknowledged` messages; [`SessionError::Superseded`];
    /// [`SessionError::Io`] (kind `InvalidInput`) for a message over the size limit.
    pub fn feed(&mut self, message: Vec<u8>) -> Result<(), SessionError> {
        let mut state = lock(&self.state, &self.owner)?;
        if state.resend.len() >= self.owner.max_unacknowledged {
            return Err(SessionError::Backlog {
                session: self.owner.session,
                max: self.owner.max_unacknowledged,
                message,
            });
        }
        let seq = state.seq.next_send();
        self.framed.feed_parts(&wire::data_header(seq), &message)?;
        state.seq.assign();
        state.resend.push_back((seq, message));
        Ok(())
    }

    /// Writes everything fed (with an acknowledgement of what arrived) and flushes.
    ///
    /// # Errors
    /// [`SessionError::Io`]; what was fed stays in the session and is re-sent on the Peer's
    /// next connection.
    pub async fn flush(&mut self) -> Result<(), SessionError> {
        self.feed_ack()?;
        self.framed.flush().await?;
        Ok(())
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

/// The session's state, unless a newer connection took it over.
fn lock<'a>(
    state: &'a Arc<Mutex<SessionState>>,
    owner: &Owner,
) -> Result<MutexGuard<'a, SessionState>, SessionError> {
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if state.generation != owner.generation {
        return Err(SessionError::Superseded {
            session: owner.session,
        });
    }
    Ok(state)
}
