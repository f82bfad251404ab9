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

/// A slow tail on top of a latency draw: with `probability`, an extra delay is added.
///
/// The shape gives "a fast majority with a tail": [`TailShape::Uniform`] is bimodal (most
/// draws fast, a few in a slow band), [`TailShape::Exponential`] a long tail (capped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyTail {
    /// Chance that a draw gets the extra delay (0 turns the tail off).
    pub probability: f64,
    /// How the extra delay is drawn.
    pub shape: TailShape,
}

/// The distribution of a [`LatencyTail`]'s extra delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailShape {
    /// Uniform in the range: a second mode.
    Uniform(LatencyRange),
    /// Exponential with this mean, capped at `max`.
    Exponential {
        /// Mean extra delay.
        mean: Duration,
        /// Longest extra delay drawn.
        max: Duration,
    },
}

impl LatencyTail {
    /// No tail.
    pub const NONE: Self = Self {
        probability: 0.0,
        shape: TailShape::Uniform(LatencyRange::fixed(Duration::ZERO)),
    };
}

/// The simulated network's behaviour: latencies, buffer sizes and faults.
///
/// [`Default`] is calm: connect latency 1..=5 ms, write latency 50..=500 µs, 64 KiB send buffer
/// per direction, accept backlog 1024, Linux's timeouts (127 s for a connect that gets no
/// answer, 924 s of retransmissions before an unreachable peer times a connection out) and no
/// faults. [`NetworkConfig::hostile`] turns every fault on but corruption;
/// [`NetworkConfig::random_for_seed`] draws a config between the two. Faults never lose bytes
/// silently: they delay, stall or visibly break a connection (corruption, opt-in, changes bytes,
/// which a checksumming codec turns into an error).
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
    /// A slow tail added to write latencies.
    pub latency_tail: LatencyTail,
    /// Chance that a pair of hosts is a slow link (drawn once per pair per world).
    pub slow_link_probability: f64,
    /// Extra latency of every segment on a slow link.
    pub slow_link_latency: Duration,
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
    /// How long a connect that gets no answer (a partition, a host that is down) retries its
    /// SYN before failing with `TimedOut` (Linux: 127 s, six retries).
    pub connect_timeout: Duration,
    /// Probability that a read or write which would make progress resets the connection instead.
    pub reset_probability: f64,
    /// Probability, per write, that the connection (or, half the time, all traffic between its
    /// two hosts) clogs: nothing is delivered for a [`clog_duration`](Self::clog_duration)
    /// draw, then everything is, in order. Writers see backpressure meanwhile.
    pub clog_probability: f64,
    /// How long a clog lasts.
    pub clog_duration: LatencyRange,
    /// Probability, per connect, that a random partition starts between the two hosts
    /// (symmetric or, half the time, one-way), lasting a
    /// [`partition_duration`](Self::partition_duration) draw.
    pub partition_probability: f64,
    /// How long a random partition lasts.
    pub partition_duration: LatencyRange,
    /// How long a connection retransmits into an unreachable peer (a partition, a crashed
    /// host) before its sender gives up with `TimedOut` (Linux: about 924 s, `tcp_retries2`).
    /// The other side is not told: it is left half-open.
    pub retransmission_timeout: Duration,
    /// Probability that a read returns fewer bytes than it could, or a write takes fewer.
    pub short_io_probability: f64,
    /// Probability, per written segment, that one bit of it flips in flight (opt-in: off in
    /// [`hostile`](Self::hostile) too). A checksumming codec turns it into an error.
    pub corrupt_probability: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            connect_latency: LatencyRange::new(Duration::from_millis(1), Duration::from_millis(5)),
            dns_latency: LatencyRange::new(Duration::from_micros(100), Duration::from_millis(1)),
            write_latency: LatencyRange::new(Duration::from_micros(50), Duration::from_micros(500)),
            latency_tail: LatencyTail::NONE,
            slow_link_probability: 0.0,
            slow_link_latency: Duration::ZERO,
            send_buffer_bytes: 64 * 1024,
            accept_backlog: 1024,
            connect_failure_probability: 0.0,
            connect_stall_probability: 0.0,
            connect_stall: Duration::ZERO,
            connect_timeout: Duration::from_secs(127),
            reset_probability: 0.0,
            clog_probability: 0.0,
            clog_duration: LatencyRange::fixed(Duration::ZERO),
            partition_probability: 0.0,
            partition_duration: LatencyRange::fixed(Duration::ZERO),
            retransmission_timeout: Duration::from_secs(924),
            short_io_probability: 0.0,
            corrupt_probability: 0.0,
        }
    }
}

impl NetworkConfig {
    /// A faulty network: connect 1..=50 ms, write 0.1..=20 ms with 1 % of writes 50..=500 ms
    /// slower, one host pair in ten a slow link (+30 ms), a 4 KiB send buffer, 10 % of connects
    /// refused, 5 % stalled by 10 s, 0.1 % of reads/writes resetting, 0.2 % of writes clogging
    /// for 10..=500 ms, 1 % of connects starting a 0.5..=10 s partition, retransmissions
    /// giving up after 20 s, and 5 % of reads and writes short. Corruption stays off.
    pub fn hostile() -> Self {
        Self {
            connect_latency: LatencyRange::new(Duration::from_millis(1), Duration::from_millis(50)),
            dns_latency: LatencyRange::new(Duration::from_micros(100), Duration::from_millis(50)),
            write_latency: LatencyRange::new(Duration::from_micros(100), Duration::from_millis(20)),
            latency_tail: LatencyTail {
                probability: 0.01,
                shape: TailShape::Uniform(LatencyRange::new(
                    Duration::from_millis(50),
                    Duration::from_millis(500),
                )),
            },
            slow_link_probability: 0.1,
            slow_link_latency: Duration::from_millis(30),
            send_buffer_bytes: 4 * 1024,
            accept_backlog: 1024,
            connect_failure_probability: 0.1,
            connect_stall_probability: 0.05,
            connect_stall: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(127),
            reset_probability: 0.001,
            clog_probability: 0.002,
            clog_duration: LatencyRange::new(Duration::from_millis(10), Duration::from_millis(500)),
            partition_probability: 0.01,
            partition_duration: LatencyRange::new(
                Duration::from_millis(500),
                Duration::from_secs(10),
            ),
            retransmission_timeout: Duration::from_secs(20),
            short_io_probability: 0.05,
            corrupt_probability: 0.0,
        }
    }

    /// A config drawn from `seed`, anywhere between calm ([`Default`]) and
    /// [`hostile`](Self::hostile): each fault is on or off, and its odds scaled, by the seed.
    /// The same seed gives the same config. Corruption stays off.
    ///
    /// # Examples
    /// ```
    /// use moonpool::NetworkConfig;
    ///
    /// assert_eq!(NetworkConfig::random_for_seed(7), NetworkConfig::random_for_seed(7));
    /// assert!(NetworkConfig::random_for_seed(7).validate().is_ok());
    /// ```
    pub fn random_for_seed(seed: u64) -> Self {
        let mut rng = super::rng::SimRng::new(seed ^ 0x6e65_7477_6f72_6b21);
        let calm = Self::default();
        let hostile = Self::hostile();
        // Each fault: off a third of the time, else its hostile odds scaled by 0.1..=1.
        let mut odds = |p: f64| {
            if rng.range(0..3) == 0 {
                0.0
            } else {
                p * (0.1 + 0.9 * (rng.range(0..1001) as f64 / 1000.0))
            }
        };
        let mut config = Self {
            connect_failure_probability: odds(hostile.connect_failure_probability),
            connect_stall_probability: odds(hostile.connect_stall_probability),
            reset_probability: odds(hostile.reset_probability),
            clog_probability: odds(hostile.clog_probability),
            partition_probability: odds(hostile.partition_probability),
            short_io_probability: odds(hostile.short_io_probability),
            slow_link_probability: odds(hostile.slow_link_probability),
            latency_tail: LatencyTail {
                probability: odds(hostile.latency_tail.probability),
                shape: hostile.latency_tail.shape,
            },
            ..hostile.clone()
        };
        if rng.range(0..2) == 0 {
            config.connect_latency = calm.connect_latency;
            config.write_latency = calm.write_latency;
        }
        if rng.range(0..2) == 0 {
            config.send_buffer_bytes = calm.send_buffer_bytes;
        }
        config
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] naming the field: a range with `min > max`, a probability
    /// outside `0.0..=1.0` (or NaN), a zero `send_buffer_bytes` / `accept_backlog` /
    /// `connect_timeout` / `retransmission_timeout`, or a delay past
    /// [`MAX_DELAY`](Self::MAX_DELAY) (`Duration::MAX`, say: nothing would ever arrive).
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
        let tail_range = match self.latency_tail.shape {
            TailShape::Uniform(range) => range,
            TailShape::Exponential { mean, max } => LatencyRange::new(mean.min(max), max),
        };
        let limit = budget.min(Self::MAX_DELAY);
        // Delays that must pass for anything to arrive (timeouts may outlast the budget).
        for (name, delay) in [
            ("connect_latency", self.connect_latency.max),
            ("dns_latency", self.dns_latency.max),
            ("write_latency", self.write_latency.max),
            ("connect_stall", self.connect_stall),
            ("latency_tail", tail_range.max),
            ("slow_link_latency", self.slow_link_latency),
            ("clog_duration", self.clog_duration.max),
            ("partition_duration", self.partition_duration.max),
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
            ("latency_tail", tail_range),
            ("clog_duration", self.clog_duration),
            ("partition_duration", self.partition_duration),
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
            ("latency_tail.probability", self.latency_tail.probability),
            ("slow_link_probability", self.slow_link_probability),
            ("clog_probability", self.clog_probability),
            ("partition_probability", self.partition_probability),
            ("short_io_probability", self.short_io_probability),
            ("corrupt_probability", self.corrupt_probability),
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
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout: must be greater than 0".into());
        }
        if self.retransmission_timeout.is_zero() {
            return invalid("retransmission_timeout: must be greater than 0".into());
        }
        Ok(())
    }
}
