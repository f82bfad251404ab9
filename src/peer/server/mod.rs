//! The accepting side of the reliable delivery modes: [`SessionServer`] keeps each
//! connecting Peer's session across its connections, within its [`ServerLimits`];
//! [`SessionStream`] is one connection.

mod limits;
mod stream;
mod table;

pub use limits::{FrozenClock, ServerLimits};
pub use stream::{SessionStats, SessionStream};

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;

use super::wire::{self, Hello, Message, Refusal};
use super::{FramedStream, LengthChecksumCodec, PROTOCOL_VERSION};
use crate::provider::{Clock, NetworkProvider, Stream};
use table::{lock_state, Slot, Table};

/// What went wrong on the accepting side of a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The stream failed (reset, broken pipe, ...); the session survives for the Peer's next
    /// connection.
    #[error("session connection failed: {0}")]
    Io(#[from] io::Error),
    /// The connecting side speaks another protocol version; it was sent a reject naming ours.
    #[error(
        "the connecting peer speaks session protocol version {theirs}, this side speaks {ours}"
    )]
    IncompatibleVersion {
        /// The version this side speaks.
        ours: u16,
        /// The version the connecting side speaks.
        theirs: u16,
    },
    /// The connecting side did not open with a session hello (it is not a reliable-mode
    /// Peer, or closed first).
    #[error("session handshake failed: {reason}")]
    Handshake {
        /// What went wrong.
        reason: String,
    },
    /// A message mid-session that is not part of the protocol; the connection should be
    /// dropped (the Peer reconnects and re-sends what was not acknowledged).
    #[error("session protocol error: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// A newer connection of the same session took over (the Peer reconnected while this
    /// connection still looked alive): drop this one. A message fed to it is not lost: it is
    /// kept in the session and written by the newer connection.
    #[error("session {session:#034x} moved to a newer connection")]
    Superseded {
        /// The session.
        session: u128,
    },
    /// The Peer has not acknowledged `max` messages of this side's, or `max_bytes` bytes of
    /// them ([`ServerLimits::max_unacknowledged`], [`ServerLimits::max_buffered_bytes`]); the
    /// message is handed back. Receive (which acknowledges and reads acknowledgements) before
    /// sending more.
    #[error("session {session:#034x} holds {max} unacknowledged messages or {max_bytes} bytes of them; message of {} bytes refused", message.len())]
    Backlog {
        /// The session.
        session: u128,
        /// The cap on messages.
        max: usize,
        /// The cap on their bytes.
        max_bytes: usize,
        /// The refused message.
        message: Vec<u8>,
    },
    /// The limits are not valid (see [`ServerLimits::validate`]).
    #[error("invalid server limits: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// [`ServerLimits::max_connections`] connections are held, every one in a session: this
    /// one was sent a busy reject and dropped, unread.
    #[error("{max} connections held; connection refused")]
    TooManyConnections {
        /// The cap.
        max: usize,
    },
    /// [`ServerLimits::max_connections`] connections were held and this one was the oldest
    /// still in its handshake: a newer connection took its place.
    #[error(
        "{max} connections held; this one, still in its handshake, gave its place to a newer one"
    )]
    Displaced {
        /// The cap.
        max: usize,
    },
    /// [`ServerLimits::max_sessions`] sessions are held, each with a live connection: the
    /// new session was refused as busy.
    #[error("{max} sessions held, all connected; new session refused")]
    TooManySessions {
        /// The cap.
        max: usize,
    },
    /// [`ServerLimits::max_sessions_per_identity`] sessions are held for the client's
    /// identity, each with a live connection: the new session was refused as busy.
    #[error("{max} sessions held for this client identity, all connected; new session refused")]
    TooManySessionsForIdentity {
        /// The cap.
        max: usize,
    },
    /// The hello named a session this server holds for another Peer instance or another
    /// client identity: refused (a reject on the wire), and that session is untouched.
    #[error("session {session:#034x} belongs to another client; refused")]
    SessionTaken {
        /// The session the client named.
        session: u128,
    },
    /// The handshake did not end within [`ServerLimits::handshake_timeout`] (a client that
    /// says nothing, or trickles its hello).
    #[error("no session hello within {timeout:?}")]
    HandshakeTimeout {
        /// The deadline.
        timeout: Duration,
    },
    /// Nothing arrived for [`ServerLimits::idle_timeout`]; the session survives for the
    /// Peer's next connection.
    #[error("session {session:#034x}: nothing received for {timeout:?}")]
    Idle {
        /// The session.
        session: u128,
        /// The deadline.
        timeout: Duration,
    },
    /// The Peer took no written bytes for [`ServerLimits::write_timeout`] (it stopped
    /// reading); what was sent stays in the session and is re-sent on its next connection.
    #[error("session {session:#034x}: the peer took no bytes for {timeout:?}")]
    WriteStalled {
        /// The session.
        session: u128,
        /// The deadline.
        timeout: Duration,
    },
}

/// The server side of the reliable delivery modes: accepts connections from
/// [`Peer`](super::Peer)s in [`Delivery::AtLeastOnce`](super::Delivery) or
/// [`Delivery::ExactlyOnce`](super::Delivery) mode, answers their handshake, and keeps each
/// Peer's session (what arrived, what this side sent and was not acknowledged) across its
/// connections, so exactly-once holds however often the connection breaks.
///
/// Sessions live in memory: a restarted server has none, and its Peers see a new session
/// epoch (exactly-once Peers get [`PeerError::SessionRestarted`](super::PeerError)). Clones
/// share the table (and the count of connections); it is `Send + Sync` when its clock is.
///
/// Facing clients that may be hostile, it holds to its [`ServerLimits`] (connections,
/// sessions, message size, bytes kept per session, deadlines on its clock), and a session
/// belongs to the Peer that opened it: its 128-bit id is unguessable, and it is bound to that
/// Peer's incarnation and to the client identity given to
/// [`accept_with_identity`](SessionServer::accept_with_identity).
///
/// # Examples
/// ```
/// use moonpool::peer::{Delivery, Peer, PeerConfig, SessionServer};
/// use moonpool::{Listener, NetworkProvider, SimWorld};
///
/// let world = SimWorld::new(1);
/// let server_net = world.provider("10.0.0.1");
/// let client_net = world.provider("10.0.0.2");
/// let sessions = SessionServer::for_provider(&server_net);
/// let received = world.block_on(async move {
///     let listener = server_net.bind("10.0.0.1:4500").await?;
///     let config = PeerConfig { delivery: Delivery::ExactlyOnce, ..PeerConfig::default() };
///     let mut peer = Peer::new(client_net, "10.0.0.1:4500".into(), config);
///     peer.send(b"once".to_vec()).await?;
///     let server = async {
///         let (stream, _) = listener.accept().await?;
///         let mut conn = sessions.accept(stream).await?;
///         let message = conn.recv().await?;
///         conn.flush().await?; // acknowledges it now (recv would when it next waits)
///         Ok::<_, Box<dyn std::error::Error>>(message)
///     };
///     let (acked, received) = futures::join!(peer.wait_acknowledged(), server);
///     acked?;
///     received
/// });
/// assert_eq!(received.unwrap().unwrap(), Some(b"once".to_vec()));
/// ```
#[derive(Debug, Clone)]
pub struct SessionServer<K: Clock = FrozenClock> {
    table: Arc<Mutex<Table>>,
    instance: u64,
    limits: ServerLimits,
    clock: K,
}

impl SessionServer {
    /// A server process's session table, with the default [`ServerLimits`] and no clock (its
    /// deadlines never pass: prefer [`for_provider`](SessionServer::for_provider), or set one
    /// with [`clock`](SessionServer::clock)). `instance` names this incarnation of the
    /// process (draw it at random, e.g. from
    /// [`NetworkProvider::random_seed`](crate::NetworkProvider)): the Peers tell a restart by
    /// it.
    pub fn new(instance: u64) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table::default())),
            instance,
            limits: ServerLimits::default(),
            clock: FrozenClock,
        }
    }
}

impl<K: Clock> SessionServer<K> {
    /// A server process's session table on `provider`: its instance drawn from the provider's
    /// seeded source, its deadlines on the provider's clock (virtual time in a simulation),
    /// the default [`ServerLimits`].
    pub fn for_provider<P: NetworkProvider<Clock = K>>(provider: &P) -> Self {
        SessionServer::new(provider.random_seed()).clock(provider.clock())
    }

    /// The same table and limits, timing its deadlines on `clock`.
    #[must_use]
    pub fn clock<K2: Clock>(self, clock: K2) -> SessionServer<K2> {
        SessionServer {
            table: self.table,
            instance: self.instance,
            limits: self.limits,
            clock,
        }
    }

    /// Sets every limit at once.
    ///
    /// # Errors
    /// [`SessionError::InvalidConfig`] (see [`ServerLimits::validate`]).
    pub fn with_limits(mut self, limits: ServerLimits) -> Result<Self, SessionError> {
        limits.validate()?;
        self.limits = limits;
        Ok(self)
    }

    /// The limits in force.
    pub fn limits(&self) -> ServerLimits {
        self.limits
    }

    /// Keeps at most `max` sessions (at least 1); see [`ServerLimits::max_sessions`].
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.limits.max_sessions = max.max(1);
        self
    }

    /// Accepts messages up to `max` bytes (match the Peers' `max_message_size`), raising
    /// `max_buffered_bytes` to it if below; see [`ServerLimits::max_message_size`].
    #[must_use]
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.limits.max_message_size = max.clamp(1, u32::MAX as usize - wire::DATA_HEADER_LEN);
        self.limits.max_buffered_bytes = self
            .limits
            .max_buffered_bytes
            .max(self.limits.max_message_size);
        self
    }

    /// Refuses to send more than `max` messages a Peer has not acknowledged (at least 1).
    #[must_use]
    pub fn max_unacknowledged(mut self, max: usize) -> Self {
        self.limits.max_unacknowledged = max.max(1);
        self
    }

    /// Sessions held now.
    pub fn sessions(&self) -> usize {
        self.lock().len()
    }

    /// Connections held now: handshaking, or in a session whose [`SessionStream`] is alive.
    pub fn connections(&self) -> usize {
        self.lock().connections()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers the handshake on an accepted `stream`: resumes the Peer's session or starts
    /// one, and re-sends what the Peer had not acknowledged. The same as
    /// [`accept_with_identity`](SessionServer::accept_with_identity) without an identity.
    ///
    /// # Errors
    /// As [`accept_with_identity`](SessionServer::accept_with_identity).
    pub async fn accept<S: Stream>(&self, stream: S) -> Result<SessionStream<S, K>, SessionError> {
        self.accept_with_identity(stream, None).await
    }

    /// Answers the handshake on an accepted `stream` from a client whose identity is
    /// `identity` (opaque bytes: under TLS, say, the fingerprint of the client's certificate;
    /// `None` without one). A new session is bound to the identity and to the Peer's
    /// incarnation; a hello naming a held session from another identity or incarnation is
    /// refused, and that session is untouched.
    ///
    /// Within [`ServerLimits`]: a connection over `max_connections` takes the place of the
    /// oldest one still in its handshake, or is refused before a byte is read when every
    /// place is in a session; the handshake must end within `handshake_timeout`.
    ///
    /// # Errors
    /// [`SessionError::TooManyConnections`], [`SessionError::Displaced`],
    /// [`SessionError::TooManySessions`], [`SessionError::TooManySessionsForIdentity`],
    /// [`SessionError::SessionTaken`] (each sent a reject naming the reason),
    /// [`SessionError::IncompatibleVersion`] (sent a reject naming our version),
    /// [`SessionError::HandshakeTimeout`], [`SessionError::Handshake`] for anything but a
    /// hello (a frame over the size limit is one, found from its header),
    /// [`SessionError::Io`].
    pub async fn accept_with_identity<S: Stream>(
        &self,
        stream: S,
        identity: Option<&[u8]>,
    ) -> Result<SessionStream<S, K>, SessionError> {
        let max_frame = self
            .limits
            .max_message_size
            .saturating_add(wire::DATA_HEADER_LEN);
        let mut framed = FramedStream::with_codec(stream, LengthChecksumCodec::new(max_frame));
        let Some(admitted) = self.lock().admit(self.limits.max_connections) else {
            // Best effort, without waiting: the client learns why if its socket takes it.
            if framed.feed(&wire::reject(Refusal::Busy)).is_ok() {
                let _ = framed.flush().now_or_never();
            }
            tracing::debug!(max = self.limits.max_connections, "connection refused");
            return Err(SessionError::TooManyConnections {
                max: self.limits.max_connections,
            });
        };
        let ticket = admitted.ticket;
        let timeout = self.limits.handshake_timeout;
        let handshake = self
            .clock
            .timeout(timeout, self.handshake(framed, identity, admitted.slot));
        let outcome = futures::select_biased! {
            outcome = handshake.fuse() => match outcome {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::debug!(?timeout, "handshake timed out");
                    Err(SessionError::HandshakeTimeout { timeout })
                }
            },
            displaced = admitted.displaced.fuse() => match displaced {
                Ok(()) => {
                    tracing::debug!("handshake displaced by a newer connection");
                    Err(SessionError::Displaced {
                        max: self.limits.max_connections,
                    })
                }
                Err(_) => unreachable!("the table keeps the sender until handshake_over"),
            },
        };
        self.lock().handshake_over(ticket);
        outcome
    }

    async fn handshake<S: Stream>(
        &self,
        mut framed: FramedStream<S, LengthChecksumCodec>,
        identity: Option<&[u8]>,
        slot: Slot,
    ) -> Result<SessionStream<S, K>, SessionError> {
        let first = match framed.recv().await {
            Ok(Some(first)) => first,
            Ok(None) => {
                return Err(SessionError::Handshake {
                    reason: "the connection closed before a hello".into(),
                })
            }
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                return Err(SessionError::Handshake {
                    reason: format!("not a session frame: {error}"),
                })
            }
            Err(error) => return Err(error.into()),
        };
        let hello = match wire::parse(&first) {
            Ok(Message::Hello(hello)) => hello,
            Ok(Message::OtherVersion(theirs)) => {
                framed.feed(&wire::reject(Refusal::Version))?;
                framed.flush().await?;
                return Err(SessionError::IncompatibleVersion {
                    ours: PROTOCOL_VERSION,
                    theirs,
                });
            }
            Ok(other) => {
                return Err(SessionError::Handshake {
                    reason: format!("expected a hello, got {other:?}"),
                })
            }
            Err(error) => {
                return Err(SessionError::Handshake {
                    reason: error.to_string(),
                })
            }
        };
        let found = self.lock().session_for(&hello, identity, &self.limits);
        let (state, resumed) = match found {
            Ok(found) => found,
            Err(error) => {
                let refusal = match error {
                    SessionError::SessionTaken { .. } => Refusal::SessionTaken,
                    _ => Refusal::Busy,
                };
                framed.feed(&wire::reject(refusal))?;
                framed.flush().await?;
                tracing::debug!(session = hello.session, %refusal, "session refused");
                return Err(error);
            }
        };
        let (generation, reply, resend) = {
            let mut s = lock_state(&state);
            s.generation += 1;
            s.attached = true;
            s.acknowledge(hello.recv_next);
            let reply = Hello {
                session: hello.session,
                instance: self.instance,
                send_base: s.resend.front().map_or(s.seq.next_send(), |(seq, _)| *seq),
                recv_next: s.seq.recv_next(),
                resumed,
            };
            s.seq.on_hello_sent();
            // Everything kept is written below, the orphans of a superseded connection too.
            s.orphans = 0;
            (s.generation, reply, s.resend.clone())
        };
        let owner = stream::Owner {
            session: hello.session,
            generation,
            resumed,
        };
        // From here the connection owns the session: dropping it (a failed write, the
        // deadline) detaches it.
        let link = stream::Link::new(state, owner, slot);
        framed.feed(&wire::hello(&reply))?;
        for (seq, message) in &resend {
            framed.feed_parts(&wire::data_header(*seq), message)?;
        }
        framed.flush().await?;
        tracing::debug!(
            session = hello.session,
            resumed,
            resent = resend.len(),
            "session accepted"
        );
        Ok(SessionStream::new(
            framed,
            link,
            self.limits,
            self.clock.clone(),
            resend.len() as u64,
        ))
    }
}
