//! [`BackoffChecker`]: the reconnect backoff checked from a Peer's connection events, as
//! always-assertions in virtual time.

use std::time::Duration;

use crate::peer::{ConnectionEvent, ConnectionEventKind, PeerConfig};
use crate::{always_assert, sometimes_assert};

/// Slack below the jittered delay: the Peer turns a float product into nanoseconds.
const ROUNDING: Duration = Duration::from_micros(1);

/// Checks a Peer's connection attempts against its backoff configuration, from the events
/// it records ([`Peer::record_connection_events`](crate::Peer::record_connection_events)),
/// with a model of the backoff of its own (it shares no code with
/// [`Backoff`](crate::peer::Backoff)).
///
/// After the `k`-th consecutive failure (a failed attempt, or a connection that broke before
/// `stable_connection_time`) the delay is `min(initial * 2^(k-1), max)`, shortened by up to
/// `reconnect_jitter` of itself, counted from the failed attempt's start (or from the break).
/// A connection that lived `stable_connection_time` resets the count; so does any connection
/// when that time is zero. For each attempt it asserts:
///
/// - `backoff_attempt_wanted`: a call wanted a connection since the last attempt (the Peer
///   connects on demand only);
/// - `backoff_gap_at_least_delay`: the attempt starts no earlier than the delay's lower bound;
/// - `backoff_gap_at_most_delay`: it starts no later than the un-jittered delay or the call
///   that wanted it, whichever is later (nobody asking is the only reason to wait longer);
/// - with a `reconnect_jitter`, `backoff_jitter_shortened` (a sometimes-assertion): an
///   attempt that waited out a delay sometimes started before the un-jittered end of it.
///
/// Feed it every event, in order, through [`check`](BackoffChecker::check); it keeps its
/// state between calls.
///
/// # Examples
/// ```
/// use moonpool::peer::{Peer, PeerConfig};
/// use moonpool::testing::ping_pong::BackoffChecker;
/// use moonpool::SimWorld;
///
/// let world = SimWorld::new(1);
/// let config = PeerConfig::default();
/// let mut checker = BackoffChecker::new(&config);
/// let mut peer = Peer::new(world.provider("10.0.0.2"), "10.0.0.1:4500".into(), config);
/// peer.record_connection_events();
/// world.block_on(async {
///     peer.send(b"hello".to_vec()).await.unwrap();
///     for _ in 0..5 {
///         let _ = peer.flush().await; // nobody listens: each attempt fails, then backs off
///     }
/// }).unwrap();
/// checker.check(&peer.take_connection_events());
/// assert_eq!(checker.attempts(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct BackoffChecker {
    initial: Duration,
    max: Duration,
    jitter: f64,
    stable: Duration,
    /// Consecutive failures counted.
    failures: u32,
    /// The next attempt's earliest and latest start, as the model has it.
    earliest: Duration,
    latest: Duration,
    /// The last call that wanted a connection since the last attempt.
    wanted: Option<Duration>,
    /// The running attempt's start, and when the current connection was established.
    attempt: Option<Duration>,
    connected_at: Option<Duration>,
    attempts: u64,
    stable_resets: u64,
}

impl BackoffChecker {
    /// A checker for a Peer made with `config`, before its first event.
    pub fn new(config: &PeerConfig) -> Self {
        let jitter = config.reconnect_jitter;
        Self {
            initial: config.initial_reconnect_delay,
            max: config
                .max_reconnect_delay
                .max(config.initial_reconnect_delay),
            jitter: if jitter.is_nan() {
                0.0
            } else {
                jitter.clamp(0.0, 1.0)
            },
            stable: config.stable_connection_time,
            failures: 0,
            earliest: Duration::ZERO,
            latest: Duration::ZERO,
            wanted: None,
            attempt: None,
            connected_at: None,
            attempts: 0,
            stable_resets: 0,
        }
    }

    /// Attempts checked so far.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Times a connection that lived `stable_connection_time` reset a non-zero failure count.
    pub fn stable_resets(&self) -> u64 {
        self.stable_resets
    }

    /// Consecutive failures the model counts now.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The un-jittered delay after `k` consecutive failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        match failures {
            0 => Duration::ZERO,
            k => {
                let factor = 1u32.checked_shl(k - 1).unwrap_or(u32::MAX);
                self.initial.saturating_mul(factor).min(self.max)
            }
        }
    }

    /// Checks `events` (the next ones of the Peer, oldest first).
    ///
    /// # Panics
    /// As an [`always_assert!`](crate::always_assert) does, on an attempt outside its bounds.
    pub fn check(&mut self, events: &[ConnectionEvent]) {
        for event in events {
            self.step(*event);
        }
    }

    fn step(&mut self, ConnectionEvent { at, kind }: ConnectionEvent) {
        match kind {
            // One call at a time (`&mut self`): an earlier one was cancelled, so the attempt
            // belongs to the latest.
            ConnectionEventKind::Wanted => self.wanted = Some(at),
            ConnectionEventKind::AttemptStarted => self.attempt_started(at),
            ConnectionEventKind::Failed => {
                let start = self.attempt.take().unwrap_or(at);
                self.failed(start);
            }
            ConnectionEventKind::Connected => {
                self.attempt = None;
                if self.stable.is_zero() {
                    self.failures = 0;
                }
                self.connected_at = Some(at);
                self.earliest = at;
                self.latest = at;
            }
            ConnectionEventKind::Broke | ConnectionEventKind::Closed => {
                let lived = at.saturating_sub(self.connected_at.take().unwrap_or(at));
                let stable = self.stable.is_zero() || lived >= self.stable;
                if stable {
                    if self.failures > 0 {
                        self.stable_resets += 1;
                    }
                    self.failures = 0;
                }
                if kind == ConnectionEventKind::Broke && !stable {
                    self.failed(at);
                } else {
                    self.earliest = at;
                    self.latest = at;
                }
            }
        }
    }

    /// A failure counted, its delay counted from `from`.
    fn failed(&mut self, from: Duration) {
        self.failures = self.failures.saturating_add(1);
        let delay = self.delay_after(self.failures);
        let shortest = Duration::try_from_secs_f64(delay.as_secs_f64() * (1.0 - self.jitter))
            .unwrap_or(Duration::ZERO);
        self.earliest = from.saturating_add(shortest).saturating_sub(ROUNDING);
        self.latest = from.saturating_add(delay);
    }

    fn attempt_started(&mut self, at: Duration) {
        self.attempts += 1;
        // An attempt still running was abandoned (its future dropped): it changed nothing.
        self.attempt = Some(at);
        let wanted = self.wanted.take();
        always_assert!(
            "backoff_attempt_wanted",
            wanted.is_some(),
            "an attempt at {at:?} that no call wanted"
        );
        let wanted = wanted.unwrap_or(at);
        always_assert!(
            "backoff_gap_at_least_delay",
            at >= self.earliest,
            "an attempt at {at:?}, before {:?}: the earliest after {} consecutive failures \
             (delay {:?}, jitter {})",
            self.earliest,
            self.failures,
            self.delay_after(self.failures),
            self.jitter
        );
        if self.jitter > 0.0 && self.failures > 0 && wanted < self.latest {
            sometimes_assert!("backoff_jitter_shortened", at < self.latest);
        }
        let latest = self.latest.max(wanted);
        always_assert!(
            "backoff_gap_at_most_delay",
            at <= latest,
            "an attempt at {at:?}, after {latest:?}: the latest after {} consecutive failures \
             (delay {:?}, capped at {:?}) or the call wanting it at {wanted:?}",
            self.failures,
            self.delay_after(self.failures),
            self.max
        );
    }
}
