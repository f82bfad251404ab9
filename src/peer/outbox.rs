//! [`Outbox`]: the write batch and the resend list in one buffer. Pure: no I/O.

use std::collections::VecDeque;

use super::queue::Held;
use super::wire::{data_header, DATA_HEADER_LEN};
use super::{Codec, FrameError};

/// What [`Outbox::advance`] or [`Outbox::acknowledge`] completed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Done {
    /// Data messages concerned.
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Of the messages written: those written whole on an earlier connection too (re-sent).
    pub resent: u64,
}

/// What one frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A session control message (ack, ping, pong): never re-sent.
    Control,
    /// A message framed as is (unreliable mode): done once written.
    Raw,
    /// A numbered message (session modes): held until acknowledged. An unreliable one is never
    /// re-sent, only accounted for.
    Seq { seq: u64, reliable: bool },
}

/// One encoded frame: its message's size, the rest of the frame, what it carries.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Message bytes (without the session header).
    payload: u32,
    /// Every other byte of the frame (codec framing, session header).
    overhead: u32,
    kind: Kind,
    /// Fully written on some earlier connection (so the remote may have it).
    written_before: bool,
}

impl Frame {
    #[inline]
    fn len(&self) -> usize {
        self.payload as usize + self.overhead as usize
    }

    fn is_data(&self) -> bool {
        self.kind != Kind::Control
    }
}

/// How the remote answered a reconnect, for [`Outbox::resume`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// The remote kept the session: everything below `remote_next` arrived.
    Resumed { remote_next: u64 },
    /// The remote lost the session; hand back (exactly-once) or re-send (at-least-once) the
    /// messages it may have had.
    NewEpoch { hand_back: bool },
}

/// What [`Outbox::resume`] did.
#[derive(Debug, Default)]
pub(crate) struct Resumed {
    /// Messages the remote had: acknowledged now.
    pub acknowledged: Done,
    /// Reliable messages written before that go out again (for the log: the metric counts
    /// each when a connection takes it, in [`Done::resent`]).
    pub resent: u64,
    /// Unreliable messages written before that certainly never arrived.
    pub lost: u64,
    /// Unreliable messages written before whose fate is unknown (the remote lost its session).
    pub possibly_lost: u64,
    /// Reliable messages whose fate is unknown, handed back (exactly-once, new epoch).
    pub handed_back: Vec<Vec<u8>>,
}

/// Encoded frames, oldest first, in one buffer: the ones the stream accepted and the remote
/// has not acknowledged yet (the *resend list*), then the ones not yet written (the *write
/// batch*).
///
/// A raw or control frame is freed once the stream accepted its last byte; a numbered frame
/// only once the remote acknowledged it. When a connection breaks, [`reset`](Outbox::reset)
/// rewinds to the oldest frame held and drops stale control frames, so every held frame goes
/// out again whole (none ever torn); [`resume`](Outbox::resume) then applies what the remote
/// said in its hello. Every data frame held counts against the Peer's queue caps
/// ([`held`](Outbox::held)): this is the one place that count lives.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// Bytes of `buf` the stream accepted on this connection.
    written: usize,
    /// Where the oldest held frame starts in `buf` (`<= written`).
    front: usize,
    /// The frames held, oldest first, back to back from `front`.
    frames: VecDeque<Frame>,
    /// Index in `frames` of the first frame not fully written, and where it starts in `buf`.
    unwritten_index: usize,
    unwritten_start: usize,
    held: Held,
    /// A numbered frame was pushed since the last [`clear`](Outbox::clear) (a session mode):
    /// without one, every frame is freed once written, and a write that takes everything
    /// frees them all at once.
    numbered: bool,
}

impl Outbox {
    /// Encodes `message` as is (unreliable mode); on error, nothing is added.
    #[inline]
    pub fn push_raw<C: Codec>(&mut self, codec: &mut C, message: &[u8]) -> Result<(), FrameError> {
        let start = self.buf.len();
        if let Err(error) = codec.encode(message, &mut self.buf) {
            // A refused message leaves the batch as it was, even from a codec that wrote
            // part of a frame before refusing (the contract says it does not).
            self.buf.truncate(start);
            return Err(error);
        }
        self.record(start, message.len(), Kind::Raw);
        Ok(())
    }

    /// Encodes `message` as numbered message `seq` (session modes).
    #[inline]
    pub fn push_seq<C: Codec>(
        &mut self,
        codec: &mut C,
        seq: u64,
        reliable: bool,
        message: &[u8],
    ) -> Result<(), FrameError> {
        self.numbered = true;
        let start = self.buf.len();
        codec.encode_parts(&data_header(seq), message, &mut self.buf)?;
        self.record(start, message.len(), Kind::Seq { seq, reliable });
        Ok(())
    }

    /// Encodes a control message (ack, ping, pong).
    pub fn push_control<C: Codec>(
        &mut self,
        codec: &mut C,
        message: &[u8],
    ) -> Result<(), FrameError> {
        let start = self.buf.len();
        codec.encode(message, &mut self.buf)?;
        self.record(start, 0, Kind::Control);
        Ok(())
    }

    /// The Peer's configuration keeps messages under 4 GiB; a codec adding more than 4 GiB of
    /// framing to one message is a broken invariant and panics.
    #[inline]
    fn record(&mut self, start: usize, payload: usize, kind: Kind) {
        let frame_len = self.buf.len() - start;
        let frame = Frame {
            payload: u32::try_from(payload).expect("messages are under 4 GiB"),
            overhead: u32::try_from(frame_len - payload).expect("framing under 4 GiB"),
            kind,
            written_before: false,
        };
        if frame.is_data() {
            self.held.messages += 1;
            self.held.bytes += payload;
        }
        self.frames.push_back(frame);
    }

    /// Data messages held (unwritten, or awaiting acknowledgement) and their payload bytes.
    #[inline]
    pub fn held(&self) -> Held {
        self.held
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

    /// The sequence number of the oldest numbered message held.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.frames.iter().find_map(|frame| match frame.kind {
            Kind::Seq { seq, .. } => Some(seq),
            _ => None,
        })
    }

    /// Records that the stream accepted `n` more bytes; returns the data messages whose last
    /// byte it accepted.
    pub fn advance(&mut self, n: usize) -> Done {
        self.written = (self.written + n).min(self.buf.len());
        if !self.numbered && self.written == self.buf.len() {
            // No numbered frame, and the stream took every byte: each frame held (raw, or
            // control) is done and freed, without a pass over them.
            let done = Done {
                messages: self.held.messages as u64,
                bytes: self.held.bytes as u64,
                resent: 0,
            };
            self.frames.clear();
            self.held = Held::default();
            self.buf.clear();
            self.written = 0;
            self.front = 0;
            self.unwritten_index = 0;
            self.unwritten_start = 0;
            return done;
        }
        let mut done = Done::default();
        // Nothing held ahead (unreliable mode, or every numbered frame acknowledged): raw and
        // control frames written whole are freed at once, in a short loop. `front` is then
        // where the first unwritten frame starts.
        while self.unwritten_index == 0 {
            let Some(&frame) = self.frames.front() else {
                break;
            };
            let len = frame.len();
            if matches!(frame.kind, Kind::Seq { .. }) || self.front + len > self.written {
                break;
            }
            self.frames.pop_front();
            self.front += len;
            if frame.kind == Kind::Raw {
                done.messages += 1;
                done.bytes += u64::from(frame.payload);
                self.held.messages -= 1;
                self.held.bytes -= frame.payload as usize;
            }
        }
        self.unwritten_start = self.unwritten_start.max(self.front);
        while let Some(frame) = self.frames.get(self.unwritten_index) {
            let len = frame.len();
            if self.unwritten_start + len > self.written {
                break;
            }
            if frame.is_data() {
                done.messages += 1;
                done.bytes += u64::from(frame.payload);
                done.resent += u64::from(frame.written_before);
            }
            // (A raw or control frame at the front was freed by the loop above: from here on
            // frames stay until `discard` frees them.)
            self.unwritten_start += len;
            self.unwritten_index += 1;
        }
        self.discard(0);
        done
    }

    /// The remote acknowledged every numbered message below `next`; returns how many of the
    /// held ones that freed.
    pub fn acknowledge(&mut self, next: u64) -> Done {
        self.discard(next)
    }

    /// Frees written frames from the front: raw and control ones, and numbered ones below
    /// `next`.
    fn discard(&mut self, next: u64) -> Done {
        let mut done = Done::default();
        while self.unwritten_index > 0 {
            let frame = self.frames[0];
            if let Kind::Seq { seq, .. } = frame.kind {
                if seq >= next {
                    break;
                }
                done.messages += 1;
                done.bytes += u64::from(frame.payload);
            }
            self.pop_front_frame();
        }
        if self.frames.is_empty() {
            self.buf.clear();
            self.written = 0;
            self.front = 0;
            self.unwritten_start = 0;
        } else if self.front >= self.buf.len() / 2 && self.front >= 4096 {
            self.buf.drain(..self.front);
            self.written -= self.front;
            self.unwritten_start -= self.front;
            self.front = 0;
        }
        done
    }

    fn pop_front_frame(&mut self) {
        let frame = self.frames.pop_front().expect("a frame");
        self.front += frame.len();
        self.unwritten_index -= 1;
        if frame.is_data() {
            self.held.messages -= 1;
            self.held.bytes -= frame.payload as usize;
        }
    }

    /// After a broken connection: drops the control frames, marks what was fully written,
    /// and rewinds so every data frame held goes out again whole. Returns true if a frame had
    /// been partly written (it goes out again whole).
    pub fn reset(&mut self) -> bool {
        let partial = self.written > self.unwritten_start;
        let fully_written = self.unwritten_index;
        self.rebuild(|index, frame| {
            if frame.kind == Kind::Control {
                return false;
            }
            frame.written_before |= index < fully_written;
            true
        });
        partial
    }

    /// After the handshake of a new connection: applies what the remote said. With
    /// `hand_back`, `codec` recovers the messages from their frames.
    pub fn resume<C: Codec>(&mut self, resume: Resume, codec: &mut C) -> Resumed {
        debug_assert_eq!(self.written, 0, "resume follows reset");
        let mut out = Resumed::default();
        if let Resume::Resumed { remote_next } = resume {
            while let Some(Frame {
                kind: Kind::Seq { seq, .. },
                payload,
                ..
            }) = self.frames.front().copied()
            {
                if seq >= remote_next {
                    break;
                }
                self.unwritten_index += 1;
                self.pop_front_frame();
                out.acknowledged.messages += 1;
                out.acknowledged.bytes += u64::from(payload);
            }
        }
        let mut handed_back = Vec::new();
        let buf = std::mem::take(&mut self.buf);
        let mut start = self.front;
        let keep: Vec<bool> = self
            .frames
            .iter()
            .map(|frame| {
                let bytes = &buf[start..start + frame.len()];
                start += frame.len();
                let Kind::Seq { reliable, .. } = frame.kind else {
                    return true;
                };
                if !frame.written_before {
                    return true;
                }
                match (resume, reliable) {
                    (Resume::Resumed { .. }, true)
                    | (Resume::NewEpoch { hand_back: false }, true) => {
                        out.resent += 1;
                        true
                    }
                    (Resume::Resumed { .. }, false) => {
                        out.lost += 1;
                        false
                    }
                    (Resume::NewEpoch { .. }, false) => {
                        out.possibly_lost += 1;
                        false
                    }
                    (Resume::NewEpoch { hand_back: true }, true) => {
                        handed_back.push(message_of(codec, bytes));
                        false
                    }
                }
            })
            .collect();
        self.buf = buf;
        self.rebuild(|index, _| keep[index]);
        out.handed_back = handed_back;
        out
    }

    /// The drop-oldest policy: drops data frames that no connection has started, oldest
    /// first, while `full` says the caps are still exceeded; returns how many it dropped.
    ///
    /// A frame this connection accepted bytes of, or one written whole on an earlier
    /// connection (the remote may have it), is never dropped, so no stream carries half a
    /// message. Connected, that leaves the write batch past its first started frame.
    pub fn drop_oldest_unsent(&mut self, mut full: impl FnMut(Held) -> bool) -> usize {
        if !full(self.held) {
            return 0;
        }
        // The first frame not started on this connection, and where it starts.
        let (mut index, mut start) = (self.unwritten_index, self.unwritten_start);
        if self.written > start {
            start += self.frames[index].len();
            index += 1;
        }
        let droppable = |frame: &Frame| frame.is_data() && !frame.written_before;
        let Some(offset) = self.frames.range(index..).position(droppable) else {
            return 0;
        };
        let first = index + offset;
        start += self
            .frames
            .range(index..first)
            .map(Frame::len)
            .sum::<usize>();
        // Everything from the first victim on is copied back, less the dropped frames.
        let tail = self.buf.split_off(start);
        let rest = self.frames.split_off(first);
        let mut dropped = 0;
        let mut at = 0;
        let mut frames = rest.into_iter();
        for frame in frames.by_ref() {
            if !full(self.held) {
                self.buf.extend_from_slice(&tail[at..]);
                self.frames.push_back(frame);
                break;
            }
            let bytes = &tail[at..at + frame.len()];
            at += frame.len();
            if droppable(&frame) {
                self.held.messages -= 1;
                self.held.bytes -= frame.payload as usize;
                dropped += 1;
            } else {
                self.buf.extend_from_slice(bytes);
                self.frames.push_back(frame);
            }
        }
        self.frames.extend(frames);
        dropped
    }

    /// Drops every frame; returns how many data messages there were.
    pub fn clear(&mut self) -> usize {
        let n = self.held.messages;
        *self = Self::default();
        n
    }

    /// Keeps the frames `keep` says yes to (it may update them), copied to a fresh buffer,
    /// and rewinds to the start: nothing of it written.
    fn rebuild(&mut self, mut keep: impl FnMut(usize, &mut Frame) -> bool) {
        let old = std::mem::take(&mut self.buf);
        let frames = std::mem::take(&mut self.frames);
        let mut start = self.front;
        self.held = Held::default();
        for (index, mut frame) in frames.into_iter().enumerate() {
            let bytes = &old[start..start + frame.len()];
            start += frame.len();
            if keep(index, &mut frame) {
                self.buf.extend_from_slice(bytes);
                if frame.is_data() {
                    self.held.messages += 1;
                    self.held.bytes += frame.payload as usize;
                }
                self.frames.push_back(frame);
            }
        }
        self.written = 0;
        self.front = 0;
        self.unwritten_index = 0;
        self.unwritten_start = 0;
    }
}

/// The message inside one numbered frame.
fn message_of<C: Codec>(codec: &mut C, frame: &[u8]) -> Vec<u8> {
    match codec.decode(frame) {
        Ok(Some(decoded)) => frame[decoded.payload]
            .get(DATA_HEADER_LEN..)
            .unwrap_or_default()
            .to_vec(),
        // The codec decodes what it encoded; anything else is a broken codec.
        _ => panic!("the codec cannot decode a frame it encoded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::LengthChecksumCodec;

    fn outbox_with(n: u64, reliable: bool) -> (Outbox, LengthChecksumCodec) {
        let mut codec = LengthChecksumCodec::default();
        let mut outbox = Outbox::default();
        for seq in 1..=n {
            outbox
                .push_seq(&mut codec, seq, reliable, &[seq as u8; 10])
                .unwrap();
        }
        (outbox, codec)
    }

    #[test]
    fn raw_frames_are_freed_once_written() {
        let mut codec = LengthChecksumCodec::default();
        let mut outbox = Outbox::default();
        outbox.push_raw(&mut codec, b"hello").unwrap();
        outbox.push_raw(&mut codec, b"world").unwrap();
        assert_eq!(
            outbox.held(),
            Held {
                messages: 2,
                bytes: 10
            }
        );
        let first = outbox.unwritten_len() / 2;
        assert_eq!(outbox.advance(first - 1).messages, 0);
        assert_eq!(outbox.advance(1).messages, 1);
        assert_eq!(outbox.held().messages, 1);
        assert!(
            !outbox.reset(),
            "the second frame was not started, the first is gone"
        );
        assert_eq!(outbox.held().messages, 1);
    }

    #[test]
    fn a_message_the_codec_refuses_leaves_the_batch_as_it_was() {
        let mut codec = crate::peer::LinesCodec::default();
        let mut outbox = Outbox::default();
        outbox.push_raw(&mut codec, b"one").unwrap();
        let before = outbox.unwritten().to_vec();
        assert!(outbox.push_raw(&mut codec, b"two\nlines").is_err());
        assert_eq!(outbox.unwritten(), before.as_slice());
        assert_eq!(
            outbox.held(),
            Held {
                messages: 1,
                bytes: 3
            }
        );
    }

    #[test]
    fn a_write_of_everything_frees_every_raw_frame() {
        let mut codec = LengthChecksumCodec::default();
        let mut outbox = Outbox::default();
        for message in [&b"a"[..], b"bc", b"def"] {
            outbox.push_raw(&mut codec, message).unwrap();
        }
        let first = LengthChecksumCodec::HEADER_LEN + 1;
        assert_eq!(outbox.advance(first).messages, 1);
        let rest = outbox.unwritten_len();
        assert_eq!(
            outbox.advance(rest),
            Done {
                messages: 2,
                bytes: 5,
                resent: 0,
            }
        );
        assert_eq!(outbox.held(), Held::default());
        assert!(outbox.is_empty());
        assert!(!outbox.reset(), "nothing left to resend");
        outbox.push_raw(&mut codec, b"g").unwrap();
        assert_eq!(outbox.unwritten_len(), LengthChecksumCodec::HEADER_LEN + 1);
    }

    #[test]
    fn numbered_frames_wait_for_their_acknowledgement() {
        let (mut outbox, _) = outbox_with(3, true);
        let all = outbox.unwritten_len();
        assert_eq!(outbox.advance(all).messages, 3);
        assert!(outbox.is_empty());
        assert_eq!(outbox.held().messages, 3, "written is not acknowledged");
        assert_eq!(outbox.acknowledge(3).messages, 2);
        assert_eq!(outbox.oldest_seq(), Some(3));
        assert_eq!(outbox.acknowledge(4).messages, 1);
        assert_eq!(outbox.held(), Held::default());
    }

    #[test]
    fn control_frames_behind_unacknowledged_data_are_not_resent() {
        let (mut outbox, mut codec) = outbox_with(1, true);
        outbox.push_control(&mut codec, b"A12345678").unwrap();
        let all = outbox.unwritten_len();
        outbox.advance(all);
        outbox.reset();
        let resumed = outbox.resume(Resume::Resumed { remote_next: 1 }, &mut codec);
        assert_eq!(resumed.resent, 1);
        assert_eq!(outbox.held().messages, 1);
        assert_eq!(
            outbox.unwritten_len(),
            LengthChecksumCodec::HEADER_LEN + 9 + 10
        );
    }

    #[test]
    fn resume_frees_what_the_remote_had_and_resends_the_rest() {
        let (mut outbox, mut codec) = outbox_with(4, true);
        let all = outbox.unwritten_len();
        outbox.advance(all / 2 + 3); // frames 1 and 2 whole, 3 torn
        assert!(outbox.reset());
        let resumed = outbox.resume(Resume::Resumed { remote_next: 2 }, &mut codec);
        assert_eq!(resumed.acknowledged.messages, 1);
        assert_eq!(resumed.acknowledged.bytes, 10, "frame 1's payload");
        assert_eq!(
            resumed.resent, 1,
            "frame 2 was written whole; 3 was torn, 4 never sent"
        );
        assert_eq!(outbox.oldest_seq(), Some(2));
        assert_eq!(outbox.held().messages, 3);
    }

    #[test]
    fn unreliable_frames_written_before_are_lost_not_resent() {
        let (mut outbox, mut codec) = outbox_with(2, false);
        let all = outbox.unwritten_len();
        outbox.advance(all);
        outbox.reset();
        let resumed = outbox.resume(Resume::Resumed { remote_next: 2 }, &mut codec);
        assert_eq!((resumed.acknowledged.messages, resumed.lost), (1, 1));
        assert_eq!(outbox.held().messages, 0);
    }

    #[test]
    fn a_new_epoch_hands_back_what_the_remote_may_have_had() {
        let (mut outbox, mut codec) = outbox_with(3, true);
        let two = 2 * (LengthChecksumCodec::HEADER_LEN + 9 + 10);
        outbox.advance(two);
        outbox.reset();
        let resumed = outbox.resume(Resume::NewEpoch { hand_back: true }, &mut codec);
        assert_eq!(resumed.handed_back, vec![vec![1u8; 10], vec![2u8; 10]]);
        assert_eq!(outbox.oldest_seq(), Some(3));

        let (mut outbox, mut codec) = outbox_with(3, true);
        outbox.advance(two);
        outbox.reset();
        let resumed = outbox.resume(Resume::NewEpoch { hand_back: false }, &mut codec);
        assert_eq!((resumed.resent, outbox.held().messages), (2, 3));
    }

    #[test]
    fn drop_oldest_never_drops_a_message_the_remote_may_have() {
        let (mut outbox, _) = outbox_with(3, true);
        let one = LengthChecksumCodec::HEADER_LEN + 9 + 10;
        outbox.advance(one);
        outbox.reset();
        assert_eq!(outbox.drop_oldest_unsent(|_| true), 2);
        assert_eq!(outbox.oldest_seq(), Some(1));
        assert_eq!(outbox.held().messages, 1);
        assert_eq!(outbox.drop_oldest_unsent(|_| true), 0);
        assert_eq!(outbox.clear(), 1);
    }

    #[test]
    fn connected_drop_oldest_keeps_what_the_stream_started() {
        // Reliable: frame 1 written (awaiting its ack), frame 2 half written, 3 to 5 unstarted.
        let (mut outbox, mut codec) = outbox_with(5, true);
        let frame = LengthChecksumCodec::HEADER_LEN + 9 + 10;
        assert_eq!(outbox.advance(frame + frame / 2).messages, 1);
        outbox.push_control(&mut codec, b"A12345678").unwrap();
        let mut calls = 0;
        let dropped = outbox.drop_oldest_unsent(|held| {
            calls += 1;
            held.messages > 3
        });
        assert_eq!(dropped, 2, "frames 3 and 4 go, the oldest unstarted ones");
        assert_eq!(
            outbox.held(),
            Held {
                messages: 3,
                bytes: 30
            }
        );
        assert!(calls >= 3);
        // The stream picks up where it was: the rest of frame 2, then 5 and the control frame.
        assert_eq!(
            outbox.unwritten_len(),
            frame - frame / 2 + frame + frame - 10
        );
        let rest = outbox.unwritten_len();
        let done = outbox.advance(rest);
        assert_eq!((done.messages, done.bytes), (2, 20));
        assert_eq!(outbox.acknowledge(6).messages, 3);
        assert_eq!(outbox.held(), Held::default());
        assert!(outbox.is_empty());
        assert_eq!(
            outbox.drop_oldest_unsent(|_| true),
            0,
            "nothing left to drop"
        );
    }

    #[test]
    fn connected_drop_oldest_in_unreliable_mode_keeps_the_frames_in_order() {
        let mut codec = LengthChecksumCodec::default();
        let mut outbox = Outbox::default();
        for message in [&b"aa"[..], b"bb", b"cc", b"dd"] {
            outbox.push_raw(&mut codec, message).unwrap();
        }
        let frame = LengthChecksumCodec::HEADER_LEN + 2;
        assert_eq!(outbox.advance(frame).messages, 1, "aa is written and freed");
        assert_eq!(outbox.drop_oldest_unsent(|held| held.messages > 2), 1);
        assert_eq!(
            outbox.held(),
            Held {
                messages: 2,
                bytes: 4
            }
        );
        let mut expected = Vec::new();
        for message in [&b"cc"[..], b"dd"] {
            codec.encode(message, &mut expected).unwrap();
        }
        assert_eq!(outbox.unwritten(), expected.as_slice());
        assert_eq!(outbox.advance(2 * frame).messages, 2);
        assert_eq!(outbox.held(), Held::default());
    }

    /// Random operations against the accounting every Peer relies on: each message pushed
    /// is, at every step, exactly one of done (written raw, or acknowledged), dropped, or
    /// held; the buffer holds the held frames back to back, in push order; and a drop never
    /// touches a byte the stream already took.
    #[test]
    fn random_operations_keep_the_books() {
        for (seed, reliable) in (1..=200u64).map(|seed| (seed, seed % 2 == 0)) {
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n.max(1)
            };
            let mut codec = LengthChecksumCodec::default();
            let mut outbox = Outbox::default();
            let (mut pushed, mut done, mut dropped, mut acked_below) = (0u64, 0u64, 0u64, 1u64);
            // The same books in payload bytes.
            let (mut pushed_bytes, mut done_bytes, mut dropped_bytes) = (0, 0, 0);
            for _ in 0..300 {
                match next(10) {
                    0..=3 => {
                        let mut message = pushed.to_be_bytes().to_vec();
                        // Now and then a large one, so the buffer's front is trimmed.
                        let size = if next(8) == 0 { next(3000) } else { next(40) };
                        message.resize(8 + size as usize, b'.');
                        if reliable {
                            outbox
                                .push_seq(&mut codec, pushed + 1, true, &message)
                                .unwrap();
                        } else {
                            outbox.push_raw(&mut codec, &message).unwrap();
                        }
                        pushed += 1;
                        pushed_bytes += message.len() as u64;
                    }
                    4..=5 => {
                        let n = next(outbox.unwritten_len() as u64 + 1) as usize;
                        let d = outbox.advance(n);
                        if !reliable {
                            done += d.messages;
                            done_bytes += d.bytes;
                        }
                    }
                    6 if reliable => {
                        acked_below = acked_below.max(outbox.oldest_seq().unwrap_or(1));
                        acked_below += next(3);
                        let d = outbox.acknowledge(acked_below);
                        (done, done_bytes) = (done + d.messages, done_bytes + d.bytes);
                    }
                    7 => {
                        let taken = outbox.buf[outbox.front..outbox.written].to_vec();
                        let keep = next(outbox.held().messages as u64 + 1) as usize;
                        let before = outbox.held().bytes;
                        dropped += outbox.drop_oldest_unsent(|held| held.messages > keep) as u64;
                        dropped_bytes += (before - outbox.held().bytes) as u64;
                        assert_eq!(outbox.buf[outbox.front..outbox.written], taken[..]);
                    }
                    8 if next(4) == 0 => {
                        outbox.reset();
                        if reliable {
                            let remote_next = outbox.oldest_seq().unwrap_or(1) + next(2);
                            let resumed =
                                outbox.resume(Resume::Resumed { remote_next }, &mut codec);
                            done += resumed.acknowledged.messages;
                            done_bytes += resumed.acknowledged.bytes;
                        }
                    }
                    _ => {}
                }
                // The books balance.
                let held = outbox.held();
                assert_eq!(pushed, done + dropped + held.messages as u64, "seed {seed}");
                assert_eq!(
                    pushed_bytes,
                    done_bytes + dropped_bytes + held.bytes as u64,
                    "seed {seed}"
                );
                // The buffer is the held frames, whole and in push order.
                let mut at = outbox.front;
                let (mut messages, mut bytes, mut last) = (0, 0, None);
                for frame in &outbox.frames {
                    let decoded = codec.decode(&outbox.buf[at..]).unwrap().expect("a frame");
                    assert_eq!(decoded.consumed, frame.len(), "seed {seed}");
                    let mut payload = &outbox.buf[at..][decoded.payload];
                    if reliable {
                        payload = &payload[DATA_HEADER_LEN..];
                    }
                    let id = u64::from_be_bytes(payload[..8].try_into().unwrap());
                    assert!(last < Some(id), "seed {seed}: out of order");
                    last = Some(id);
                    messages += 1;
                    bytes += frame.payload as usize;
                    at += frame.len();
                }
                assert_eq!(at, outbox.buf.len(), "seed {seed}");
                assert_eq!(held, Held { messages, bytes }, "seed {seed}");
                assert!(outbox.front <= outbox.written && outbox.written <= outbox.buf.len());
                assert!(outbox.unwritten_start <= outbox.written, "seed {seed}");
            }
        }
    }
}
