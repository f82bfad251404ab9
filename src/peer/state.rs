//! The Peer's connection lifecycle as one enum whose variants carry their own data, and the
//! reliable modes' session that outlives connections.

use super::heartbeat::Heartbeat;
use super::sequence::Sequencer;
use super::writable::WriteSignal;

/// Where a Peer's connection stands. Each variant holds exactly the data that exists in it,
/// so an impossible combination (a flush pending without a stream, a closed Peer with a
/// connection) cannot be written down.
pub(super) enum State<S> {
    /// No connection; the backoff says when the next attempt may start.
    Idle,
    /// An attempt is running inside a caller's await. If that future is dropped, the state
    /// stays here and the next attempt counts this one as failed.
    Connecting,
    /// Connected (and, in the reliable modes, the handshake done).
    Connected(Conn<S>),
    /// Closed by `close`: final.
    Closed,
    /// The configuration or destination is invalid (the reason, without prefix): final.
    Invalid(String),
}

/// An established connection and what belongs to it alone.
pub(super) struct Conn<S> {
    pub stream: S,
    /// Bytes were written since the last flush of the stream.
    pub needs_flush: bool,
    /// Whether the stream, after refusing a write, has said it takes more: `send` asks it
    /// again only then.
    pub writable: WriteSignal,
    /// Data messages written on this connection (unreliable mode counts them possibly lost
    /// if it breaks).
    pub written: u64,
    /// Reliable modes: the failure detector.
    pub heartbeat: Heartbeat,
}

impl<S> State<S> {
    /// The connection, if connected.
    #[inline]
    pub fn conn(&mut self) -> Option<&mut Conn<S>> {
        match self {
            State::Connected(conn) => Some(conn),
            _ => None,
        }
    }

    /// True if connected.
    #[inline]
    pub fn is_connected(&self) -> bool {
        matches!(self, State::Connected(_))
    }
}

/// The reliable modes' session with the remote: it outlives connections.
#[derive(Debug)]
pub(super) struct Session {
    /// 128 bits drawn from the seeded source when the Peer is made; names the session to
    /// the remote.
    pub id: u128,
    /// This Peer's incarnation, drawn apart from `id`: the remote binds the session to it, so
    /// a client that learned the id (from a log, say) cannot take the session over.
    pub instance: u64,
    /// Numbers sent and received.
    pub seq: Sequencer,
    /// The remote's incarnation as of the last handshake (`None` before the first).
    pub remote: Option<u64>,
    /// Exactly-once: messages of unknown fate after the remote restarted, not yet reported.
    pub restarted: Option<Vec<Vec<u8>>>,
}

impl Session {
    pub fn new(id: u128, instance: u64) -> Self {
        Self {
            id,
            instance,
            seq: Sequencer::default(),
            remote: None,
            restarted: None,
        }
    }
}
