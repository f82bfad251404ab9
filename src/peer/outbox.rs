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
/// One encoded frame: payload and framing sizes (the frame is `payload + overhead` bytes).
#[derive(Debug, Clone, Copy)]
struct Frame {
    payload: u32,
    overhead: u32,
}

impl Frame {
    #[inline]
    fn len(self) -> usize {
        self.payload as usize + self.overhead as usize
    }
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// Bytes of `buf` the stream accepted.
    written: usize,
    /// Where the oldest unfinished frame starts in `buf` (`<= written`).
    front: usize,
    /// The frames not yet fully written, oldest first, back to back from `front`.
    frames: VecDeque<Frame>,
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
    ///
    /// The Peer's configuration keeps messages under 4 GiB; a codec adding more than 4 GiB
    /// of framing to one message is a broken invariant and panics.
    #[inline]
    pub fn push<C: Codec>(&mut self, codec: &mut C, message: &[u8]) -> Result<(), FrameError> {
        let start = self.buf.len();
        codec.encode(message, &mut self.buf)?;
        let frame_len = self.buf.len() - start;
        let payload = u32::try_from(message.len()).expect("messages are under 4 GiB");
        let overhead = u32::try_from(frame_len - message.len()).expect("framing under 4 GiB");
        self.frames.push_back(Frame { payload, overhead });
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
        while let Some(&frame) = self.frames.front() {
            if self.front + frame.len() > self.written {
                break;
            }
            self.front += frame.len();
            self.frames.pop_front();
            sent.messages += 1;
            sent.bytes += u64::from(frame.payload);
        }
        queue.finish_in_flight_many(sent.messages as usize, sent.bytes as usize);
        if self.is_empty() {
            self.buf.clear();
            self.written = 0;
            self.front = 0;
        } else if self.front >= self.buf.len() / 2 && self.front >= 4096 {
            self.discard_finished();
        }
        sent
    }

    /// After a broken connection: keeps every unfinished frame whole for the next connection
    /// and drops what the old stream accepted. Returns true if the front frame had been partly
    /// written (it will be sent again whole).
    pub fn reset(&mut self) -> bool {
        let partial = !self.frames.is_empty() && self.written > self.front;
        self.written = self.front;
        self.discard_finished();
        partial
    }

    /// Drops the oldest frame if nothing of it was written (after [`reset`](Outbox::reset),
    /// say); tells `queue` it is gone. Returns false if there is none or it started.
    pub fn drop_front(&mut self, queue: &mut SendQueue) -> bool {
        let Some(&frame) = self.frames.front() else {
            return false;
        };
        if self.written > self.front {
            return false;
        }
        self.frames.pop_front();
        queue.finish_in_flight(frame.payload as usize);
        self.buf.drain(self.front..self.front + frame.len());
        true
    }

    /// Drops every frame; tells `queue` they are gone. Returns how many there were.
    pub fn clear(&mut self, queue: &mut SendQueue) -> usize {
        let n = self.frames.len();
        let bytes = self.frames.iter().map(|f| f.payload as usize).sum();
        queue.finish_in_flight_many(n, bytes);
        self.frames.clear();
        self.buf.clear();
        self.written = 0;
        self.front = 0;
        n
    }

    /// Removes the bytes of frames already fully written from the start of `buf`.
    fn discard_finished(&mut self) {
        self.buf.drain(..self.front);
        self.written -= self.front;
        self.front = 0;
    }
}
