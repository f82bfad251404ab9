//! The event queue: pending events ordered by `(time, seq)`.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::time::Duration;

/// Something scheduled to happen at a virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A timer fires: wake the `Sleep` registered under this id (no-op if it was dropped).
    Timer { id: u64 },
    /// The oldest segment in flight toward side `to` (0: client, 1: server) of connection
    /// `conn` arrives (no-op if the connection is gone).
    Deliver { conn: u64, to: usize },
    /// Deliveries toward side `to` of `conn` have waited for an unreachable peer since a
    /// retransmission timeout ago: its sender gives up (if they are still waiting).
    Retransmit { conn: u64, to: usize },
    /// A partition's time may be up: heal the ones that ended.
    Heal,
}

impl Event {
    /// A digest tag for the kind, and the ids, of this event.
    pub(crate) fn digest_parts(self) -> [u64; 3] {
        match self {
            Event::Timer { id } => [1, id, 0],
            Event::Deliver { conn, to } => [2, conn, to as u64],
            Event::Retransmit { conn, to } => [3, conn, to as u64],
            Event::Heal => [4, 0, 0],
        }
    }
}

/// A scheduled event; ordered by `(time, seq)` alone (`seq` is unique).
#[derive(Debug)]
struct Entry {
    time: Duration,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// Events ordered by `(time, seq)`: earliest first, insertion order among equal times.
///
/// A binary min-heap. Cancelled events are skipped when they reach the top, and swept out once
/// they make up half of the heap, so they never advance time, never count, and stay bounded.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Sequence numbers of cancelled events still in the heap (membership only, never iterated).
    cancelled: HashSet<u64>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedules `event` at `time`; returns its sequence number.
    pub(crate) fn schedule(&mut self, time: Duration, event: Event) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { time, seq, event }));
        seq
    }

    /// Cancels the scheduled event `seq` (a cancelled timer), so it neither advances time nor
    /// counts.
    ///
    /// The event is only marked here: it is dropped when it reaches the top of the heap, or
    /// in a sweep once marked events make up half of the heap. `seq` should be an event still
    /// scheduled; marking one already taken off the queue leaves a stale mark until the
    /// next sweep.
    pub(crate) fn cancel(&mut self, seq: u64) {
        self.cancelled.insert(seq);
        if self.cancelled.len() * 2 > self.heap.len() {
            let cancelled = std::mem::take(&mut self.cancelled);
            self.heap
                .retain(|Reverse(entry)| !cancelled.contains(&entry.seq));
        }
    }

    /// Drops cancelled events from the top of the heap.
    fn skip_cancelled(&mut self) {
        if self.cancelled.is_empty() {
            return;
        }
        while let Some(Reverse(top)) = self.heap.peek() {
            if !self.cancelled.remove(&top.seq) {
                return;
            }
            self.heap.pop();
        }
    }

    /// The time of the earliest event, if any.
    pub(crate) fn next_time(&mut self) -> Option<Duration> {
        self.skip_cancelled();
        self.heap.peek().map(|Reverse(entry)| entry.time)
    }

    /// Removes and returns the earliest event with its time and sequence number.
    pub(crate) fn pop(&mut self) -> Option<(Duration, u64, Event)> {
        self.skip_cancelled();
        self.heap
            .pop()
            .map(|Reverse(Entry { time, seq, event })| (time, seq, event))
    }
}
