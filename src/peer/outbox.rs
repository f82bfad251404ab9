//! [`Outbox`]: encodes queued messages into one write buffer and accounts for what the stream
//! accepted. Pure: no I/O.

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

/// The encoded frames of the messages at the front of a [`SendQueue`], written out in batches.
///
/// A message leaves the queue only once the stream accepted its last byte; if the connection
/// breaks first, [`reset`](Outbox::reset) forgets the encoded bytes and the message goes out
/// again whole on the next connection.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    written: usize,
    /// End offset in `buf`, frame length and payload length of each message encoded in
    /// `buf`, oldest first.
    frames: VecDeque<(usize, usize, usize)>,
}

impl Outbox {
    /// Encodes queued messages not yet started until `batch` unwritten bytes are buffered.
    ///
    /// A message the codec refuses is removed from the queue and returned in the error's
    /// second field so the caller can count it; it can never be sent.
    pub fn fill<C: Codec>(
        &mut self,
        queue: &mut SendQueue,
        codec: &mut C,
        batch: usize,
    ) -> Result<(), (FrameError, Vec<u8>)> {
        if self.written > 0 && self.unwritten().len() < batch {
            self.compact();
        }
        while self.buf.len() - self.written < batch {
            let index = queue.in_flight();
            let Some(message) = queue.start_next() else {
                break;
            };
            let len = message.len();
            let start = self.buf.len();
            if let Err(err) = codec.encode(message, &mut self.buf) {
                let message = queue.remove_started(index);
                return Err((err, message));
            }
            self.frames
                .push_back((self.buf.len(), self.buf.len() - start, len));
        }
        Ok(())
    }

    /// Bytes encoded and not yet accepted by the stream.
    pub fn unwritten(&self) -> &[u8] {
        &self.buf[self.written..]
    }

    /// True when nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.written == self.buf.len()
    }

    /// Records that the stream accepted `n` more bytes; pops completed messages off `queue`.
    pub fn advance(&mut self, n: usize, queue: &mut SendQueue) -> Sent {
        self.written = (self.written + n).min(self.buf.len());
        let mut sent = Sent::default();
        while let Some(&(end, _, len)) = self.frames.front() {
            if end > self.written {
                break;
            }
            self.frames.pop_front();
            queue.pop_front();
            sent.messages += 1;
            sent.bytes += len as u64;
        }
        if self.is_empty() {
            self.buf.clear();
            self.written = 0;
        }
        sent
    }

    /// Forgets the encoded bytes after a broken connection; returns true if a message was
    /// partly written (it will be sent again whole).
    pub fn reset(&mut self, queue: &mut SendQueue) -> bool {
        let partial = self
            .frames
            .front()
            .is_some_and(|&(end, frame_len, _)| self.written + frame_len > end);
        self.buf.clear();
        self.written = 0;
        self.frames.clear();
        queue.rewind();
        partial
    }

    fn compact(&mut self) {
        self.buf.drain(..self.written);
        for frame in &mut self.frames {
            frame.0 -= self.written;
        }
        self.written = 0;
    }
}
