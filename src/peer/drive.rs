//! The Peer's byte mover: between the stream and the sans-io outbox and inbox, with the
//! session protocol's acknowledgements and heartbeats in the reliable modes.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::heartbeat::Beat;
use super::sequence::Incoming;
use super::wire::{self, Message, WireError};
use super::{Codec, FrameError, Peer, PeerError};
use crate::provider::{Clock, NetworkProvider};

/// What `Peer::drive` works towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Goal {
    /// The queue has room for one more message of this many bytes.
    Room(usize),
    /// Fewer than `write_batch_bytes` encoded bytes wait to be written.
    BatchWritten,
    /// A message of this many bytes fits in the write batch: nothing waits to be written,
    /// or it would stay within `write_batch_bytes`.
    Fits(usize),
    /// Every queued message was accepted by the stream, and the stream flushed.
    Flushed,
    /// Every message sent was acknowledged by the remote (reliable modes).
    Acknowledged,
    /// A whole message was received.
    Message,
}

impl Goal {
    /// A goal of `send`'s write without waiting: it never reports a stall, and in unreliable
    /// mode it does not read (the goals that wait read for it).
    fn never_waits(self) -> bool {
        matches!(self, Goal::BatchWritten | Goal::Fits(_))
    }
}

impl<P: NetworkProvider, C: Codec> Peer<P, C> {
    /// Moves bytes until `goal` is reached or the connection breaks; in the reliable modes
    /// the heartbeat runs meanwhile.
    pub(super) async fn drive(&mut self, goal: Goal) -> Result<(), PeerError> {
        if !self.config.delivery.is_reliable() {
            return poll_fn(|cx| self.poll_drive(cx, goal)).await;
        }
        loop {
            // A Peer nobody polled finds its dead connection here, at its next call.
            self.beat()?;
            let Some(conn) = self.state.conn() else {
                return poll_fn(|cx| self.poll_drive(cx, goal)).await;
            };
            let armed = conn.heartbeat.deadline();
            let mut timer = pin!(self.clock.sleep(armed.saturating_sub(self.clock.now())));
            let outcome = poll_fn(|cx| {
                if let Poll::Ready(result) = self.poll_drive(cx, goal) {
                    return Poll::Ready(Some(result));
                }
                // A pong moved the next ping earlier than the timer: re-arm it. (Bytes that
                // move the deadline later need nothing: the early timer just re-arms.)
                if let Some(conn) = self.state.conn() {
                    if conn.heartbeat.deadline() < armed {
                        return Poll::Ready(None);
                    }
                }
                timer.as_mut().poll(cx).map(|()| None)
            })
            .await;
            if let Some(result) = outcome {
                return result;
            }
        }
    }

    /// Runs the heartbeat once: pings a quiet connection, drops a dead one.
    fn beat(&mut self) -> Result<(), PeerError> {
        let now = self.clock.now();
        let Some(conn) = self.state.conn() else {
            return Ok(());
        };
        match conn.heartbeat.check(now) {
            Beat::Wait => Ok(()),
            Beat::Ping => {
                let _ = self
                    .outbox
                    .push_control(&mut self.codec, &wire::PING_MESSAGE);
                Ok(())
            }
            Beat::Dead => {
                let silent_for = conn.heartbeat.silent_for(now);
                self.disconnect(&format_args!("nothing received for {silent_for:?}"));
                Err(PeerError::Unresponsive {
                    destination: self.destination.clone(),
                    silent_for,
                })
            }
        }
    }

    /// Writes full batches for as long as the stream takes them without waiting; returns
    /// once it would wait. `send` uses this, so it only ever waits for a full queue.
    ///
    /// When the stream is full, `send` asks it again only once it woke its writer (see
    /// [`WriteSignal`](super::writable::WriteSignal)), so a sender faster than the stream
    /// makes no write call that is sure to be refused.
    pub(super) async fn write_now(&mut self) -> Result<(), PeerError> {
        self.write_until(Goal::BatchWritten).await
    }

    /// Writes, without waiting, until `goal` (a goal about the write batch) is reached.
    pub(super) async fn write_until(&mut self, goal: Goal) -> Result<(), PeerError> {
        poll_fn(|cx| match self.poll_drive(cx, goal) {
            Poll::Pending => Poll::Ready(Ok(())),
            ready => ready,
        })
        .await
    }

    /// Most bytes held for the caller before the Peer stops reading ahead: one largest frame
    /// plus a read chunk.
    pub(super) fn read_limit(&self) -> usize {
        let max = self.codec.max_message_size();
        max.saturating_add(self.codec.overhead(max))
            .saturating_add(64 << 10)
    }

    fn reached(&mut self, goal: Goal) -> Result<bool, PeerError> {
        Ok(match goal {
            Goal::Room(extra) => !self.queue.is_full_for(extra, self.outbox.held()),
            Goal::BatchWritten => self.outbox.unwritten_len() < self.config.write_batch_bytes,
            Goal::Fits(len) => {
                let unwritten = self.outbox.unwritten_len();
                unwritten == 0 || unwritten.saturating_add(len) <= self.config.write_batch_bytes
            }
            Goal::Flushed => {
                self.queue.is_empty()
                    && self.outbox.is_empty()
                    && !self.state.conn().is_some_and(|conn| conn.needs_flush)
            }
            Goal::Acknowledged => self.queue.is_empty() && self.outbox.held().messages == 0,
            Goal::Message => self.held_message()?.is_some(),
        })
    }

    /// Moves bytes both ways until `goal` is reached or the connection breaks.
    fn poll_drive(&mut self, cx: &mut Context<'_>, goal: Goal) -> Poll<Result<(), PeerError>> {
        let reliable = self.config.delivery.is_reliable();
        let read_limit = self.read_limit();
        // A read or write that returned `Pending` registered the waker: the stream wakes the
        // task once it can go on, so this call does not try it again (each try is a system
        // call on a real socket).
        let mut read_blocked = false;
        let mut write_blocked = false;
        loop {
            // buggify: a one-message batch now and then (each message its own write).
            let batch = if crate::buggify!(0.05) {
                1
            } else {
                self.config.write_batch_bytes
            };
            self.fill(batch);
            if reliable && self.state.is_connected() {
                if let Err(error) = self.take_frames(read_limit) {
                    return Poll::Ready(Err(error));
                }
            }
            match self.reached(goal) {
                Ok(true) => {
                    if goal == Goal::Message
                        && !self.outbox.is_empty()
                        && self.state.is_connected()
                        && self.inbox.holds_only_the_next_message()
                        && !write_blocked
                    {
                        // The last reply buffered is being taken: whatever was queued goes out
                        // now (one write for all of it), so a request never waits longer than
                        // the caller takes to consume replies that had already arrived, and a
                        // pipelining caller makes one write per read, not one per message.
                        // (With more replies buffered, the receive that takes the last one
                        // writes; a receive that finds none writes before it waits.) If that
                        // write finds the connection broken, the break is reported now and the
                        // message found stays kept for the next call.
                        if let Poll::Ready(Err(error)) = self.poll_write_step(cx, goal) {
                            return Poll::Ready(Err(error));
                        }
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(false) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
            if !self.state.is_connected() {
                let error = io::Error::new(io::ErrorKind::NotConnected, "not connected");
                return Poll::Ready(Err(PeerError::Io {
                    destination: self.destination.clone(),
                    source: error,
                }));
            }
            let mut progress = if write_blocked {
                false
            } else {
                match self.poll_write_step(cx, goal) {
                    Poll::Ready(Ok(progress)) => progress,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {
                        write_blocked = true;
                        false
                    }
                }
            };
            if !reliable && goal == Goal::Message && self.inbox.buffered() > read_limit {
                let error = FrameError::TooLarge {
                    size: self.inbox.buffered(),
                    max: self.codec.max_message_size(),
                };
                return Poll::Ready(Err(self.protocol_error(error)));
            }
            // Writing is stuck and the read-ahead limit is reached: the remote waits for us to
            // take its replies, and only the caller's receive can do that. Say so rather than
            // wait forever.
            if goal != Goal::Message
                && !goal.never_waits()
                && !progress
                && self.inbox.held() >= read_limit
            {
                return Poll::Ready(Err(PeerError::Stalled {
                    destination: self.destination.clone(),
                    unread_bytes: self.inbox.held(),
                }));
            }
            // Reading while waiting for a message, in the reliable modes always (acks and
            // pings), and whenever writing is stuck before a wait: the remote may be blocked
            // writing to us, and this is also how a broken connection shows.
            let read = if reliable {
                self.inbox.held() < read_limit
            } else {
                goal == Goal::Message
                    || (!progress && !goal.never_waits() && self.inbox.held() < read_limit)
            };
            if read && !read_blocked {
                let conn = self.state.conn().expect("connected: checked above");
                let spare = self.inbox.spare();
                // buggify: a one-byte read buffer (frames arrive in pieces).
                let spare = if spare.len() > 1 && crate::buggify!(0.05) {
                    &mut spare[..1]
                } else {
                    spare
                };
                match Pin::new(&mut conn.stream).poll_read(cx, spare) {
                    Poll::Ready(Ok(0)) => {
                        let eof = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed by the remote",
                        );
                        return Poll::Ready(Err(self.lost(eof)));
                    }
                    Poll::Ready(Ok(n)) => {
                        self.inbox.filled(n);
                        if reliable {
                            let now = self.clock.now();
                            if let Some(conn) = self.state.conn() {
                                conn.heartbeat.heard(now);
                            }
                        }
                        progress = true;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(self.lost(error))),
                    Poll::Pending => read_blocked = true,
                }
            }
            if !progress && reliable {
                // About to wait: acknowledge what arrived, so the remote can free it.
                if let Some(next) = self.session.seq.take_ack() {
                    let _ = self.outbox.push_control(&mut self.codec, &wire::ack(next));
                    progress = true;
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Reliable modes: handles every whole frame received (acks, pings, data into the
    /// inbox's delivered messages) while the inbox holds less than `read_limit` for the
    /// caller.
    pub(super) fn take_frames(&mut self, read_limit: usize) -> Result<(), PeerError> {
        while self.inbox.held() < read_limit {
            let range = match self.inbox.next_frame(&mut self.codec) {
                Ok(Some(range)) => range,
                Ok(None) => break,
                Err(error) => return Err(self.protocol_error(error)),
            };
            let mut deliver = None;
            let mut reply = None;
            match wire::parse(self.inbox.frame(range)) {
                Ok(Message::Data { seq, payload }) => match self.session.seq.on_data(seq) {
                    Incoming::Deliver { .. } => deliver = Some(payload.to_vec()),
                    Incoming::Duplicate => self.metrics.duplicates_dropped += 1,
                },
                Ok(Message::Ack { next }) => {
                    let done = self.outbox.acknowledge(next);
                    self.metrics.messages_acknowledged += done.messages;
                }
                Ok(Message::Ping) => reply = Some(wire::PONG_MESSAGE),
                Ok(Message::Pong) => {}
                Ok(other) => {
                    let error = FrameError::Invalid {
                        reason: match other {
                            Message::Hello(_) | Message::OtherVersion(_) => "a hello mid-session",
                            _ => "a reject mid-session",
                        },
                    };
                    return Err(self.protocol_error(error));
                }
                Err(error) => {
                    let reason = match error {
                        WireError::BadSequence { .. } => {
                            "a data message numbered past the last number a sender may use"
                        }
                        _ => "not a session protocol message",
                    };
                    return Err(self.protocol_error(FrameError::Invalid { reason }));
                }
            }
            self.inbox.skip_frame();
            if let Some(message) = deliver {
                self.inbox.keep(message);
            }
            if let Some(reply) = reply {
                let _ = self.outbox.push_control(&mut self.codec, &reply);
            }
            if self.session.seq.ack_urgent() {
                if let Some(next) = self.session.seq.take_ack() {
                    let _ = self.outbox.push_control(&mut self.codec, &wire::ack(next));
                }
            }
        }
        Ok(())
    }

    /// One write (or flush) attempt: `Ready(Ok(true))` if bytes moved, `Pending` if the stream
    /// is full, an error if the connection broke (the Peer is then disconnected).
    fn poll_write_step(
        &mut self,
        cx: &mut Context<'_>,
        goal: Goal,
    ) -> Poll<Result<bool, PeerError>> {
        let Some(conn) = self.state.conn() else {
            return Poll::Ready(Ok(false));
        };
        if !self.outbox.is_empty() {
            if !conn.writable.is_ready() {
                // The stream refused the last write and has not woken its writer since: it
                // would refuse again. It wakes this task when it can take more.
                conn.writable.register(cx);
                return Poll::Pending;
            }
            let stream = &mut conn.stream;
            let unwritten = self.outbox.unwritten();
            match conn
                .writable
                .poll(cx, |cx| Pin::new(stream).poll_write(cx, unwritten))
            {
                Poll::Ready(Ok(0)) => Poll::Ready(Err(self.lost(io::ErrorKind::WriteZero.into()))),
                Poll::Ready(Ok(n)) => {
                    conn.needs_flush = true;
                    let done = self.outbox.advance(n);
                    conn.written += done.messages;
                    self.metrics.messages_written += done.messages;
                    self.metrics.messages_resent += done.resent;
                    self.metrics.bytes_written += done.bytes;
                    Poll::Ready(Ok(true))
                }
                Poll::Ready(Err(error)) => Poll::Ready(Err(self.lost(error))),
                Poll::Pending => Poll::Pending,
            }
        } else if conn.needs_flush && matches!(goal, Goal::Flushed | Goal::Acknowledged) {
            match Pin::new(&mut conn.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    conn.needs_flush = false;
                    Poll::Ready(Ok(true))
                }
                Poll::Ready(Err(error)) => Poll::Ready(Err(self.lost(error))),
                Poll::Pending => Poll::Pending,
            }
        } else {
            Poll::Ready(Ok(false))
        }
    }
}
