//! [`PeerConfig`] and [`OverflowPolicy`]: how a Peer behaves, checked by `validate`.

use std::time::Duration;

use super::PeerError;

/// What the send queue does when a message arrives and it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Drop the oldest message that has not started going out, and count it in
    /// [`PeerMetrics::messages_dropped`](super::PeerMetrics::messages_dropped) (the seed's policy).
    #[default]
    DropOldest,
    /// Refuse the new message with [`PeerError::QueueFull`], handing it back.
    Reject,
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
    /// Largest message sent or accepted from the wire. Default 1 MiB.
    pub max_message_size: usize,
    /// What a full queue does with a new message. Default [`OverflowPolicy::DropOldest`].
    pub overflow_policy: OverflowPolicy,
    /// Fraction (0.0 to 1.0) by which each reconnect delay is randomly shortened, so many
    /// peers do not reconnect in lockstep. Drawn from the provider's seeded source. Default 0.
    pub reconnect_jitter: f64,
    /// How long a connection must stay up before the backoff resets; a connection that dies
    /// younger counts as a failure (FoundationDB's rule). Default zero: reset on connect.
    pub stable_connection_time: Duration,
    /// Encoded bytes buffered by `send` before it writes them to the stream. Default 64 KiB.
    pub write_batch_bytes: usize,
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
            overflow_policy: OverflowPolicy::DropOldest,
            reconnect_jitter: 0.0,
            stable_connection_time: Duration::ZERO,
            write_batch_bytes: 64 << 10,
        }
    }
}

impl PeerConfig {
    /// A preset for a local network or one machine: quick retries, short timeouts.
    pub fn local() -> Self {
        Self {
            initial_reconnect_delay: Duration::from_millis(10),
            max_reconnect_delay: Duration::from_secs(1),
            connection_timeout: Duration::from_secs(1),
            ..Self::default()
        }
    }

    /// A preset for a wide-area network: patient retries with jitter, a larger queue, and a
    /// backoff that resets only after a connection stayed up 5 s.
    pub fn wan() -> Self {
        Self {
            initial_reconnect_delay: Duration::from_millis(500),
            max_reconnect_delay: Duration::from_secs(60),
            max_queue_size: 10_000,
            connection_timeout: Duration::from_secs(15),
            reconnect_jitter: 0.2,
            stable_connection_time: Duration::from_secs(5),
            ..Self::default()
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`PeerError::InvalidConfig`] naming the field: a zero queue size, byte cap, message size,
    /// batch size, initial delay or timeout; a max delay below the initial one; a message size
    /// above the byte cap or 4 GiB; a jitter outside 0.0..=1.0.
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
        Ok(())
    }
}
