//! The Peer's connection machinery: connecting under the backoff, dropping a broken
//! connection, and moving bytes between the stream and the sans-io outbox and inbox.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use rand_chacha::rand_core::RngCore;

use super::{Codec, FrameError, Peer, PeerError};
use crate::provider::{Clock, NetworkProvider};

/// What `Peer::drive` works towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Goal {
    /// The queue has room for one more message of this many bytes.
    Room(usize),
    /// Fewer than `write_batch_bytes` encoded bytes wait to be written.
    BatchWritten,
    /// Every queued message was accepted by the stream, and the stream flushed.
    Flushed,
    /// A whole message was received.
    Message,
}

impl<P: NetworkProvider, C: Codec> Peer<P, C> {
    /// Waits out the backoff, then connects if not connected.
    pub(super) async fn connect_waiting(&mut self) -> Result<(), PeerError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let remaining = self.backoff.remaining(self.clock.now());
        if !remaining.is_zero() {
            tracing::debug!(
                parent: &self.span,
                wait = ?remaining,
                "waiting before reconnecting"
            );
            self.clock.sleep(remaining).await;
        }
        self.connect().await
    }

    /// One connection attempt, bounded by `connection_timeout`.
    pub(super) async fn connect(&mut self) -> Result<(), PeerError> {
        if self.attempt_in_progress {
            // The previous attempt's future was dropped before it finished: count it as failed.
            self.metrics.connection_failures += 1;
        }
        let start = self.clock.now();
        self.backoff.on_attempt(start);
        self.metrics.connection_attempts += 1;
        self.span = tracing::info_span!(
            "peer",
            destination = %self.destination,
            attempt = self.metrics.connection_attempts
        );
        self.attempt_in_progress = true;
        let attempt = self.provider.connect(&self.destination);
        let outcome = self
            .clock
            .timeout(self.config.connection_timeout, attempt)
            .await;
        self.attempt_in_progress = false;
        let error = match outcome {
            Ok(Ok(stream)) => {
                let now = self.clock.now();
                self.conn = Some(stream);
                self.backoff.on_connected(now);
                self.metrics.connections_established += 1;
                self.metrics.last_connected = Some(now);
                tracing::info!(parent: &self.span, "connected");
                return Ok(());
            }
            Ok(Err(source)) => PeerError::ConnectionFailed {
                destination: self.destination.clone(),
                source,
            },
            Err(_) => {
                self.metrics.connection_timeouts += 1;
                PeerError::Timeout {
                    destination: self.destination.clone(),
                    timeout: self.config.connection_timeout,
                }
            }
        };
        let now = self.clock.now();
        let draw = self.draw();
        let delay = self.backoff.on_failure(draw);
        self.metrics.connection_failures += 1;
        self.metrics.last_failure = Some(now);
        tracing::info!(
            parent: &self.span,
            %error,
            next_attempt = ?delay,
            "connection attempt failed"
        );
        Err(error)
    }

    /// Drops the connection because it failed; see [`drop_connection`](Self::drop_connection).
    pub(super) fn disconnect(&mut self, reason: &dyn fmt::Display) {
        self.drop_connection(reason, true);
    }

    /// Drops the connection; queued messages stay, whole received ones are kept. A failure
    /// feeds the backoff and `last_failure`; a requested drop (`reconnect`) does not.
    pub(super) fn drop_connection(&mut self, reason: &dyn fmt::Display, failed: bool) {
        self.conn = None;
        self.write_again_at = 0;
        self.needs_flush = false;
        if self.outbox.reset() {
            self.metrics.messages_requeued += 1;
        }
        self.inbox.reset(&mut self.codec);
        let now = self.clock.now();
        self.metrics.disconnections += 1;
        let delay = if failed {
            let draw = self.draw();
            self.metrics.last_failure = Some(now);
            self.backoff.on_disconnected(now, draw)
        } else {
            self.backoff.on_closed(now)
        };
        tracing::info!(
            parent: &self.span,
            %reason,
            queued = self.queue.len(),
            next_attempt = ?delay,
            "disconnected"
        );
    }

    fn lost(&mut self, source: io::Error) -> PeerError {
        self.disconnect(&source);
        PeerError::Io {
            destination: self.destination.clone(),
            source,
        }
    }

    fn protocol_error(&mut self, source: FrameError) -> PeerError {
        self.metrics.protocol_errors += 1;
        self.disconnect(&source);
        PeerError::Protocol {
            destination: self.destination.clone(),
            source,
        }
    }

    pub(super) fn draw(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) async fn drive(&mut self, goal: Goal) -> Result<(), PeerError> {
        poll_fn(|cx| self.poll_drive(cx, goal)).await
    }

    /// Writes full batches for as long as the stream takes them without waiting; returns
    /// once it would wait. `send` uses this, so it only ever waits for a full queue.
    ///
    /// When the stream is full, the next attempt waits for another batch of encoded bytes, so
    /// a fast sender makes one write call per batch, not one per message.
    pub(super) async fn write_now(&mut self) -> Result<(), PeerError> {
        let result = poll_fn(|cx| match self.poll_drive(cx, Goal::BatchWritten) {
            Poll::Pending => Poll::Ready(Ok(())),
            ready => ready,
        })
        .await;
        let unwritten = self.outbox.unwritten_len();
        self.write_again_at = if unwritten >= self.config.write_batch_bytes {
            unwritten.saturating_add(self.config.write_batch_bytes)
        } else {
            0
        };
        result
    }

    /// Most bytes held for the caller before the Peer stops reading ahead: one largest frame
    /// plus a read chunk.
    fn read_limit(&self) -> usize {
        let max = self.codec.max_message_size();
        max.saturating_add(self.codec.overhead(max))
            .saturating_add(64 << 10)
    }

    /// Moves bytes both ways until `goal` is reached or the connection breaks.
    fn poll_drive(&mut self, cx: &mut Context<'_>, goal: Goal) -> Poll<Result<(), PeerError>> {
        let batch = self.config.write_batch_bytes;
        let read_limit = self.read_limit();
        loop {
            if let Err((error, _message)) =
                self.outbox.fill(&mut self.queue, &mut self.codec, batch)
            {
                self.metrics.messages_dropped += 1;
                tracing::warn!(
                    parent: &self.span,
                    %error,
                    "dropped a message the codec cannot encode"
                );
                continue;
            }
            let reached = match goal {
                Goal::Room(extra) => !self.queue.is_full_for(extra),
                Goal::BatchWritten => self.outbox.unwritten_len() < batch,
                Goal::Flushed => self.queue.is_empty() && !self.needs_flush,
                Goal::Message => match self.inbox.poll_message(&mut self.codec) {
                    Ok(found) => found.is_some(),
                    Err(error) => return Poll::Ready(Err(self.protocol_error(error))),
                },
            };
            if reached {
                if goal == Goal::Message && !self.outbox.is_empty() && self.conn.is_some() {
                    // Whatever was queued before this receive goes out now, so a request is
                    // never held back behind a reply that was already buffered. If that
                    // write finds the connection broken, the break is reported now and the
                    // message found stays kept for the next call.
                    if let Poll::Ready(Err(error)) = self.poll_write_step(cx, goal) {
                        return Poll::Ready(Err(error));
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if self.conn.is_none() {
                let error = io::Error::new(io::ErrorKind::NotConnected, "not connected");
                return Poll::Ready(Err(PeerError::Io {
                    destination: self.destination.clone(),
                    source: error,
                }));
            }
            let mut progress = match self.poll_write_step(cx, goal) {
                Poll::Ready(Ok(progress)) => progress,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => false,
            };
            if goal == Goal::Message && self.inbox.buffered() > read_limit {
                let error = FrameError::TooLarge {
                    size: self.inbox.buffered(),
                    max: self.codec.max_message_size(),
                };
                return Poll::Ready(Err(self.protocol_error(error)));
            }
            // Writing is stuck and the read-ahead limit is reached: the remote waits for us to
            // take its replies, and only the caller's receive can do that. Say so rather than
            // wait forever.
            if matches!(goal, Goal::Room(_) | Goal::Flushed)
                && !progress
                && self.inbox.held() >= read_limit
            {
                return Poll::Ready(Err(PeerError::Stalled {
                    destination: self.destination.clone(),
                    unread_bytes: self.inbox.held(),
                }));
            }
            // Reading while waiting for a message, and whenever writing is stuck: the remote may
            // be blocked writing to us, and this is also how a broken connection shows.
            if goal == Goal::Message || (!progress && self.inbox.held() < read_limit) {
                let stream = self.conn.as_mut().expect("connected: checked above");
                match Pin::new(stream).poll_read(cx, self.inbox.spare()) {
                    Poll::Ready(Ok(0)) => {
                        let eof = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed by the remote",
                        );
                        return Poll::Ready(Err(self.lost(eof)));
                    }
                    Poll::Ready(Ok(n)) => {
                        self.inbox.filled(n);
                        progress = true;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(self.lost(error))),
                    Poll::Pending => {}
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// One write (or flush) attempt: `Ready(Ok(true))` if bytes moved, `Pending` if the stream
    /// is full, an error if the connection broke (the Peer is then disconnected).
    fn poll_write_step(
        &mut self,
        cx: &mut Context<'_>,
        goal: Goal,
    ) -> Poll<Result<bool, PeerError>> {
        let Some(stream) = self.conn.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        if !self.outbox.is_empty() {
            match Pin::new(&mut *stream).poll_write(cx, self.outbox.unwritten()) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(self.lost(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(n)) => {
                    let sent = self.outbox.advance(n, &mut self.queue);
                    self.metrics.messages_sent += sent.messages;
                    self.metrics.bytes_sent += sent.bytes;
                    self.needs_flush = true;
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.lost(error))),
                Poll::Pending => return Poll::Pending,
            }
        } else if self.needs_flush && goal == Goal::Flushed {
            match Pin::new(&mut *stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.needs_flush = false;
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.lost(error))),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(false))
    }
}
