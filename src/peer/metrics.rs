//! [`PeerMetrics`]: what a Peer did, as plain counters.

use std::time::Duration;

/// A snapshot of a [`Peer`](super::Peer)'s counters, from [`Peer::metrics`](super::Peer::metrics).
///
/// Times are [`Clock`](crate::Clock) times: virtual time in a simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerMetrics {
    /// Connection attempts started.
    pub connection_attempts: u64,
    /// Connection attempts that succeeded.
    pub connections_established: u64,
    /// Connection attempts that failed (including timeouts). An attempt whose future was
    /// dropped (a cancelled `recv`, say) is counted when the next attempt starts.
    pub connection_failures: u64,
    /// Connection attempts that timed out (also counted in `connection_failures`).
    pub connection_timeouts: u64,
    /// Failures since the last connection that counted as healthy (drives the backoff).
    pub consecutive_failures: u32,
    /// Established connections that broke (EOF, reset, I/O or protocol error, `reconnect`).
    pub disconnections: u64,
    /// Frames from the remote that failed to decode.
    pub protocol_errors: u64,
    /// Payload bytes accepted by the stream.
    pub bytes_sent: u64,
    /// Payload bytes received in whole messages.
    pub bytes_received: u64,
    /// Messages whose last byte the stream accepted.
    pub messages_sent: u64,
    /// Whole messages received.
    pub messages_received: u64,
    /// Messages accepted into the send queue.
    pub messages_queued: u64,
    /// Messages dropped by the drop-oldest policy or discarded by `close`.
    pub messages_dropped: u64,
    /// Messages rejected with `QueueFull`.
    pub messages_rejected: u64,
    /// Messages partly written when a connection broke, to be sent again whole.
    pub messages_requeued: u64,
    /// Messages waiting in the send queue now.
    pub queue_size: usize,
    /// Bytes of payload waiting in the send queue now.
    pub queue_bytes: usize,
    /// The backoff delay that applies after the next failure.
    pub current_backoff: Duration,
    /// When the last connection was established.
    pub last_connected: Option<Duration>,
    /// When the last connection attempt failed or the last connection broke.
    pub last_failure: Option<Duration>,
}
