//! [`PeerConfig`], [`Delivery`] and [`OverflowPolicy`]: how a Peer behaves, checked by
//! `validate`.

use std::time::Duration;

use super::PeerError;

/// What the send queue does when a message arrives and it is full.
///
/// Messages written and awaiting acknowledgement (the reliable modes) count against the caps
/// but are never dropped: the remote may have them.
///
/// # Examples
/// ```
/// use moonpool::peer::{Delivery, OverflowPolicy};
///
/// let default = OverflowPolicy::default();
/// assert_eq!(default.for_delivery(Delivery::Unreliable), OverflowPolicy::DropOldest);
/// assert_eq!(default.for_delivery(Delivery::ExactlyOnce), OverflowPolicy::Reject);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// The default: [`DropOldest`](OverflowPolicy::DropOldest) in unreliable mode, where a
    /// message may be lost anyway and the newest matter most, and
    /// [`Reject`](OverflowPolicy::Reject) in the reliable modes, where a dropped message
    /// would be a gap the caller hears of only through a metric. A bare
    /// [`SendQueue`](super::SendQueue), with no mode to go by, drops the oldest.
    #[default]
    ByDelivery,
    /// Drop the oldest message no connection has started to write (whether it waits in the
    /// queue or is already framed in the write batch), and count it in
    /// [`PeerMetrics::messages_dropped`](super::PeerMetrics::messages_dropped) (what the
    /// design document's `queue_message` sketch does; FoundationDB's Peer has no cap to
    /// overflow: it keeps reliable packets and discards unreliable ones when a connection
    /// fails). In the reliable modes that message is then never delivered: the
    /// remote sees a gap in the numbering and carries on, so exactly-once becomes "at most
    /// once for the dropped ones"; keep [`Reject`](OverflowPolicy::Reject) where every
    /// accepted message must arrive. When nothing in the queue can be dropped (in the
    /// reliable modes, every message held was written and awaits its acknowledgement), the
    /// new message is refused with [`PeerError::QueueFull`] as under `Reject`.
    DropOldest,
    /// Refuse the new message with [`PeerError::QueueFull`], handing it back.
    Reject,
}

impl OverflowPolicy {
    /// The policy applied under `delivery`: [`ByDelivery`](OverflowPolicy::ByDelivery)
    /// resolved, any other as it is.
    pub fn for_delivery(self, delivery: Delivery) -> OverflowPolicy {
        match self {
            OverflowPolicy::ByDelivery if delivery.is_reliable() => OverflowPolicy::Reject,
            OverflowPolicy::ByDelivery => OverflowPolicy::DropOldest,
            policy => policy,
        }
    }
}

/// What a Peer promises about each message it accepted, and what it needs from the remote.
///
/// | mode | promise | on an error the caller must |
/// |------|---------|-----------------------------|
/// | [`Unreliable`](Delivery::Unreliable) | at most once, in order, whole | assume every message written since the last reply it got may be lost ([`messages_possibly_lost`](super::PeerMetrics::messages_possibly_lost) counts every message written on a connection that ended, answered or not) |
/// | [`AtLeastOnce`](Delivery::AtLeastOnce) | every message arrives, in order, possibly more than once after the remote restarted | nothing: retry the call; make handling idempotent |
/// | [`ExactlyOnce`](Delivery::ExactlyOnce) | every message arrives once, in order, across reconnects | nothing, except on [`SessionRestarted`](PeerError::SessionRestarted): decide about the messages it hands back |
///
/// The reliable modes speak the session protocol (a handshake, numbered messages,
/// acknowledgements, heartbeats), so the remote must speak it too: a server built on
/// [`SessionServer`](super::SessionServer). A foreign server (a line protocol through
/// [`LinesCodec`](super::LinesCodec), say) works in unreliable mode only; against one, a
/// reliable mode reports [`PeerError::Handshake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Delivery {
    /// At most once: a message is lost if its connection breaks after the stream accepted it,
    /// and nothing tells which. No handshake: messages are framed as they are, so any server
    /// speaking the codec works. On an error, treat every message written since your last
    /// reply as possibly lost.
    #[default]
    Unreliable,
    /// At least once, in order: a message is kept until the remote acknowledges it and re-sent
    /// after a reconnect; the remote drops duplicates within its session, but after the remote
    /// restarted (a new session epoch, counted in
    /// [`PeerMetrics::session_restarts`](super::PeerMetrics::session_restarts)) the messages it
    /// may have processed are sent again. On an error, just call again.
    AtLeastOnce,
    /// Exactly once, in order: sequence numbers and cumulative acknowledgements in a session
    /// that outlives connections; the remote drops duplicates and releases messages in order.
    /// If the remote restarted and lost the session, the next call returns
    /// [`PeerError::SessionRestarted`] handing back every message it may or may not have
    /// processed (never a silent gap or duplicate); on any other error, just call again.
    ///
    /// A session lives in the server's [`SessionServer`](super::SessionServer), in memory:
    /// exactly-once holds across reconnects and network faults, not across a restart of the
    /// server process. What a restarted server had already done with the handed-back
    /// messages is the application's to settle (idempotent requests, request ids it
    /// remembers durably, or asking the server).
    ExactlyOnce,
}

impl Delivery {
    /// True for the modes that speak the session protocol (acknowledgements, re-sends).
    pub fn is_reliable(self) -> bool {
        self != Delivery::Unreliable
    }
}

/// Configuration of a [`Peer`](super::Peer).
///
/// Build one from [`Default`] or a preset and change fields with struct update syntax;
/// [`validate`](PeerConfig::validate) says what is wrong with one.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::peer::PeerConfig;
///
/// let config = PeerConfig {
///     initial_reconnect_delay: Duration::from_millis(100),
///     max_reconnect_delay: Duration::from_secs(30),
///     max_queue_size: 1000,
///     connection_timeout: Duration::from_secs(5),
///     ..PeerConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// Delay after the first failed attempt; doubles per consecutive failure. Default 100 ms.
    pub initial_reconnect_delay: Duration,
    /// Cap of the reconnect delay. Default 30 s.
    pub max_reconnect_delay: Duration,
    /// Most messages the send queue holds. Default 1000.
    pub max_queue_size: usize,
    /// Most payload bytes the send queue holds. Default 64 MiB.
    pub max_queue_bytes: usize,
    /// Bound on each connection attempt. Default 5 s.
    pub connection_timeout: Duration,
    /// Largest message sent or accepted from the wire. Default 1 MiB. [`Peer::new`] sizes its
    /// codec from it; with [`Peer::with_codec`] the codec's own maximum bounds what is
    /// received (this field still bounds what is sent). The reliable modes need at least 39
    /// (room for the session hello); a Peer refuses less as an invalid config.
    ///
    /// [`Peer::new`]: super::Peer::new
    /// [`Peer::with_codec`]: super::Peer::with_codec
    pub max_message_size: usize,
    /// What a full queue does with a new message. Default [`OverflowPolicy::ByDelivery`]:
    /// drop the oldest in unreliable mode, refuse in the reliable modes.
    pub overflow_policy: OverflowPolicy,
    /// Fraction (0.0 to 1.0) by which each reconnect delay is randomly shortened, so many
    /// peers do not reconnect in lockstep. Drawn from the provider's seeded source. Default 0.
    pub reconnect_jitter: f64,
    /// How long a connection must stay up before the backoff resets; a connection that dies
    /// younger counts as a failure (FoundationDB's rule). Default 5 s: a server that accepts
    /// and then drops or crashes within seconds is failing, and reconnecting to it at once
    /// would hammer it; 5 s outlasts a handshake and one heartbeat timeout, so a connection
    /// that lived that long did real work. Zero resets on every connect: use it for a server
    /// that closes the connection after each reply (HTTP/1.0 style), whose short
    /// connections would otherwise grow the backoff.
    pub stable_connection_time: Duration,
    /// Encoded bytes buffered by `send` before it writes them to the stream. Default 64 KiB.
    pub write_batch_bytes: usize,
    /// What the Peer promises about each message. Default [`Delivery::Unreliable`].
    pub delivery: Delivery,
    /// Reliable modes: after this long without a byte from the remote, the Peer pings it.
    /// Default 1 s.
    pub heartbeat_interval: Duration,
    /// Reliable modes: after this long without a byte from the remote, the connection is
    /// declared dead and dropped ([`PeerError::Unresponsive`]). Must exceed the interval.
    /// Default 5 s.
    pub heartbeat_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            initial_reconnect_delay: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_secs(30),
            max_queue_size: 1000,
            max_queue_bytes: 64 << 20,
            connection_timeout: Duration::from_secs(5),
            max_message_size: 1 << 20,
            overflow_policy: OverflowPolicy::ByDelivery,
            reconnect_jitter: 0.0,
            stable_connection_time: Duration::from_secs(5),
            write_batch_bytes: 64 << 10,
            delivery: Delivery::Unreliable,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
        }
    }
}

impl PeerConfig {
    /// A preset for a local network or one machine: quick retries (10 ms, doubling up to
    /// 1 s), a 1 s connection timeout, a connection proven stable after 1 s, and a heartbeat
    /// every 250 ms that declares the remote dead after 1 s of silence; the rest as
    /// [`Default`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use moonpool::PeerConfig;
    ///
    /// let local = PeerConfig::local();
    /// assert!(local.validate().is_ok());
    /// assert_eq!(local.initial_reconnect_delay, Duration::from_millis(10));
    /// assert_eq!(local.max_reconnect_delay, Duration::from_secs(1));
    /// assert_eq!(local.connection_timeout, Duration::from_secs(1));
    /// assert_eq!(local.stable_connection_time, Duration::from_secs(1));
    /// assert_eq!(local.heartbeat_interval, Duration::from_millis(250));
    /// assert_eq!(local.heartbeat_timeout, Duration::from_secs(1));
    /// assert_eq!(local.max_queue_size, PeerConfig::default().max_queue_size);
    /// ```
    pub fn local() -> Self {
        Self {
            initial_reconnect_delay: Duration::from_millis(10),
            max_reconnect_delay: Duration::from_secs(1),
            connection_timeout: Duration::from_secs(1),
            stable_connection_time: Duration::from_secs(1),
            heartbeat_interval: Duration::from_millis(250),
            heartbeat_timeout: Duration::from_secs(1),
            ..Self::default()
        }
    }

    /// A preset for a wide-area network: patient retries (500 ms, doubling up to 60 s, with
    /// 20 % jitter), a queue of 10,000 messages, a 15 s connection timeout, a backoff that
    /// resets only after a connection stayed up 10 s, and a heartbeat every 2 s that declares
    /// the remote dead after 15 s of silence; the rest as [`Default`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use moonpool::PeerConfig;
    ///
    /// let wan = PeerConfig::wan();
    /// assert!(wan.validate().is_ok());
    /// assert_eq!(wan.initial_reconnect_delay, Duration::from_millis(500));
    /// assert_eq!(wan.max_reconnect_delay, Duration::from_secs(60));
    /// assert_eq!(wan.reconnect_jitter, 0.2);
    /// assert_eq!(wan.max_queue_size, 10_000);
    /// assert_eq!(wan.connection_timeout, Duration::from_secs(15));
    /// assert_eq!(wan.stable_connection_time, Duration::from_secs(10));
    /// assert_eq!(wan.heartbeat_interval, Duration::from_secs(2));
    /// assert_eq!(wan.heartbeat_timeout, Duration::from_secs(15));
    /// ```
    pub fn wan() -> Self {
        Self {
            initial_reconnect_delay: Duration::from_millis(500),
            max_reconnect_delay: Duration::from_secs(60),
            max_queue_size: 10_000,
            connection_timeout: Duration::from_secs(15),
            reconnect_jitter: 0.2,
            stable_connection_time: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(15),
            ..Self::default()
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`PeerError::InvalidConfig`] naming the field: a zero queue size, byte cap, message size,
    /// batch size, initial delay or timeout; a max delay below the initial one; a message size
    /// above the byte cap or 4 GiB; a jitter outside 0.0..=1.0; a zero heartbeat interval or a
    /// heartbeat timeout not above it.
    pub fn validate(&self) -> Result<(), PeerError> {
        let fail = |reason: String| Err(PeerError::InvalidConfig { reason });
        if self.max_queue_size == 0 {
            return fail("max_queue_size must be at least 1".into());
        }
        if self.max_queue_bytes == 0 {
            return fail("max_queue_bytes must be at least 1".into());
        }
        if self.initial_reconnect_delay.is_zero() {
            return fail("initial_reconnect_delay must be above zero".into());
        }
        if self.max_reconnect_delay < self.initial_reconnect_delay {
            return fail(format!(
                "max_reconnect_delay ({:?}) is below initial_reconnect_delay ({:?})",
                self.max_reconnect_delay, self.initial_reconnect_delay
            ));
        }
        if self.connection_timeout.is_zero() {
            return fail("connection_timeout must be above zero".into());
        }
        if self.max_message_size == 0 || self.max_message_size > u32::MAX as usize {
            return fail(format!(
                "max_message_size ({}) must be between 1 and {}",
                self.max_message_size,
                u32::MAX
            ));
        }
        if self.max_message_size > self.max_queue_bytes {
            return fail(format!(
                "max_message_size ({}) exceeds max_queue_bytes ({})",
                self.max_message_size, self.max_queue_bytes
            ));
        }
        if !(0.0..=1.0).contains(&self.reconnect_jitter) {
            return fail(format!(
                "reconnect_jitter ({}) must be within 0.0..=1.0",
                self.reconnect_jitter
            ));
        }
        if self.write_batch_bytes == 0 {
            return fail("write_batch_bytes must be at least 1".into());
        }
        if self.heartbeat_interval.is_zero() {
            return fail("heartbeat_interval must be above zero".into());
        }
        if self.heartbeat_timeout <= self.heartbeat_interval {
            return fail(format!(
                "heartbeat_timeout ({:?}) must exceed heartbeat_interval ({:?})",
                self.heartbeat_timeout, self.heartbeat_interval
            ));
        }
        Ok(())
    }
}
