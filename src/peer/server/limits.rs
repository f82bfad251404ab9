//! [`ServerLimits`]: what one [`SessionServer`](super::SessionServer) grants a client, and
//! [`FrozenClock`], the clock of a server built without one.

use std::future::Future;
use std::time::Duration;

use super::SessionError;
use crate::peer::wire::DATA_HEADER_LEN;
use crate::provider::Clock;

/// The accepting side's limits against clients that misbehave, on purpose or not. Each is
/// checked before the resource is taken: a connection over the limit is refused before a byte
/// is read, a frame header over the maximum before its payload is buffered.
///
/// Set them with [`SessionServer::with_limits`](super::SessionServer::with_limits), which
/// validates them. The deadlines run on the server's clock
/// ([`SessionServer::for_provider`](super::SessionServer::for_provider) or
/// [`clock`](super::SessionServer::clock)): virtual time in a simulation.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::peer::{ServerLimits, SessionServer};
///
/// let limits = ServerLimits { max_connections: 64, ..ServerLimits::default() };
/// let server = SessionServer::new(7).with_limits(limits).unwrap();
/// assert_eq!(server.limits().handshake_timeout, Duration::from_secs(10));
/// let bad = ServerLimits { max_buffered_bytes: 10, ..ServerLimits::default() };
/// assert!(SessionServer::new(7).with_limits(bad).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections held at once, handshaking or in a session (default 1024). One more takes
    /// the place of the oldest connection still in its handshake
    /// ([`SessionError::Displaced`] there), so a flood of silent connections cannot keep
    /// Peers out until the handshake deadline; when every place is in a session it is sent a
    /// busy reject and dropped without reading from it ([`SessionError::TooManyConnections`]).
    pub max_connections: usize,
    /// Sessions kept (default 1024). A new one over the cap evicts a session without a live
    /// connection: from the client identity holding the most sessions (sessions accepted
    /// without one count as one client), one that never carried a message first, then the
    /// least recently connected; when every session has a live connection the newcomer is
    /// refused as busy ([`SessionError::TooManySessions`]).
    pub max_sessions: usize,
    /// Sessions kept for one client identity, the one given to
    /// [`accept_with_identity`](super::SessionServer::accept_with_identity) (default 64;
    /// sessions accepted without an identity are not counted). A new one over it evicts the
    /// same identity's cheapest session without a live connection, never another client's, so
    /// a client flooding sessions cannot push out a Peer that is only disconnected for a while;
    /// when all of them have a live connection it is refused as busy
    /// ([`SessionError::TooManySessionsForIdentity`]).
    pub max_sessions_per_identity: usize,
    /// The largest message accepted, in bytes (default 1 MiB; match the Peers'
    /// `max_message_size`). A frame header announcing more is an error before its payload is
    /// read: a connection buffers at most one largest frame and one read.
    pub max_message_size: usize,
    /// Messages sent to one Peer and not acknowledged yet (default 4096): one more is handed
    /// back ([`SessionError::Backlog`]).
    pub max_unacknowledged: usize,
    /// Bytes of messages sent to one Peer and not acknowledged yet, which the session keeps
    /// to re-send (default 8 MiB; at least one largest frame): one more is handed back
    /// ([`SessionError::Backlog`]). With the read side's one frame, this bounds what a client
    /// that stops reading costs.
    pub max_buffered_bytes: usize,
    /// Time from accepting a connection to the end of the handshake (default 10 s): a client
    /// that says nothing, or trickles its hello a byte at a time, is dropped
    /// ([`SessionError::HandshakeTimeout`]).
    pub handshake_timeout: Duration,
    /// Longest time with nothing received from the Peer, counted from its last frame (not
    /// from the start of each [`SessionStream::recv`](super::SessionStream::recv), so a
    /// `recv` raced against a timer and dropped does not restart it); the `recv` running
    /// then fails with [`SessionError::Idle`] (default 60 s; reliable Peers ping every
    /// `heartbeat_interval` while their caller awaits them).
    pub idle_timeout: Duration,
    /// Longest wait for the Peer to take written bytes, in any flush (default 30 s): a client
    /// that stops reading is dropped ([`SessionError::WriteStalled`]).
    pub write_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_sessions: 1024,
            max_sessions_per_identity: 64,
            max_message_size: 1 << 20,
            max_unacknowledged: 4096,
            max_buffered_bytes: 8 << 20,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerLimits {
    /// Checks the limits.
    ///
    /// # Errors
    /// [`SessionError::InvalidConfig`]: a count of zero, a message size of zero or above what a
    /// 32-bit frame header carries, a `max_buffered_bytes` below one largest message, or a
    /// zero deadline.
    pub fn validate(&self) -> Result<(), SessionError> {
        let fail = |reason: String| Err(SessionError::InvalidConfig { reason });
        for (name, value) in [
            ("max_connections", self.max_connections),
            ("max_sessions", self.max_sessions),
            ("max_sessions_per_identity", self.max_sessions_per_identity),
            ("max_unacknowledged", self.max_unacknowledged),
        ] {
            if value == 0 {
                return fail(format!("{name} must be at least 1"));
            }
        }
        let largest = u32::MAX as usize - DATA_HEADER_LEN;
        if self.max_message_size == 0 || self.max_message_size > largest {
            return fail(format!(
                "max_message_size ({}) must be between 1 and {largest}",
                self.max_message_size
            ));
        }
        if self.max_buffered_bytes < self.max_message_size {
            return fail(format!(
                "max_buffered_bytes ({}) is below max_message_size ({})",
                self.max_buffered_bytes, self.max_message_size
            ));
        }
        for (name, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value.is_zero() {
                return fail(format!("{name} must be above zero"));
            }
        }
        Ok(())
    }
}

/// A [`Clock`] that never advances: the clock of a [`SessionServer`](super::SessionServer)
/// made with [`new`](super::SessionServer::new), whose deadlines therefore never pass. Give a
/// server that faces untrusted clients the provider's clock
/// ([`for_provider`](super::SessionServer::for_provider)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrozenClock;

impl Clock for FrozenClock {
    fn now(&self) -> Duration {
        Duration::ZERO
    }

    fn sleep(&self, _duration: Duration) -> impl Future<Output = ()> + use<> {
        futures::future::pending()
    }
}
