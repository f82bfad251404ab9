//! One direction of a simulated connection: an ordered byte pipe with a bounded buffer.
//!
//! Written bytes go in flight as segments, each made readable by its own `Deliver` event at a
//! delivery time that never precedes the previous segment's, so bytes are never reordered.
//! Space is counted over in-flight plus unread bytes: that is the send buffer.
//!
//! All of a pipe's bytes live in one deque, unread ones first, then in-flight ones; delivering a
//! segment only moves the boundary, so bytes are copied once in and once out.

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

/// What a write or a close puts in flight.
#[derive(Debug)]
pub(crate) enum Segment<'a> {
    Data(&'a [u8]),
    Eof,
}

/// A segment in flight: how many bytes (after the unread ones), or EOF.
#[derive(Debug)]
enum InFlight {
    Data(usize),
    Eof,
}

/// One direction's byte pipe.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    in_flight: VecDeque<InFlight>,
    /// Unread bytes (the first `readable`), then in-flight bytes.
    bytes: VecDeque<u8>,
    readable: usize,
    /// Delivery time of the last segment put in flight.
    last_delivery: Duration,
    /// The writer closed its side (EOF in flight or delivered).
    pub(crate) write_closed: bool,
    /// EOF reached the reader: reads return `Ok(0)` once `readable` is empty.
    pub(crate) eof: bool,
    /// The reading stream was dropped: its data is discarded and writes fail.
    pub(crate) reader_dropped: bool,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
}

impl Pipe {
    /// Bytes in flight or unread.
    pub(crate) fn buffered(&self) -> usize {
        self.bytes.len()
    }

    /// Puts `segment` in flight and returns its delivery time: `max(at, last delivery)`.
    pub(crate) fn push(&mut self, at: Duration, segment: Segment<'_>) -> Duration {
        let at = at.max(self.last_delivery);
        self.last_delivery = at;
        self.in_flight.push_back(match segment {
            Segment::Data(data) => {
                self.bytes.extend(data);
                InFlight::Data(data.len())
            }
            Segment::Eof => InFlight::Eof,
        });
        at
    }

    /// Makes the oldest in-flight segment readable and wakes the reader (no-op when empty,
    /// which is the case after a reset).
    pub(crate) fn deliver(&mut self) {
        let Some(segment) = self.in_flight.pop_front() else {
            return;
        };
        match segment {
            InFlight::Data(len) => {
                if self.reader_dropped {
                    self.bytes.drain(self.readable..self.readable + len);
                } else {
                    self.readable += len;
                }
            }
            InFlight::Eof => self.eof = true,
        }
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
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
            if let Some(waker) = self.writer.take() {
                waker.wake();
            }
        }
        n
    }

    /// Discards all data and wakes both ends (reset, or the reader went away).
    pub(crate) fn discard(&mut self) {
        self.in_flight.clear();
        self.bytes.clear();
        self.readable = 0;
        self.wake_all();
    }

    pub(crate) fn wake_all(&mut self) {
        for waker in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            waker.wake();
        }
    }
}
