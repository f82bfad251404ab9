//! [`Heartbeat`]: when to ping a quiet connection and when to give it up. Pure: time comes in
//! as arguments.

use std::time::Duration;

/// What the heartbeat asks for at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing to do before [`Heartbeat::deadline`].
    Wait,
    /// The connection has been quiet for an interval: send a ping.
    Ping,
    /// Nothing arrived for the timeout: the connection is dead (or half-open).
    Dead,
}

/// FoundationDB's connection monitor: any bytes received count as life; after `interval` of
/// silence a ping goes out; after `timeout` of silence the connection is declared dead.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    last_heard: Duration,
    pinged: bool,
}

impl Heartbeat {
    /// A heartbeat for a connection established at `now`. `timeout` should exceed `interval`.
    pub fn new(interval: Duration, timeout: Duration, now: Duration) -> Self {
        Self {
            interval,
            timeout,
            last_heard: now,
            pinged: false,
        }
    }

    /// Bytes arrived at `now`.
    #[inline]
    pub fn heard(&mut self, now: Duration) {
        self.last_heard = now;
        self.pinged = false;
    }

    /// How long the connection has been silent at `now`.
    pub fn silent_for(&self, now: Duration) -> Duration {
        now.saturating_sub(self.last_heard)
    }

    /// What to do at `now`; a `Ping` is asked for once per silence.
    pub fn check(&mut self, now: Duration) -> Beat {
        let silent = self.silent_for(now);
        if silent >= self.timeout {
            Beat::Dead
        } else if silent >= self.interval && !self.pinged {
            self.pinged = true;
            Beat::Ping
        } else {
            Beat::Wait
        }
    }

    /// When [`check`](Heartbeat::check) next has something to say.
    pub fn deadline(&self) -> Duration {
        let after = if self.pinged {
            self.timeout
        } else {
            self.interval.min(self.timeout)
        };
        self.last_heard.saturating_add(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn quiet_connection_is_pinged_once_then_declared_dead() {
        let mut beat = Heartbeat::new(MS(100), MS(300), MS(0));
        assert_eq!(beat.deadline(), MS(100));
        assert_eq!(beat.check(MS(99)), Beat::Wait);
        assert_eq!(beat.check(MS(100)), Beat::Ping);
        assert_eq!(beat.check(MS(150)), Beat::Wait);
        assert_eq!(beat.deadline(), MS(300));
        assert_eq!(beat.check(MS(300)), Beat::Dead);
    }

    #[test]
    fn any_bytes_count_as_life() {
        let mut beat = Heartbeat::new(MS(100), MS(300), MS(0));
        assert_eq!(beat.check(MS(100)), Beat::Ping);
        beat.heard(MS(250));
        assert_eq!(beat.check(MS(300)), Beat::Wait);
        assert_eq!(beat.deadline(), MS(350));
        assert_eq!(beat.silent_for(MS(400)), MS(150));
        assert_eq!(beat.check(MS(350)), Beat::Ping);
    }
}
