//! One direction of a simulated connection: an ordered pipe of segments toward one socket.
//!
//! Written bytes, a FIN or an RST go in flight as segments, each made to arrive by its own
//! `Deliver` event at a time that never precedes the previous segment's, so nothing is ever
//! reordered. Bytes that arrived and were not read yet stay in the same deque, in front of the
//! in-flight ones: delivering a segment only moves the boundary, so bytes are copied once in
//! and once out. Space is counted over in-flight plus unread bytes: that is the send buffer.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

/// Stores `waker` in `slot`, skipping the clone when the stored one already wakes the same task.
pub(crate) fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(stored) if stored.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Wakes and clears `slot`.
pub(crate) fn wake(slot: &mut Option<Waker>) {
    if let Some(waker) = slot.take() {
        waker.wake();
    }
}

/// What a write, a close or an abort puts in flight.
#[derive(Debug)]
pub(crate) enum Segment<'a> {
    Data(&'a [u8]),
    Fin,
    Rst,
}

/// What arrived at the receiving socket when a segment was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// `len` bytes; they are readable now unless the receiver discards them.
    Data(usize),
    Fin,
    Rst,
}

/// Bytes a pipe's buffer holds room for from its first segment on (fewer doublings from a
/// few bytes up; 1 KiB measured fewer instructions than 4 KiB, and less memory).
const FIRST_RESERVE: usize = 1 << 10;

/// Segments in flight a pipe holds room for from its first one on.
const FIRST_SEGMENTS: usize = 16;

/// One direction's pipe: segments in flight toward a socket, and its unread bytes.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    in_flight: VecDeque<Arrival>,
    /// Unread bytes (the first `readable`), then in-flight bytes.
    bytes: VecDeque<u8>,
    readable: usize,
    /// Arrival time of the last segment put in flight.
    last_delivery: Duration,
    /// A FIN came off the wire to this socket (set by [`deliver`](Pipe::deliver), never
    /// cleared): the connection code must have acted on it, so no read waits after it.
    fin_arrived: bool,
    /// The same for an RST.
    rst_arrived: bool,
    /// The receiving socket's reader, waiting for data.
    pub(crate) reader: Option<Waker>,
    /// The sending socket's writer, waiting for space.
    pub(crate) writer: Option<Waker>,
}

impl Pipe {
    /// Bytes in flight or unread: what counts against the send buffer.
    pub(crate) fn buffered(&self) -> usize {
        self.bytes.len()
    }

    /// Puts `segment` in flight and returns its arrival time: `max(at, last arrival)`.
    pub(crate) fn push(&mut self, at: Duration, segment: Segment<'_>) -> Duration {
        let at = at.max(self.last_delivery);
        self.last_delivery = at;
        if self.in_flight.capacity() == 0 {
            self.in_flight.reserve(FIRST_SEGMENTS);
        }
        self.in_flight.push_back(match segment {
            Segment::Data(data) => {
                if self.bytes.capacity() == 0 {
                    // A connection's first segment: room for a few more, not a doubling each.
                    self.bytes.reserve(data.len().max(FIRST_RESERVE));
                }
                self.bytes.extend(data);
                Arrival::Data(data.len())
            }
            Segment::Fin => Arrival::Fin,
            Segment::Rst => Arrival::Rst,
        });
        at
    }

    /// Takes the oldest in-flight segment off the wire; its bytes become readable.
    ///
    /// `None` when nothing is in flight (the segment was dropped with the connection).
    pub(crate) fn deliver(&mut self) -> Option<Arrival> {
        let arrival = self.in_flight.pop_front()?;
        match arrival {
            Arrival::Data(len) => self.readable += len,
            Arrival::Fin => self.fin_arrived = true,
            Arrival::Rst => self.rst_arrived = true,
        }
        Some(arrival)
    }

    /// Whether segments are still on their way.
    pub(crate) fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Bytes a read could return now.
    pub(crate) fn readable(&self) -> usize {
        self.readable
    }

    /// Whether a FIN or an RST was delivered to this socket.
    pub(crate) fn signalled(&self) -> bool {
        self.fin_arrived || self.rst_arrived
    }

    /// Whether a FIN was delivered to this socket.
    pub(crate) fn fin_arrived(&self) -> bool {
        self.fin_arrived
    }

    /// Whether an RST was delivered to this socket.
    pub(crate) fn rst_arrived(&self) -> bool {
        self.rst_arrived
    }

    /// Whether a read would return data now.
    pub(crate) fn has_readable(&self) -> bool {
        self.readable > 0
    }

    /// Moves up to `buf.len()` readable bytes into `buf`; wakes a blocked writer.
    pub(crate) fn read_into(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable);
        let (front, back) = self.bytes.as_slices();
        let first = n.min(front.len());
        buf[..first].copy_from_slice(&front[..first]);
        buf[first..n].copy_from_slice(&back[..n - first]);
        self.bytes.drain(..n);
        self.readable -= n;
        if n > 0 {
            wake(&mut self.writer);
        }
        n
    }

    /// Discards the readable bytes (the receiver closed); wakes a blocked writer.
    pub(crate) fn discard_readable(&mut self) {
        self.bytes.drain(..self.readable);
        self.readable = 0;
        wake(&mut self.writer);
    }

    /// Drops everything still in flight (the connection is gone); unread bytes stay readable.
    pub(crate) fn drop_in_flight(&mut self) {
        self.in_flight.clear();
        self.bytes.truncate(self.readable);
        self.wake_all();
    }

    pub(crate) fn wake_all(&mut self) {
        wake(&mut self.reader);
        wake(&mut self.writer);
    }
}
