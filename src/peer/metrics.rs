//! [`PeerMetrics`]: what a Peer did, as plain counters.

use std::time::Duration;

/// A snapshot of a [`Peer`](super::Peer)'s counters, from [`Peer::metrics`](super::Peer::metrics).
///
/// The message counters follow a message's way: *queued* (accepted by `send`), *written* (the
/// stream accepted its last byte: nothing more is known), *acknowledged* (the remote said it
/// arrived; reliable modes only). None of them means "delivered" unless it says acknowledged.
///
/// Times (`last_connected`, `last_failure`) are [`Clock::now`](crate::Clock::now) values:
/// durations since the provider clock's origin (the simulation's start in a simulation, the
/// provider's creation for the real providers), not wall-clock dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerMetrics {
    /// Connection attempts started.
    pub connection_attempts: u64,
    /// Connection attempts that succeeded (handshake included in the reliable modes).
    pub connections_established: u64,
    /// Connection attempts that failed (including timeouts and failed handshakes). An
    /// attempt whose future was dropped (a cancelled `recv`, say) is counted when the next
    /// attempt starts.
    pub connection_failures: u64,
    /// Connection attempts that timed out, in the TCP connect or, in the reliable modes,
    /// waiting for the answer to the session hello (also counted in `connection_failures`).
    pub connection_timeouts: u64,
    /// Failures since the last connection that proved stable: a connection counts as stable
    /// once it stayed up `stable_connection_time`; this count sets the backoff delay.
    pub consecutive_failures: u32,
    /// Established connections that ended (EOF, reset, I/O or protocol error, heartbeat
    /// timeout, `reconnect`).
    pub disconnections: u64,
    /// Frames from the remote that failed to decode.
    pub protocol_errors: u64,
    /// Payload bytes of the messages written (see `messages_written`).
    pub bytes_written: u64,
    /// Payload bytes received in whole messages.
    pub bytes_received: u64,
    /// Messages whose last byte the stream accepted, counting each write of a re-sent
    /// message. Written is not delivered: the remote may never read it.
    pub messages_written: u64,
    /// Reliable modes: messages the remote acknowledged (delivered to its session).
    pub messages_acknowledged: u64,
    /// Reliable modes: writes of a message already written whole on a connection that broke
    /// before its acknowledgement, counted when the later connection takes it again (so
    /// never more than `messages_written`).
    pub messages_resent: u64,
    /// Messages lost for certain: sent unreliably (`send_unreliable` in a reliable mode),
    /// written, and not received by a remote that kept its session.
    pub messages_lost: u64,
    /// Messages whose fate is unknown: in unreliable mode, every message written on a
    /// connection that then ended, whether it broke or this side ended it (`close`, a
    /// requested `reconnect`): nothing tells whether the remote read it; in the reliable
    /// modes, messages sent unreliably and written before the remote lost its session.
    pub messages_possibly_lost: u64,
    /// Whole messages received and handed to the caller.
    pub messages_received: u64,
    /// Reliable modes: messages received a second time (re-sent by the remote after a
    /// reconnect) and dropped.
    pub duplicates_dropped: u64,
    /// Reliable modes: times the remote answered a reconnect without the session (it
    /// restarted): a new session epoch.
    pub session_restarts: u64,
    /// Messages accepted into the send queue.
    pub messages_queued: u64,
    /// Messages dropped by the drop-oldest policy or discarded by `close`.
    pub messages_dropped: u64,
    /// Messages rejected with `QueueFull`.
    pub messages_rejected: u64,
    /// Messages partly written when a connection broke, to be sent again whole.
    pub messages_requeued: u64,
    /// Messages counted against the queue caps now: waiting, in the write batch, or written
    /// and awaiting acknowledgement.
    pub queue_size: usize,
    /// Their payload bytes.
    pub queue_bytes: usize,
    /// The reconnect delay (before jitter) that the failures counted now imposed: the wait
    /// after the last failure, doubling with each consecutive one. Zero with none; the next
    /// failure doubles it (up to `max_reconnect_delay`).
    pub current_backoff: Duration,
    /// When the last connection was established (a [`Clock`](crate::Clock) time).
    pub last_connected: Option<Duration>,
    /// When the last connection attempt failed or the last connection broke (a
    /// [`Clock`](crate::Clock) time).
    pub last_failure: Option<Duration>,
}
