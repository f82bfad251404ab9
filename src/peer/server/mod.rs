//! The accepting side of the reliable delivery modes: [`SessionServer`] keeps each
//! connecting Peer's session across its connections; [`SessionStream`] is one connection.

mod stream;

pub use stream::{SessionStats, SessionStream};

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use super::sequence::Sequencer;
use super::wire::{self, Hello, Message};
use super::{FramedStream, LengthChecksumCodec, PROTOCOL_VERSION};
use crate::provider::Stream;

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
    /// connection still looked alive): drop this one.
    #[error("session {session:#018x} moved to a newer connection")]
    Superseded {
        /// The session.
        session: u64,
    },
    /// The Peer has not acknowledged `max` messages of this side's; the message is handed
    /// back. Receive (which acknowledges and reads acknowledgements) before sending more.
    #[error("session {session:#018x} holds {max} unacknowledged messages; message of {} bytes refused", message.len())]
    Backlog {
        /// The session.
        session: u64,
        /// The configured cap.
        max: usize,
        /// The refused message.
        message: Vec<u8>,
    },
}

/// One session's state: it outlives connections.
#[derive(Debug)]
struct SessionState {
    seq: Sequencer,
    /// Messages sent to the Peer and not acknowledged yet, oldest first.
    resend: VecDeque<(u64, Vec<u8>)>,
    /// The connection that owns the session now.
    generation: u64,
    /// When the session was last accepted (for eviction: least recent goes first).
    last_used: u64,
}

#[derive(Debug)]
struct Table {
    sessions: BTreeMap<u64, Arc<Mutex<SessionState>>>,
    tick: u64,
}

/// The server side of the reliable delivery modes: accepts connections from
/// [`Peer`](super::Peer)s in [`Delivery::AtLeastOnce`](super::Delivery) or
/// [`Delivery::ExactlyOnce`](super::Delivery) mode, answers their handshake, and keeps each
/// Peer's session (what arrived, what this side sent and was not acknowledged) across its
/// connections, so exactly-once holds however often the connection breaks.
///
/// Sessions live in memory: a restarted server has none, and its Peers see a new session
/// epoch (exactly-once Peers get [`PeerError::SessionRestarted`](super::PeerError)). Clones
/// share the table; it is `Send + Sync`. At most [`max_sessions`](SessionServer::max_sessions)
/// are kept, the least recently connected forgotten first.
///
/// # Examples
/// ```
/// use moonpool::peer::{Delivery, Peer, PeerConfig, SessionServer};
/// use moonpool::{Listener, NetworkProvider, SimWorld};
///
/// let world = SimWorld::new(1);
/// let server_net = world.provider("10.0.0.1");
/// let client_net = world.provider("10.0.0.2");
/// let sessions = SessionServer::new(server_net.random_seed());
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
pub struct SessionServer {
    table: Arc<Mutex<Table>>,
    instance: u64,
    max_sessions: usize,
    max_message_size: usize,
    max_unacknowledged: usize,
}

impl SessionServer {
    /// A server process's session table. `instance` names this incarnation of the process
    /// (draw it at random, e.g. from [`NetworkProvider::random_seed`](crate::NetworkProvider)):
    /// the Peers tell a restart by it. Defaults: 1024 sessions, 1 MiB messages, 4096
    /// unacknowledged messages per session.
    pub fn new(instance: u64) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table {
                sessions: BTreeMap::new(),
                tick: 0,
            })),
            instance,
            max_sessions: 1024,
            max_message_size: 1 << 20,
            max_unacknowledged: 4096,
        }
    }

    /// Keeps at most `max` sessions (at least 1).
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// Accepts messages up to `max` bytes (match the Peers' `max_message_size`).
    #[must_use]
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// Refuses to send more than `max` messages a Peer has not acknowledged (at least 1).
    #[must_use]
    pub fn max_unacknowledged(mut self, max: usize) -> Self {
        self.max_unacknowledged = max.max(1);
        self
    }

    /// Sessions held now.
    pub fn sessions(&self) -> usize {
        self.lock().sessions.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers the handshake on an accepted `stream`: resumes the Peer's session or starts
    /// one, and re-sends what the Peer had not acknowledged.
    ///
    /// Waits for the Peer's hello; bound it with a timeout against clients that say nothing.
    ///
    /// # Errors
    /// [`SessionError::IncompatibleVersion`] (the Peer was sent a reject),
    /// [`SessionError::Handshake`] for anything but a hello, [`SessionError::Io`].
    pub async fn accept<S: Stream>(&self, stream: S) -> Result<SessionStream<S>, SessionError> {
        let codec =
            LengthChecksumCodec::new(self.max_message_size.saturating_add(wire::DATA_HEADER_LEN));
        let mut framed = FramedStream::with_codec(stream, codec);
        let Some(first) = framed.recv().await? else {
            return Err(SessionError::Handshake {
                reason: "the connection closed before a hello".into(),
            });
        };
        let hello = match wire::parse(&first) {
            Ok(Message::Hello(hello)) => hello,
            Ok(Message::OtherVersion(theirs)) => {
                framed.feed(&wire::reject())?;
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
        let (state, resumed) = self.session_for(&hello);
        let (generation, reply, resend) = {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            s.generation += 1;
            while s
                .resend
                .front()
                .is_some_and(|(seq, _)| *seq < hello.recv_next)
            {
                s.resend.pop_front();
            }
            let reply = Hello {
                session: hello.session,
                instance: self.instance,
                send_base: s.resend.front().map_or(s.seq.next_send(), |(seq, _)| *seq),
                recv_next: s.seq.recv_next(),
                resumed,
            };
            s.seq.on_hello_sent();
            (s.generation, reply, s.resend.clone())
        };
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
            state,
            stream::Owner {
                session: hello.session,
                generation,
                resumed,
                max_unacknowledged: self.max_unacknowledged,
            },
            resend.len() as u64,
        ))
    }

    /// The session `hello` names, created if unknown; and whether it existed.
    fn session_for(&self, hello: &Hello) -> (Arc<Mutex<SessionState>>, bool) {
        let mut table = self.lock();
        table.tick += 1;
        let tick = table.tick;
        if let Some(state) = table.sessions.get(&hello.session) {
            let state = Arc::clone(state);
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .last_used = tick;
            return (state, true);
        }
        if table.sessions.len() >= self.max_sessions {
            let oldest = table
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.lock().unwrap_or_else(PoisonError::into_inner).last_used)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                table.sessions.remove(&id);
            }
        }
        let mut seq = Sequencer::default();
        // Whatever the Peer still holds starts the numbering here.
        seq.restart_incoming(hello.send_base);
        let state = Arc::new(Mutex::new(SessionState {
            seq,
            resend: VecDeque::new(),
            generation: 0,
            last_used: tick,
        }));
        table.sessions.insert(hello.session, Arc::clone(&state));
        (state, false)
    }
}
