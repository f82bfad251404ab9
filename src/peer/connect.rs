//! The Peer's connection lifecycle: connecting under the backoff (with the session handshake
//! in the reliable modes), and dropping a connection.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use rand_chacha::rand_core::RngCore;

use super::events::ConnectionEventKind as Event;
use super::heartbeat::Heartbeat;
use super::inbox::Inbox;
use super::outbox::Resume;
use super::state::{Conn, State};
use super::wire::{self, Hello, Message, Refusal};
use super::writable::WriteSignal;
use super::{Codec, Delivery, FrameError, Peer, PeerError, PROTOCOL_VERSION};
use crate::provider::{Clock, NetworkProvider, Stream};

/// Why a connection attempt failed after the provider's connect returned.
enum Failure {
    Connect(io::Error),
    Version(u16),
    Refused(Refusal),
    Handshake(String),
}

impl<P: NetworkProvider, C: Codec> Peer<P, C> {
    /// Waits out the backoff, then connects if not connected.
    pub(super) async fn connect_waiting(&mut self) -> Result<(), PeerError> {
        if self.state.is_connected() {
            return Ok(());
        }
        let now = self.clock.now();
        self.events.push(now, Event::Wanted);
        let remaining = self.backoff.remaining(now);
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

    /// One connection attempt (and handshake), bounded by `connection_timeout`.
    pub(super) async fn connect(&mut self) -> Result<(), PeerError> {
        if matches!(self.state, State::Connecting) {
            // The previous attempt's future was dropped before it finished: count it as failed.
            self.metrics.connection_failures += 1;
        }
        let start = self.clock.now();
        self.backoff.on_attempt(start);
        self.events.push(start, Event::AttemptStarted);
        self.metrics.connection_attempts += 1;
        self.span = tracing::info_span!(
            "peer",
            destination = %self.destination,
            attempt = self.metrics.connection_attempts
        );
        self.state = State::Connecting;
        let hello = self.config.delivery.is_reliable().then(|| Hello {
            session: self.session.id,
            instance: self.session.instance,
            send_base: self
                .outbox
                .oldest_seq()
                .unwrap_or(self.session.seq.next_send()),
            recv_next: self.session.seq.recv_next(),
            resumed: false,
        });
        let tcp_connected = AtomicBool::new(false);
        let (provider, destination) = (&self.provider, &self.destination);
        let (codec, inbox) = (&mut self.codec, &mut self.inbox);
        let attempt = async {
            let mut stream = provider
                .connect(destination)
                .await
                .map_err(Failure::Connect)?;
            tcp_connected.store(true, Ordering::Relaxed);
            let reply = match &hello {
                Some(hello) => {
                    let reply = handshake(&mut stream, codec, inbox, hello).await?;
                    if reply.instance == hello.instance {
                        return Err(Failure::Handshake(
                            "the remote echoed our hello (an echo server, not a session server)"
                                .into(),
                        ));
                    }
                    Some(reply)
                }
                None => None,
            };
            Ok((stream, reply))
        };
        // buggify: an attempt that gives up early (a tenth of the timeout).
        let timeout = if crate::buggify!(0.1) {
            self.config.connection_timeout / 10
        } else {
            self.config.connection_timeout
        };
        let outcome = self.clock.timeout(timeout, attempt).await;
        let destination = self.destination.clone();
        let error = match outcome {
            Ok(Ok((stream, reply))) => {
                self.established(stream, reply);
                return Ok(());
            }
            Ok(Err(Failure::Connect(source))) => PeerError::ConnectionFailed {
                destination,
                source,
            },
            Ok(Err(Failure::Version(theirs))) => PeerError::IncompatibleVersion {
                destination,
                ours: PROTOCOL_VERSION,
                theirs,
            },
            Ok(Err(Failure::Refused(reason))) => PeerError::Refused {
                destination,
                reason,
            },
            Ok(Err(Failure::Handshake(reason))) => PeerError::Handshake {
                destination,
                reason,
            },
            Err(_) if tcp_connected.load(Ordering::Relaxed) => {
                self.metrics.connection_timeouts += 1;
                PeerError::Handshake {
                    destination,
                    reason: format!(
                        "no answer to the session hello within {timeout:?} (the remote \
                         accepted the connection: busy, stuck, or not a session server)"
                    ),
                }
            }
            Err(_) => {
                self.metrics.connection_timeouts += 1;
                PeerError::Timeout {
                    destination,
                    timeout,
                }
            }
        };
        // Bytes of a failed handshake mean nothing on the next connection.
        self.inbox.reset_frames();
        self.state = State::Idle;
        let now = self.clock.now();
        let draw = self.draw();
        let delay = self.backoff.on_failure(draw);
        self.events.push(now, Event::Failed);
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

    /// A connection is up: in the reliable modes, applies the remote's hello to the resend
    /// list and the session.
    fn established(&mut self, stream: P::Stream, reply: Option<Hello>) {
        let now = self.clock.now();
        self.backoff.on_connected(now);
        self.events.push(now, Event::Connected);
        self.metrics.connections_established += 1;
        self.metrics.last_connected = Some(now);
        if let Some(remote) = reply {
            // The remote lost the session if it says so, or if it is another incarnation: a
            // handshake this side never saw complete may have started a fresh session there,
            // which then "resumes" though it holds nothing of ours.
            let new_epoch = self
                .session
                .remote
                .is_some_and(|known| !remote.resumed || remote.instance != known);
            let exactly_once = self.config.delivery == Delivery::ExactlyOnce;
            let resume = if new_epoch {
                Resume::NewEpoch {
                    hand_back: exactly_once,
                }
            } else {
                Resume::Resumed {
                    remote_next: remote.recv_next,
                }
            };
            let out = self.outbox.resume(resume, &mut self.codec);
            self.metrics.messages_acknowledged += out.acknowledged.messages;
            self.metrics.messages_lost += out.lost;
            self.metrics.messages_possibly_lost += out.possibly_lost;
            if new_epoch {
                self.metrics.session_restarts += 1;
                self.session.seq.restart_incoming(remote.send_base);
                tracing::warn!(
                    parent: &self.span,
                    unknown_fate = out.handed_back.len() as u64 + out.resent,
                    handed_back = exactly_once,
                    "the remote restarted and lost the session (a new epoch)"
                );
                if exactly_once {
                    self.session
                        .restarted
                        .get_or_insert_with(Vec::new)
                        .extend(out.handed_back);
                }
            }
            self.session.remote = Some(remote.instance);
            self.session.seq.on_hello_sent();
        }
        self.state = State::Connected(Conn {
            stream,
            needs_flush: false,
            writable: WriteSignal::new(),
            written: 0,
            heartbeat: Heartbeat::new(
                self.config.heartbeat_interval,
                self.config.heartbeat_timeout,
                now,
            ),
        });
        tracing::info!(parent: &self.span, "connected");
    }

    /// Drops the connection because it failed; see [`drop_connection`](Self::drop_connection).
    pub(super) fn disconnect(&mut self, reason: &dyn fmt::Display) {
        self.drop_connection(reason, true);
    }

    /// Drops the connection; queued and unacknowledged messages stay, whole received ones
    /// are kept. A failure feeds the backoff and `last_failure`; a requested drop
    /// (`reconnect`) does not.
    pub(super) fn drop_connection(&mut self, reason: &dyn fmt::Display, failed: bool) {
        let State::Connected(conn) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        if self.outbox.reset() {
            self.metrics.messages_requeued += 1;
        }
        if self.config.delivery.is_reliable() {
            self.inbox.reset_frames();
        } else {
            self.inbox.reset(&mut self.codec);
            // Nothing tells which of them the remote read.
            self.metrics.messages_possibly_lost += conn.written;
        }
        drop(conn);
        let now = self.clock.now();
        self.metrics.disconnections += 1;
        let event = if failed { Event::Broke } else { Event::Closed };
        self.events.push(now, event);
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
            queued = self.queue_size(),
            next_attempt = ?delay,
            "disconnected"
        );
    }

    pub(super) fn lost(&mut self, source: io::Error) -> PeerError {
        self.disconnect(&source);
        PeerError::Io {
            destination: self.destination.clone(),
            source,
        }
    }

    pub(super) fn protocol_error(&mut self, source: FrameError) -> PeerError {
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
}

/// Sends our hello and reads the remote's; bytes after it stay in `inbox`.
async fn handshake<S: Stream, C: Codec>(
    stream: &mut S,
    codec: &mut C,
    inbox: &mut Inbox,
    hello: &Hello,
) -> Result<Hello, Failure> {
    let mut out = Vec::new();
    codec
        .encode(&wire::hello(hello), &mut out)
        .map_err(|error| Failure::Handshake(error.to_string()))?;
    stream.write_all(&out).await.map_err(Failure::Connect)?;
    stream.flush().await.map_err(Failure::Connect)?;
    let limit = codec.max_message_size().saturating_add(64 << 10);
    loop {
        let frame = inbox
            .next_frame(codec)
            .map_err(|error| Failure::Handshake(format!("not a session frame: {error}")))?;
        if let Some(range) = frame {
            let outcome = match wire::parse(inbox.frame(range)) {
                Ok(Message::Hello(reply)) => Ok(reply),
                Ok(Message::Reject { version, reason })
                    if version == PROTOCOL_VERSION && reason != Refusal::Version =>
                {
                    Err(Failure::Refused(reason))
                }
                Ok(Message::Reject { version, .. } | Message::OtherVersion(version)) => {
                    Err(Failure::Version(version))
                }
                Ok(other) => Err(Failure::Handshake(format!(
                    "expected a hello, got {other:?}"
                ))),
                Err(error) => Err(Failure::Handshake(error.to_string())),
            };
            inbox.skip_frame();
            return outcome;
        }
        if inbox.buffered() > limit {
            return Err(Failure::Handshake("no hello in the reply".into()));
        }
        let n = stream.read(inbox.spare()).await.map_err(Failure::Connect)?;
        if n == 0 {
            return Err(Failure::Handshake(
                "the remote closed the connection without answering the hello".into(),
            ));
        }
        inbox.filled(n);
    }
}
