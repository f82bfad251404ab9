//! The event queue: pending events ordered by `(time, seq)`.

use std::time::Duration;

use super::slab::FixedHashSet;

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

/// A scheduled event in 24 bytes, ordered by `(time, seq)` alone (`seq` is unique): the time
/// in nanoseconds (saturating at about 584 years, far past any time budget) and the event
/// packed into one word, so a node's four children fill a cache line and a half.
#[derive(Debug, Clone, Copy)]
struct Entry {
    time: u64,
    seq: u64,
    event: u64,
}

/// Bits of a packed event: the kind in the top two, the side in the next, the id below.
const KIND_SHIFT: u32 = 62;
const SIDE_BIT: u64 = 1 << 61;
const ID_MASK: u64 = SIDE_BIT - 1;

impl Entry {
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        // The tuple comparison `(time, seq) < (..)` compiled to a call per comparison.
        self.time < other.time || (self.time == other.time && self.seq < other.seq)
    }

    fn new(time: Duration, seq: u64, event: Event) -> Self {
        let time = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        let (kind, id, side) = match event {
            Event::Timer { id } => (0, id, 0),
            Event::Deliver { conn, to } => (1, conn, to),
            Event::Retransmit { conn, to } => (2, conn, to),
            Event::Heal => (3, 0, 0),
        };
        debug_assert!(
            id <= ID_MASK && side <= 1,
            "ids fit in 61 bits, sides in one"
        );
        let side = if side == 0 { 0 } else { SIDE_BIT };
        Self {
            time,
            seq,
            event: kind << KIND_SHIFT | side | (id & ID_MASK),
        }
    }

    fn event(&self) -> Event {
        let id = self.event & ID_MASK;
        let to = usize::from(self.event & SIDE_BIT != 0);
        match self.event >> KIND_SHIFT {
            0 => Event::Timer { id },
            1 => Event::Deliver { conn: id, to },
            2 => Event::Retransmit { conn: id, to },
            _ => Event::Heal,
        }
    }
}

/// Children per node of the heap: half the levels of a binary heap, and a node's children
/// side by side in memory, so a pop from a queue of a hundred thousand events (10,000 clients)
/// misses the cache about half as often.
const ARITY: usize = 4;

/// Events ordered by `(time, seq)`: earliest first, insertion order among equal times.
///
/// A 4-ary min-heap. Cancelled events are skipped when they reach the top, and swept out once
/// they make up half of the heap, so they never advance time, never count, and stay bounded.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: Vec<Entry>,
    /// Sequence numbers of cancelled events still in the heap (membership only, never
    /// iterated; probed on every pop while it holds anything).
    cancelled: FixedHashSet<u64>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedules `event` at `time`; returns its sequence number.
    pub(crate) fn schedule(&mut self, time: Duration, event: Event) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry::new(time, seq, event));
        self.sift_up(self.heap.len() - 1);
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
            self.heap.retain(|entry| !cancelled.contains(&entry.seq));
            for i in (0..self.heap.len().div_ceil(ARITY)).rev() {
                self.sift_down(i);
            }
        }
    }

    /// Drops cancelled events from the top of the heap.
    fn skip_cancelled(&mut self) {
        if self.cancelled.is_empty() {
            return;
        }
        while let Some(top) = self.heap.first() {
            if !self.cancelled.remove(&top.seq) {
                return;
            }
            self.pop_top();
        }
    }

    /// The time of the earliest event, if any.
    pub(crate) fn next_time(&mut self) -> Option<Duration> {
        self.skip_cancelled();
        self.heap
            .first()
            .map(|entry| Duration::from_nanos(entry.time))
    }

    /// Removes and returns the earliest event with its time and sequence number.
    pub(crate) fn pop(&mut self) -> Option<(Duration, u64, Event)> {
        self.skip_cancelled();
        self.pop_top()
            .map(|entry| (Duration::from_nanos(entry.time), entry.seq, entry.event()))
    }

    /// Removes the top of the heap, cancelled or not.
    fn pop_top(&mut self) -> Option<Entry> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        self.sift_down(0);
        Some(top)
    }

    fn sift_up(&mut self, mut i: usize) {
        let entry = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    fn sift_down(&mut self, mut i: usize) {
        let len = self.heap.len();
        let entry = self.heap[i];
        loop {
            let first = i * ARITY + 1;
            if first >= len {
                break;
            }
            let mut child = first;
            for c in first + 1..(first + ARITY).min(len) {
                if self.heap[c].before(&self.heap[child]) {
                    child = c;
                }
            }
            if !self.heap[child].before(&entry) {
                break;
            }
            self.heap[i] = self.heap[child];
            i = child;
        }
        self.heap[i] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packing keeps every field of every kind, and a time past the nanosecond range
    /// saturates instead of wrapping.
    #[test]
    fn entries_pack_events_whole() {
        let events = [
            Event::Timer { id: 0 },
            Event::Timer { id: ID_MASK },
            Event::Deliver { conn: 7, to: 0 },
            Event::Deliver {
                conn: ID_MASK,
                to: 1,
            },
            Event::Retransmit { conn: 3, to: 1 },
            Event::Retransmit { conn: 0, to: 0 },
            Event::Heal,
        ];
        for (seq, event) in events.into_iter().enumerate() {
            let entry = Entry::new(Duration::from_millis(5), seq as u64, event);
            assert_eq!(entry.event(), event);
            assert_eq!(entry.time, 5_000_000);
        }
        let far = Entry::new(Duration::MAX, 0, Event::Heal);
        assert_eq!(far.time, u64::MAX);
        assert!(Entry::new(Duration::from_secs(1), 9, Event::Heal).before(&far));
    }

    /// The digest tells events apart by kind and by every id they carry.
    #[test]
    fn digest_parts_tell_events_apart() {
        let events = [
            Event::Timer { id: 1 },
            Event::Timer { id: 2 },
            Event::Deliver { conn: 1, to: 0 },
            Event::Deliver { conn: 1, to: 1 },
            Event::Deliver { conn: 2, to: 0 },
            Event::Retransmit { conn: 1, to: 0 },
            Event::Retransmit { conn: 1, to: 1 },
            Event::Heal,
        ];
        let parts: std::collections::BTreeSet<_> =
            events.iter().map(|event| event.digest_parts()).collect();
        assert_eq!(parts.len(), events.len());
    }

    /// Against a sorted list, through pushes, cancellations (sweeps included) and pops.
    #[test]
    fn events_come_out_in_time_then_seq_order_without_the_cancelled() {
        let mut queue = EventQueue::default();
        let mut expected: Vec<(Duration, u64)> = Vec::new();
        let mut x: u64 = 7;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for round in 0..50 {
            for _ in 0..200 {
                let time = Duration::from_micros(next() % 500 + round * 100);
                let seq = queue.schedule(time, Event::Timer { id: 0 });
                expected.push((time, seq));
            }
            for _ in 0..60 {
                let (_, seq) = expected.remove(next() as usize % expected.len());
                queue.cancel(seq);
            }
            expected.sort();
            for _ in 0..100 {
                let (time, seq, _) = queue.pop().expect("an event");
                assert_eq!((time, seq), expected.remove(0));
            }
        }
        while let Some((time, seq, _)) = queue.pop() {
            assert_eq!((time, seq), expected.remove(0));
        }
        assert!(expected.is_empty());
    }
}
