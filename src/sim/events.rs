//! The event queue: pending events ordered by `(time, seq)`.

use std::collections::BTreeMap;
use std::time::Duration;

/// Something scheduled to happen at a virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A timer fires: wake the `Sleep` registered under this id (no-op if it was dropped).
    Timer { id: u64 },
    /// The oldest in-flight segment of `pipe` (0: client to server, 1: server to client) of
    /// connection `conn` becomes readable (no-op if the connection was reset or dropped).
    Deliver { conn: u64, pipe: usize },
}

impl Event {
    /// A digest tag for the kind, and the ids, of this event.
    pub(crate) fn digest_parts(self) -> [u64; 3] {
        match self {
            Event::Timer { id } => [1, id, 0],
            Event::Deliver { conn, pipe } => [2, conn, pipe as u64],
        }
    }
}

/// Events keyed by `(time, seq)`: earliest first, insertion order among equal times.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    events: BTreeMap<(Duration, u64), Event>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedules `event` at `time`; returns its sequence number.
    pub(crate) fn schedule(&mut self, time: Duration, event: Event) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.insert((time, seq), event);
        seq
    }

    /// Removes a scheduled event (a cancelled timer), so it neither advances time nor counts.
    pub(crate) fn cancel(&mut self, time: Duration, seq: u64) {
        self.events.remove(&(time, seq));
    }

    /// The time of the earliest event, if any.
    pub(crate) fn next_time(&self) -> Option<Duration> {
        self.events.first_key_value().map(|(&(time, _), _)| time)
    }

    /// Removes and returns the earliest event with its time and sequence number.
    pub(crate) fn pop(&mut self) -> Option<(Duration, u64, Event)> {
        self.events
            .pop_first()
            .map(|((time, seq), event)| (time, seq, event))
    }
}
