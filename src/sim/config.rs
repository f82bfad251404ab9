//! [`NetworkConfig`] and [`LatencyRange`]: the latencies, buffers and fault odds of a world.

use std::time::Duration;

use super::error::SimError;

/// A closed range of durations; each use draws uniformly in `[min, max]` from the world RNG.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::LatencyRange;
///
/// let r = LatencyRange::new(Duration::from_millis(1), Duration::from_millis(5));
/// assert!(r.min < r.max);
/// assert_eq!(LatencyRange::fixed(Duration::ZERO).max, Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LatencyRange {
    /// Shortest delay drawn.
    pub min: Duration,
    /// Longest delay drawn (inclusive).
    pub max: Duration,
}

impl LatencyRange {
    /// A range from `min` to `max` inclusive; `min > max` is rejected by
    /// [`NetworkConfig::validate`].
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// A range that always yields `delay`.
    pub const fn fixed(delay: Duration) -> Self {
        Self::new(delay, delay)
    }
}

/// The simulated network's behaviour: latencies, buffer sizes and fault probabilities.
///
/// [`Default`] is calm: connect latency 1..=5 ms, write latency 50..=500 µs, 64 KiB send buffer
/// per direction, accept backlog 1024 and no faults. [`NetworkConfig::hostile`] turns faults on.
/// Faults never lose bytes silently: they delay, stall or visibly reset a connection.
///
/// # Examples
/// ```
/// use moonpool::{NetworkConfig, SimWorld};
///
/// let mut config = NetworkConfig::hostile();
/// config.reset_probability = 0.0;
/// let world = SimWorld::with_config(7, config).unwrap();
/// assert_eq!(world.network_config().reset_probability, 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Delay before a connect attempt gets its answer (success or refusal).
    pub connect_latency: LatencyRange,
    /// Delay of a host-name lookup (`"server:4500"`); literal IPs need none.
    pub dns_latency: LatencyRange,
    /// Delay before written bytes become readable at the peer (never reordering bytes).
    pub write_latency: LatencyRange,
    /// Bytes one direction holds (in flight plus unread) before writes return `Pending`; > 0.
    pub send_buffer_bytes: usize,
    /// Un-accepted connections a listener queues; further connects wait for room; > 0.
    pub accept_backlog: usize,
    /// Probability that a connect to a live listener is refused anyway.
    pub connect_failure_probability: f64,
    /// Probability that a connect's SYN is "lost": it completes only after an extra
    /// [`connect_stall`](Self::connect_stall).
    pub connect_stall_probability: f64,
    /// Extra delay of a stalled connect.
    pub connect_stall: Duration,
    /// Probability that a read or write which would make progress resets the connection instead.
    pub reset_probability: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            connect_latency: LatencyRange::new(Duration::from_millis(1), Duration::from_millis(5)),
            dns_latency: LatencyRange::new(Duration::from_micros(100), Duration::from_millis(1)),
            write_latency: LatencyRange::new(Duration::from_micros(50), Duration::from_micros(500)),
            send_buffer_bytes: 64 * 1024,
            accept_backlog: 1024,
            connect_failure_probability: 0.0,
            connect_stall_probability: 0.0,
            connect_stall: Duration::ZERO,
            reset_probability: 0.0,
        }
    }
}

impl NetworkConfig {
    /// A faulty network: connect 1..=50 ms, write 0.1..=20 ms, a 4 KiB send buffer, 10 % of
    /// connects refused, 5 % stalled by 10 s, and 0.1 % of reads/writes resetting.
    pub fn hostile() -> Self {
        Self {
            connect_latency: LatencyRange::new(Duration::from_millis(1), Duration::from_millis(50)),
            dns_latency: LatencyRange::new(Duration::from_micros(100), Duration::from_millis(50)),
            write_latency: LatencyRange::new(Duration::from_micros(100), Duration::from_millis(20)),
            send_buffer_bytes: 4 * 1024,
            accept_backlog: 1024,
            connect_failure_probability: 0.1,
            connect_stall_probability: 0.05,
            connect_stall: Duration::from_secs(10),
            reset_probability: 0.001,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] naming the field: a range with `min > max`, a probability
    /// outside `0.0..=1.0` (or NaN), a zero `send_buffer_bytes` / `accept_backlog`, or a
    /// duration past [`MAX_DELAY`](Self::MAX_DELAY) (`Duration::MAX`, say: nothing would ever
    /// arrive).
    pub fn validate(&self) -> Result<(), SimError> {
        self.validate_within(Self::MAX_DELAY)
    }

    /// The longest delay any field may hold: 100 years of virtual time, far past any time
    /// budget, and far enough from the end of the `u64` nanosecond clock that no sum of
    /// delays overflows it.
    pub const MAX_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

    /// [`validate`](Self::validate), and no delay longer than `budget`: a world with that time
    /// budget would fail before such a delay ends (a write latency of an hour under a
    /// one-minute budget delivers nothing). Campaigns check their configuration this way.
    ///
    /// # Errors
    /// As [`validate`](Self::validate), or [`SimError::InvalidConfig`] naming the field whose
    /// delay exceeds the budget.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use moonpool::{LatencyRange, NetworkConfig};
    ///
    /// let mut config = NetworkConfig::default();
    /// config.write_latency = LatencyRange::fixed(Duration::MAX);
    /// let err = config.validate().unwrap_err();
    /// assert!(err.to_string().contains("write_latency"), "{err}");
    /// config.write_latency = LatencyRange::fixed(Duration::from_secs(120));
    /// assert!(config.validate().is_ok());
    /// assert!(config.validate_within(Duration::from_secs(60)).is_err());
    /// ```
    pub fn validate_within(&self, budget: Duration) -> Result<(), SimError> {
        let invalid = |reason: String| Err(SimError::InvalidConfig { reason });
        let limit = budget.min(Self::MAX_DELAY);
        for (name, delay) in [
            ("connect_latency", self.connect_latency.max),
            ("dns_latency", self.dns_latency.max),
            ("write_latency", self.write_latency.max),
            ("connect_stall", self.connect_stall),
        ] {
            if delay > limit {
                let what = if limit == Self::MAX_DELAY {
                    "the longest delay allowed"
                } else {
                    "the time budget"
                };
                return invalid(format!(
                    "{name}: {delay:?} is longer than {what} ({limit:?}): it would never end"
                ));
            }
        }
        for (name, range) in [
            ("connect_latency", self.connect_latency),
            ("dns_latency", self.dns_latency),
            ("write_latency", self.write_latency),
        ] {
            if range.min > range.max {
                return invalid(format!(
                    "{name}: min {:?} is greater than max {:?}",
                    range.min, range.max
                ));
            }
        }
        for (name, p) in [
            (
                "connect_failure_probability",
                self.connect_failure_probability,
            ),
            ("connect_stall_probability", self.connect_stall_probability),
            ("reset_probability", self.reset_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return invalid(format!("{name}: {p} is not a probability in 0.0..=1.0"));
            }
        }
        if self.send_buffer_bytes == 0 {
            return invalid("send_buffer_bytes: must be greater than 0".into());
        }
        if self.accept_backlog == 0 {
            return invalid("accept_backlog: must be greater than 0".into());
        }
        Ok(())
    }
}
