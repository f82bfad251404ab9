//! [`PeerError`]: everything a Peer operation can fail with.

use std::io;
use std::time::Duration;

use super::FrameError;

/// The error of a [`Peer`](super::Peer) operation.
///
/// Every variant names the destination or the sizes involved. Where a message was not taken,
/// the error hands it back ([`into_message`](PeerError::into_message)), so nothing is lost
/// silently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A connection attempt failed (refused, unreachable, ...).
    #[error("connection to {destination} failed: {source}")]
    ConnectionFailed {
        /// The Peer's destination.
        destination: String,
        /// What the provider reported.
        #[source]
        source: io::Error,
    },
    /// A connection attempt did not finish within `connection_timeout`.
    #[error("connection to {destination} timed out after {timeout:?}")]
    Timeout {
        /// The Peer's destination.
        destination: String,
        /// How long the attempt waited: the configured `connection_timeout`, or a tenth of it
        /// when a simulation's [`buggify!`](crate::buggify!) made the attempt give up early.
        timeout: Duration,
    },
    /// The send queue is full and the overflow policy is
    /// [`Reject`](super::OverflowPolicy::Reject); the message is handed back.
    #[error("send queue to {destination} is full ({max_messages} messages / {max_bytes} bytes); message of {} bytes rejected", message.len())]
    QueueFull {
        /// The Peer's destination.
        destination: String,
        /// The configured `max_queue_size`.
        max_messages: usize,
        /// The configured `max_queue_bytes`.
        max_bytes: usize,
        /// The rejected message.
        message: Vec<u8>,
    },
    /// The Peer was closed with [`close`](super::Peer::close).
    #[error("peer for {destination} is closed")]
    Closed {
        /// The Peer's destination.
        destination: String,
    },
    /// The configuration (or the destination) is invalid.
    #[error("invalid peer configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// A message is larger than `max_message_size`; it is handed back.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The configured `max_message_size`.
        max: usize,
        /// The rejected message.
        message: Vec<u8>,
    },
    /// The codec cannot frame this message (a newline inside a line, say); it is handed back.
    #[error("message of {} bytes cannot be framed: {source}", message.len())]
    InvalidMessage {
        /// Why the codec refused it.
        #[source]
        source: FrameError,
        /// The refused message.
        message: Vec<u8>,
    },
    /// The buffer given to [`recv_into`](super::Peer::recv_into) is too small; the message is kept
    /// for the next call.
    #[error("receive buffer of {available} bytes is too small for a message of {needed} bytes")]
    BufferTooSmall {
        /// The size of the waiting message.
        needed: usize,
        /// The size of the buffer given.
        available: usize,
    },
    /// Writing is stuck because the remote waits for this side to read its messages, and the
    /// Peer already holds as many unread bytes as it may (one largest message plus a read
    /// chunk). Receive, then try again; the connection is fine and nothing was lost.
    #[error("sending to {destination} is stalled: {unread_bytes} bytes received and not yet read; receive first")]
    Stalled {
        /// The Peer's destination.
        destination: String,
        /// Bytes received and waiting for `recv`.
        unread_bytes: usize,
    },
    /// The remote sent bytes that are not a valid frame; the connection was dropped.
    #[error("protocol error from {destination}: {source}")]
    Protocol {
        /// The Peer's destination.
        destination: String,
        /// What was wrong with the frame.
        #[source]
        source: FrameError,
    },
    /// Reliable modes: the remote answered the handshake with another protocol version.
    /// Waiting will not cure it, so [`is_disconnect`](PeerError::is_disconnect) is false;
    /// the attempt still counts as a failed connection (the backoff applies), and a later
    /// call tries again, in case a server of this version has taken the remote's place.
    #[error("{destination} speaks session protocol version {theirs}, this side speaks {ours}")]
    IncompatibleVersion {
        /// The Peer's destination.
        destination: String,
        /// The version this side speaks.
        ours: u16,
        /// The version the remote speaks.
        theirs: u16,
    },
    /// Reliable modes: the remote's [`SessionServer`](super::SessionServer) refused the
    /// session: it belongs to another client ([`Refusal::SessionTaken`](super::Refusal)), or
    /// the server is at a limit ([`Refusal::Busy`](super::Refusal)). A connection failure:
    /// the backoff applies, and the queued messages stay.
    #[error("{destination} refused the session: {reason}")]
    Refused {
        /// The Peer's destination.
        destination: String,
        /// Why.
        reason: super::Refusal,
    },
    /// Reliable modes: the remote did not complete the session handshake (it closed, sent
    /// something else, or said nothing within `connection_timeout`). The reliable delivery
    /// modes need a remote that speaks the session protocol
    /// ([`SessionServer`](super::SessionServer)); use [`Delivery::Unreliable`](super::Delivery)
    /// for a foreign server. A connection failure: the backoff applies.
    #[error("session handshake with {destination} failed: {reason} (reliable delivery needs a remote that speaks the moonpool session protocol)")]
    Handshake {
        /// The Peer's destination.
        destination: String,
        /// What went wrong.
        reason: String,
    },
    /// Exactly-once mode: the remote restarted and lost the session (a new session epoch).
    /// The messages it may or may not have processed are handed back, oldest first
    /// ([`into_messages`](PeerError::into_messages)); the Peer carries on in the new session
    /// with the messages that were never written. Decide about these (send them again, or
    /// give up on them): nothing else was lost or duplicated. The list may be empty (every
    /// message written had been acknowledged): the error still says the remote's state is
    /// new. Messages sent again go behind those already queued.
    #[error("{destination} restarted and lost the session: {} message(s) written and not acknowledged may or may not have been processed", unacknowledged.len())]
    SessionRestarted {
        /// The Peer's destination.
        destination: String,
        /// The messages of unknown fate, oldest first.
        unacknowledged: Vec<Vec<u8>>,
    },
    /// Reliable modes: nothing arrived from the remote for `heartbeat_timeout`, pings
    /// included: the connection was dropped as dead (or half-open). The next call reconnects
    /// and re-sends what was not acknowledged.
    #[error("connection to {destination} dropped: nothing received for {silent_for:?}")]
    Unresponsive {
        /// The Peer's destination.
        destination: String,
        /// How long the remote had been silent.
        silent_for: Duration,
    },
    /// [`wait_acknowledged`](super::Peer::wait_acknowledged) in unreliable mode, where the
    /// remote acknowledges nothing; use [`flush`](super::Peer::flush), or a reliable mode.
    #[error("peer for {destination} is in unreliable mode: nothing is acknowledged")]
    NotReliable {
        /// The Peer's destination.
        destination: String,
    },
    /// The established connection broke: an I/O error, a reset, or end-of-file from the
    /// remote (kind [`io::ErrorKind::UnexpectedEof`]). The Peer is now disconnected and
    /// reconnects on the next call.
    #[error("connection to {destination} lost: {source}")]
    Io {
        /// The Peer's destination.
        destination: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl PeerError {
    /// Takes back the message an error carries ([`QueueFull`](PeerError::QueueFull),
    /// [`MessageTooLarge`](PeerError::MessageTooLarge),
    /// [`InvalidMessage`](PeerError::InvalidMessage)).
    pub fn into_message(self) -> Option<Vec<u8>> {
        match self {
            PeerError::QueueFull { message, .. }
            | PeerError::MessageTooLarge { message, .. }
            | PeerError::InvalidMessage { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Takes back the messages an error carries: the one of
    /// [`into_message`](PeerError::into_message), or those of
    /// [`SessionRestarted`](PeerError::SessionRestarted).
    ///
    /// # Examples
    /// ```
    /// use moonpool::PeerError;
    ///
    /// let restarted = PeerError::SessionRestarted {
    ///     destination: "10.0.0.1:4500".into(),
    ///     unacknowledged: vec![b"a".to_vec(), b"b".to_vec()],
    /// };
    /// assert_eq!(restarted.into_messages(), [b"a".to_vec(), b"b".to_vec()]);
    /// let too_large = PeerError::MessageTooLarge { size: 3, max: 2, message: b"abc".to_vec() };
    /// assert_eq!(too_large.into_messages(), [b"abc".to_vec()]);
    /// ```
    pub fn into_messages(self) -> Vec<Vec<u8>> {
        match self {
            PeerError::SessionRestarted { unacknowledged, .. } => unacknowledged,
            other => other.into_message().into_iter().collect(),
        }
    }

    /// True when the error means the connection is gone or could not be made, so a later call
    /// may succeed after a reconnect.
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            PeerError::ConnectionFailed { .. }
                | PeerError::Timeout { .. }
                | PeerError::Io { .. }
                | PeerError::Protocol { .. }
                | PeerError::Handshake { .. }
                | PeerError::Refused { .. }
                | PeerError::Unresponsive { .. }
        )
    }
}
