//! [`Inbox`]: buffers bytes read from a stream and cuts them into whole messages. Pure: no I/O.

use std::collections::VecDeque;
use std::ops::Range;

use super::{Codec, FrameError};

/// Free space kept at the end of the read buffer for the next read, and the size a buffer
/// starts at and shrinks back to. Small, because a simulation holds one per connection
/// (10,000 clients: 20 MB at 2 KiB, 320 MB at the 32 KiB a buffer used to reach at once);
/// a busy connection grows it by doubling within a few reads.
pub(crate) const READ_CHUNK: usize = 2 << 10;

/// The read buffer doubles, up to this, while reads fill it: a busy connection (a pipelining
/// client) reads many replies per call, an idle one keeps a chunk.
const MAX_READ_AHEAD: usize = 256 << 10;

/// Reads between checks for a buffer grown larger than its connection now needs.
const SHRINK_WINDOW: u32 = 64;

/// Received bytes and the whole messages decoded from them.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The next decoded message: its payload range in `buf` and its frame length.
    ready: Option<(Range<usize>, usize)>,
    /// Whole messages kept from a connection that broke.
    kept: VecDeque<Vec<u8>>,
    /// Their payload bytes and bookkeeping ([`kept_cost`]).
    kept_bytes: usize,
    /// One largest frame of the codec and a read: the buffer's growth stops there (learned
    /// from the codec at each decode; 0 before the first).
    limit: usize,
    /// The last read filled all the space it was given: give the next one more.
    filled_up: bool,
    /// Reads since the last shrink check, and the most bytes buffered after one of them.
    reads: u32,
    peak: usize,
}

impl Inbox {
    /// Decodes the next whole message, if the buffer holds one; returns its length.
    #[inline]
    pub fn poll_message<C: Codec>(&mut self, codec: &mut C) -> Result<Option<usize>, FrameError> {
        if let Some(message) = self.kept.front() {
            return Ok(Some(message.len()));
        }
        if let Some((payload, _)) = &self.ready {
            return Ok(Some(payload.len()));
        }
        if self.start == self.end {
            return Ok(None);
        }
        self.limit = read_limit(codec);
        let Some(decoded) = codec.decode(&self.buf[self.start..self.end])? else {
            return Ok(None);
        };
        let payload = self.start + decoded.payload.start..self.start + decoded.payload.end;
        let len = payload.len();
        self.ready = Some((payload, decoded.consumed));
        Ok(Some(len))
    }

    /// The message found by [`poll_message`](Inbox::poll_message).
    #[inline]
    pub fn message(&self) -> &[u8] {
        if let Some(message) = self.kept.front() {
            return message;
        }
        let (payload, _) = self.ready.as_ref().expect("a decoded message");
        &self.buf[payload.clone()]
    }

    /// Removes the message found by [`poll_message`](Inbox::poll_message), owned.
    pub fn take_message(&mut self) -> Vec<u8> {
        if let Some(message) = self.kept.pop_front() {
            self.kept_bytes -= kept_cost(&message);
            return message;
        }
        let message = self.message().to_vec();
        self.consume();
        message
    }

    /// Drops the message found by [`poll_message`](Inbox::poll_message).
    #[inline]
    pub fn consume(&mut self) {
        if let Some(message) = self.kept.pop_front() {
            self.kept_bytes -= kept_cost(&message);
            return;
        }
        let (_, consumed) = self.ready.take().expect("a decoded message");
        self.start += consumed;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Session modes: decodes the next frame in the buffer (kept messages aside); returns
    /// its payload's range in [`frame`](Inbox::frame). [`skip_frame`](Inbox::skip_frame)
    /// drops it.
    pub fn next_frame<C: Codec>(
        &mut self,
        codec: &mut C,
    ) -> Result<Option<Range<usize>>, FrameError> {
        if self.ready.is_none() {
            if self.start == self.end {
                return Ok(None);
            }
            self.limit = read_limit(codec);
            let Some(decoded) = codec.decode(&self.buf[self.start..self.end])? else {
                return Ok(None);
            };
            let payload = self.start + decoded.payload.start..self.start + decoded.payload.end;
            self.ready = Some((payload, decoded.consumed));
        }
        Ok(self.ready.as_ref().map(|(payload, _)| payload.clone()))
    }

    /// The bytes of a frame payload found by [`next_frame`](Inbox::next_frame).
    #[inline]
    pub fn frame(&self, payload: Range<usize>) -> &[u8] {
        &self.buf[payload]
    }

    /// Drops the frame found by [`next_frame`](Inbox::next_frame).
    #[inline]
    pub fn skip_frame(&mut self) {
        if let Some((_, consumed)) = self.ready.take() {
            self.start += consumed;
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
        }
    }

    /// True if the message found by [`poll_message`](Inbox::poll_message) (or the oldest kept
    /// one) is all that is held: nothing buffered or kept behind it.
    #[inline]
    pub fn holds_only_the_next_message(&self) -> bool {
        match self.kept.len() {
            0 => self
                .ready
                .as_ref()
                .is_none_or(|(_, consumed)| self.buffered() == *consumed),
            1 => self.buffered() == 0,
            _ => false,
        }
    }

    /// Session modes: a delivered message, held for the caller.
    pub fn keep(&mut self, message: Vec<u8>) {
        self.kept_bytes += kept_cost(&message);
        self.kept.push_back(message);
    }

    /// Session modes: the length of the oldest message held for the caller.
    #[inline]
    pub fn kept_len(&self) -> Option<usize> {
        self.kept.front().map(Vec::len)
    }

    /// Session modes, after a broken connection: drops the undecoded bytes (the remote sends
    /// again whatever was not acknowledged) and keeps the delivered messages.
    pub fn reset_frames(&mut self) {
        self.ready = None;
        self.clear_bytes();
    }

    /// Empties the read buffer. A first chunk stays for the next connection (it would be
    /// allocated and zeroed again at its first read); a buffer grown past it goes.
    fn clear_bytes(&mut self) {
        self.start = 0;
        self.end = 0;
        self.filled_up = false;
        if self.buf.len() > READ_CHUNK {
            self.buf = Vec::new();
        }
    }

    /// Bytes buffered and not yet part of a taken message.
    #[inline]
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Bytes held for the caller: buffered plus kept (each kept message with its bookkeeping,
    /// so a flood of empty messages counts too). The Peer stops reading ahead past a limit,
    /// so this stays bounded whatever the caller does.
    #[inline]
    pub fn held(&self) -> usize {
        self.buffered() + self.kept_bytes
    }

    /// Space to read into: at least a chunk, moving buffered bytes to the front if needed.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.reads >= SHRINK_WINDOW && self.start == self.end && self.ready.is_none() {
            self.shrink();
        }
        if std::mem::take(&mut self.filled_up) {
            let grown = self
                .buf
                .len()
                .saturating_mul(2)
                .min(MAX_READ_AHEAD.min(self.limit));
            if grown > self.buf.len() {
                self.buf.reserve_exact(grown - self.buf.len());
                self.buf.resize(grown, 0);
            }
        }
        if self.buf.len() - self.end < READ_CHUNK {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                if let Some((payload, _)) = &mut self.ready {
                    *payload = payload.start - self.start..payload.end - self.start;
                }
                self.end -= self.start;
                self.start = 0;
            }
            let want = self.end + READ_CHUNK;
            if self.buf.len() < want {
                // Doubling keeps growth amortized, but never past one largest frame and a
                // read: a peer cannot make the buffer outgrow what the codec accepts (a plain
                // `resize` doubles the capacity, to twice the codec's maximum).
                let len = want.max(self.buf.len().saturating_mul(2).min(self.limit));
                self.buf.reserve_exact(len - self.buf.len());
                self.buf.resize(len, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`spare`](Inbox::spare).
    #[inline]
    pub fn filled(&mut self, n: usize) {
        self.filled_up = n > 0 && self.end + n >= self.buf.len();
        self.end = (self.end + n).min(self.buf.len());
        self.reads = self.reads.saturating_add(1);
        self.peak = self.peak.max(self.end - self.start);
    }

    /// With the buffer empty: gives back what the last [`SHRINK_WINDOW`] reads did not use
    /// (a buffer grown by a burst shrinks to twice its window's peak, at least a chunk).
    fn shrink(&mut self) {
        let keep = self
            .peak
            .saturating_mul(2)
            .next_power_of_two()
            .max(READ_CHUNK);
        if keep * 2 <= self.buf.len() {
            self.buf.truncate(keep);
            self.buf.shrink_to_fit();
        }
        self.reads = 0;
        self.peak = 0;
    }

    /// Bytes allocated for the read buffer (the fuzz targets bound it by the codec's maximum).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// After a broken connection: keeps every whole message buffered, drops a partial frame.
    /// Returns the number of bytes dropped.
    pub fn reset<C: Codec>(&mut self, codec: &mut C) -> usize {
        if let Some((payload, consumed)) = self.ready.take() {
            self.kept_bytes += kept_cost(&self.buf[payload.clone()]);
            self.kept.push_back(self.buf[payload].to_vec());
            self.start += consumed;
        }
        while self.start < self.end {
            match codec.decode(&self.buf[self.start..self.end]) {
                Ok(Some(decoded)) => {
                    let payload = &self.buf[self.start..][decoded.payload];
                    self.kept_bytes += kept_cost(payload);
                    self.kept.push_back(payload.to_vec());
                    self.start += decoded.consumed;
                }
                _ => break,
            }
        }
        let dropped = self.end - self.start;
        self.clear_bytes();
        dropped
    }
}

/// One largest frame of `codec` and a read: as far as the read buffer ever needs to grow.
/// What a kept message costs: its bytes and its `Vec` (24 bytes on 64-bit targets).
fn kept_cost(message: &[u8]) -> usize {
    message.len() + std::mem::size_of::<Vec<u8>>()
}

fn read_limit<C: Codec>(codec: &C) -> usize {
    let max = codec.max_message_size();
    max.saturating_add(codec.overhead(max))
        .saturating_add(READ_CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_empty_messages_count_their_bookkeeping() {
        let mut inbox = Inbox::default();
        for _ in 0..3 {
            inbox.keep(Vec::new());
        }
        assert_eq!(inbox.held(), 3 * std::mem::size_of::<Vec<u8>>());
        inbox.take_message();
        inbox.consume();
        assert_eq!(inbox.held(), std::mem::size_of::<Vec<u8>>());
    }
    use crate::peer::LengthChecksumCodec;

    /// Found by the length_checksum fuzz target: the buffer doubled its capacity as a frame
    /// arrived, to twice one largest frame and a read.
    #[test]
    fn a_largest_frame_in_small_reads_grows_the_buffer_to_one_frame_and_a_read() {
        let max = 100_000;
        let mut codec = LengthChecksumCodec::new(max);
        let mut wire = Vec::new();
        codec.encode(&vec![7; max], &mut wire).unwrap();
        let bound = max + LengthChecksumCodec::HEADER_LEN + READ_CHUNK;
        let mut inbox = Inbox::default();
        let mut fed = 0;
        let mut largest = 0;
        while inbox.poll_message(&mut codec).unwrap().is_none() {
            let spare = inbox.spare();
            let n = spare.len().min(1000).min(wire.len() - fed);
            spare[..n].copy_from_slice(&wire[fed..fed + n]);
            inbox.filled(n);
            fed += n;
            largest = largest.max(inbox.capacity());
        }
        assert_eq!(inbox.take_message(), vec![7; max]);
        assert!(largest <= bound, "{largest} bytes, over {bound}");
    }

    /// A buffer that offers a whole chunk once its unread bytes move to the front is not
    /// grown: the bytes move, the size stays.
    #[test]
    fn a_buffer_offering_a_chunk_after_moving_its_bytes_keeps_its_size() {
        let mut codec = LengthChecksumCodec::new(1 << 20);
        let mut wire = Vec::new();
        codec.encode(&[1; 100], &mut wire).unwrap();
        codec.encode(&[2; 1931], &mut wire).unwrap();
        assert_eq!(wire.len(), READ_CHUNK - 1);
        codec.encode(&[3; 10_000], &mut wire).unwrap();
        let mut inbox = Inbox::default();
        // A first read fills the chunk: the buffer doubles for the next.
        inbox.spare().copy_from_slice(&wire[..READ_CHUNK]);
        inbox.filled(READ_CHUNK);
        for len in [100, 1931] {
            assert_eq!(inbox.poll_message(&mut codec).unwrap(), Some(len));
            inbox.consume();
        }
        let spare = inbox.spare();
        assert_eq!(spare.len(), READ_CHUNK);
        // A read one byte short of filling it: a chunk is buffered, a byte is free.
        spare[..READ_CHUNK - 1].copy_from_slice(&wire[READ_CHUNK..2 * READ_CHUNK - 1]);
        inbox.filled(READ_CHUNK - 1);
        assert_eq!(inbox.buffered(), READ_CHUNK);
        assert_eq!(inbox.capacity(), 2 * READ_CHUNK);
        assert_eq!(inbox.spare().len(), READ_CHUNK);
        assert_eq!(inbox.capacity(), 2 * READ_CHUNK);
    }

    /// A broken connection's read buffer: a first chunk stays for the next connection, a
    /// buffer grown past it is freed; neither keeps bytes.
    #[test]
    fn a_reset_keeps_a_first_chunk_and_frees_a_grown_buffer() {
        let mut codec = LengthChecksumCodec::new(1 << 20);
        let mut inbox = Inbox::default();
        inbox.spare()[0] = 1;
        inbox.filled(1);
        assert_eq!(
            inbox.reset(&mut codec),
            1,
            "the partial frame's byte is dropped"
        );
        assert_eq!((inbox.buffered(), inbox.capacity()), (0, READ_CHUNK));
        let mut wire = Vec::new();
        codec.encode(&[5; 100_000], &mut wire).unwrap();
        feed(&mut inbox, &mut codec, &wire[..50_000]);
        assert!(inbox.capacity() > READ_CHUNK);
        assert_eq!(inbox.reset(&mut codec), 50_000);
        assert_eq!((inbox.buffered(), inbox.capacity()), (0, 0));
        inbox.reset_frames();
        assert_eq!(
            inbox.spare().len(),
            READ_CHUNK,
            "a fresh chunk, not a doubling"
        );
    }

    /// Feeds `wire` in reads as large as the buffer offers, dropping each whole message.
    fn feed(inbox: &mut Inbox, codec: &mut LengthChecksumCodec, wire: &[u8]) {
        let mut fed = 0;
        while fed < wire.len() {
            let spare = inbox.spare();
            let n = spare.len().min(wire.len() - fed);
            spare[..n].copy_from_slice(&wire[fed..fed + n]);
            inbox.filled(n);
            fed += n;
            while inbox.poll_message(codec).unwrap().is_some() {
                inbox.consume();
            }
        }
    }

    #[test]
    fn a_buffer_grown_by_a_burst_shrinks_back_once_reads_are_small() {
        let mut codec = LengthChecksumCodec::new(1 << 20);
        let mut frame = Vec::new();
        codec.encode(&[1; 100], &mut frame).unwrap();
        let mut inbox = Inbox::default();
        feed(&mut inbox, &mut codec, &frame);
        assert_eq!(
            inbox.capacity(),
            READ_CHUNK,
            "an idle connection keeps one chunk"
        );
        // A burst: every read fills the space it was given, so the buffer doubles.
        feed(&mut inbox, &mut codec, &frame.repeat(2000));
        let grown = inbox.capacity();
        assert!(grown >= 64 << 10, "grew to {grown} bytes only");
        // Quiet again: one small frame per read; a window that saw the burst keeps it.
        for _ in 0..2 * SHRINK_WINDOW {
            feed(&mut inbox, &mut codec, &frame);
        }
        assert_eq!(
            inbox.capacity(),
            READ_CHUNK,
            "shrunk back from {grown} bytes"
        );
    }

    #[test]
    fn a_buffer_less_than_twice_what_its_reads_need_is_kept() {
        // A codec maximum that caps the buffer at a size that is no power of two.
        let mut codec = LengthChecksumCodec::new(5000);
        let mut frame = Vec::new();
        codec.encode(&[2; 1500], &mut frame).unwrap();
        let mut inbox = Inbox::default();
        feed(&mut inbox, &mut codec, &frame.repeat(100));
        let grown = inbox.capacity();
        assert_eq!(grown, read_limit(&codec), "grew to the codec's bound");
        // Reads of one 1,508-byte frame need 4 KiB: more than half the buffer, which stays
        // (shrinking it would only grow it again at the next burst).
        for _ in 0..2 * SHRINK_WINDOW {
            feed(&mut inbox, &mut codec, &frame);
        }
        assert_eq!(inbox.capacity(), grown);
    }

    #[test]
    fn the_peak_counts_the_bytes_buffered_not_their_offset() {
        let mut codec = LengthChecksumCodec::new(1 << 20);
        let mut frame = Vec::new();
        codec.encode(&[3; 100], &mut frame).unwrap();
        let mut inbox = Inbox::default();
        feed(&mut inbox, &mut codec, &frame.repeat(2000));
        let grown = inbox.capacity();
        assert!(grown >= 64 << 10);
        // A window of single frames: it saw the burst, so the buffer stays.
        for _ in 0..SHRINK_WINDOW {
            feed(&mut inbox, &mut codec, &frame);
        }
        assert_eq!(inbox.capacity(), grown);
        // Reads one byte longer than a frame: a byte more is left over after each, so the
        // buffer never empties and the leftover creeps up the grown buffer, yet never more
        // than two frames are buffered: the buffer shrinks back once it empties.
        let wire = frame.repeat(frame.len() + 1);
        for piece in wire.chunks(frame.len() + 1) {
            feed(&mut inbox, &mut codec, piece);
        }
        feed(&mut inbox, &mut codec, &frame);
        assert_eq!(inbox.capacity(), READ_CHUNK);
    }
}
