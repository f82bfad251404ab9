//! [`Outbox`]: the write batch. Encodes messages taken from the [`SendQueue`] into one buffer
//! and accounts for what the stream accepted. Pure: no I/O.

use std::collections::VecDeque;

use super::{Codec, FrameError, SendQueue};

/// What [`Outbox::advance`] completed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Messages whose last byte was accepted.
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// Encoded frames waiting to be written, oldest first.
///
/// A message is freed as soon as it is encoded; its frame stays here until the stream accepted
/// the frame's last byte. If the connection breaks first, [`reset`](Outbox::reset) keeps every
/// unfinished frame whole (dropping only the part of the front frame already written), so each
/// goes out again whole on the next connection.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    written: usize,
    /// End offset in `buf`, frame length and payload length of each frame not yet fully
    /// written, oldest first.
    frames: VecDeque<(usize, usize, usize)>,
}

impl Outbox {
    /// Encodes waiting messages from `queue` until `batch` unwritten bytes are buffered.
    ///
    /// A message the codec refuses (which [`Codec::check`] should have caught) is returned
    /// with the error so the caller can count it; it can never be sent.
    pub fn fill<C: Codec>(
        &mut self,
        queue: &mut SendQueue,
        codec: &mut C,
        batch: usize,
    ) -> Result<(), (FrameError, Vec<u8>)> {
        while self.unwritten_len() < batch {
            let Some(message) = queue.start_next() else {
                break;
            };
            if let Err(error) = self.push(codec, &message) {
                queue.finish_in_flight(message.len());
                return Err((error, message));
            }
        }
        Ok(())
    }

    /// Encodes one message at the end of the batch.
    #[inline]
    pub fn push<C: Codec>(&mut self, codec: &mut C, message: &[u8]) -> Result<(), FrameError> {
        if self.written > 0 && self.written == self.buf.len() {
            self.buf.clear();
            self.written = 0;
        }
        let start = self.buf.len();
        codec.encode(message, &mut self.buf)?;
        let end = self.buf.len();
        self.frames.push_back((end, end - start, message.len()));
        Ok(())
    }

    /// Bytes encoded and not yet accepted by the stream.
    #[inline]
    pub fn unwritten(&self) -> &[u8] {
        &self.buf[self.written..]
    }

    /// How many bytes wait to be written.
    #[inline]
    pub fn unwritten_len(&self) -> usize {
        self.buf.len() - self.written
    }

    /// True when nothing waits to be written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.written == self.buf.len()
    }

    /// Records that the stream accepted `n` more bytes; tells `queue` which messages are done.
    pub fn advance(&mut self, n: usize, queue: &mut SendQueue) -> Sent {
        self.written = (self.written + n).min(self.buf.len());
        let mut sent = Sent::default();
        while let Some(&(end, _, len)) = self.frames.front() {
            if end > self.written {
                break;
            }
            self.frames.pop_front();
            sent.messages += 1;
            sent.bytes += len as u64;
        }
        queue.finish_in_flight_many(sent.messages as usize, sent.bytes as usize);
        if self.is_empty() {
            self.buf.clear();
            self.written = 0;
        } else if self.written >= self.buf.len() / 2 && self.written >= 4096 {
            self.compact_to(self.written);
        }
        sent
    }

    /// After a broken connection: keeps every unfinished frame whole for the next connection
    /// and drops what the old stream accepted. Returns true if the front frame had been partly
    /// written (it will be sent again whole).
    pub fn reset(&mut self) -> bool {
        let Some(&(end, frame_len, _)) = self.frames.front() else {
            self.buf.clear();
            self.written = 0;
            return false;
        };
        let start = end - frame_len;
        let partial = self.written > start;
        self.written = start;
        self.compact_to(start);
        partial
    }

    /// Drops the oldest frame if nothing of it was written (after [`reset`](Outbox::reset),
    /// say); tells `queue` it is gone. Returns false if there is none or it started.
    pub fn drop_front(&mut self, queue: &mut SendQueue) -> bool {
        let Some(&(end, frame_len, len)) = self.frames.front() else {
            return false;
        };
        if self.written > end - frame_len {
            return false;
        }
        self.frames.pop_front();
        queue.finish_in_flight(len);
        self.compact_to(end);
        true
    }

    /// Drops every frame; tells `queue` they are gone. Returns how many there were.
    pub fn clear(&mut self, queue: &mut SendQueue) -> usize {
        let n = self.frames.len();
        for &(_, _, len) in &self.frames {
            queue.finish_in_flight(len);
        }
        self.frames.clear();
        self.buf.clear();
        self.written = 0;
        n
    }

    /// Removes the first `upto` bytes, shifting offsets; `written` counts from the new start.
    fn compact_to(&mut self, upto: usize) {
        self.buf.drain(..upto);
        for frame in &mut self.frames {
            frame.0 -= upto;
        }
        self.written = self.written.saturating_sub(upto);
    }
}
