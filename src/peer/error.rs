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
        /// The configured `connection_timeout`.
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
    /// The buffer given to [`receive`](super::Peer::receive) is too small; the message is kept
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

    /// True when the error means the connection is gone or could not be made, so a later call
    /// may succeed after a reconnect.
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            PeerError::ConnectionFailed { .. }
                | PeerError::Timeout { .. }
                | PeerError::Io { .. }
                | PeerError::Protocol { .. }
        )
    }
}
